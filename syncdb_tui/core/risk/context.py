"""Live context for the risk engine: table sizes and the server version of the target.

Who calls what: ``core/migrations.py`` (status), ``commands/risk.py`` and the TUI
call :func:`load_live_context` (re-exported by ``risk.py``) with the tables that
``risk.tables_touched`` found; ``risk.analyse_sql`` reads the :class:`LiveContext`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from syncdb_tui.core.risk.model import bare

if TYPE_CHECKING:
    import asyncpg


@dataclass(frozen=True)
class TableStats:
    """Size of one table in the target environment."""

    rows_estimate: float
    """``pg_class.reltuples`` (estimated from the heap size when the table was never analysed)."""
    total_bytes: int
    """``pg_total_relation_size``: heap, indexes and TOAST."""


@dataclass(frozen=True)
class LiveContext:
    """Facts of the target environment that raise or lower severities."""

    server_version_num: int
    tables: dict[str, TableStats]
    """Keyed by ``schema.table`` and by bare ``table``."""
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    """``table`` → column → type (``format_type``), for the binary-coercible check."""
    indexes: dict[str, str] = field(default_factory=dict)
    """Index name → its table, so DROP INDEX / REINDEX know the table they lock."""
    looked_up: frozenset[str] = frozenset()
    """Names that were looked up: one of them missing from ``tables`` does not exist (yet)."""

    def stats(self, table: str) -> TableStats | None:
        return self.tables.get(table) or self.tables.get(bare(table))


async def load_live_context(conn: asyncpg.Connection, tables: Iterable[str]) -> LiveContext:
    """Sizes of ``tables`` (as named in the SQL) and the server version, from the catalog.

    Tables that do not exist are left out (they are created by an earlier pending migration).

    Raises:
        OperationError: the catalog query failed.
    """
    import asyncpg

    from syncdb_tui.core.errors import OperationError

    names = sorted({t for t in tables if t})
    try:
        version = int(await conn.fetchval("SELECT current_setting('server_version_num')"))
        schemas = [n.rsplit(".", 1)[0] if "." in n else None for n in names]
        relnames = [bare(n) for n in names]
        rows = await conn.fetch(_SIZES_SQL, names, schemas, relnames) if names else []
        indexes = await conn.fetch(_INDEXES_SQL, [r["oid"] for r in rows]) if rows else []
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
        raise OperationError(
            f"could not read table sizes for the risk analysis: {error}",
            hint="check the role may read pg_class, or run without --env to judge without live context",
        ) from error
    stats: dict[str, TableStats] = {}
    columns: dict[str, dict[str, str]] = {}
    index_map: dict[str, str] = {}
    for row in rows:
        reltuples = float(row["reltuples"])
        if reltuples < 0:  # never vacuumed or analysed: estimate from the heap size
            reltuples = float(row["heap_bytes"]) / 100.0
        item = TableStats(rows_estimate=reltuples, total_bytes=int(row["total_bytes"]))
        keys = [f"{row['schema']}.{row['name']}", row["name"]]
        if row["is_index"]:
            index_map[bare(row["given"])] = row["name"]
        else:
            keys.insert(0, row["given"])
        for key in keys:
            stats.setdefault(key, item)
        columns[row["name"]] = dict(zip(row["column_names"] or (), row["column_types"] or (), strict=False))
    index_map.update({r["index_name"]: r["table_name"] for r in indexes})
    return LiveContext(
        server_version_num=version,
        tables=stats,
        columns=columns,
        indexes=index_map,
        looked_up=frozenset(names) | frozenset(bare(n) for n in names),
    )


_SIZES_SQL = """
WITH given AS (
    SELECT g.name, to_regclass(CASE WHEN g.schema IS NULL THEN quote_ident(g.relname)
                                    ELSE quote_ident(g.schema) || '.' || quote_ident(g.relname) END) AS oid
    FROM unnest($1::text[], $2::text[], $3::text[]) AS g(name, schema, relname)
),
resolved AS (
    SELECT given.name AS given, c.relkind IN ('i', 'I') AS is_index,
           CASE WHEN c.relkind IN ('i', 'I') THEN x.indrelid ELSE c.oid END AS table_oid
    FROM given JOIN pg_class c ON c.oid = given.oid LEFT JOIN pg_index x ON x.indexrelid = c.oid
)
SELECT r.given, r.is_index, t.oid, n.nspname AS schema, t.relname AS name, t.reltuples,
       pg_relation_size(t.oid) AS heap_bytes, pg_total_relation_size(t.oid) AS total_bytes,
       array(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS column_names,
       array(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
             WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS column_types
FROM resolved r JOIN pg_class t ON t.oid = r.table_oid JOIN pg_namespace n ON n.oid = t.relnamespace
"""


_INDEXES_SQL = """
SELECT i.relname AS index_name, t.relname AS table_name
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
WHERE x.indrelid = ANY($1::oid[])
"""
