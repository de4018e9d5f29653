"""Operating a migration on a live database: the lock queue it causes, the guard, DDL progress.

Real sessions on the embedded server: a long transaction holds a lock the migration needs,
application writers queue behind the migration's lock request, and the guard cancels and
retries the migration so the writers are never stuck for long.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
from fixtures_live import wait_for

from alembic_factory import add_revision, make_project, revision_source


def _migration_waiting(psql_exec: Callable[..., str], url: str) -> bool:
    return (
        psql_exec(
            url,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'syncdb migrate' "
            "AND wait_event_type = 'Lock';",
        ).strip()
        != "0"
    )


def test_guard_cancels_a_migration_that_queues_writers_then_retries_and_succeeds(
    tmp_path: Path, fresh_db, psql_exec, run_cli, session_holder
) -> None:
    url = fresh_db()
    toml = make_project(tmp_path, {"dev": url}, revisions=1, extra_config="[guard]\nmax_queued = 2\ninterval_ms = 100")
    # the guard, not lock_timeout, must be what stops the waiting ALTER
    toml.write_text(
        toml.read_text()
        .replace("lock_timeout = 1", "lock_timeout = 60")
        .replace("lock_retries = 1", "lock_retries = 6")
    )
    assert run_cli("migrate", cwd=tmp_path).code == 0
    psql_exec(url, "INSERT INTO t_1 (name) SELECT 'seed' FROM generate_series(1, 100);")
    add_revision(
        tmp_path,
        "r0002_alter.py",
        revision_source("r0002", "r0001", "add a column", 'op.add_column("t_1", sa.Column("extra", sa.Integer))'),
    )

    # a long report: holds ACCESS SHARE on t_1 until released
    holder = session_holder(url, "SELECT count(*) FROM t_1", app="report")
    writers_done: list[float] = []
    errors: list[BaseException] = []

    def writers() -> None:
        async def main() -> None:
            while not _migration_waiting(psql_exec, url):
                await asyncio.sleep(0.05)

            async def writer(n: int) -> None:
                conn = await asyncpg.connect(url)
                try:
                    started = time.monotonic()
                    await conn.execute("INSERT INTO t_1 (name) VALUES ($1)", f"writer {n}")
                    writers_done.append(time.monotonic() - started)
                finally:
                    await conn.close()

            await asyncio.gather(*(writer(n) for n in range(4)))

        try:
            asyncio.run(main())
        except BaseException as error:  # surfaced by the test below
            errors.append(error)

    thread = threading.Thread(target=writers)
    thread.start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncdb_tui", "migrate", "--json", "--watch"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the four writers queue behind the waiting ALTER; the guard cancels it and they get through
        wait_for(lambda: len(writers_done) == 4 or bool(errors), timeout=60)
        assert not errors, errors
        assert max(writers_done) < 10
        holder.release()  # the report ends; the retried ALTER now gets its lock
        out, err = proc.communicate(timeout=120)
    finally:
        holder.release()
        thread.join(30)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    data = json.loads(out)
    assert data["ok"] is True and data["now_at"] == ["r0002"]
    assert data["guard_aborts"] and "queued behind the migration" in data["guard_aborts"][0]
    assert psql_exec(url, "SELECT count(*) FROM t_1 WHERE name LIKE 'writer%';").strip() == "4"
    assert psql_exec(url, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'extra';").strip() == "1"
    recorded = psql_exec(url, "SELECT details->'guard_aborts'->>0 FROM syncdb.ledger ORDER BY id DESC LIMIT 1;")
    assert "queued behind the migration" in recorded


def test_watch_shows_the_lock_wait_and_the_session_in_the_way(
    tmp_path: Path, fresh_db, psql_exec, run_cli, session_holder
) -> None:
    url = fresh_db()
    toml = make_project(tmp_path, {"dev": url}, revisions=1, extra_config="[guard]\ninterval_ms = 100")
    toml.write_text(toml.read_text().replace("lock_timeout = 1", "lock_timeout = 3"))
    assert run_cli("migrate", cwd=tmp_path).code == 0
    add_revision(
        tmp_path,
        "r0002_alter.py",
        revision_source("r0002", "r0001", "add a column", 'op.add_column("t_1", sa.Column("extra", sa.Integer))'),
    )
    holder = session_holder(url, "SELECT count(*) FROM t_1", app="nightly-report", hold_for=2.5)
    result = run_cli("migrate", "--watch", cwd=tmp_path)
    holder.wait(30)
    assert result.code == 0, result.err
    assert "waiting for a lock held by pid" in result.err and "nightly-report" in result.err


def test_progress_of_a_long_index_build_is_shown(tmp_path: Path, fresh_db, psql_exec, run_cli) -> None:
    url = fresh_db()
    make_project(tmp_path, {"dev": url}, revisions=1, extra_config="[guard]\ninterval_ms = 50")
    assert run_cli("migrate", cwd=tmp_path).code == 0
    psql_exec(url, "INSERT INTO t_1 (name) SELECT md5(g::text) FROM generate_series(1, 2000000) g;")
    add_revision(
        tmp_path,
        "r0002_index.py",
        revision_source("r0002", "r0001", "index names", 'op.create_index("ix_t_1_name", "t_1", ["name"])'),
    )
    result = run_cli("migrate", "--watch", "--force", cwd=tmp_path)  # HIGH on a big table: --force
    assert result.code == 0, result.err
    progress = [line for line in result.err.splitlines() if "CREATE INDEX on t_1" in line]
    assert progress, result.err
    assert any("%" in line for line in progress)


def test_a_table_rewrite_without_a_progress_view_shows_the_new_file_size_as_an_estimate(
    tmp_path: Path, fresh_db, psql_exec, run_cli
) -> None:
    url = fresh_db()
    make_project(tmp_path, {"dev": url}, revisions=1, extra_config="[guard]\ninterval_ms = 50")
    assert run_cli("migrate", cwd=tmp_path).code == 0
    psql_exec(
        url,
        "ALTER TABLE t_1 ADD COLUMN n integer; "
        "INSERT INTO t_1 (name, n) SELECT md5(g::text), g FROM generate_series(1, 2000000) g;",
    )
    add_revision(
        tmp_path,
        "r0002_type.py",
        revision_source(
            "r0002", "r0001", "widen n", 'op.alter_column("t_1", "n", type_=sa.BigInteger, existing_type=sa.Integer)'
        ),
    )
    result = run_cli("migrate", "--watch", "--force", cwd=tmp_path)  # a rewrite of a big table is HIGH: --force
    assert result.code == 0, result.err
    progress = [line for line in result.err.splitlines() if "ALTER TABLE on t_1: rewriting" in line]
    assert progress, result.err
    assert any("about" in line and "% (" in line and "MB written" in line for line in progress), progress
    # sampled while the rewrite runs (the watcher takes no lock that would wait for the ALTER's own): it grows
    percents = [int(line.split("about ")[1].split("%")[0]) for line in progress if "about " in line]
    assert len(set(percents)) >= 2 and percents == sorted(percents), percents
    assert psql_exec(url, "SELECT data_type FROM information_schema.columns WHERE column_name = 'n';").strip() == (
        "bigint"
    )


def _databases(psql_exec: Callable[..., str], url: str) -> set[str]:
    return set(psql_exec(url, "SELECT datname FROM pg_database;").split())


def test_rehearsal_on_a_template_copy_reports_locks_and_leaves_the_live_database_alone(
    tmp_path: Path, fresh_db, psql_exec, run_cli
) -> None:
    url = fresh_db()
    make_project(tmp_path, {"dev": url}, revisions=1)
    assert run_cli("migrate", cwd=tmp_path).code == 0
    psql_exec(url, "INSERT INTO t_1 (name) SELECT 'x' || g FROM generate_series(1, 20000) g;")
    add_revision(
        tmp_path,
        "r0002_backfill.py",
        revision_source(
            "r0002",
            "r0001",
            "add and backfill a column",
            'op.add_column("t_1", sa.Column("extra", sa.Integer))\n'
            '    op.execute("UPDATE t_1 SET extra = length(name)")\n'
            '    op.execute("SELECT pg_sleep(0.3)")',
        ),
    )
    before = _databases(psql_exec, url)
    result = run_cli("rehearse", "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["ok"] is True and data["copy_from"].startswith("template copy of")
    assert any(lock["mode"] == "ACCESS EXCLUSIVE" and lock["relation"] == "t_1" for lock in data["locks"])
    assert data["rows"]["t_1"]["updated"] == 20000
    # rows touched per statement, not only per table
    backfill = [run for run in data["statements"] if run["statement"].startswith("UPDATE t_1 SET extra")]
    assert backfill and backfill[0]["rows"] == 20000, data["statements"]
    shown = run_cli("rehearse", cwd=tmp_path)
    assert "20,000 row(s)" in shown.err + shown.out
    assert "20,000 rows by UPDATE t_1 SET extra" in data["headline"]
    assert any("pg_sleep" in run["statement"] and run["seconds"] >= 0.25 for run in data["statements"])
    # the rehearsed outcome is the schema the preview's offline SQL gives
    assert data["offline_matches"] is True and data["offline_differences"] == []
    # the live database did not move, and the copy is gone
    assert psql_exec(url, "SELECT version_num FROM alembic_version;").strip() == "r0001"
    assert _databases(psql_exec, url) == before
    # the same plan shown again says how its rehearsal went
    shown = run_cli("migrate", "--dry-run", cwd=tmp_path)
    assert "rehearsed on" in shown.err and "ACCESS EXCLUSIVE on t_1" in shown.err


def test_rehearsal_copy_is_refused_while_others_are_connected(
    tmp_path: Path, fresh_db, psql_exec, run_cli, session_holder
) -> None:
    url = fresh_db()
    make_project(tmp_path, {"dev": url}, revisions=1)
    assert run_cli("migrate", cwd=tmp_path).code == 0
    add_revision(
        tmp_path,
        "r0002_t.py",
        revision_source("r0002", "r0001", "t2", 'op.create_table("t_2", sa.Column("id", sa.Integer))'),
    )
    other = session_holder(url, app="web-app")  # connected, idle
    try:
        result = run_cli("rehearse", cwd=tmp_path)
    finally:
        other.release()
    assert result.code == 3, result.err
    assert "web-app" in result.err and "--from-backup" in result.err and "Traceback" not in result.err


def test_rehearsal_of_a_protected_environment_runs_on_its_newest_backup(
    tmp_path: Path, fresh_db, psql_exec, run_cli
) -> None:
    url = fresh_db()
    make_project(tmp_path, {"prod": url}, revisions=2, protected=("prod",))
    assert run_cli("migrate", "r0001", "--force", "--no-backup", cwd=tmp_path).code == 0
    assert run_cli("backup", cwd=tmp_path).code == 0
    before = _databases(psql_exec, url)
    result = run_cli("rehearse", "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["ok"] is True and data["copy_from"].startswith("restore of backup_prod_")
    assert psql_exec(url, "SELECT version_num FROM alembic_version;").strip() == "r0001"
    assert _databases(psql_exec, url) == before


def test_fingerprint_names_an_out_of_band_change_on_prod(tmp_path: Path, fresh_db, psql_exec, run_cli) -> None:
    urls = {"dev": fresh_db(), "prod": fresh_db()}
    make_project(tmp_path, urls, revisions=2, protected=("prod",))
    assert run_cli("migrate", "--env", "prod", "--force", "--no-backup", cwd=tmp_path).code == 0
    clean = json.loads(run_cli("status", "--env", "prod", "--json", cwd=tmp_path).out)["fingerprint"]
    assert clean["matches"] is True and clean["live"] == clean["expected"] and clean["differences"] == []
    assert run_cli("check", "--env", "prod", "--no-models", cwd=tmp_path).code == 0
    # someone fixes prod by hand
    psql_exec(urls["prod"], "ALTER TABLE t_1 ADD COLUMN hotfix int; CREATE INDEX ix_t_2_name ON t_2 (name);")
    data = json.loads(run_cli("status", "--env", "prod", "--json", cwd=tmp_path).out)["fingerprint"]
    assert data["matches"] is False and data["live"] != data["expected"]
    assert "extra column t_1.hotfix (integer)" in data["differences"]
    assert any(line.startswith("extra index ix_t_2_name") for line in data["differences"])
    checked = run_cli("check", "--env", "prod", "--no-models", cwd=tmp_path)
    assert checked.code == 1 and "t_1.hotfix" in checked.err + checked.out
    # the expected schema was computed once and cached by the revision files' hashes
    assert list((tmp_path / ".syncdb" / "cache" / "fingerprints").glob("*.json"))


def test_rehearsal_says_when_the_real_outcome_differs_from_the_previewed_sql(tmp_path: Path, fresh_db, run_cli) -> None:
    url = fresh_db()
    make_project(tmp_path, {"dev": url}, revisions=1)
    assert run_cli("migrate", cwd=tmp_path).code == 0
    # a revision that does one thing when previewed (offline) and another when it runs
    add_revision(
        tmp_path,
        "r0002_two_faced.py",
        revision_source(
            "r0002",
            "r0001",
            "two-faced",
            "from alembic import context\n"
            "    name = 't_previewed' if context.is_offline_mode() else 't_really_run'\n"
            '    op.create_table(name, sa.Column("id", sa.Integer))',
        ),
    )
    result = run_cli("rehearse", "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["offline_matches"] is False
    assert any("t_really_run" in line for line in data["offline_differences"])
    assert any("t_previewed" in line for line in data["offline_differences"])
