"""The version table: which revisions a database is at (read with asyncpg, no Alembic command)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.core.envs.environments import Environment

VERSION_TABLE = "alembic_version"


async def current_revisions(conn: asyncpg.Connection) -> tuple[str, ...] | None:
    """The version table's rows; ``None`` when there is no version table (nothing applied)."""
    import asyncpg

    try:
        rows = await conn.fetch(f"SELECT version_num FROM {VERSION_TABLE}")
    except asyncpg.UndefinedTableError:
        return None
    return tuple(sorted(str(row["version_num"]) for row in rows))


async def read_current(env: Environment) -> tuple[str, ...]:
    """The revisions ``env`` is at (empty: none applied)."""
    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        return await current_revisions(conn) or ()
