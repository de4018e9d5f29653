"""A `syncdb backup` process killed with SIGKILL mid-dump leaves no backup listed as good (issue 4)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
from fixtures_backup import database_of, files_under, project_config, seed_database, wait_for_blocked_dump

from syncdb_tui.core.backups.backup import BackupOptions, backup, list_backups
from syncdb_tui.core.envs.embedded import EmbeddedServer
from syncdb_tui.core.envs.environments import resolve


async def _wait_until_no_dump(conn: asyncpg.Connection, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        if not await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'syncdb' AND datname = current_database()"
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("pg_dump is still connected")


async def _start_blocked_backup(
    url: str, tmp_path: Path
) -> tuple[asyncpg.Connection, asyncpg.Connection, asyncpg.transaction.Transaction, asyncio.subprocess.Process]:
    """Lock ``orders`` in another session, start `syncdb backup`, and return once pg_dump waits for it.

    Returns the locking connection, a watcher connection, the lock's transaction and the process;
    the caller closes both connections.
    """
    locker = await asyncpg.connect(url)
    watcher = await asyncpg.connect(url)
    lock = locker.transaction()
    await lock.start()
    await locker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "syncdb_tui",
        "backup",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    await wait_for_blocked_dump(watcher)
    return locker, watcher, lock, process


async def test_sigkill_mid_backup_leaves_nothing_listed_as_good(
    tmp_path: Path, fresh_db: Callable[..., str], pg_server: EmbeddedServer
) -> None:
    url = fresh_db()
    seed_database(pg_server, database_of(url))
    config = project_config(tmp_path, {"dev": url})
    locker, watcher, lock, process = await _start_blocked_backup(url, tmp_path)
    try:
        in_progress = files_under(config.backup_dir)
        # the hidden dump being written, and the name it will take, reserved by that syncdb
        assert len(in_progress) == 2 and all(name.startswith(".backup_dev_") for name in in_progress)
        assert ".partial-" in in_progress[0] and in_progress[1].endswith(".reserved")
        assert await list_backups(config) == []
        os.kill(process.pid, signal.SIGKILL)
        assert await process.wait() == -signal.SIGKILL
        await lock.commit()
        await _wait_until_no_dump(watcher)
    finally:
        await locker.close()
        await watcher.close()
    assert [entry for entry in await list_backups(config) if entry.good] == []
    listed = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "syncdb_tui", "backups", "--json", cwd=tmp_path, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await listed.communicate()
    assert listed.returncode == 0 and json.loads(out) == []
    assert not any(name.endswith(".manifest.json") for name in files_under(config.backup_dir))
    fresh = await backup(resolve(config, "dev"), config, BackupOptions())
    assert files_under(config.backup_dir) == sorted([fresh.path.name, fresh.manifest_path.name])


async def test_ctrl_c_stops_pg_dump_and_removes_the_partial_file(
    tmp_path: Path, fresh_db: Callable[..., str], pg_server: EmbeddedServer
) -> None:
    url = fresh_db()
    seed_database(pg_server, database_of(url))
    config = project_config(tmp_path, {"dev": url})
    locker, watcher, lock, process = await _start_blocked_backup(url, tmp_path)
    try:
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 20)
        await _wait_until_no_dump(watcher)
        await lock.rollback()
    finally:
        await locker.close()
        await watcher.close()
    assert process.returncode == 130
    assert b"interrupted" in err
    assert files_under(config.backup_dir) == []
