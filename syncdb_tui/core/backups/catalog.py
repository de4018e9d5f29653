"""Small catalog reads shared by backup, restore and verify (no side effects)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

USER_TABLES_SQL = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, c.oid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
"""
"""Every user table (not an extension's), qualified and quoted, with its oid."""


async def read_alembic_revisions(conn: asyncpg.Connection) -> tuple[str, ...]:
    """The rows of the first ``alembic_version`` table on the search path (or any schema)."""
    qualified = await conn.fetchval(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'alembic_version' "
        "AND c.relkind = 'r' ORDER BY array_position(current_schemas(false), n.nspname::text) NULLS LAST, 1 "
        "LIMIT 1"
    )
    if qualified is None:
        return ()
    rows = await conn.fetch(f"SELECT version_num::text AS v FROM {qualified} ORDER BY 1")
    return tuple(str(row["v"]) for row in rows)


async def user_tables(conn: asyncpg.Connection) -> list[str]:
    """The names of every user table, qualified and quoted (``public.orders``)."""
    return [str(row["name"]) for row in await conn.fetch(USER_TABLES_SQL)]
