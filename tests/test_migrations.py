"""The Alembic engine and the migrate/downgrade/stamp/status/check commands, on real databases."""

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
import pytest

from syncdb_tui.config import load_config
from syncdb_tui.core.changes.executor import execute, plan_and_apply
from syncdb_tui.core.changes.plan import make_plan
from syncdb_tui.core.envs.environments import resolve
from syncdb_tui.core.errors import OperationError, RefusedError
from syncdb_tui.core.project.offline import offline_range, offline_sql
from syncdb_tui.core.project.revisions import Project

from alembic_factory import add_revision, make_project, revision_source


def schema_fingerprint(psql_exec: Callable[[str, str], str], url: str) -> str:
    return psql_exec(
        url,
        "SELECT string_agg(table_name || '.' || column_name, ',' ORDER BY table_name, column_name) "
        "FROM information_schema.columns WHERE table_schema = 'public';"
        "SELECT to_regclass('alembic_version') IS NULL, count(*) FROM pg_class "
        "WHERE relnamespace = 'public'::regnamespace;",
    )


@pytest.fixture
def proj(tmp_path: Path, fresh_db: Callable[..., str]) -> tuple[Path, dict[str, str]]:
    urls = {"dev": fresh_db(), "prod": fresh_db()}
    make_project(tmp_path, urls, revisions=3, protected=("prod",))
    return tmp_path, urls


def test_status_of_fresh_database_is_nothing_applied(proj, run_cli) -> None:
    root, _ = proj
    result = run_cli("status", "--json", cwd=root)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["current"] == [] and data["applied"] == []
    assert [p["revision"] for p in data["pending"]] == ["r0001", "r0002", "r0003"]
    assert data["heads"] == ["r0003"] and data["unknown"] == []
    for key in ("environment", "database", "server_version", "drift"):
        assert key in data
    assert all(p["risk"] in ("LOW", "MEDIUM", "HIGH") for p in data["pending"])
    assert data["server_version"].startswith("18")


def test_migrate_dry_run_changes_nothing(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    before = schema_fingerprint(psql_exec, urls["dev"])
    result = run_cli("migrate", "--dry-run", cwd=root)
    assert result.code == 0, result.err
    assert "CREATE TABLE t_1" in result.out and "CREATE TABLE t_3" in result.out
    assert schema_fingerprint(psql_exec, urls["dev"]) == before
    assert psql_exec(urls["dev"], "SELECT to_regclass('alembic_version') IS NULL;").strip() == "t"


def test_migrate_downgrade_stamp_roundtrip(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    assert run_cli("migrate", "r0002", cwd=root).code == 0
    assert psql_exec(urls["dev"], "SELECT version_num FROM alembic_version;").strip() == "r0002"
    status = json.loads(run_cli("status", "--json", cwd=root).out)
    assert status["current"] == ["r0002"] and status["applied"] == ["r0001", "r0002"]
    assert [p["revision"] for p in status["pending"]] == ["r0003"]
    assert run_cli("migrate", cwd=root).code == 0
    refused = run_cli("downgrade", "-1", cwd=root)
    assert refused.code == 3 and "HIGH" in refused.err  # dropping a table needs a typed confirmation
    assert run_cli("downgrade", "-1", "--force", cwd=root).code == 0
    assert psql_exec(urls["dev"], "SELECT version_num FROM alembic_version;").strip() == "r0002"
    assert psql_exec(urls["dev"], "SELECT to_regclass('t_3') IS NULL;").strip() == "t"
    dry = run_cli("downgrade", "base", "--dry-run", cwd=root)
    assert dry.code == 0 and "DROP TABLE t_2" in dry.out and "DROP TABLE t_1" in dry.out
    assert psql_exec(urls["dev"], "SELECT version_num FROM alembic_version;").strip() == "r0002"
    assert run_cli("downgrade", "base", "-y", cwd=root).code == 0
    assert psql_exec(urls["dev"], "SELECT count(*) FROM alembic_version;").strip() == "0"
    assert run_cli("stamp", "r0003", cwd=root).code == 0
    assert psql_exec(urls["dev"], "SELECT version_num FROM alembic_version;").strip() == "r0003"
    assert psql_exec(urls["dev"], "SELECT to_regclass('t_1') IS NULL;").strip() == "t"


def test_protected_environment_refuses_without_terminal(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    result = run_cli("migrate", "--env", "production", cwd=root)
    assert result.code == 3
    assert "prod" in result.err and "--force" in result.err
    assert "Traceback" not in result.err
    assert psql_exec(urls["prod"], "SELECT to_regclass('alembic_version') IS NULL;").strip() == "t"
    wrong = run_cli("migrate", "--env", "prod", cwd=root, stdin="staging\n")
    assert wrong.code == 3 and "not confirmed" in wrong.err
    assert psql_exec(urls["prod"], "SELECT to_regclass('alembic_version') IS NULL;").strip() == "t"


def test_protected_environment_typed_confirmation_and_force(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    assert run_cli("migrate", "r0001", "--env", "prod", "--no-backup", cwd=root, stdin="prod\n").code == 0
    assert psql_exec(urls["prod"], "SELECT version_num FROM alembic_version;").strip() == "r0001"
    result = run_cli("migrate", "--env", "prod", "--force", "--no-backup", "--json", cwd=root)
    assert result.code == 0, result.err
    assert json.loads(result.out)["after"] == ["r0003"]


def test_high_risk_migration_needs_confirmation_on_dev(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    assert run_cli("migrate", cwd=root).code == 0
    add_revision(
        root,
        "r0004_drop.py",
        revision_source("r0004", "r0003", "drop t_1", 'op.drop_table("t_1")', "pass"),
    )
    refused = run_cli("migrate", cwd=root)
    assert refused.code == 3 and "HIGH" in refused.err
    assert psql_exec(urls["dev"], "SELECT to_regclass('t_1') IS NOT NULL;").strip() == "t"
    assert run_cli("migrate", "-y", cwd=root).code == 0
    assert psql_exec(urls["dev"], "SELECT to_regclass('t_1') IS NULL;").strip() == "t"


def test_failing_revision_rolls_back_and_names_it(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    add_revision(
        root,
        "r0004_bad.py",
        revision_source(
            "r0004",
            "r0003",
            "bad",
            'op.add_column("t_1", sa.Column("x", sa.Integer)); op.execute("SELECT 1/0")',
        ),
    )
    result = run_cli("migrate", cwd=root)
    assert result.code == 5
    assert "r0004" in result.err and "division by zero" in result.err
    assert psql_exec(urls["dev"], "SELECT version_num FROM alembic_version;").strip() == "r0003"
    columns = psql_exec(urls["dev"], "SELECT count(*) FROM information_schema.columns WHERE table_name='t_1';")
    assert columns.strip() == "2"


def test_bad_inputs_each_one_message(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    unknown_target = run_cli("migrate", "nope", cwd=root)
    assert unknown_target.code == 2 and "nope" in unknown_target.err
    unknown_env = run_cli("status", "--env", "moon", cwd=root)
    assert unknown_env.code == 2 and "dev, prod" in unknown_env.err
    assert run_cli("migrate", cwd=root).code == 0
    psql_exec(urls["dev"], "UPDATE alembic_version SET version_num = 'zzz999';")
    status = json.loads(run_cli("status", "--json", cwd=root).out)
    assert status["unknown"] == ["zzz999"] and status["pending"] == []
    migrate = run_cli("migrate", cwd=root)
    assert migrate.code == 5 and "zzz999" in migrate.err
    check = run_cli("check", cwd=root)
    assert check.code == 1 and "zzz999" in check.out
    for result in (unknown_target, unknown_env, migrate):
        assert "Traceback" not in result.err and result.err.count("error:") == 1


def test_syntax_error_and_dangling_parent(proj, run_cli) -> None:
    root, _ = proj
    bad = add_revision(root, "r0004_syntax.py", "revision = 'r0004'\ndown_revision = 'r0003'\ndef upgrade(:\n")
    result = run_cli("status", cwd=root)
    assert result.code == 2 and "syntax error" in result.err and "r0004_syntax.py" in result.err
    bad.unlink()
    add_revision(root, "r0005_orphan.py", revision_source("r0005", "doesnotexist", "orphan", "pass"))
    result = run_cli("status", cwd=root)
    assert result.code == 2 and "doesnotexist" in result.err


def test_multiple_heads(proj, run_cli) -> None:
    root, _ = proj
    add_revision(root, "r0004_branch.py", revision_source("r0004", "r0002", "branch", "pass"))
    migrate = run_cli("migrate", cwd=root)
    assert migrate.code == 2 and "heads" in migrate.err
    status = json.loads(run_cli("status", "--json", cwd=root).out)
    assert sorted(status["heads"]) == ["r0003", "r0004"]
    check = run_cli("check", cwd=root)
    assert check.code == 1 and "2 heads" in check.out


def test_check_passes_when_up_to_date_and_fails_on_pending(proj, run_cli) -> None:
    root, _ = proj
    pending = run_cli("check", "--no-models", cwd=root)
    assert pending.code == 1 and "pending" in pending.out
    assert run_cli("check", "--allow-pending", "--no-models", cwd=root).code == 0
    assert run_cli("migrate", cwd=root).code == 0
    ok = run_cli("check", "--json", "--no-models", cwd=root)
    assert ok.code == 0 and json.loads(ok.out)["ok"] is True


def test_unreachable_and_missing_database(tmp_path: Path, run_cli, pg_server) -> None:
    urls = {
        "dev": "postgresql://nobody:pw123456@127.0.0.1:1/x",
        "gone": f"postgresql://postgres@/no_such_db?host={pg_server.socket_dir}",
    }
    make_project(tmp_path, urls)
    result = run_cli("status", cwd=tmp_path)
    assert result.code == 4 and "127.0.0.1:1" in result.err and "pw123456" not in result.err + result.out
    missing = run_cli("migrate", "--env", "gone", cwd=tmp_path)
    assert missing.code == 4 and "no_such_db" in missing.err and "does not exist" in missing.err


def test_wrong_password(tmp_path: Path, run_cli, fresh_db, pg_server) -> None:
    from conftest import run_psql

    url = fresh_db()
    database = url.split("@/", 1)[1].split("?", 1)[0]
    # The embedded server trusts its socket; require a password for one role, as a real server would.
    hba = pg_server.pgdata / "pg_hba.conf"
    rule = "local all pwcheck_user scram-sha-256\n"
    if rule not in hba.read_text():
        hba.write_text(rule + hba.read_text())
    run_psql(
        pg_server,
        "postgres",
        "DROP ROLE IF EXISTS pwcheck_user; CREATE ROLE pwcheck_user LOGIN PASSWORD 'RightPw-1';"
        "SELECT pg_reload_conf();",
    )
    base = f"@/{database}?host={pg_server.socket_dir}"
    make_project(
        tmp_path,
        {"dev": f"postgresql://pwcheck_user:WrongPw-9{base}", "ok": f"postgresql://pwcheck_user:RightPw-1{base}"},
    )
    result = run_cli("status", cwd=tmp_path)
    assert result.code == 4 and "authentication failed" in result.err and "pwcheck_user" in result.err
    assert "WrongPw-9" not in result.err + result.out
    good = run_cli("status", "--env", "ok", "--json", cwd=tmp_path)
    assert good.code == 0, good.err
    assert "RightPw-1" not in good.out + good.err


def test_two_concurrent_migrations_one_waits_then_names_holder(proj, psql_exec) -> None:
    root, urls = proj
    config = load_config(root / "syncdb.toml")
    env = resolve(config, "dev")

    async def hold_lock() -> asyncpg.Connection:
        from syncdb_tui.core.envs.environments import connect
        from syncdb_tui.core.envs.sessions import advisory_key

        conn = await connect(env, server_settings={"application_name": "other syncdb"})
        await conn.execute("SELECT pg_advisory_lock($1)", advisory_key(env.database))
        return conn

    loop = asyncio.new_event_loop()
    holder = loop.run_until_complete(hold_lock())
    try:
        started = time.monotonic()
        with pytest.raises(OperationError) as caught:
            plan_and_apply(Project.from_config(config), env)
        waited = time.monotonic() - started
        assert 1.5 <= waited < 10
        assert "other syncdb" in caught.value.message and "migration lock" in caught.value.message
        assert psql_exec(urls["dev"], "SELECT to_regclass('alembic_version') IS NULL;").strip() == "t"
    finally:
        loop.run_until_complete(holder.close())
        loop.close()


def test_concurrent_cli_migrations_apply_once(proj, psql_exec) -> None:
    root, urls = proj
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "syncdb_tui", "migrate", "--json"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    codes = [proc.wait(timeout=120) for proc in procs]
    assert codes.count(0) >= 1, [proc.stderr.read() for proc in procs]
    assert psql_exec(urls["dev"], "SELECT version_num FROM alembic_version;").strip() == "r0003"
    assert psql_exec(urls["dev"], "SELECT count(*) FROM alembic_version;").strip() == "1"


def test_blocked_migration_names_the_blocker(proj, psql_exec) -> None:
    root, urls = proj
    config = load_config(root / "syncdb.toml")
    env = resolve(config, "dev")
    project = Project.from_config(config)
    plan_and_apply(project, env, "upgrade", "r0001")
    add_revision(
        root,
        "r0004_alter.py",
        revision_source("r0004", "r0003", "alter t_1", 'op.add_column("t_1", sa.Column("extra", sa.Integer))'),
    )
    project = Project.from_config(config)
    ready = threading.Event()
    release = threading.Event()

    def blocker() -> None:
        async def hold() -> None:
            from syncdb_tui.core.envs.environments import connect

            conn = await connect(env, server_settings={"application_name": "report-job"})
            await conn.execute("BEGIN; LOCK TABLE t_1 IN ACCESS SHARE MODE; SELECT count(*) FROM t_1")
            ready.set()
            while not release.is_set():
                await asyncio.sleep(0.05)
            await conn.close()

        asyncio.run(hold())

    thread = threading.Thread(target=blocker)
    thread.start()
    ready.wait(10)
    try:
        with pytest.raises(OperationError) as caught:
            plan_and_apply(project, env)
        message = caught.value.message
        assert "lock_timeout" in message and "report-job" in message and "idle in transaction" in message
    finally:
        release.set()
        thread.join()
    # r0002 and r0003 committed one transaction each before r0004 was blocked
    assert psql_exec(urls["dev"], "SELECT version_num FROM alembic_version;").strip() == "r0003"
    plan_and_apply(project, env)
    assert psql_exec(urls["dev"], "SELECT version_num FROM alembic_version;").strip() == "r0004"


def test_env_py_with_its_own_event_loop(tmp_path: Path, fresh_db, run_cli, psql_exec) -> None:
    url = fresh_db()
    make_project(tmp_path, {"dev": url}, env_style="own-async")
    result = run_cli("migrate", "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    assert psql_exec(url, "SELECT version_num FROM alembic_version;").strip() == "r0003"


def test_offline_sql_per_revision_and_split(proj) -> None:
    root, _ = proj
    project = Project.from_config(load_config(root / "syncdb.toml"))
    whole = offline_range(project, ["r0001", "r0002", "r0003"])
    single = offline_sql(project, "r0002")
    assert [item.revision for item in whole] == ["r0001", "r0002", "r0003"]
    assert "CREATE TABLE t_2" in whole[1].sql and "t_1" not in whole[1].sql and "t_3" not in whole[1].sql
    assert "CREATE TABLE t_2" in single.sql and single.sql.count("CREATE TABLE") == 1
    down = offline_sql(project, "r0003", "downgrade")
    assert "DROP TABLE t_3" in down.sql


def test_data_migration_needs_live_database(proj) -> None:
    root, _ = proj
    add_revision(
        root,
        "r0004_data.py",
        revision_source(
            "r0004",
            "r0003",
            "backfill",
            "rows = op.get_bind().execute(sa.text('SELECT 1')).fetchall()",
        ),
    )
    project = Project.from_config(load_config(root / "syncdb.toml"))
    items = offline_range(project, ["r0003", "r0004"])
    assert items[0].rendered and "CREATE TABLE t_3" in items[0].sql
    assert not items[1].rendered and items[1].needs_live_reason


def test_check_on_protected_env_uses_an_unprotected_server_for_its_scratch_database(demo_project, run_cli) -> None:
    root = demo_project.root
    assert run_cli("migrate", "--env", "prod", "--force", "--no-backup", cwd=root).code == 0
    result = run_cli("check", "--env", "prod", "--json", cwd=root)
    assert result.code == 0, result.out + result.err
    data = json.loads(result.out)
    assert any("scratch database on dev's server" in note for note in data["notes"])


def test_offline_sql_of_a_merge_revision_is_only_the_merge(proj) -> None:
    root, _ = proj
    add_revision(root, "r0004_a.py", revision_source("r0004a", "r0003", "branch a", 'op.execute("SELECT 4")'))
    add_revision(root, "r0004_b.py", revision_source("r0004b", "r0003", "branch b", 'op.execute("SELECT 5")'))
    add_revision(
        root, "r0005_merge.py", revision_source("r0005", ("r0004a", "r0004b"), "merge", 'op.execute("SELECT 6")')
    )
    project = Project.from_config(load_config(root / "syncdb.toml"))
    merge = offline_sql(project, "r0005")
    assert merge.rendered, merge.needs_live_reason
    assert merge.sql.count("-- Running upgrade") == 1 and "SELECT 6" in merge.sql
    assert "SELECT 4" not in merge.sql and "CREATE TABLE" not in merge.sql
    items = offline_range(project, ["r0004a", "r0004b", "r0005"])
    assert ["SELECT 4" in i.sql for i in items] == [True, False, False]
    assert ["SELECT 6" in i.sql for i in items] == [False, False, True]
    down = offline_sql(project, "r0005", "downgrade")
    assert down.rendered and down.sql.count("-- Running downgrade") == 1


def test_sync_env_py_with_psycopg2_and_its_lock_timeout(tmp_path: Path, fresh_db, run_cli, psql_exec) -> None:
    pytest.importorskip("psycopg2")
    url = fresh_db()
    make_project(tmp_path, {"dev": url}, revisions=2, env_style="sync")
    result = run_cli("migrate", "r0001", "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    assert psql_exec(url, "SELECT version_num FROM alembic_version;").strip() == "r0001"
    config = load_config(tmp_path / "syncdb.toml")
    env = resolve(config, "dev")
    release = threading.Event()
    ready = threading.Event()

    def blocker() -> None:
        async def hold() -> None:
            from syncdb_tui.core.envs.environments import connect

            conn = await connect(env, server_settings={"application_name": "nightly-report"})
            await conn.execute("BEGIN; LOCK TABLE t_1 IN ACCESS SHARE MODE")
            ready.set()
            while not release.is_set():
                await asyncio.sleep(0.05)
            await conn.close()

        asyncio.run(hold())

    add_revision(
        tmp_path,
        "r0003_alter.py",
        revision_source("r0003", "r0002", "alter t_1", 'op.add_column("t_1", sa.Column("extra", sa.Integer))'),
    )
    thread = threading.Thread(target=blocker)
    thread.start()
    ready.wait(10)
    try:
        blocked = run_cli("migrate", cwd=tmp_path)
        # psycopg2 gets lock_timeout through PGOPTIONS, so the blocked ALTER gives up instead of hanging
        assert blocked.code == 5 and "lock_timeout" in blocked.err and "nightly-report" in blocked.err
    finally:
        release.set()
        thread.join()
    assert psql_exec(url, "SELECT version_num FROM alembic_version;").strip() == "r0002"
    assert run_cli("migrate", cwd=tmp_path).code == 0


def test_a_confirmed_plan_is_refused_if_the_database_moved_since(proj, psql_exec) -> None:
    root, urls = proj
    config = load_config(root / "syncdb.toml")
    env = resolve(config, "dev")
    project = Project.from_config(config)
    plan = make_plan(project, env, "upgrade", "head")
    plan_and_apply(project, env, "upgrade", "r0001")  # someone else migrates while the plan is on screen
    with pytest.raises(RefusedError) as caught:
        execute(project, env, plan)
    assert "moved from base to r0001 since the plan was made" in caught.value.message
    assert psql_exec(urls["dev"], "SELECT version_num FROM alembic_version;").strip() == "r0001"
    fresh = make_plan(project, env, "upgrade", "head")
    assert execute(project, env, fresh).now_at == ("r0003",)
