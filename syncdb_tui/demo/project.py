"""Where the AI BotKit demo project lives, and building its three environments.

``syncdb demo`` uses the config it is given (or finds) when that config is the
demo's; otherwise it writes a small demo project (``./syncdb-demo``) whose
scripts are the ones shipped inside the package.  Building is idempotent: an
environment whose database is migrated and seeded is reused as it is, unless
``reset`` is set; one left half-built by an interrupted run is rebuilt.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.core.events import JobProgress, ProgressCallback, emit

if TYPE_CHECKING:
    from syncdb_tui.config import Config
    from syncdb_tui.core.environments import Environment

DEMO_METADATA = "syncdb_tui.demo.models:metadata"
DEMO_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DEMO_TARGETS = {"dev": "head", "staging": "0007", "prod": "0006"}

DEMO_CONFIG = """\
# The AI BotKit demo of syncdb: three environments on the embedded PostgreSQL.
script_location = "{migrations}"
target_metadata = "syncdb_tui.demo.models:metadata"
seed = "syncdb_tui.demo.seed:seed"
backup_dir = "backups"
default_env = "dev"

[environments.dev]
url = "embedded"

[environments.staging]
url = "embedded"

[environments.prod]
url = "embedded"
protected = true
"""


@dataclass(frozen=True)
class DemoEnvironment:
    """What building one demo environment did."""

    name: str
    target: str
    reused: bool
    rows: int


def is_demo_config(config: Config) -> bool:
    return config.target_metadata == DEMO_METADATA and all(name in config.environments for name in DEMO_TARGETS)


def write_demo_project(directory: Path) -> Path:
    """Write ``directory/syncdb.toml`` for the demo (kept if it exists); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "syncdb.toml"
    if not path.exists():
        path.write_text(DEMO_CONFIG.format(migrations=DEMO_MIGRATIONS.as_posix()))
    return path


async def _drop_database(env: Environment) -> None:
    from syncdb_tui.core.environments import connection

    async with connection(env, database="postgres") as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{env.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{env.database}"')


async def _is_built(env: Environment) -> bool:
    """A revision applied and the users table seeded: a finished earlier build."""
    from syncdb_tui.core.environments import connection
    from syncdb_tui.core.migrations import current_revisions

    async with connection(env) as conn:
        if not await current_revisions(conn):
            return False
        if await conn.fetchval("SELECT to_regclass('aibotkit_users') IS NULL"):
            return False
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM aibotkit_users)"))


async def _seed(env: Environment, scale: float, progress: ProgressCallback | None) -> int:
    from syncdb_tui.core.environments import connection
    from syncdb_tui.demo.seed import SeedOptions, seed

    async with connection(env) as conn:
        result = await seed(conn, SeedOptions(scale=scale, progress=progress))
    return int(getattr(result, "total_rows", 0) or 0)


def build_demo(
    config: Config, *, reset: bool = False, scale: float = 1.0, progress: ProgressCallback | None = None
) -> list[DemoEnvironment]:
    """Build dev (head), staging (0007) and prod (0006, protected), each seeded (blocking).

    Raises:
        SyncdbError: the embedded server, a migration or the seeding failed.
    """
    from syncdb_tui.core.environments import resolve
    from syncdb_tui.core.migrations import upgrade
    from syncdb_tui.core.revisions import Project

    project = Project.from_config(config)
    built = []
    for name, target in DEMO_TARGETS.items():
        emit(progress, JobProgress(phase=f"preparing {name}"))
        env = resolve(config, name)
        if not reset and asyncio.run(_is_built(env)):
            built.append(DemoEnvironment(name, target, reused=True, rows=0))
            continue
        # new, reset, or left half-built by an interrupted run: start from an empty database
        asyncio.run(_drop_database(env))
        emit(progress, JobProgress(phase=f"migrating {name} to {target}"))
        upgrade(project, env, target)
        emit(progress, JobProgress(phase=f"seeding {name}"))
        rows = asyncio.run(_seed(env, scale, progress))
        built.append(DemoEnvironment(name, target, reused=False, rows=rows))
    return built
