"""Backups never collide nor leave half-published files (issue 11): one -o written by two syncdbs,
two backups in the same second, a full disk for the dump and for the manifest, the server going away."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from fixtures_backup import database_of, files_under, project_config, seed_database, wait_for_blocked_dump

from syncdb_tui.config import Config
from syncdb_tui.core.backups.backup import BackupOptions, backup, list_backups
from syncdb_tui.core.envs.embedded import EmbeddedServer
from syncdb_tui.core.envs.environments import Environment, resolve
from syncdb_tui.core.errors import OperationError, UnreachableError, UsageError
from syncdb_tui.core.events import JobProgress


@pytest.fixture
def dev(tmp_path: Path, fresh_db: Callable[..., str], pg_server: EmbeddedServer) -> tuple[Config, Environment, str]:
    url = fresh_db()
    seed_database(pg_server, database_of(url))
    config = project_config(tmp_path, {"dev": url})
    return config, resolve(config, "dev"), url


@contextlib.asynccontextmanager
async def locked_orders(url: str) -> asyncpg.Connection:  # type: ignore[misc]
    """Hold ACCESS EXCLUSIVE on orders so that a pg_dump started meanwhile waits."""
    locker = await asyncpg.connect(url)
    transaction = locker.transaction()
    await transaction.start()
    await locker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
    try:
        yield locker
    finally:
        with contextlib.suppress(Exception):
            await transaction.rollback()
        await locker.close()


async def test_one_output_path_written_by_two_backups_at_once(
    dev: tuple[Config, Environment, str], tmp_path: Path
) -> None:
    config, env, url = dev
    target = tmp_path / "same.dump"
    watcher = await asyncpg.connect(url)
    try:
        async with locked_orders(url):
            first = asyncio.create_task(backup(env, config, BackupOptions(output=target)))
            await wait_for_blocked_dump(watcher)
            with pytest.raises(UsageError, match="being written by another syncdb"):
                await backup(env, config, BackupOptions(output=target))
        manifest = await first
    finally:
        await watcher.close()
    assert manifest.path == target.resolve() and (await list_backups(config)) == []
    with pytest.raises(UsageError, match="already exists"):
        await backup(env, config, BackupOptions(output=target))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("same")) == [
        "same.dump",
        "same.dump.manifest.json",
    ]


async def test_two_backups_of_one_environment_in_the_same_second_get_two_names(
    dev: tuple[Config, Environment, str],
) -> None:
    config, env, _ = dev
    manifests = await asyncio.gather(*(backup(env, config, BackupOptions()) for _ in range(3)))
    paths = {manifest.path for manifest in manifests}
    assert len(paths) == 3
    listed = await list_backups(config)
    assert len(listed) == 3 and all(entry.good for entry in listed)
    assert not [name for name in files_under(config.backup_dir) if name.startswith(".")]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs (needs root; skipped where mounting is not allowed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_disk_while_dumping_is_a_clear_error_and_leaves_nothing(
    dev: tuple[Config, Environment, str], small_disk: Path
) -> None:
    config, env, _ = dev
    with pytest.raises(OperationError) as caught:
        await backup(env, config, BackupOptions(output=small_disk, fmt="plain"))
    assert caught.value.title == "disk full" and str(small_disk) in caught.value.message
    assert files_under(small_disk) == []


async def test_a_full_disk_while_writing_the_manifest_publishes_nothing(
    dev: tuple[Config, Environment, str], small_disk: Path
) -> None:
    config, env, _ = dev

    def fill_the_disk(event: JobProgress) -> None:
        if event.phase == "checking the archive":
            with contextlib.suppress(OSError), (small_disk / "filler").open("wb") as handle:
                while True:
                    handle.write(b"\0" * 4096)
                    handle.flush()

    with pytest.raises(OperationError) as caught:
        await backup(env, config, BackupOptions(output=small_disk, kind="schema"), progress=fill_the_disk)
    assert caught.value.title == "disk full" and "manifest" in caught.value.message
    assert str(small_disk) in caught.value.message
    assert files_under(small_disk) == ["filler"]


async def test_the_server_going_away_mid_backup_is_unreachable_not_a_bug(
    dev: tuple[Config, Environment, str], run_cli
) -> None:  # type: ignore[no-untyped-def]
    config, env, url = dev
    watcher = await asyncpg.connect(url)
    try:
        async with locked_orders(url) as locker:
            task = asyncio.create_task(backup(env, config, BackupOptions()))
            await wait_for_blocked_dump(watcher)
            await locker.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND application_name IN ('syncdb', 'pg_dump')"
            )
            with pytest.raises(UnreachableError) as caught:
                await task
    finally:
        await watcher.close()
    assert caught.value.exit_code == 4 and "went away during the backup" in caught.value.message
    assert files_under(config.backup_dir) == []
    assert os.listdir(config.backup_dir) == []


def test_a_reservation_is_never_seen_without_its_pid(tmp_path: Path) -> None:
    """Another syncdb cleaning stale markers at the same moment never takes a fresh reservation for a
    dead one (a marker created empty and written after could be read as nobody's and removed:
    then two backups wrote under one name — seen once in CI with three backups in the same second)."""
    import os
    import sys
    import threading

    from syncdb_tui.core.backups.manifest import clean_stale_partials, release, reserve, reserved_by

    stop = threading.Event()

    def cleaner() -> None:
        while not stop.is_set():
            clean_stale_partials(tmp_path)

    threads = [threading.Thread(target=cleaner) for _ in range(3)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the window is a few bytecodes wide
    for thread in threads:
        thread.start()
    try:
        for index in range(2000):
            final = tmp_path / f"backup_dev_{index}.dump"
            assert reserve(final)
            assert reserved_by(final) == os.getpid()
            release(final)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        sys.setswitchinterval(interval)
    assert not [path.name for path in tmp_path.iterdir()]  # no private file left behind
