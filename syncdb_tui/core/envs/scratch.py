"""Scratch databases: a throw-away database on an environment's server, always dropped afterwards.

Used by ``check`` (the models against the migrations at head), the schema fingerprint
(the schema a revision is meant to produce) and the rehearsal (a copy of the live
database).  The database is created from the maintenance database ``postgres`` (a
session on the source would itself block a ``TEMPLATE`` copy), has a unique name, and is
dropped with ``WITH (FORCE)`` when the block ends, whatever happened inside.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from syncdb_tui.core.errors import OperationError, RefusedError, SyncdbError
from syncdb_tui.core.sqltext import quote_ident

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.config import Config
    from syncdb_tui.core.envs.environments import Environment

MAINTENANCE_DATABASE = "postgres"


def on_database(env: Environment, database: str, *, label: str = "scratch") -> Environment:
    """An unprotected environment like ``env`` but on ``database`` of the same server."""
    from syncdb_tui.core.envs.environments import Environment

    return Environment(
        name=f"{env.name} ({label})",
        protected=False,
        conninfo=env.conninfo.with_database(database),
        config=replace(env.config, protected=False, backup_before_migrate=False),
        embedded=env.embedded,
    )


async def other_sessions(env: Environment) -> list[str]:
    """Sessions connected to ``env``'s database, described for a person (this one excluded).

    Autovacuum workers are not counted: CREATE DATABASE … TEMPLATE ends them itself (PostgreSQL
    signals the ones working on the template and waits for them), so one vacuuming a freshly
    loaded table must not refuse a copy.
    """
    async with admin_connection(env) as conn:
        rows = await conn.fetch(
            "SELECT pid, coalesce(usename, '') AS usename, coalesce(application_name, '') AS app, "
            "coalesce(state, '') AS state FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() "
            "AND backend_type IS DISTINCT FROM 'autovacuum worker'",
            env.database,
        )
    return [f"pid {r['pid']} {r['usename']} ({r['app'] or 'no application name'}, {r['state']})" for r in rows]


async def drop_database(env: Environment, database: str) -> None:
    """Drop ``database`` on ``env``'s server (best effort: errors are ignored)."""
    try:
        async with admin_connection(env) as conn:
            await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(database)} WITH (FORCE)")
    except (SyncdbError, OSError, Exception):
        pass  # the name is unique to this run; nothing else uses it


@asynccontextmanager
async def admin_connection(env: Environment, *, allow_own: bool = True) -> AsyncIterator[asyncpg.Connection]:
    """A connection for CREATE/DROP DATABASE: to the maintenance database, else (``allow_own``) to ``env``'s own."""
    from syncdb_tui.core.envs.environments import connect

    try:
        conn = await connect(on_database(env, MAINTENANCE_DATABASE))
    except SyncdbError:
        if not allow_own:
            raise
        conn = await connect(env)
    try:
        yield conn
    finally:
        await conn.close()


async def scratch_host(config: Config, env: Environment) -> Environment | None:
    """Where a scratch database may live: ``env``'s server unless it is protected, else an unprotected one's."""
    import asyncio

    if not env.protected:
        return env
    from syncdb_tui.core.envs.environments import resolve_config

    for env_config in config.environments.values():
        if env_config.protected or env_config.unresolved is not None:
            continue
        return await asyncio.to_thread(resolve_config, config, env_config)
    return None


def scratch_name(env: Environment, purpose: str) -> str:
    return f"{env.database[:24]}__{purpose}_{os.getpid()}_{secrets.token_hex(3)}"


@asynccontextmanager
async def scratch_database(
    env: Environment, purpose: str, *, copy_of_live: bool = False, create: bool = True
) -> AsyncIterator[Environment]:
    """A new database on ``env``'s server for the block, then dropped.

    ``copy_of_live``: a ``CREATE DATABASE … TEMPLATE`` copy of ``env``'s database (refused while
    other sessions are connected to it, as PostgreSQL requires); else an empty database.
    ``create=False``: only reserve the name (the caller creates it, e.g. by a restore).

    Raises:
        RefusedError: a template copy while others are connected (they are named).
        OperationError: the role may not create databases, or the copy failed.
    """
    import asyncpg

    name = scratch_name(env, purpose)
    if create:
        if copy_of_live:
            others = await other_sessions(env)
            if others:
                raise RefusedError(
                    f"cannot copy {env.database}: PostgreSQL copies a database with CREATE DATABASE … TEMPLATE only "
                    f"while nobody else is connected to it, and {len(others)} session(s) are: " + "; ".join(others[:5]),
                    hint="try again when those sessions are gone, or work from a backup (--from-backup FILE)",
                    title="copy refused",
                )
        template = f" TEMPLATE {quote_ident(env.database)}" if copy_of_live else ""
        try:
            # a copy needs a session elsewhere than on its source: never the source itself
            async with admin_connection(env, allow_own=not copy_of_live) as conn:
                await conn.execute(f"CREATE DATABASE {quote_ident(name)}{template}")
        except asyncpg.PostgresError as error:
            raise OperationError(
                f"cannot create the scratch database {name} on {env.name}'s server: {error}",
                hint="the role needs CREATEDB (and, for a copy, nobody else connected to the database)",
                title="scratch database refused",
            ) from None
    try:
        yield on_database(env, name)
    finally:
        await drop_database(env, name)
