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
    from collections.abc import Callable

    from syncdb_tui.config import Config
    from syncdb_tui.core.changes.policy import Requirements
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


def uses_packaged_scripts(config: Config) -> bool:
    """The config's scripts are the ones shipped inside the package (the repository's own syncdb.toml):
    never a place to write revisions, so ``syncdb demo`` writes a demo project instead."""
    location = config.alembic_script_dir
    if location is None:
        return False
    try:
        return location.resolve().is_relative_to(DEMO_MIGRATIONS)
    except OSError:
        return False


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

    # only the embedded server in the demo's own .syncdb/ is syncdb's; a URL's database may be someone's data
    if env.embedded is None:
        raise RefusedError(
            f"{env.name} ({env.display_url}) is not on syncdb's embedded server; syncdb demo never drops it",
            hint=_URL_HINT,
            title="not a demo database",
        )
    async with connection(env, database="postgres") as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{env.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{env.database}"')


_URL_HINT = (
    'let the demo use its own databases (url = "embedded", as `syncdb demo --dir DIR` writes), or empty '
    "these databases yourself and run syncdb demo without --reset"
)


async def _relations(env: Environment, *, with_syncdb: bool = False) -> list[str]:
    """Every table, view and sequence in ``env``'s database (empty when the database does not exist).

    syncdb's own schema (the ledger) is left out unless ``with_syncdb``.
    """
    from syncdb_tui.core.envs.environments import connection

    async with connection(env, database="postgres") as conn:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", env.database)
    if not exists:
        return []
    async with connection(env) as conn:
        rows = await conn.fetch(
            "SELECT n.nspname || '.' || c.relname AS name FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' "
            "AND ($1 OR n.nspname <> 'syncdb') ORDER BY 1",
            with_syncdb,
        )
    return [row["name"] for row in rows]


def _refuse_url_environments(envs: list[Environment], *, reset: bool) -> None:
    """Refuse, before anything changes, to rebuild a database that is not on syncdb's embedded server.

    Raises:
        RefusedError: ``reset`` of a URL environment, or one that is not built and not empty.
    """
    from syncdb_tui.core.errors import RefusedError

    urls = [env for env in envs if env.embedded is None]
    if not urls:
        return
    if reset:
        names = ", ".join(f"{env.name} ({env.display_url})" for env in urls)
        raise RefusedError(
            f"syncdb demo --reset drops and recreates databases, and {names} "
            f"{'is' if len(urls) == 1 else 'are'} not on syncdb's embedded server: syncdb demo only ever drops "
            "the embedded databases it manages for this project; nothing was changed",
            hint=_URL_HINT,
            title="demo reset refused",
        )
    for env in urls:
        # not built yet: built in place when empty, never dropped
        present = asyncio.run(_relations(env))
        if not present:
            continue
        foreign = asyncio.run(_foreign_tables(env))
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise RefusedError(
                f"{env.name}'s database {env.database} holds tables that are not the demo's ({shown}); "
                "syncdb demo only drops and rebuilds its own databases",
                hint='point the demo\'s environments at empty or demo databases (the default is url = "embedded")',
                title="not a demo database",
            )
        raise RefusedError(
            f"{env.name}'s database {env.database} holds a half-built demo ({len(present)} objects), and it is "
            "not on syncdb's embedded server: syncdb demo never drops it; nothing was changed",
            hint=_URL_HINT,
            title="not a demo database",
        )


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
    config: Config,
    *,
    reset: bool = False,
    scale: float = 1.0,
    progress: ProgressCallback | None = None,
    satisfy: Callable[[Requirements], None] | None = None,
) -> list[DemoEnvironment]:
    """Build dev (head), staging (0007) and prod (0006, protected), each seeded (blocking).

    Only databases of the embedded server that syncdb manages for this project are
    ever dropped: an environment with a URL is never reset, and is built in place
    only when its database is empty.  Dropping a protected environment's database
    that holds anything is a change with the policy's action ``reset``:
    ``satisfy(requirements)`` is called first (the CLI asks for the typed name or
    takes --force; it raises to refuse); without ``satisfy`` such a reset is
    refused.  Every refusal happens before the first database is touched.

    Raises:
        UsageError: ``config`` is not the demo's.
        RefusedError: a database to rebuild holds tables that are not the demo's, a URL
            environment would be dropped, or a protected one was not confirmed.
        SyncdbError: the embedded server, a migration or the seeding failed.
    """
    from syncdb_tui.core.changes.executor import plan_and_apply
    from syncdb_tui.core.changes.policy import check_satisfied, requirements
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
    envs: dict[str, Environment] = {}
    for name in DEMO_TARGETS:
        emit(progress, JobProgress(phase=f"preparing {name}"))
        envs[name] = resolve(config, name)
    reused = {name: not reset and asyncio.run(_is_built(env)) for name, env in envs.items()}
    rebuilt = [envs[name] for name in DEMO_TARGETS if not reused[name]]
    # decide everything that may refuse before the first database is dropped
    _refuse_url_environments(rebuilt, reset=reset)
    for env in rebuilt:
        if env.embedded is None or not asyncio.run(_relations(env, with_syncdb=True)):
            continue  # built in place, or nothing in it to lose
        req = requirements(env, "reset")
        if not req.asks_anything:
            continue
        if satisfy is None:
            check_satisfied(req, confirmed=False)
        else:
            satisfy(req)
    built = []
    for name, target in DEMO_TARGETS.items():
        env = envs[name]
        if reused[name]:
            built.append(DemoEnvironment(name, target, reused=True, rows=0))
            continue
        # new, reset, or left half-built by an interrupted run: start from an empty database
        # (a URL environment's database is empty here, and is never dropped)
        if env.embedded is not None:
            asyncio.run(_drop_database(env))
        emit(progress, JobProgress(phase=f"migrating {name} to {target}"))
        plan_and_apply(project, env, "upgrade", target)
        emit(progress, JobProgress(phase=f"seeding {name}"))
        rows = asyncio.run(_seed(env, scale, progress))
        built.append(DemoEnvironment(name, target, reused=False, rows=rows))
    return built
