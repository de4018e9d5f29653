"""Environment vs environment: compare two live schemas (``syncdb diff --against``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.schema.drift import is_ignored_table, nullable_text

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool
    default: str | None


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: dict[str, ColumnInfo] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)
    """Index name → its definition (``CREATE INDEX … USING btree (col)``)."""
    constraints: dict[str, str] = field(default_factory=dict)
    """Constraint name → its definition (``FOREIGN KEY (…) REFERENCES …``)."""


@dataclass(frozen=True)
class SchemaSnapshot:
    """One database's tables as its catalog describes them."""

    environment: str
    database: str
    tables: dict[str, TableInfo]
    revisions: tuple[str, ...]


@dataclass(frozen=True)
class Difference:
    """One attribute that differs: ``what`` is e.g. ``column email type``."""

    what: str
    a: str
    b: str

    def to_json(self) -> dict[str, str]:
        return {"what": self.what, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class TableDiff:
    name: str
    columns_only_in_a: tuple[str, ...] = ()
    columns_only_in_b: tuple[str, ...] = ()
    indexes_only_in_a: tuple[str, ...] = ()
    indexes_only_in_b: tuple[str, ...] = ()
    constraints_only_in_a: tuple[str, ...] = ()
    constraints_only_in_b: tuple[str, ...] = ()
    changes: tuple[Difference, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "columns_only_in_a": list(self.columns_only_in_a),
            "columns_only_in_b": list(self.columns_only_in_b),
            "indexes_only_in_a": list(self.indexes_only_in_a),
            "indexes_only_in_b": list(self.indexes_only_in_b),
            "constraints_only_in_a": list(self.constraints_only_in_a),
            "constraints_only_in_b": list(self.constraints_only_in_b),
            "changes": [change.to_json() for change in self.changes],
        }


@dataclass(frozen=True)
class EnvDiff:
    """Two environments' live schemas compared (``a`` is ``--env``, ``b`` is ``--against``)."""

    env_a: str
    env_b: str
    revisions_a: tuple[str, ...]
    revisions_b: tuple[str, ...]
    tables_only_in_a: tuple[str, ...] = ()
    tables_only_in_b: tuple[str, ...] = ()
    changed_tables: tuple[TableDiff, ...] = ()

    @property
    def revisions_differ(self) -> bool:
        return set(self.revisions_a) != set(self.revisions_b)

    @property
    def schemas_identical(self) -> bool:
        return not (self.tables_only_in_a or self.tables_only_in_b or self.changed_tables)

    @property
    def is_identical(self) -> bool:
        return self.schemas_identical and not self.revisions_differ

    def lines(self) -> list[str]:
        """A readable account of the differences."""
        a, b = self.env_a, self.env_b
        out = []
        rev_a = ", ".join(self.revisions_a) or "none"
        rev_b = ", ".join(self.revisions_b) or "none"
        if self.revisions_differ:
            out.append(f"alembic revisions differ: {a} at {rev_a}, {b} at {rev_b}")
        else:
            out.append(f"alembic revisions are the same: {rev_a}")
        if self.schemas_identical:
            out.append(f"schemas identical: {a} and {b} have the same tables, columns, indexes and constraints")
            return out
        for name in self.tables_only_in_a:
            out.append(f"table {name}: only in {a}")
        for name in self.tables_only_in_b:
            out.append(f"table {name}: only in {b}")
        for table in self.changed_tables:
            out.append(f"table {table.name}:")
            for kind, only_a, only_b in (
                ("column", table.columns_only_in_a, table.columns_only_in_b),
                ("index", table.indexes_only_in_a, table.indexes_only_in_b),
                ("constraint", table.constraints_only_in_a, table.constraints_only_in_b),
            ):
                out.extend(f"  {kind} {name}: only in {a}" for name in only_a)
                out.extend(f"  {kind} {name}: only in {b}" for name in only_b)
            out.extend(f"  {change.what}: {a} {change.a} | {b} {change.b}" for change in table.changes)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env_a,
            "against": self.env_b,
            "identical": self.is_identical,
            "schemas_identical": self.schemas_identical,
            "revisions": {self.env_a: list(self.revisions_a), self.env_b: list(self.revisions_b)},
            "revisions_differ": self.revisions_differ,
            "tables_only_in_env": list(self.tables_only_in_a),
            "tables_only_in_against": list(self.tables_only_in_b),
            "changed_tables": [table.to_json() for table in self.changed_tables],
        }


_TABLES_SQL = """
SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname
"""
_COLUMNS_SQL = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
       pg_get_expr(d.adbin, d.adrelid) AS "default"
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""
_INDEXES_SQL = """
SELECT i.indrelid, c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = ANY($1::oid[])
"""
_CONSTRAINTS_SQL = """
SELECT conrelid, conname, pg_get_constraintdef(oid) AS definition
FROM pg_constraint WHERE conrelid = ANY($1::oid[])
"""


async def snapshot(env: Environment) -> SchemaSnapshot:
    """Read ``env``'s tables, columns, indexes, constraints and Alembic revisions.

    Raises:
        UnreachableError: the database cannot be reached.
    """
    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        tables = [row for row in await conn.fetch(_TABLES_SQL) if not is_ignored_table(row["relname"])]
        oids = [row["oid"] for row in tables]
        by_oid = {row["oid"]: TableInfo(row["relname"]) for row in tables}
        for row in await conn.fetch(_COLUMNS_SQL, oids):
            by_oid[row["attrelid"]].columns[row["attname"]] = ColumnInfo(
                row["attname"], row["type"], row["nullable"], row["default"]
            )
        for row in await conn.fetch(_INDEXES_SQL, oids):
            by_oid[row["indrelid"]].indexes[row["name"]] = row["definition"]
        for row in await conn.fetch(_CONSTRAINTS_SQL, oids):
            by_oid[row["conrelid"]].constraints[row["conname"]] = row["definition"]
        revisions: tuple[str, ...] = ()
        if await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
            revisions = tuple(sorted(row[0] for row in await conn.fetch("SELECT version_num FROM alembic_version")))
    return SchemaSnapshot(env.name, env.database, {info.name: info for info in by_oid.values()}, revisions)


def _compare_tables(a: TableInfo, b: TableInfo) -> TableDiff | None:
    changes: list[Difference] = []
    for name in a.columns.keys() & b.columns.keys():
        col_a, col_b = a.columns[name], b.columns[name]
        if col_a.type != col_b.type:
            changes.append(Difference(f"column {name} type", col_a.type, col_b.type))
        if col_a.nullable != col_b.nullable:
            changes.append(
                Difference(f"column {name} nullability", nullable_text(col_a.nullable), nullable_text(col_b.nullable))
            )
        if col_a.default != col_b.default:
            changes.append(Difference(f"column {name} default", col_a.default or "(none)", col_b.default or "(none)"))
    for kind, defs_a, defs_b in (("index", a.indexes, b.indexes), ("constraint", a.constraints, b.constraints)):
        for name in defs_a.keys() & defs_b.keys():
            if defs_a[name] != defs_b[name]:
                changes.append(Difference(f"{kind} {name}", defs_a[name], defs_b[name]))
    diff = TableDiff(
        name=a.name,
        columns_only_in_a=tuple(name for name in a.columns if name not in b.columns),
        columns_only_in_b=tuple(name for name in b.columns if name not in a.columns),
        indexes_only_in_a=tuple(sorted(a.indexes.keys() - b.indexes.keys())),
        indexes_only_in_b=tuple(sorted(b.indexes.keys() - a.indexes.keys())),
        constraints_only_in_a=tuple(sorted(a.constraints.keys() - b.constraints.keys())),
        constraints_only_in_b=tuple(sorted(b.constraints.keys() - a.constraints.keys())),
        changes=tuple(sorted(changes, key=lambda change: change.what)),
    )
    empty = TableDiff(name=a.name)
    return None if diff == empty else diff


def compare_snapshots(a: SchemaSnapshot, b: SchemaSnapshot) -> EnvDiff:
    """The differences between two snapshots (``a`` first)."""
    common = sorted(a.tables.keys() & b.tables.keys())
    changed = [diff for name in common if (diff := _compare_tables(a.tables[name], b.tables[name])) is not None]
    return EnvDiff(
        env_a=a.environment,
        env_b=b.environment,
        revisions_a=a.revisions,
        revisions_b=b.revisions,
        tables_only_in_a=tuple(sorted(a.tables.keys() - b.tables.keys())),
        tables_only_in_b=tuple(sorted(b.tables.keys() - a.tables.keys())),
        changed_tables=tuple(changed),
    )


async def diff_environments(env_a: Environment, env_b: Environment) -> EnvDiff:
    """Compare two environments' live schemas and their Alembic revisions.

    Raises:
        UnreachableError: either database cannot be reached.
    """
    snap_a, snap_b = await asyncio.gather(snapshot(env_a), snapshot(env_b))
    return compare_snapshots(snap_a, snap_b)
