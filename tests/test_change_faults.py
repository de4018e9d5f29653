"""Faults the way operators meet them, during a change: kill -9 of syncdb mid-revision, kill -9 of
pg_dump during the pre-change backup, a server connection that goes away.

A change is either complete or absent, the ledger says what happened, and the next run works.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures_backup import child_processes

from syncdb_tui.config import load_config
from syncdb_tui.core.changes import ledger
from syncdb_tui.core.envs.environments import connection, resolve

from alembic_factory import add_revision, make_project, revision_source


def version(psql_exec: Callable[..., str], url: str) -> str:
    return psql_exec(url, "SELECT string_agg(version_num, ',') FROM alembic_version;").strip()


def sleeping(psql_exec: Callable[..., str], url: str) -> int:
    """Backends running the slow revision's pg_sleep."""
    return int(psql_exec(url, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%';").strip())


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def start_cli(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncdb_tui", *args],
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def slow_project(tmp_path: Path, fresh_db: Callable[..., str]) -> tuple[Path, str]:
    """r0001..r0002, then r0003 that creates a table and then sleeps inside its transaction."""
    url = fresh_db()
    make_project(tmp_path, {"dev": url}, revisions=2)
    add_revision(
        tmp_path,
        "r0003_slow.py",
        revision_source(
            "r0003",
            "r0002",
            "slow backfill",
            'op.create_table("slow_t", sa.Column("id", sa.Integer, primary_key=True))\n'
            '    op.execute("SELECT pg_sleep(60)")',
            'op.drop_table("slow_t")',
        ),
    )
    return tmp_path, url


def test_kill_9_of_syncdb_mid_revision_leaves_it_absent_and_the_ledger_says_interrupted(
    slow_project, psql_exec, run_cli
) -> None:
    root, url = slow_project
    proc = start_cli(root, "migrate", "--json")
    try:
        wait_for(lambda: sleeping(psql_exec, url) == 1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the server ends the dead client's session and rolls back r0003's transaction
    wait_for(lambda: sleeping(psql_exec, url) == 0)
    assert version(psql_exec, url) == "r0002"  # r0001, r0002 committed one transaction each; r0003 absent
    assert psql_exec(url, "SELECT to_regclass('slow_t') IS NULL;").strip() == "t"
    assert psql_exec(url, "SELECT result FROM syncdb.ledger ORDER BY id DESC LIMIT 1;").strip() == "running"

    config = load_config(root / "syncdb.toml")
    env = resolve(config, "dev")

    async def read() -> list[ledger.LedgerEntry]:
        async with connection(env) as conn:
            return await ledger.entries(conn)

    newest = asyncio.run(read())[0]
    assert newest.result == "interrupted" and "INTERRUPTED" in newest.summary()

    # the migration lock died with the process: the next run goes ahead at once
    next(root.rglob("r0003_slow.py")).write_text(
        revision_source(
            "r0003",
            "r0002",
            "slow backfill",
            'op.create_table("slow_t", sa.Column("id", sa.Integer, primary_key=True))',
            'op.drop_table("slow_t")',
        )
    )
    again = run_cli("migrate", cwd=root)
    assert again.code == 0, again.err
    assert version(psql_exec, url) == "r0003"


def test_kill_9_of_pg_dump_during_the_pre_change_backup_changes_nothing(tmp_path: Path, fresh_db, psql_exec) -> None:
    url = fresh_db()
    make_project(tmp_path, {"prod": url}, revisions=2, protected=("prod",))
    # a protected environment takes the automatic backup before migrating (the default)
    proc = start_cli(tmp_path, "migrate", "--env", "prod", "--force", "--no-backup", "r0001")
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    psql_exec(url, "INSERT INTO t_1 (name) SELECT 'x' FROM generate_series(1, 1000);")

    # hold a lock that makes pg_dump wait, so it can be killed mid-dump
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import asyncio, asyncpg, sys\n"
            "async def main():\n"
            "    conn = await asyncpg.connect(sys.argv[1])\n"
            "    await conn.execute('BEGIN; LOCK TABLE t_1 IN ACCESS EXCLUSIVE MODE')\n"
            "    print('locked', flush=True)\n"
            "    await asyncio.sleep(120)\n"
            "asyncio.run(main())\n",
            url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        proc = start_cli(tmp_path, "migrate", "--env", "prod", "--force")
        # pg_dump is running and waiting for the test's lock
        wait_for(
            lambda: (
                psql_exec(
                    url,
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND query ILIKE 'LOCK TABLE%';",
                ).strip()
                != "0"
            )
        )
        assert child_processes("pg_dump", proc.pid)
        for pid in child_processes("pg_dump", proc.pid):
            os.kill(pid, signal.SIGKILL)
        code = proc.wait(timeout=120)
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        holder.kill()
        holder.wait()
    assert code == 5, err
    assert "backup" in err.lower() and "Traceback" not in err
    # nothing was migrated, and no change was recorded as applied
    assert version(psql_exec, url) == "r0001"
    assert psql_exec(url, "SELECT count(*) FROM syncdb.ledger WHERE result <> 'ok';").strip() == "0"
    backups = list((tmp_path / "backups").glob("*before-migrate*")) if (tmp_path / "backups").exists() else []
    assert not [
        path
        for path in backups
        if path.suffix == ".dump" and path.stat().st_size > 0 and not path.with_suffix(path.suffix + ".json").exists()
    ], backups


def test_server_connection_gone_mid_revision_is_reported_with_where_the_database_stands(
    slow_project, psql_exec, run_cli
) -> None:
    root, url = slow_project
    proc = start_cli(root, "migrate", "--json")
    try:
        wait_for(lambda: sleeping(psql_exec, url) == 1)
        # an operator (or a failover) terminates the migration's backend
        psql_exec(
            url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%';",
        )
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 5, err
    import json

    data = json.loads(out)
    assert data["ok"] is False and data["failed_revision"] == "r0003"
    assert data["now_at"] == ["r0002"] and data["committed"] == ["r0001", "r0002"]
    assert "r0003" in err and "now at r0002" in err and "Traceback" not in err
    assert version(psql_exec, url) == "r0002"
    assert psql_exec(url, "SELECT result FROM syncdb.ledger ORDER BY id DESC LIMIT 1;").strip() == "failed"
