"""Restore over an environment rebuilt beside and swapped in (issue 11): the demo's rollback to its
pre-migration backup, views, connected sessions, the in-place fallback, restore without a file,
deep verify of identity, retention."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from fixtures_backup import (
    DATA_SQL,
    SCHEMA_SQL,
    database_exists,
    database_of,
    project_config,
    psql,
    seed_database,
    table_fingerprints,
)

from syncdb_tui.config import Config
from syncdb_tui.core.backups.backup import BackupOptions, backup, list_backups
from syncdb_tui.core.backups.prune import plan_prune, prune
from syncdb_tui.core.backups.restore import plan_restore, restore
from syncdb_tui.core.backups.swap import list_kept
from syncdb_tui.core.backups.verify import verify_backup
from syncdb_tui.core.envs.embedded import EmbeddedServer
from syncdb_tui.core.envs.environments import Environment, resolve
from syncdb_tui.core.errors import OperationError, RefusedError, UsageError


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


def _beside(server: EmbeddedServer, database: str) -> list[str]:
    """Databases named after ``database`` with a restore mark (copies and previous databases)."""
    out = psql(server, "postgres", f"SELECT datname FROM pg_database WHERE datname LIKE '{database}\\_\\_%' ORDER BY 1")
    return out.split()


def _copies(server: EmbeddedServer, database: str) -> list[str]:
    return [name for name in _beside(server, database) if "__restore_" in name]


# ------------------------------------------------------------------ the demo: back to the pre-migration backup


def test_demo_prod_migrated_to_head_goes_back_to_its_pre_migration_backup(demo_project, run_cli, psql_exec) -> None:  # type: ignore[no-untyped-def]
    root, prod, db = demo_project.root, demo_project.urls["prod"], demo_project.database("prod")
    assert run_cli("migrate", "0006", "--env", "prod", "--force", "--no-backup", cwd=root).code == 0
    psql_exec(
        prod,
        "INSERT INTO aibotkit_users (email, name, password_hash) SELECT 'u' || g || '@x.io', 'U', 'x' "
        "FROM generate_series(1, 40) g; "
        "INSERT INTO aibotkit_chatbots (user_id, name) SELECT id, 'bot' FROM aibotkit_users;",
    )
    migrated = run_cli("migrate", "--env", "prod", "--force", "--json", cwd=root)
    assert migrated.code == 0, migrated.err
    backup_path = Path(json.loads(migrated.out)["backup"])
    # 0007's table references aibotkit_chatbots: an in-place --clean could not drop its primary key
    psql_exec(prod, "INSERT INTO aibotkit_analytics (chatbot_id, date) SELECT id, now() FROM aibotkit_chatbots")
    planned = run_cli("restore", backup_path.name, "--env", "prod", "--clean", "--dry-run", cwd=root)
    assert planned.code == 0, planned.err
    assert "now at:      0008" in planned.out and "leaves at:   0006" in planned.out
    assert "rebuilt beside" in planned.out and "__before_restore_" in planned.out
    restored = run_cli("restore", backup_path.name, "--env", "prod", "--clean", "--force", "--json", cwd=root)
    assert restored.code == 0, restored.err
    data = json.loads(restored.out)
    assert data["mode"] == "swap" and data["alembic_revisions"] == ["0006"] and data["backup_of"] == "prod"
    assert all(table["ok"] for table in data["tables"])
    assert psql_exec(prod, "SELECT version_num FROM alembic_version").strip() == "0006"
    assert psql_exec(prod, "SELECT count(*) FROM aibotkit_chatbots").strip() == "40"
    assert psql_exec(prod, "SELECT to_regclass('aibotkit_analytics') IS NULL").strip() == "t"
    status = json.loads(run_cli("status", "--env", "prod", "--json", cwd=root).out)
    assert status["current"] == ["0006"]
    previous = data["previous_database"]
    previous_url = prod.replace(f"/{db}?", f"/{previous}?")
    assert psql_exec(previous_url, "SELECT version_num FROM alembic_version").strip() == "0008"
    listed = run_cli("backups", "--env", "prod", "--previous", "--json", cwd=root)
    assert previous in [item["name"] for item in json.loads(listed.out)]
    assert previous in run_cli("backups", "--env", "prod", cwd=root).out
    (row,) = [
        line.split("|")
        for line in psql_exec(
            prod,
            "SELECT result, details->>'mode', details->>'previous_database' FROM syncdb.ledger "
            "WHERE action = 'restore'",
        ).splitlines()
    ]
    assert row == ["ok", "swap", previous]
    assert run_cli("restore", "--env", "prod", "--drop-previous", previous, cwd=root).code == 3
    dropped = run_cli("restore", "--env", "prod", "--drop-previous", previous, "--force", cwd=root)
    assert dropped.code == 0, dropped.err
    assert run_cli("restore", "--env", "prod", "--drop-previous", db, "--force", cwd=root).code == 2


# ------------------------------------------------------------------ views, sessions, the fallback


async def test_a_view_depending_on_a_table(project: Project, pg_server: EmbeddedServer) -> None:
    psql(pg_server, project.dev_db, "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100")
    manifest = await backup(project.dev, project.config, BackupOptions())
    at_backup = table_fingerprints(pg_server, project.dev_db)
    psql(pg_server, project.dev_db, "CREATE VIEW per_customer AS SELECT customer_id, count(*) FROM orders GROUP BY 1")
    psql(pg_server, project.dev_db, "DELETE FROM orders WHERE id > 100")
    # in place, the view the backup does not hold stops pg_restore --clean: one transaction, rolled back
    before = table_fingerprints(pg_server, project.dev_db)
    with pytest.raises(OperationError, match="rolled back"):
        await restore(project.config, manifest.path, env=project.dev, clean=True, in_place=True)
    assert table_fingerprints(pg_server, project.dev_db) == before
    # rebuilt beside, it is simply not in the copy (and stays in the previous database)
    result = await restore(project.config, manifest.path, env=project.dev, clean=True, jobs=2)
    assert result.mode == "swap" and table_fingerprints(pg_server, project.dev_db) == at_backup
    views = psql(
        pg_server,
        project.dev_db,
        "SELECT string_agg(viewname, ',' ORDER BY 1) FROM pg_views WHERE schemaname = 'public'",
    ).strip()
    assert views == "big_orders"
    assert result.previous_database is not None
    assert psql(pg_server, result.previous_database, "SELECT to_regclass('per_customer') IS NOT NULL").strip() == "t"
    assert _copies(pg_server, project.dev_db) == []


async def test_a_connected_session_is_waited_for_then_terminated_when_asked(
    project: Project, pg_server: EmbeddedServer
) -> None:
    manifest = await backup(project.dev, project.config, BackupOptions())
    psql(pg_server, project.dev_db, "DELETE FROM orders")
    before = table_fingerprints(pg_server, project.dev_db)
    session = await asyncpg.connect(**project.dev.conninfo.asyncpg_kwargs())
    try:
        pid = session.get_server_pid()
        plan = await plan_restore(project.config, manifest.path, env=project.dev, clean=True)
        assert [s.pid for s in plan.sessions] == [pid]
        with pytest.raises(RefusedError, match="still connected") as caught:
            await restore(project.config, manifest.path, env=project.dev, clean=True, wait_seconds=0.5)
        assert f"pid {pid}" in caught.value.message and "--terminate" in caught.value.hint
        assert table_fingerprints(pg_server, project.dev_db) == before
        assert _copies(pg_server, project.dev_db) == []
        result = await restore(
            project.config, manifest.path, env=project.dev, clean=True, wait_seconds=0.5, terminate=True
        )
        assert [s.pid for s in result.terminated] == [pid]
        assert dict(table_fingerprints(pg_server, project.dev_db))["public.orders"][0] == 2000
    finally:
        await session.close()


async def test_a_user_without_createdb_restores_in_place_in_one_transaction(
    tmp_path: Path, pg_server: EmbeddedServer
) -> None:
    role, database = f"nocreate_{os.getpid()}", f"owned_{os.getpid()}_{os.urandom(2).hex()}"
    psql(
        pg_server,
        "postgres",
        f"DO $$ BEGIN CREATE ROLE {role} LOGIN NOCREATEDB; EXCEPTION WHEN duplicate_object "
        f"THEN NULL; END $$; CREATE DATABASE {database} OWNER {role};",
    )
    psql(pg_server, database, f"SET ROLE {role};\n" + SCHEMA_SQL + DATA_SQL)
    url = f"postgresql://{role}@/{database}?host={pg_server.socket_dir}"
    config = project_config(tmp_path, {"app": url})
    env = resolve(config, "app")
    manifest = await backup(env, config, BackupOptions())
    at_backup = table_fingerprints(pg_server, database)
    plan = await plan_restore(config, manifest.path, env=env, clean=True)
    assert plan.mode == "in-place" and "CREATEDB" in plan.mode_reason and "--single-transaction" in plan.args
    with pytest.raises(UsageError, match="refused for a restore in place"):
        await plan_restore(config, manifest.path, env=env, clean=True, jobs=2)
    psql(pg_server, database, "DELETE FROM orders WHERE id > 5")
    result = await restore(config, manifest.path, env=env, clean=True)
    assert result.mode == "in-place" and result.previous_database is None
    assert table_fingerprints(pg_server, database) == at_backup


# ------------------------------------------------------------------ restore without a file, cross-environment


def test_restore_without_a_file_lists_the_backups_and_a_terminal_picks_one(
    project: Project, pg_server: EmbeddedServer, run_cli
) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("backup", cwd=project.root).code == 0
    listed = run_cli("restore", cwd=project.root)
    assert listed.code == 0, listed.err
    assert "backup_dev_" in listed.out and "abc123def456" in listed.out and "not yet" in listed.out
    assert "nothing was restored" in listed.err
    target = f"picked_{os.getpid()}_{os.urandom(2).hex()}"
    picked = run_cli("restore", "--target-db", target, cwd=project.root, stdin="1\n")
    assert picked.code == 0, picked.err
    assert table_fingerprints(pg_server, target) == table_fingerprints(pg_server, project.dev_db)
    assert run_cli("restore", cwd=project.root, stdin="7\n").code == 2


def test_a_cross_environment_restore_is_named_in_the_plan_and_the_confirmation(project: Project, run_cli) -> None:  # type: ignore[no-untyped-def]
    made = run_cli("backup", "--json", cwd=project.root)
    path = json.loads(made.out)["path"]
    shown = run_cli("restore", path, "--env", "prod", "--clean", "--dry-run", cwd=project.root)
    assert "ANOTHER environment than prod" in shown.out and "the backup is of dev" in shown.out
    refused = run_cli("restore", path, "--env", "prod", "--clean", cwd=project.root)
    assert refused.code == 3 and "the backup is of dev" in refused.err


# ------------------------------------------------------------------ deep verify checks identity


async def test_deep_verify_checks_the_revision_and_where_the_archive_comes_from(
    project: Project, pg_server: EmbeddedServer
) -> None:
    manifest = await backup(project.dev, project.config, BackupOptions())
    assert (await verify_backup(manifest.path, deep=True, env=project.dev)).ok
    data = json.loads(manifest.manifest_path.read_text())
    data["alembic_revisions"] = ["0000edited00"]
    manifest.manifest_path.write_text(json.dumps(data))
    result = await verify_backup(manifest.path, deep=True, env=project.dev)
    assert not result.ok and any("alembic revision is abc123def456" in p for p in result.problems)
    # another environment's archive under this name, its size and hash fixed up in the manifest
    other = await backup(project.prod, project.config, BackupOptions())
    psql(pg_server, project.prod_db, "SELECT 1")
    forged = json.loads(other.manifest_path.read_text())
    data = json.loads(manifest.manifest_path.read_text())
    data.update(size=forged["size"], sha256=forged["sha256"], alembic_revisions=["abc123def456"])
    manifest.path.write_bytes(other.path.read_bytes())
    manifest.manifest_path.write_text(json.dumps(data))
    result = await verify_backup(manifest.path, deep=True, env=project.dev)
    assert not result.ok and any(f"dumped from the database {project.prod_db}" in p for p in result.problems)


# ------------------------------------------------------------------ retention


async def test_prune_keeps_the_newest_verified_backup_of_a_protected_environment(
    project: Project, pg_server: EmbeddedServer, run_cli
) -> None:  # type: ignore[no-untyped-def]
    dev_backups = [await backup(project.dev, project.config, BackupOptions()) for _ in range(2)]
    prod_backups = [await backup(project.prod, project.config, BackupOptions()) for _ in range(2)]
    swapped = await restore(project.config, dev_backups[0].path, env=project.dev, clean=True)
    assert swapped.previous_database
    with pytest.raises(UsageError, match="needs a rule"):
        await plan_prune(project.config, project.dev, keep=None, older_than_days=None)
    young = await plan_prune(project.config, project.dev, keep=0, older_than_days=1)
    assert young.remove == ()
    plan = await plan_prune(project.config, project.dev, keep=0, older_than_days=None)
    removed = {item.name for item in plan.remove}
    assert {str(m.path) for m in dev_backups} <= removed and str(prod_backups[0].path) in removed
    assert str(prod_backups[1].path) not in removed
    assert [item.name for item in plan.kept_on_purpose] == [str(prod_backups[1].path)]
    assert swapped.previous_database in removed and plan.drops_databases
    later = await plan_prune(
        project.config, None, keep=None, older_than_days=1, now=datetime.now(UTC) + timedelta(days=3)
    )
    assert {item.name for item in later.remove} == removed - {swapped.previous_database}
    dry = await asyncio.to_thread(run_cli, "backups", "--prune", "--keep", "0", "--dry-run", cwd=project.root)
    assert dry.code == 0 and "would remove backup" in dry.out and "newest verified backup" in dry.out
    assert len(await list_backups(project.config)) == 4
    result = await prune(plan, project.dev)
    assert not result.problems
    assert [entry.path for entry in await list_backups(project.config)] == [prod_backups[1].path]
    assert not database_exists(pg_server, swapped.previous_database)
    assert [item for item in await list_kept(project.dev) if item.kind == "previous"] == []


async def test_a_restore_waits_for_no_migration_and_refuses_while_one_runs(
    project: Project, pg_server: EmbeddedServer
) -> None:
    """A migration running while the copy is built would be lost at the swap: the restore takes the migration lock."""
    from syncdb_tui.core.envs.sessions import advisory_key

    manifest = await backup(project.dev, project.config, BackupOptions())
    before = table_fingerprints(pg_server, project.dev_db)
    holder = await asyncpg.connect(
        pg_server.url(project.dev_db), server_settings={"application_name": "syncdb migrate (other)"}
    )
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", advisory_key(project.dev_db))
        with pytest.raises(OperationError) as caught:
            await restore(project.config, manifest.path, env=project.dev, clean=True)
        assert "migration lock" in caught.value.message and "syncdb migrate (other)" in caught.value.message
    finally:
        await holder.close()
    assert table_fingerprints(pg_server, project.dev_db) == before
    assert _copies(pg_server, project.dev_db) == []
