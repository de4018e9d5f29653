"""A small, stable Alembic project for the TUI's Pilot and snapshot tests.

``ui_project`` writes a syncdb.toml with dev / staging / prod (prod protected) on
the session's embedded server, databases named after the test (so snapshots are
stable), and a branched history with a HIGH-risk revision at the top:

    m002  drop users.legacy_name        (HIGH)      ← head
    m001  merge                          (merge point)
    b002  index users.email  │  b001 create documents
    a003  add users.team_id              (branch point)
    a002  create teams
    a001  create users

dev is migrated to head, staging to m001, prod to a003 (pending: b001, b002, m001, m002).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from syncdb_tui.config import Config, load_config

from alembic_factory import ENV_SHARED, MAKO
from conftest import db_url_for, run_psql

REVISIONS: tuple[tuple[str, object, str, str, str], ...] = (
    (
        "a001",
        None,
        "create users",
        'op.create_table("users", sa.Column("id", sa.Integer, primary_key=True), sa.Column("email", sa.Text), '
        'sa.Column("legacy_name", sa.Text))',
        'op.drop_table("users")',
    ),
    (
        "a002",
        "a001",
        "create teams",
        'op.create_table("teams", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))',
        'op.drop_table("teams")',
    ),
    (
        "a003",
        "a002",
        "add users.team_id",
        'op.add_column("users", sa.Column("team_id", sa.Integer, nullable=True))',
        'op.drop_column("users", "team_id")',
    ),
    (
        "b001",
        "a003",
        "create documents",
        'op.create_table("documents", sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text))',
        'op.drop_table("documents")',
    ),
    (
        "b002",
        "a003",
        "index users.email",
        'op.create_index("ix_users_email", "users", ["email"])',
        'op.drop_index("ix_users_email", table_name="users")',
    ),
    ("m001", ("b001", "b002"), "merge documents and email index", "pass", "pass"),
    (
        "m002",
        "m001",
        "drop users.legacy_name",
        'op.drop_column("users", "legacy_name")',
        'op.add_column("users", sa.Column("legacy_name", sa.Text))',
    ),
)
TARGETS = {"dev": "m002", "staging": "m001", "prod": "a003"}


def revision_file(revision: str, down: object, message: str, upgrade: str, downgrade: str) -> str:
    return (
        f'"""{message}\n\nRevision ID: {revision}\nRevises: {down}\nCreate Date: 2026-01-01 00:00:00\n"""\n'
        "from alembic import op\nimport sqlalchemy as sa\n\n"
        f"revision = {revision!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    {downgrade}\n"
    )


@dataclass
class UiProject:
    root: Path
    config_path: Path
    urls: dict[str, str]
    databases: dict[str, str]

    def config(self, **overrides: object) -> Config:
        config = load_config(self.config_path)
        return dataclasses.replace(config, **overrides) if overrides else config


def write_project(root: Path, urls: dict[str, str], extra: str = "") -> Path:
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    env_py = ENV_SHARED.replace("target_metadata = None", 'target_metadata = config.attributes.get("target_metadata")')
    (root / "migrations" / "env.py").write_text(env_py)
    (root / "migrations" / "script.py.mako").write_text(MAKO)
    for revision, down, message, upgrade, downgrade in REVISIONS:
        (versions / f"{revision}.py").write_text(revision_file(revision, down, message, upgrade, downgrade))
    lines = [
        'script_location = "migrations"',
        'backup_dir = "backups"',
        'default_env = "dev"',
        "lock_timeout = 2",
        "lock_retries = 1",
        "migrate_lock_wait = 2",
        extra,
        "",
        "[tui]",
        "refresh_interval = 3600",
        "",
    ]
    for name, url in urls.items():
        lines += [f"[environments.{name}]", f'url = "{url}"']
        if name == "prod":
            lines += ["protected = true", "backup_before_migrate = false"]
        lines.append("")
    path = root / "syncdb.toml"
    path.write_text("\n".join(lines))
    return path


def migrate_to(config: Config, env_name: str, target: str) -> None:
    from syncdb_tui.core.changes.executor import plan_and_apply
    from syncdb_tui.core.envs.environments import resolve
    from syncdb_tui.core.project.revisions import Project

    project = Project.from_config(config)
    plan_and_apply(project, resolve(config, env_name), "upgrade", target)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[-40:]


def build_project(root: Path, pg_server, base: str) -> UiProject:  # type: ignore[no-untyped-def]
    """Fresh databases ``<base>_dev|staging|prod``, the scripts in ``root``, each env migrated to its target."""
    databases = {name: f"{base}_{name}" for name in ("dev", "staging", "prod")}
    for database in databases.values():
        run_psql(pg_server, "postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE);')
        run_psql(pg_server, "postgres", f'CREATE DATABASE "{database}";')
    urls = {name: db_url_for(pg_server, database) for name, database in databases.items()}
    root.mkdir(parents=True, exist_ok=True)
    config_path = write_project(root, urls)
    project = UiProject(root, config_path, urls, databases)
    config = project.config()
    for name, target in TARGETS.items():
        migrate_to(config, name, target)
    return project


@pytest.fixture
def ui_project(tmp_path: Path, pg_server, request: pytest.FixtureRequest) -> UiProject:  # type: ignore[no-untyped-def]
    """The branched sample project with dev at head, staging at m001 and prod at a003."""
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:6]
    return build_project(tmp_path / "sample", pg_server, f"ui_{_slug(request.node.name)[:20]}_{digest}")


@pytest.fixture(scope="module")
def snap_project(tmp_path_factory: pytest.TempPathFactory, pg_server) -> UiProject:  # type: ignore[no-untyped-def]
    """One sample project shared by a module's snapshot tests (they change nothing); fixed database names."""
    project = build_project(tmp_path_factory.mktemp("snap") / "sample", pg_server, "uisnap")
    write_fake_backup(project.root / "backups")
    return project


def write_fake_backup(backup_dir: Path, name: str = "backup_prod_20260101_120000.dump") -> Path:
    """A small file with a consistent manifest (for the restore modal's snapshot)."""
    from syncdb_tui.core.backups.manifest import BackupManifest, TableCount

    backup_dir.mkdir(parents=True, exist_ok=True)
    path = backup_dir / name
    path.write_bytes(b"PGDMP" + b"\0" * 2043)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = BackupManifest(
        path=path,
        environment="prod",
        database="prod",
        server_version="18.4",
        server_version_num=180004,
        alembic_revisions=("a003",),
        created_at="2026-01-01T12:00:00+00:00",
        kind="full",
        format="custom",
        tool={"name": "pg_dump", "path": "pg_dump", "version": "18.4", "source": "bundled"},
        size=path.stat().st_size,
        sha256=digest,
        tables=(TableCount("public.users", 3, 8192),),
    )
    (backup_dir / (name + ".manifest.json")).write_text(json.dumps(manifest.to_json()))
    return path


async def settle(pilot, app, *, ignore_flows: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Wait until every worker is done (cancelled ones count as done) and the screen has repainted.

    With ``ignore_flows``, workers of the ``flow:*`` groups are not waited for (a flow
    waiting for the answer to a modal never finishes by itself).
    """
    from textual.worker import WorkerCancelled

    for _ in range(30):
        workers = [
            worker
            for worker in app.workers
            if not worker.is_finished and not (ignore_flows and (worker.group or "").startswith("flow:"))
        ]
        if not workers:
            await pilot.pause()
            if not any(
                not worker.is_finished and not (ignore_flows and (worker.group or "").startswith("flow:"))
                for worker in app.workers
            ):
                return
            continue
        for worker in workers:
            try:
                await worker.wait()
            except WorkerCancelled:
                pass
            except Exception:  # a worker's own error is the test's business, not the waiter's
                pass
        await pilot.pause()


async def wait_for_screen(pilot, app, screen_type: type, attempts: int = 400) -> None:  # type: ignore[no-untyped-def]
    """Let workers run until ``screen_type`` is on top (a modal asked by a flow)."""
    for _ in range(attempts):
        if isinstance(app.screen, screen_type):
            return
        await pilot.pause(0.02)
    raise AssertionError(f"{screen_type.__name__} never appeared (top screen: {app.screen!r})")


def statuses(app) -> dict:  # type: ignore[no-untyped-def]
    from syncdb_tui.ui.screens.main import MainScreen

    main = next(screen for screen in app.screen_stack if isinstance(screen, MainScreen))
    return main.statuses
