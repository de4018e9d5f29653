"""Restore and verification with the real pg_restore/psql (issue 4): refusals, damage, failures, CLI."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures_backup import (
    database_exists,
    database_of,
    project_config,
    psql,
    seed_database,
    table_fingerprints,
    write_project,
)

from syncdb_tui.config import Config
from syncdb_tui.core.backups.backup import BackupOptions, backup, list_backups
from syncdb_tui.core.backups.manifest import BackupManifest
from syncdb_tui.core.backups.restore import plan_restore, restore
from syncdb_tui.core.backups.verify import verify_backup
from syncdb_tui.core.envs.embedded import EmbeddedServer
from syncdb_tui.core.envs.environments import Environment, resolve
from syncdb_tui.core.errors import OperationError, RefusedError


@dataclass
class Project:
    config: Config
    dev: Environment
    prod: Environment
    dev_db: str
    prod_db: str
    root: Path


@pytest.fixture
def project(tmp_path: Path, fresh_db: Callable[..., str], pg_server: EmbeddedServer) -> Project:
    dev_url, prod_url = fresh_db(), fresh_db()
    seed_database(pg_server, database_of(dev_url))
    seed_database(pg_server, database_of(prod_url))
    config = project_config(tmp_path, {"dev": dev_url, "prod": prod_url}, protected=("prod",))
    return Project(
        config, resolve(config, "dev"), resolve(config, "prod"), database_of(dev_url), database_of(prod_url), tmp_path
    )


def _name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{os.urandom(3).hex()}"


def _damage(manifest: BackupManifest, how: str) -> None:
    path = manifest.path
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) * 2 // 3]))
    else:
        for offset in range(len(data) // 2, len(data) // 2 + 16):
            data[offset] ^= 0xFF
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "flipped"])
async def test_damaged_archive_is_refused_by_verify_and_by_restore(
    project: Project, pg_server: EmbeddedServer, how: str
) -> None:
    manifest = await backup(project.dev, project.config, BackupOptions())
    assert (await verify_backup(manifest.path)).ok
    _damage(manifest, how)
    result = await verify_backup(manifest.path)
    assert not result.ok
    assert any(problem.startswith("sha256") for problem in result.problems)
    target = _name("damaged")
    with pytest.raises(RefusedError, match="will not be restored"):
        await restore(project.config, manifest.path, env=project.dev, target_db=target)
    assert not database_exists(pg_server, target)
    before = table_fingerprints(pg_server, project.prod_db)
    with pytest.raises(RefusedError):
        await restore(project.config, manifest.path, env=project.prod, clean=True, safety_backup=False)
    assert table_fingerprints(pg_server, project.prod_db) == before


async def test_damaged_plain_backup_is_refused(project: Project, pg_server: EmbeddedServer) -> None:
    manifest = await backup(project.dev, project.config, BackupOptions(fmt="plain"))
    _damage(manifest, "truncated")
    assert not (await verify_backup(manifest.path)).ok
    target = _name("plain_damaged")
    with pytest.raises(RefusedError):
        await restore(project.config, manifest.path, env=project.dev, target_db=target)
    assert not database_exists(pg_server, target)


async def test_restore_over_existing_objects_needs_clean(project: Project, pg_server: EmbeddedServer) -> None:
    manifest = await backup(project.dev, project.config, BackupOptions())
    before = table_fingerprints(pg_server, project.prod_db)
    with pytest.raises(RefusedError, match="needs --clean"):
        await restore(project.config, manifest.path, env=project.prod)
    assert table_fingerprints(pg_server, project.prod_db) == before
    assert await list_backups(project.config) == await list_backups(project.config)
    assert len(await list_backups(project.config)) == 1, "no safety backup may be taken for a refused restore"


async def test_clean_restore_brings_back_the_backed_up_state(project: Project, pg_server: EmbeddedServer) -> None:
    manifest = await backup(project.prod, project.config, BackupOptions())
    at_backup = table_fingerprints(pg_server, project.prod_db)
    psql(pg_server, project.prod_db, "DELETE FROM orders WHERE id > 1000; UPDATE customers SET name = 'changed';")
    psql(pg_server, project.prod_db, "UPDATE alembic_version SET version_num = 'later'")
    result = await restore(project.config, manifest.path, env=project.prod, clean=True)
    assert table_fingerprints(pg_server, project.prod_db) == at_backup
    assert result.alembic_revisions == ("abc123def456",)
    assert result.mode == "swap" and result.safety_backup is None
    previous = result.previous_database
    assert previous is not None and previous.startswith(f"{project.prod_db}__before_restore_")
    assert psql(pg_server, previous, "SELECT version_num FROM alembic_version").strip() == "later"


async def test_in_place_restore_of_a_protected_environment_takes_a_safety_backup(
    project: Project, pg_server: EmbeddedServer
) -> None:
    manifest = await backup(project.prod, project.config, BackupOptions())
    at_backup = table_fingerprints(pg_server, project.prod_db)
    psql(pg_server, project.prod_db, "UPDATE alembic_version SET version_num = 'later'")
    with pytest.raises(Exception, match="--jobs 2 is refused for a restore in place"):
        await restore(project.config, manifest.path, env=project.prod, clean=True, in_place=True, jobs=2)
    result = await restore(project.config, manifest.path, env=project.prod, clean=True, in_place=True)
    assert result.mode == "in-place" and result.previous_database is None
    assert table_fingerprints(pg_server, project.prod_db) == at_backup
    assert result.safety_backup is not None and result.safety_backup.exists()
    safety = [entry for entry in await list_backups(project.config) if entry.path == result.safety_backup]
    assert safety and safety[0].good and safety[0].manifest is not None
    assert safety[0].manifest.reason == "before restore"
    assert safety[0].manifest.alembic_revisions == ("later",)


async def test_failing_restore_into_new_database_drops_it(project: Project, pg_server: EmbeddedServer) -> None:
    """A table backup of orders needs customers (foreign key): restoring it alone fails half-way."""
    manifest = await backup(project.dev, project.config, BackupOptions(tables=("orders",)))
    target = _name("fails")
    with pytest.raises(OperationError) as caught:
        await restore(project.config, manifest.path, env=project.dev, target_db=target)
    assert "customers" in caught.value.message and "dropped again" in caught.value.message
    assert not database_exists(pg_server, target)


async def test_failing_restore_into_an_environment_is_rolled_back(
    project: Project, pg_server: EmbeddedServer, fresh_db: Callable[..., str], tmp_path: Path
) -> None:
    manifest = await backup(project.dev, project.config, BackupOptions(tables=("orders",)))
    empty_url = fresh_db()
    psql(pg_server, database_of(empty_url), "CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (1);")
    config = project_config(project.root, {"dev": _url(pg_server, project.dev_db), "empty": empty_url})
    with pytest.raises(OperationError, match="rolled back"):
        await restore(config, manifest.path, env=resolve(config, "empty"), clean=True)
    assert list(table_fingerprints(pg_server, database_of(empty_url))) == ["public.keep_me"]


def _url(server: EmbeddedServer, database: str) -> str:
    return f"postgresql://{server.user}@/{database}?host={server.socket_dir}"


async def test_counts_that_differ_from_the_manifest_are_an_error(project: Project, pg_server: EmbeddedServer) -> None:
    manifest = await backup(project.dev, project.config, BackupOptions())
    data = json.loads(manifest.manifest_path.read_text())
    for table in data["tables"]:
        if table["name"] == "public.orders":
            table["rows"] += 1
    manifest.manifest_path.write_text(json.dumps(data))
    target = _name("differs")
    with pytest.raises(OperationError, match=r"public.orders: 2000 rows, the manifest says 2001"):
        await restore(project.config, manifest.path, env=project.dev, target_db=target)


async def test_target_database_that_exists_is_refused(project: Project) -> None:
    manifest = await backup(project.dev, project.config, BackupOptions())
    with pytest.raises(RefusedError, match="already exists"):
        await restore(project.config, manifest.path, env=project.dev, target_db=project.prod_db)


async def test_deep_verify_restores_into_a_scratch_database_and_drops_it(
    project: Project, pg_server: EmbeddedServer
) -> None:
    manifest = await backup(project.dev, project.config, BackupOptions(fmt="directory"))
    result = await verify_backup(manifest.path, deep=True, env=project.dev)
    assert result.ok, result.problems
    assert [check.name for check in result.checks] == ["manifest", "size", "sha256", "readable", "deep restore"]
    leftovers = psql(pg_server, "postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'syncdb_verify_%'")
    assert leftovers.strip() == ""


async def test_plan_says_what_would_happen_and_changes_nothing(project: Project, pg_server: EmbeddedServer) -> None:
    manifest = await backup(project.dev, project.config, BackupOptions())
    plan = await plan_restore(project.config, manifest.path.name, env=project.prod, clean=True)
    assert plan.database == project.prod_db and not plan.create_database
    assert plan.mode == "swap" and plan.copy_database.startswith(f"{project.prod_db}__restore_")
    assert plan.previous_database.startswith(f"{project.prod_db}__before_restore_")
    assert plan.tool.name == "pg_restore" and "--exit-on-error" in plan.args and "--clean" not in plan.args
    assert f"--dbname={plan.copy_database}" in plan.args
    assert "table public.orders" in plan.would_drop
    assert not plan.safety_backup, "a swap keeps the previous database instead"
    assert plan.current_revisions == ("abc123def456",) and plan.cross_environment
    assert any("protected" in reason for reason in plan.confirmation_reasons)
    assert any("the backup is of dev" in reason for reason in plan.confirmation_reasons)
    assert not database_exists(pg_server, plan.copy_database)
    plan = await plan_restore(project.config, manifest.path.name, env=project.prod, clean=True, in_place=True)
    assert plan.mode == "in-place" and "--in-place" in plan.mode_reason
    assert "--clean" in plan.args and "--single-transaction" in plan.args and plan.safety_backup
    target = _name("planned")
    plan = await plan_restore(project.config, manifest.path, env=project.dev, target_db=target)
    assert plan.create_database and not plan.refusal and not plan.would_drop
    assert not database_exists(pg_server, target)


# --- the CLI -------------------------------------------------------------------------------------------


def test_cli_backup_list_verify_restore(project: Project, pg_server: EmbeddedServer, run_cli) -> None:  # type: ignore[no-untyped-def]
    done = run_cli("backup", "--json", cwd=project.root)
    assert done.code == 0, done.err
    manifest = json.loads(done.out)
    assert manifest["environment"] == "dev" and Path(manifest["path"]).exists()
    listed = run_cli("backups", "--verify", "--json", cwd=project.root)
    assert listed.code == 0, listed.err
    (entry,) = json.loads(listed.out)
    assert entry["good"] and entry["verify"]["ok"]
    target = _name("cli")
    restored = run_cli("restore", Path(manifest["path"]).name, "--target-db", target, cwd=project.root)
    assert restored.code == 0, restored.err
    assert restored.out.strip() == target and "counts match the manifest" in restored.err
    assert table_fingerprints(pg_server, target) == table_fingerprints(pg_server, project.dev_db)


def test_cli_dry_runs_change_nothing(project: Project, pg_server: EmbeddedServer, run_cli) -> None:  # type: ignore[no-untyped-def]
    planned = run_cli("backup", "--dry-run", "--format", "directory", "-j", "2", cwd=project.root)
    assert planned.code == 0, planned.err
    assert "--jobs=2" in planned.out and "pg_dump" in planned.out
    alone = run_cli("backup", "--dry-run", "-j", "2", cwd=project.root)  # --jobs alone means a directory
    assert alone.code == 0 and "format:      directory (compression gzip:1), 2 jobs" in alone.out
    assert "because:     directory: --jobs 2 dumps in parallel" in alone.out
    assert not (project.root / "backups").exists() or not any((project.root / "backups").iterdir())
    run_cli("backup", cwd=project.root)
    (entry,) = json.loads(run_cli("backups", "--json", cwd=project.root).out)
    target = _name("dry")
    shown = run_cli("restore", entry["path"], "--target-db", target, "--dry-run", cwd=project.root)
    assert shown.code == 0 and target in shown.out and "pg_restore" in shown.out
    assert not database_exists(pg_server, target)


def test_cli_refuses_without_clean_and_without_confirmation(
    project: Project,
    pg_server: EmbeddedServer,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    run_cli("backup", cwd=project.root)
    (entry,) = json.loads(run_cli("backups", "--json", cwd=project.root).out)
    before = table_fingerprints(pg_server, project.prod_db)
    no_clean = run_cli("restore", entry["path"], "--env", "prod", cwd=project.root)
    assert no_clean.code == 3 and "--clean" in no_clean.err
    no_tty = run_cli("restore", entry["path"], "--env", "prod", "--clean", cwd=project.root)
    assert no_tty.code == 3 and "confirmation" in no_tty.err
    wrong = run_cli("restore", entry["path"], "--env", "prod", "--clean", cwd=project.root, stdin="staging\n")
    assert wrong.code == 3
    assert table_fingerprints(pg_server, project.prod_db) == before
    typed = run_cli("restore", entry["path"], "--env", "prod", "--clean", cwd=project.root, stdin="prod\n")
    assert typed.code == 0, typed.err
    assert "is kept as" in typed.err and "--drop-previous" in typed.err
    assert table_fingerprints(pg_server, project.prod_db) == table_fingerprints(pg_server, project.dev_db)


def test_cli_backups_verify_fails_on_a_damaged_backup(project: Project, run_cli) -> None:  # type: ignore[no-untyped-def]
    run_cli("backup", cwd=project.root)
    (entry,) = json.loads(run_cli("backups", "--json", cwd=project.root).out)
    path = Path(entry["path"])
    path.write_bytes(path.read_bytes()[:-100])
    listed = run_cli("backups", cwd=project.root)
    assert "size mismatch" in listed.out
    verified = run_cli("backups", "--verify", cwd=project.root)
    assert verified.code == 1 and "FAILED" in verified.out and "verification" in verified.err


def test_write_project_helper_is_loadable(tmp_path: Path) -> None:
    assert write_project(tmp_path, {"dev": "postgresql://u@/d?host=/tmp"}).is_file()


def test_cli_backup_options_reach_pg_dump(project: Project, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "elsewhere" / "customers.sql"
    done = run_cli(
        "backup",
        "--schema-only",
        "-t",
        "customers",
        "--format",
        "plain",
        "-o",
        str(target),
        "--json",
        cwd=project.root,
    )
    assert done.code == 0, done.err
    manifest = json.loads(done.out)
    assert manifest["path"] == str(target.resolve()) and target.is_file()
    assert (manifest["kind"], manifest["format"], manifest["compression"]) == ("schema", "plain", "none")
    assert [table["name"] for table in manifest["tables"]] == ["public.customers"]
    text = target.read_text()
    assert "CREATE TABLE public.customers" in text and "CREATE TABLE public.orders" not in text
    again = run_cli("backup", "-o", str(target), "--format", "plain", cwd=project.root)
    assert again.code == 2 and "already exists" in again.err
    bad = run_cli("backup", "--jobs", "2", "--format", "custom", cwd=project.root)
    assert bad.code == 2 and "directory" in bad.err


async def test_data_only_clean_replaces_rows_in_one_transaction(project: Project, pg_server: EmbeddedServer) -> None:
    manifest = await backup(project.dev, project.config, BackupOptions(kind="data"))
    psql(pg_server, project.dev_db, "DELETE FROM orders WHERE id > 10; UPDATE customers SET name = 'changed'")
    with pytest.raises(RefusedError, match="needs --clean"):
        await restore(project.config, manifest.path, env=project.dev)
    plan = await plan_restore(project.config, manifest.path, env=project.dev, clean=True)
    assert plan.feeder is not None and " | " in plan.command and "TRUNCATE" in plan.command
    result = await restore(project.config, manifest.path, env=project.dev, clean=True)
    assert all(check.ok for check in result.tables)
    assert table_fingerprints(pg_server, project.dev_db) == table_fingerprints(pg_server, project.prod_db)
    # a failure after the TRUNCATE must keep the old rows: a foreign key from outside the backup blocks it
    psql(pg_server, project.dev_db, "CREATE TABLE refs (customer_id bigint REFERENCES customers(id))")
    before = table_fingerprints(pg_server, project.dev_db)
    with pytest.raises(OperationError, match="rolled back"):
        await restore(project.config, manifest.path, env=project.dev, clean=True)
    assert table_fingerprints(pg_server, project.dev_db) == before


async def test_clean_restore_gives_up_on_a_locked_table(project: Project, pg_server: EmbeddedServer) -> None:
    """In place over a live database, pg_restore does not queue forever behind the application's locks."""
    import asyncpg

    manifest = await backup(project.dev, project.config, BackupOptions())
    before = table_fingerprints(pg_server, project.prod_db)
    locker = await asyncpg.connect(_url(pg_server, project.prod_db))
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE orders IN ACCESS SHARE MODE")
            with pytest.raises(OperationError) as caught:
                await restore(
                    project.config, manifest.path, env=project.prod, clean=True, safety_backup=False, in_place=True
                )
    finally:
        await locker.close()
    assert caught.value.title == "restore blocked"
    assert "locks held by other sessions" in caught.value.message and "pid " in caught.value.message
    assert "stop the application's connections" in caught.value.hint
    assert table_fingerprints(pg_server, project.prod_db) == before
