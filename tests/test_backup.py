"""Backups with the real pg_dump against the real server (issue 4): fidelity, kinds, manifest, safety."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from fixtures_backup import (
    DIFFICULT_ONLY_SQL,
    child_processes,
    database_of,
    files_under,
    project_config,
    psql,
    seed_database,
    sequence_value,
    sha256_file,
    table_fingerprints,
    wait_for_blocked_dump,
)

from syncdb_tui.config import Config
from syncdb_tui.core.backups.backup import BackupOptions, backup, backup_before_change, list_backups, plan_backup
from syncdb_tui.core.backups.manifest import checksum
from syncdb_tui.core.backups.restore import restore
from syncdb_tui.core.envs.embedded import EmbeddedServer
from syncdb_tui.core.envs.environments import Environment, resolve
from syncdb_tui.core.errors import OperationError, UsageError
from syncdb_tui.core.events import JobProgress


@dataclass
class Seeded:
    config: Config
    env: Environment
    database: str
    url: str
    root: Path


@pytest.fixture
def seeded(tmp_path: Path, fresh_db: Callable[..., str], pg_server: EmbeddedServer) -> Seeded:
    url = fresh_db()
    database = database_of(url)
    seed_database(pg_server, database)
    config = project_config(tmp_path, {"dev": url})
    return Seeded(config, resolve(config, "dev"), database, url, tmp_path)


def _new_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{os.urandom(3).hex()}"


@pytest.mark.parametrize("fmt", ["custom", "plain", "directory"])
async def test_backup_then_restore_is_identical(seeded: Seeded, pg_server: EmbeddedServer, fmt: str) -> None:
    """Every table's rows (difficult values included) and the sequences survive a round trip."""
    manifest = await backup(seeded.env, seeded.config, BackupOptions(fmt=fmt))
    target = _new_name("restored")
    result = await restore(seeded.config, manifest.path, env=seeded.env, target_db=target)
    assert result.created_database and result.database == target
    assert table_fingerprints(pg_server, target) == table_fingerprints(pg_server, seeded.database)
    for sequence in ("invoice_seq", "customers_id_seq", "orders_id_seq", "difficult_id_seq"):
        assert sequence_value(pg_server, target, sequence) == sequence_value(pg_server, seeded.database, sequence)
    assert sequence_value(pg_server, target, "invoice_seq") == "4242"
    generated = psql(pg_server, target, "SELECT doubled FROM difficult WHERE qty = 21").strip()
    assert generated == "42"
    assert len(psql(pg_server, target, "SELECT long_text FROM difficult WHERE qty = 21").strip()) == 1048576
    assert result.alembic_revisions == ("abc123def456",)


async def test_manifest_describes_the_backup(seeded: Seeded, pg_server: EmbeddedServer) -> None:
    manifest = await backup(seeded.env, seeded.config, BackupOptions())
    path = manifest.path
    assert path.parent == seeded.config.backup_dir.resolve()
    assert path.name.startswith("backup_dev_") and path.suffix == ".dump"
    data = json.loads(manifest.manifest_path.read_text())
    assert data["environment"] == "dev" and data["database"] == seeded.database
    assert data["server_version"].startswith("18")
    assert data["alembic_revisions"] == ["abc123def456"]
    assert data["kind"] == "full" and data["format"] == "custom"
    assert data["compression"] == "gzip:1"
    assert data["tool"]["name"] == "pg_dump" and data["tool"]["version"].startswith("18")
    assert data["size"] == path.stat().st_size
    assert data["sha256"] == sha256_file(path)
    assert data["snapshot"] == "exported"
    rows = {table["name"]: table["rows"] for table in data["tables"]}
    assert rows == {"public.alembic_version": 1, "public.customers": 300, "public.difficult": 4, "public.orders": 2000}
    assert data["created_at"].endswith("+00:00")
    for private in (path, manifest.manifest_path):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert files_under(seeded.config.backup_dir) == sorted([path.name, manifest.manifest_path.name])


async def test_directory_checksum_covers_every_file(seeded: Seeded) -> None:
    manifest = await backup(seeded.env, seeded.config, BackupOptions(fmt="directory", jobs=2))
    assert manifest.path.is_dir()
    assert checksum(manifest.path) == (manifest.size, manifest.sha256)
    for child in manifest.path.iterdir():
        assert stat.S_IMODE(child.stat().st_mode) == 0o600
    assert stat.S_IMODE(manifest.path.stat().st_mode) == 0o700


async def test_row_counts_come_from_the_dumps_snapshot(seeded: Seeded, pg_server: EmbeddedServer) -> None:
    """Rows committed while the dump runs are neither counted nor dumped."""
    locker = await asyncpg.connect(seeded.url)
    writer = await asyncpg.connect(seeded.url)
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        task = asyncio.create_task(backup(seeded.env, seeded.config, BackupOptions()))
        await wait_for_blocked_dump(writer)
        await writer.execute("INSERT INTO difficult (qty) SELECT g FROM generate_series(1, 500) g")
        await locker.execute("INSERT INTO customers (name) VALUES ('late')")
        await lock.commit()
        manifest = await task
    finally:
        await locker.close()
        await writer.close()
    rows = {table.name: table.rows for table in manifest.tables}
    assert rows["public.difficult"] == 4 and rows["public.customers"] == 300
    target = _new_name("snap")
    result = await restore(seeded.config, manifest.path, env=seeded.env, target_db=target)
    restored = {t.name: t.actual for t in result.tables}
    assert restored["public.difficult"] == 4 and restored["public.customers"] == 300


async def test_schema_only_restores_definitions_and_no_rows(seeded: Seeded, pg_server: EmbeddedServer) -> None:
    manifest = await backup(seeded.env, seeded.config, BackupOptions(kind="schema"))
    assert manifest.kind == "schema" and not manifest.includes_data
    target = _new_name("schema")
    await restore(seeded.config, manifest.path, env=seeded.env, target_db=target)
    fingerprints = table_fingerprints(pg_server, target)
    assert set(fingerprints) == set(table_fingerprints(pg_server, seeded.database))
    assert all(rows == 0 for rows, _ in fingerprints.values())


async def test_data_only_restores_rows_into_an_existing_schema(
    seeded: Seeded, pg_server: EmbeddedServer, fresh_db: Callable[..., str]
) -> None:
    schema = await backup(seeded.env, seeded.config, BackupOptions(kind="schema"))
    data = await backup(seeded.env, seeded.config, BackupOptions(kind="data"))
    target_url = fresh_db()
    target = database_of(target_url)
    config = project_config(seeded.root, {"dev": seeded.url, "copy": target_url})
    copy_env = resolve(config, "copy")
    await restore(config, schema.path, env=copy_env)
    result = await restore(config, data.path, env=copy_env)
    assert all(check.ok for check in result.tables)
    assert table_fingerprints(pg_server, target) == table_fingerprints(pg_server, seeded.database)


async def test_table_backup_holds_only_that_table(seeded: Seeded, pg_server: EmbeddedServer) -> None:
    manifest = await backup(seeded.env, seeded.config, BackupOptions(tables=("customers",)))
    assert [table.name for table in manifest.tables] == ["public.customers"]
    target = _new_name("onetable")
    await restore(seeded.config, manifest.path, env=seeded.env, target_db=target)
    fingerprints = table_fingerprints(pg_server, target)
    assert list(fingerprints) == ["public.customers"]
    assert fingerprints["public.customers"] == table_fingerprints(pg_server, seeded.database)["public.customers"]


async def test_invalid_options_are_refused_before_anything_runs(seeded: Seeded) -> None:
    with pytest.raises(UsageError, match="directory"):
        await backup(seeded.env, seeded.config, BackupOptions(fmt="custom", jobs=2))
    with pytest.raises(UsageError, match="no table 'nope'"):
        await backup(seeded.env, seeded.config, BackupOptions(tables=("nope",)))
    with pytest.raises(UsageError, match="uncompressed"):
        await backup(seeded.env, seeded.config, BackupOptions(fmt="plain", compression="gzip:5"))
    with pytest.raises(UsageError, match="not a compression"):
        await backup(seeded.env, seeded.config, BackupOptions(compression="brotli"))
    assert files_under(seeded.config.backup_dir) == []


async def test_compression_the_bundled_pg_dump_lacks_is_a_clear_error(seeded: Seeded) -> None:
    plan = await plan_backup(seeded.env, seeded.config, BackupOptions())
    if plan.tool.source != "bundled":
        pytest.skip("only the bundled pg_dump is known to lack zstd")
    with pytest.raises(OperationError) as caught:
        await backup(seeded.env, seeded.config, BackupOptions(compression="zstd:3"))
    assert "gzip" in caught.value.hint
    assert [entry for entry in await list_backups(seeded.config) if entry.good] == []
    assert [name for name in files_under(seeded.config.backup_dir) if "partial" in name] == []


async def test_cancelling_a_backup_leaves_nothing(seeded: Seeded) -> None:
    locker = await asyncpg.connect(seeded.url)
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        task = asyncio.create_task(backup(seeded.env, seeded.config, BackupOptions()))
        await wait_for_blocked_dump(locker)
        assert child_processes("pg_dump")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await lock.rollback()
    finally:
        await locker.close()
    assert child_processes("pg_dump") == []
    assert files_under(seeded.config.backup_dir) == []
    assert await list_backups(seeded.config) == []


async def test_password_travels_in_the_environment_never_in_argv(
    seeded: Seeded, pg_server: EmbeddedServer, tmp_path: Path
) -> None:
    password = "Pw-" + os.urandom(6).hex()
    role = _new_name("bk_user")
    psql(pg_server, "postgres", f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{password}'")
    url = f"postgresql://{role}:{password}@/{seeded.database}?host={pg_server.socket_dir}"
    config = project_config(tmp_path / "pw", {"dev": url}) if (tmp_path / "pw").mkdir() is None else None
    assert config is not None
    env = resolve(config, "dev")
    locker = await asyncpg.connect(seeded.url)
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        task = asyncio.create_task(backup(env, config, BackupOptions()))
        await wait_for_blocked_dump(locker)
        (pid,) = child_processes("pg_dump")
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        await lock.commit()
        manifest = await task
    finally:
        await locker.close()
    assert b"pg_dump" in argv[0]
    assert not any(password.encode() in arg for arg in argv)
    assert f"PGPASSWORD={password}".encode() in environ
    assert f"PGUSER={role}".encode() in environ
    assert password not in manifest.manifest_path.read_text()
    assert stat.S_IMODE(manifest.path.stat().st_mode) == 0o600


async def test_listing_ignores_partial_files_and_flags_manifestless_ones(seeded: Seeded) -> None:
    good = await backup(seeded.env, seeded.config, BackupOptions())
    directory = seeded.config.backup_dir
    (directory / ".backup_dev_20000101_000000.dump.partial-999999").write_bytes(b"PGDMP half")
    (directory / "backup_dev_20000101_000001.dump").write_bytes(b"PGDMP never finished")
    entries = await list_backups(seeded.config)
    assert [entry.path for entry in entries if entry.good] == [good.path]
    orphan = next(entry for entry in entries if entry.path.name == "backup_dev_20000101_000001.dump")
    assert orphan.status == "no manifest" and not orphan.good
    assert not any("partial" in entry.path.name for entry in entries)
    await backup(seeded.env, seeded.config, BackupOptions(kind="schema"))
    assert not (directory / ".backup_dev_20000101_000000.dump.partial-999999").exists()


async def test_backup_before_a_change_is_labelled_and_listed(seeded: Seeded) -> None:
    manifest = await backup_before_change(seeded.config, seeded.env)
    assert manifest.environment == "dev" and manifest.format == "custom"  # small: auto stays one file
    assert manifest.reason == "before migrate" and "before-migrate" in manifest.path.name
    assert (await list_backups(seeded.config))[0].good


async def test_auto_format_dumps_a_big_database_in_parallel(seeded: Seeded, pg_server: EmbeddedServer) -> None:
    """Over ``[backup] parallel_above`` the default format is a directory dumped with one job per core
    (at least two); the plan says why, and the result restores like any backup."""
    from dataclasses import replace

    config = replace(seeded.config, backup_parallel_above=1000)
    plan = await plan_backup(seeded.env, config, BackupOptions())
    assert plan.options.fmt == "directory" and plan.options.jobs >= 2
    assert f"--jobs={plan.options.jobs}" in plan.args and "--format=directory" in plan.args
    assert "over [backup] parallel_above (1.0 kB)" in plan.format_reason
    manifest = await backup(seeded.env, config, BackupOptions())
    assert manifest.format == "directory" and manifest.path.is_dir()
    target = _new_name("restored_auto")
    await restore(config, manifest.path, env=seeded.env, target_db=target)
    assert table_fingerprints(pg_server, target) == table_fingerprints(pg_server, seeded.database)
    # a schema backup, a chosen table or a named file stay one custom file
    for options in (
        BackupOptions(kind="schema"),
        BackupOptions(tables=("customers",)),
        BackupOptions(output=seeded.root / "one.dump"),
    ):
        assert (await plan_backup(seeded.env, config, options)).options.fmt == "custom"
    # under the threshold: one custom file, no reason given
    small = await plan_backup(seeded.env, seeded.config, BackupOptions())
    assert small.options.fmt == "custom" and small.format_reason == ""


async def test_progress_names_tables_and_measures_bytes(seeded: Seeded) -> None:
    events: list[JobProgress] = []
    await backup(seeded.env, seeded.config, BackupOptions(), progress=events.append)
    phases = [event.phase for event in events]
    assert phases[0] == "connecting to dev" and phases[-1] == "backup complete"
    dumping = [event for event in events if event.phase.startswith("dumping public.")]
    assert {event.phase for event in dumping} >= {"dumping public.orders", "dumping public.customers"}
    assert all(event.unit == "bytes" and event.total and event.total > 1 for event in dumping)
    assert all(" tables · " in event.detail and "MB/s" in event.detail for event in dumping)
    checking = next(event for event in events if event.phase == "checking the archive")
    assert checking.done == checking.total and checking.detail.startswith("4/4 tables")


@pytest.mark.parametrize("fmt", ["custom", "plain", "directory"])
def test_seeded_demo_database_round_trips(
    demo_project,  # type: ignore[no-untyped-def]
    run_cli,  # type: ignore[no-untyped-def]
    pg_server: EmbeddedServer,
    fmt: str,
) -> None:
    """The AI BotKit demo, migrated and seeded, plus the difficult-values table, survives intact."""
    migrated = run_cli("migrate", "--env", "dev", "--force", cwd=demo_project.root)
    if migrated.code != 0:
        pytest.skip(f"the demo migrations do not apply here: {migrated.err.strip()[:200]}")
    seeded = run_cli("seed", "--env", "dev", "--scale", "0.05", cwd=demo_project.root)
    if seeded.code != 0:
        seeded = run_cli("seed", "--env", "dev", cwd=demo_project.root)
    assert seeded.code == 0, seeded.err
    source = demo_project.database("dev")
    psql(pg_server, source, DIFFICULT_ONLY_SQL)
    done = run_cli("backup", "--env", "dev", "--format", fmt, "--json", cwd=demo_project.root)
    assert done.code == 0, done.err
    manifest = json.loads(done.out)
    assert manifest["alembic_revisions"], "the demo's revision is recorded"
    assert sum(table["rows"] for table in manifest["tables"]) > 100
    target = _new_name(f"demo_{fmt}")
    restored = run_cli("restore", manifest["path"], "--env", "dev", "--target-db", target, cwd=demo_project.root)
    assert restored.code == 0, restored.err
    assert table_fingerprints(pg_server, target) == table_fingerprints(pg_server, source)
