"""SIGKILL of pg_restore and of syncdb at several points of a restore over an environment (issue 11):
the environment is either untouched or fully restored, never partial; a copy left by a killed
syncdb is listed as stale and dropped by the next restore."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from fixtures_backup import database_of, project_config, psql, seed_database, table_fingerprints

from syncdb_tui.core.backups.backup import BackupOptions, backup
from syncdb_tui.core.backups.restore import restore
from syncdb_tui.core.backups.swap import list_kept
from syncdb_tui.core.envs.embedded import EmbeddedServer
from syncdb_tui.core.envs.environments import resolve
from syncdb_tui.core.errors import OperationError

REPO = Path(__file__).resolve().parent.parent


def descendants(root: int, name: str) -> list[int]:
    """Pids of live processes called ``name`` below ``root`` (children, grandchildren…)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            continue
        parents[int(entry.name)] = int(fields[1])
        names[int(entry.name)] = stat[stat.index("(") + 1 : stat.rindex(")")]
    found = []
    for pid, comm in names.items():
        if comm != name:
            continue
        parent = parents.get(pid, 0)
        while parent > 1 and parent != root:
            parent = parents.get(parent, 0)
        if parent == root:
            found.append(pid)
    return sorted(found)


def restoring(root: int) -> list[int]:
    """The pg_restore processes below ``root`` that write into a database (not a ``--list`` check)."""
    found = []
    for pid in descendants(root, "pg_restore"):
        try:
            if (
                b"--dbname=" in Path(f"/proc/{pid}/cmdline").read_bytes()
                or b"--file=-" in Path(f"/proc/{pid}/cmdline").read_bytes()
            ):
                found.append(pid)
        except OSError:
            continue
    return found


async def wait_for(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def kill_all(pids: list[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class Scenario:
    """A dev environment (seeded), a full backup of it, and then changes made after the backup."""

    def __init__(self, tmp_path: Path, url: str, server: EmbeddedServer) -> None:
        self.root, self.url, self.server = tmp_path, url, server
        self.database = database_of(url)
        self.config = project_config(tmp_path, {"dev": url})
        self.env = resolve(self.config, "dev")

    async def prepare(self, options: BackupOptions | None = None) -> Path:
        manifest = await backup(self.env, self.config, options or BackupOptions())
        self.at_backup = table_fingerprints(self.server, self.database)
        psql(self.server, self.database, "DELETE FROM orders WHERE id > 500; UPDATE customers SET name = 'changed';")
        self.changed = table_fingerprints(self.server, self.database)
        return manifest.path

    async def start(self, *argv: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "syncdb_tui",
            *argv,
            cwd=self.root,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    def state(self) -> str:
        now = table_fingerprints(self.server, self.database)
        if now == self.changed:
            return "untouched"
        if now == self.at_backup:
            return "restored"
        return "PARTIAL"

    def copies(self) -> list[str]:
        out = psql(
            self.server,
            "postgres",
            f"SELECT datname FROM pg_database WHERE datname LIKE '{self.database}\\_\\_restore\\_%'",
        )
        return out.split()


@pytest.fixture
def scenario(tmp_path: Path, fresh_db: Callable[..., str], pg_server: EmbeddedServer) -> Scenario:
    url = fresh_db()
    seed_database(pg_server, database_of(url))
    return Scenario(tmp_path, url, pg_server)


@pytest.mark.parametrize("jobs", ["1", "2"])
async def test_sigkill_of_pg_restore_in_the_copy_leaves_the_environment_untouched(
    scenario: Scenario, jobs: str
) -> None:
    path = await scenario.prepare()
    process = await scenario.start("restore", str(path), "--clean", "--force", "--jobs", jobs)
    (pid,) = await wait_for(lambda: restoring(process.pid)[:1], "pg_restore")  # type: ignore[misc]
    os.kill(pid, signal.SIGSTOP)
    assert scenario.copies(), "pg_restore writes into the copy beside the database"
    kill_all(descendants(process.pid, "pg_restore"))
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 5, err.decode()
    assert b"was not touched" in err
    assert scenario.state() == "untouched" and scenario.copies() == []


async def test_sigkill_of_syncdb_while_the_copy_is_built_leaves_a_stale_copy_the_next_restore_drops(
    scenario: Scenario,
) -> None:
    path = await scenario.prepare()
    process = await scenario.start("restore", str(path), "--clean", "--force")
    (pid,) = await wait_for(lambda: restoring(process.pid)[:1], "pg_restore")  # type: ignore[misc]
    os.kill(pid, signal.SIGSTOP)
    workers = descendants(process.pid, "pg_restore")
    process.kill()
    await process.wait()
    kill_all(workers)
    assert scenario.state() == "untouched"
    (copy,) = scenario.copies()
    kept = await list_kept(scenario.env)
    assert [(item.name, item.kind, item.stale) for item in kept] == [(copy, "copy", True)]
    result = await restore(scenario.config, path, env=scenario.env, clean=True)
    assert result.mode == "swap" and scenario.state() == "restored" and scenario.copies() == []


async def test_sigkill_of_syncdb_while_waiting_for_sessions_leaves_the_environment_untouched(
    scenario: Scenario,
) -> None:
    path = await scenario.prepare()
    session = await asyncpg.connect(**scenario.env.conninfo.asyncpg_kwargs())
    try:
        process = await scenario.start("restore", str(path), "--clean", "--force", "--wait", "60")
        assert process.stderr is not None
        lines: list[str] = []
        while not any("waiting for other sessions" in line for line in lines):
            raw = await asyncio.wait_for(process.stderr.readline(), 60)
            assert raw, "syncdb ended before waiting: " + "".join(lines)
            lines.append(raw.decode())
        process.kill()
        await process.wait()
        assert scenario.state() == "untouched"
        assert await session.fetchval("SELECT 1") == 1, "the application's session was left alone"
    finally:
        await session.close()
    (copy,) = scenario.copies()
    assert table_fingerprints(scenario.server, copy) == scenario.at_backup, "the copy was complete"


async def test_sigkill_of_syncdb_and_pg_restore_in_place_rolls_back(scenario: Scenario) -> None:
    """In place, pg_restore is stopped mid-transaction (waiting for a lock after its first drops)."""
    path = await scenario.prepare()
    locker = await asyncpg.connect(**scenario.env.conninfo.asyncpg_kwargs())
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute("LOCK TABLE orders IN ACCESS SHARE MODE")
        process = await scenario.start("restore", str(path), "--clean", "--force", "--in-place")
        await wait_for(lambda: _restore_waits(scenario), "pg_restore waiting for the lock mid-transaction")
        workers = restoring(process.pid)
        process.kill()
        await process.wait()
        kill_all(workers)
        await lock.rollback()
    finally:
        await locker.close()
    await wait_for(lambda: not _restore_connected(scenario), "pg_restore's session to end")
    assert scenario.state() == "untouched"


def _restore_waits(scenario: Scenario) -> bool:
    out = psql(
        scenario.server,
        "postgres",
        f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{scenario.database}' "
        "AND application_name LIKE 'syncdb restore%' AND wait_event_type = 'Lock'",
    )
    return out.strip() != "0"


def _restore_connected(scenario: Scenario) -> bool:
    out = psql(
        scenario.server,
        "postgres",
        f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{scenario.database}' "
        "AND application_name LIKE 'syncdb restore%'",
    )
    return out.strip() != "0"


async def test_sigkill_of_pg_restore_mid_stream_of_a_data_only_restore_commits_nothing(
    scenario: Scenario,
) -> None:
    """The old `pg_restore --file=- | psql --single-transaction` committed what had arrived."""
    # enough data that pg_restore is still streaming when it is killed (syncdb relays its output to psql)
    psql(
        scenario.server,
        scenario.database,
        "INSERT INTO customers (name, email) SELECT 'bulk ' || g, 'bulk' || g || '@example.com' "
        "FROM generate_series(1, 300000) g",
    )
    path = await scenario.prepare(BackupOptions(kind="data"))
    config = dataclasses.replace(scenario.config, lock_timeout=0)
    locker = await asyncpg.connect(**scenario.env.conninfo.asyncpg_kwargs())
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute("LOCK TABLE customers IN ACCESS SHARE MODE")  # psql's TRUNCATE waits here
        task = asyncio.create_task(restore(config, path, env=scenario.env, clean=True))
        (pid,) = await wait_for(lambda: restoring(os.getpid())[:1], "pg_restore")  # type: ignore[misc]
        await wait_for(lambda: _truncate_waits(scenario), "psql waiting for the lock")
        os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.3)
        await lock.commit()
        with pytest.raises(OperationError, match="mid-stream"):
            await task
    finally:
        await locker.close()
    assert scenario.state() == "untouched"


def _truncate_waits(scenario: Scenario) -> bool:
    out = psql(
        scenario.server,
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%TRUNCATE%' "
        f"AND datname = '{scenario.database}'",
    )
    return out.strip() != "0"
