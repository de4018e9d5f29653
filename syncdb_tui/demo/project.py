"""Where the AI BotKit demo project lives, and building its three environments.

``syncdb demo`` uses the config it is given (or finds) when that config is the
demo's; otherwise it writes a small demo project (``./syncdb-demo``) with a
copy of the scripts shipped inside the package.  Building is idempotent: an
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
    from syncdb_tui.core.envs.environments import Environment

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
    """Write ``directory/syncdb.toml`` and a copy of the demo's scripts (both kept if they exist).

    The scripts are copied so that ``syncdb generate`` in the demo writes its new
    revision into the demo project, never into the installed package.
    Returns the config's path.
    """
    import shutil

    directory.mkdir(parents=True, exist_ok=True)
    scripts = directory / "migrations"
    if not scripts.exists():
        shutil.copytree(DEMO_MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    path = directory / "syncdb.toml"
    if not path.exists():
        path.write_text(DEMO_CONFIG.format(migrations="migrations"))
    return path


DEMO_TABLE_PREFIX = "aibotkit_"


async def _foreign_tables(env: Environment) -> list[str]:
    """Tables in ``env``'s database that the demo did not create (empty for a missing database)."""
    from syncdb_tui.core.envs.environments import connection

    async with connection(env, database="postgres") as conn:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", env.database)
    if not exists:
        return []
    async with connection(env) as conn:
        rows = await conn.fetch(
            "SELECT n.nspname || '.' || c.relname AS name FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname <> 'syncdb' AND NOT (n.nspname = 'public' AND "
            "(c.relname LIKE $1 OR c.relname = 'alembic_version' OR c.relname LIKE 'syncdb%')) ORDER BY 1",
            DEMO_TABLE_PREFIX + "%",
        )
    return [row["name"] for row in rows]


async def _drop_database(env: Environment) -> None:
    """Drop and recreate ``env``'s database, only if it holds nothing but the demo's tables.

    Raises:
        RefusedError: the database holds other tables (it is not a demo database).
    """
    from syncdb_tui.core.envs.environments import connection
    from syncdb_tui.core.errors import RefusedError

    # an embedded database lives in the demo's own .syncdb/; any other one may be someone's data
    foreign = [] if env.embedded is not None else await _foreign_tables(env)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise RefusedError(
            f"{env.name}'s database {env.database} holds tables that are not the demo's ({shown}); "
            "syncdb demo only drops and rebuilds its own databases",
            hint='point the demo\'s environments at empty or demo databases (the default is url = "embedded")',
            title="not a demo database",
        )
    async with connection(env, database="postgres") as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{env.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{env.database}"')


async def _is_built(env: Environment) -> bool:
    """A revision applied and the users table seeded: a finished earlier build."""
    from syncdb_tui.core.envs.environments import connection
    from syncdb_tui.core.project.versions import current_revisions

    async with connection(env) as conn:
        if not await current_revisions(conn):
            return False
        if await conn.fetchval("SELECT to_regclass('aibotkit_users') IS NULL"):
            return False
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM aibotkit_users)"))


async def _seed(env: Environment, scale: float, progress: ProgressCallback | None) -> int:
    from syncdb_tui.core.envs.environments import connection
    from syncdb_tui.demo.seed import SeedOptions, seed

    async with connection(env) as conn:
        result = await seed(conn, SeedOptions(scale=scale, progress=progress))
    return int(getattr(result, "total_rows", 0) or 0)


def build_demo(
    config: Config, *, reset: bool = False, scale: float = 1.0, progress: ProgressCallback | None = None
) -> list[DemoEnvironment]:
    """Build dev (head), staging (0007) and prod (0006, protected), each seeded (blocking).

    Raises:
        UsageError: ``config`` is not the demo's.
        RefusedError: a database to rebuild holds tables that are not the demo's.
        SyncdbError: the embedded server, a migration or the seeding failed.
    """
    from syncdb_tui.core.changes.migrate import upgrade
    from syncdb_tui.core.envs.environments import resolve
    from syncdb_tui.core.errors import UsageError
    from syncdb_tui.core.project.revisions import Project

    if not is_demo_config(config):
        raise UsageError(
            f"{config.path or 'the configuration'} is not the demo's config; the demo rebuilds its databases",
            hint="run syncdb demo without --config (it writes ./syncdb-demo)",
            title="not the demo's config",
        )
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
