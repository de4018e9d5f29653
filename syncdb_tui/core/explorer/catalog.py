"""Catalog introspection for the explorer: relations, columns, keys, indexes, constraints.

Who calls what: ``core/explorer.py`` calls :func:`list_relations` for the tree
and :func:`describe` when a table is opened; the structure view shows the
returned :class:`TableInfo`; :func:`create_statement` rebuilds DDL from it.
Every query here reads ``pg_catalog`` with bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from syncdb_tui.core.errors import OperationError
from syncdb_tui.core.explorer.query import CTID, KeyColumn, TableRef
from syncdb_tui.core.sqltext import quote_ident

if TYPE_CHECKING:
    import asyncpg

RELKIND_NAMES = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view", "f": "foreign table"}


@dataclass(frozen=True)
class RelationSummary:
    """One entry of the tree."""

    table: TableRef
    kind: str
    """``table``, ``view``, ``materialized view``, ``partitioned table`` or ``foreign table``."""
    estimated_rows: int | None
    """``pg_class.reltuples``; ``None`` before the first ANALYZE."""
    total_bytes: int | None
    comment: str = ""


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    sql_type: str
    """``format_type`` of the column, usable in a CAST."""
    nullable: bool
    default: str | None
    comment: str
    base_type: str
    """The type's own name (``jsonb``, ``bytea``, ``text``…) without modifiers."""
    identity: str = ""
    generated: bool = False


@dataclass(frozen=True)
class IndexInfo:
    name: str
    definition: str
    size_bytes: int
    valid: bool
    unique: bool
    primary: bool
    columns: tuple[str, ...]
    """Key columns by name (an expression key shows as an empty string)."""
    method: str
    partial: bool
    constraint: bool
    """The index backs a PRIMARY KEY, UNIQUE or EXCLUDE constraint."""


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: TableRef
    columns: tuple[str, ...]
    referenced: TableRef
    referenced_columns: tuple[str, ...]
    definition: str


@dataclass(frozen=True)
class ConstraintInfo:
    name: str
    kind: str
    """``check``, ``unique``, ``exclude`` or ``primary key``."""
    definition: str


@dataclass(frozen=True)
class TriggerInfo:
    name: str
    definition: str
    enabled: bool


@dataclass(frozen=True)
class TableInfo:
    """Everything the explorer knows about one relation."""

    table: TableRef
    oid: int
    kind: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[IndexInfo, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    referenced_by: tuple[ForeignKey, ...] = ()
    constraints: tuple[ConstraintInfo, ...] = ()
    triggers: tuple[TriggerInfo, ...] = ()
    estimated_rows: int | None = None
    total_bytes: int | None = None
    comment: str = ""
    view_definition: str = ""
    types: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> ColumnInfo:
        for column in self.columns:
            if column.name == name:
                return column
        raise OperationError(
            f"{self.table} has no column {name!r} (any more)",
            hint="reload the table (r) to see its current columns",
            title="column missing",
        )

    @property
    def row_key(self) -> tuple[KeyColumn, ...]:
        """The primary key, or ``ctid`` when there is none."""
        if self.primary_key:
            return tuple(KeyColumn(name, self.column(name).sql_type) for name in self.primary_key)
        if self.has_ctid:
            return (KeyColumn(CTID, "tid"),)
        return ()

    @property
    def has_ctid(self) -> bool:
        """Rows have a stable physical address to page on (plain tables and materialized views)."""
        return self.kind in ("table", "materialized view")

    @property
    def keyless(self) -> bool:
        return not self.primary_key

    @property
    def is_table(self) -> bool:
        return self.kind in ("table", "partitioned table")

    def index_for(self, column: str) -> IndexInfo | None:
        """A valid, non-partial btree index whose first key is ``column``, if any."""
        for index in self.indexes:
            if index.valid and not index.partial and index.method == "btree" and index.columns[:1] == (column,):
                return index
        return None

    def foreign_key_for(self, column: str) -> ForeignKey | None:
        """The outgoing foreign key that ``column`` takes part in (single-column ones first)."""
        candidates = [fk for fk in self.foreign_keys if column in fk.columns]
        candidates.sort(key=lambda fk: len(fk.columns))
        return candidates[0] if candidates else None


_RELATIONS_SQL = """
SELECT n.nspname, c.relname, c.relkind::text AS relkind,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS reltuples,
       pg_total_relation_size(c.oid) AS total_bytes,
       coalesce(obj_description(c.oid, 'pg_class'), '') AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY n.nspname, c.relname
"""

_RELATION_SQL = """
SELECT c.oid, c.relkind::text AS relkind,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS reltuples,
       pg_total_relation_size(c.oid) AS total_bytes,
       coalesce(obj_description(c.oid, 'pg_class'), '') AS comment,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) ELSE '' END AS viewdef
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""

_COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS sql_type, NOT a.attnotnull AS nullable,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       coalesce(col_description(a.attrelid, a.attnum), '') AS comment,
       t.typname AS base_type, a.attidentity::text AS identity, a.attgenerated <> '' AS generated,
       t.typcategory::text AS category
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_INDEXES_SQL = """
SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition,
       pg_relation_size(i.indexrelid) AS size_bytes, i.indisvalid AS valid, i.indisunique AS unique,
       i.indisprimary AS primary, am.amname AS method, i.indpred IS NOT NULL AS partial,
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)
         AS backs_constraint,
       ARRAY(SELECT coalesce(a.attname, '') FROM unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, n)
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.n) AS columns
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
WHERE i.indrelid = $1
ORDER BY i.indisprimary DESC, ic.relname
"""

_FOREIGN_KEYS_SQL = """
SELECT k.conname, sn.nspname AS schema, s.relname AS table_name,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, n)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum ORDER BY u.n) AS columns,
       tn.nspname AS ref_schema, t.relname AS ref_table,
       ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY AS u(attnum, n)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.n) AS ref_columns,
       pg_get_constraintdef(k.oid, true) AS definition
FROM pg_constraint k
JOIN pg_class s ON s.oid = k.conrelid JOIN pg_namespace sn ON sn.oid = s.relnamespace
JOIN pg_class t ON t.oid = k.confrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE k.contype = 'f' AND (k.conrelid = $1 OR k.confrelid = $1)
ORDER BY k.conname
"""

_CONSTRAINTS_SQL = """
SELECT conname, contype::text, pg_get_constraintdef(oid, true) AS definition
FROM pg_constraint WHERE conrelid = $1 AND contype IN ('c', 'u', 'x', 'p')
ORDER BY contype, conname
"""

_TRIGGERS_SQL = """
SELECT tgname, pg_get_triggerdef(oid, true) AS definition, tgenabled <> 'D' AS enabled
FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal ORDER BY tgname
"""

_CONSTRAINT_KINDS = {"c": "check", "u": "unique", "x": "exclude", "p": "primary key"}


async def list_relations(conn: asyncpg.Connection) -> list[RelationSummary]:
    """Every user-visible table, view, materialized view and foreign table."""
    rows = await conn.fetch(_RELATIONS_SQL)
    return [
        RelationSummary(
            table=TableRef(row["nspname"], row["relname"]),
            kind=RELKIND_NAMES[row["relkind"]],
            estimated_rows=row["reltuples"],
            total_bytes=row["total_bytes"],
            comment=row["comment"],
        )
        for row in rows
    ]


async def describe(conn: asyncpg.Connection, table: TableRef) -> TableInfo:
    """Columns, keys, indexes, foreign keys (both ways), constraints and triggers of ``table``.

    Raises:
        OperationError: the relation does not exist (any more).
    """
    relation = await conn.fetchrow(_RELATION_SQL, table.schema, table.name)
    if relation is None:
        raise OperationError(
            f"the table {table} does not exist (it may have been dropped or renamed)",
            hint="reload the list of tables (r) and pick another one",
            title="table missing",
        )
    oid = relation["oid"]
    columns = tuple(
        ColumnInfo(
            name=row["attname"],
            sql_type=row["sql_type"],
            nullable=row["nullable"],
            default=row["default_expr"],
            comment=row["comment"],
            base_type=row["base_type"],
            identity=row["identity"] or "",
            generated=row["generated"],
        )
        for row in await conn.fetch(_COLUMNS_SQL, oid)
    )
    indexes = tuple(
        IndexInfo(
            name=row["name"],
            definition=row["definition"],
            size_bytes=row["size_bytes"],
            valid=row["valid"],
            unique=row["unique"],
            primary=row["primary"],
            columns=tuple(row["columns"]),
            method=row["method"],
            partial=row["partial"],
            constraint=row["backs_constraint"],
        )
        for row in await conn.fetch(_INDEXES_SQL, oid)
    )
    primary_key: tuple[str, ...] = ()
    for index in indexes:
        if index.primary:
            primary_key = index.columns
    outgoing, incoming = [], []
    for row in await conn.fetch(_FOREIGN_KEYS_SQL, oid):
        fk = ForeignKey(
            name=row["conname"],
            table=TableRef(row["schema"], row["table_name"]),
            columns=tuple(row["columns"]),
            referenced=TableRef(row["ref_schema"], row["ref_table"]),
            referenced_columns=tuple(row["ref_columns"]),
            definition=row["definition"],
        )
        if fk.table == table:
            outgoing.append(fk)
        if fk.referenced == table:
            incoming.append(fk)
    constraints = tuple(
        ConstraintInfo(row["conname"], _CONSTRAINT_KINDS[row["contype"]], row["definition"])
        for row in await conn.fetch(_CONSTRAINTS_SQL, oid)
    )
    triggers = tuple(
        TriggerInfo(row["tgname"], row["definition"], row["enabled"]) for row in await conn.fetch(_TRIGGERS_SQL, oid)
    )
    return TableInfo(
        table=table,
        oid=oid,
        kind=RELKIND_NAMES[relation["relkind"]],
        columns=columns,
        primary_key=primary_key,
        indexes=indexes,
        foreign_keys=tuple(outgoing),
        referenced_by=tuple(incoming),
        constraints=constraints,
        triggers=triggers,
        estimated_rows=relation["reltuples"],
        total_bytes=relation["total_bytes"],
        comment=relation["comment"],
        view_definition=relation["viewdef"] or "",
        types={column.name: column.sql_type for column in columns},
    )


def create_statement(info: TableInfo) -> str:
    """A CREATE statement rebuilt from the catalog (table, its indexes, triggers and comments)."""
    if info.kind in ("view", "materialized view"):
        keyword = "MATERIALIZED VIEW" if info.kind == "materialized view" else "VIEW"
        return f"CREATE {keyword} {info.table.sql} AS\n{info.view_definition.rstrip().rstrip(';')};\n"
    lines = []
    for column in info.columns:
        line = f"    {quote_ident(column.name)} {column.sql_type}"
        if column.identity:
            line += " GENERATED " + ("ALWAYS" if column.identity == "a" else "BY DEFAULT") + " AS IDENTITY"
        elif column.generated and column.default:
            line += f" GENERATED ALWAYS AS ({column.default}) STORED"
        elif column.default is not None:
            line += f" DEFAULT {column.default}"
        if not column.nullable:
            line += " NOT NULL"
        lines.append(line)
    for constraint in info.constraints:
        lines.append(f"    CONSTRAINT {quote_ident(constraint.name)} {constraint.definition}")
    for fk in info.foreign_keys:
        lines.append(f"    CONSTRAINT {quote_ident(fk.name)} {fk.definition}")
    parts = [f"CREATE TABLE {info.table.sql} (\n" + ",\n".join(lines) + "\n);"]
    parts += [f"{index.definition};" for index in info.indexes if not index.constraint]
    parts += [f"{trigger.definition};" for trigger in info.triggers]
    if info.comment:
        parts.append(f"COMMENT ON TABLE {info.table.sql} IS {_literal(info.comment)};")
    for column in info.columns:
        if column.comment:
            parts.append(
                f"COMMENT ON COLUMN {info.table.sql}.{quote_ident(column.name)} IS {_literal(column.comment)};"
            )
    return "\n".join(parts) + "\n"


def _literal(text: str) -> str:
    from syncdb_tui.core.sqltext import quote_literal

    return quote_literal(text)
