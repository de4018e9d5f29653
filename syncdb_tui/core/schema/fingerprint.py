"""Schema fingerprint: a hash of a live schema, and the differences between two schemas.

The snapshot describes what a revision is meant to create: tables and their columns
(type, default, nullability), indexes, constraints, triggers, views and sequences'
types, by name — never OIDs, never the ``syncdb`` schema, never the contents of the
version table.  Two databases at the same revision built by the same migrations have the
same fingerprint; a hand-made ``ALTER TABLE`` on prod changes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

_SKIP_SCHEMAS = "('pg_catalog', 'information_schema', 'syncdb', 'pg_toast')"

_COLUMNS = f"""
SELECT n.nspname AS schema, c.relname AS table, a.attname AS column,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS default
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN {_SKIP_SCHEMAS} AND n.nspname NOT LIKE 'pg_temp%'
  AND c.relname <> 'alembic_version'
"""

_INDEXES = f"""
SELECT n.nspname AS schema, c.relname AS name, t.relname AS table,
       regexp_replace(pg_get_indexdef(i.indexrelid), ' ON [^ ]+ USING', ' ON ' || t.relname || ' USING') AS def
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN {_SKIP_SCHEMAS} AND t.relname <> 'alembic_version'
"""

_CONSTRAINTS = f"""
SELECT n.nspname AS schema, con.conname AS name, t.relname AS table, pg_get_constraintdef(con.oid) AS def
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname NOT IN {_SKIP_SCHEMAS} AND t.relname <> 'alembic_version'
"""

_TRIGGERS = f"""
SELECT n.nspname AS schema, tg.tgname AS name, t.relname AS table, pg_get_triggerdef(tg.oid) AS def
FROM pg_trigger tg
JOIN pg_class t ON t.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE NOT tg.tgisinternal AND n.nspname NOT IN {_SKIP_SCHEMAS}
"""

_SEQUENCES = f"""
SELECT n.nspname AS schema, c.relname AS name, format_type(s.seqtypid, NULL) AS type
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN {_SKIP_SCHEMAS}
"""

_VIEWS = f"""
SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN {_SKIP_SCHEMAS}
"""


def _name(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


@dataclass(frozen=True)
class SchemaSnapshot:
    """A canonical description of a schema: ``{kind: {name: description}}``."""

    objects: dict[str, dict[str, str]]

    @property
    def fingerprint(self) -> str:
        text = json.dumps(self.objects, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {"objects": self.objects}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SchemaSnapshot:
        return cls({str(kind): {str(k): str(v) for k, v in items.items()} for kind, items in data["objects"].items()})


async def snapshot(conn: asyncpg.Connection) -> SchemaSnapshot:
    """The schema of the database ``conn`` is on."""
    objects: dict[str, dict[str, str]] = {
        "table": {},
        "column": {},
        "index": {},
        "constraint": {},
        "trigger": {},
        "sequence": {},
        "view": {},
    }
    for row in await conn.fetch(_COLUMNS):
        table = _name(row["schema"], row["table"])
        objects["table"][table] = "table"
        default = row["default"]
        if "nextval(" in default:
            default = "nextval(<sequence>)"  # the sequence's name is an implementation detail of serial
        objects["column"][f"{table}.{row['column']}"] = (
            f"{row['type']}{' NOT NULL' if row['not_null'] else ''}{f' DEFAULT {default}' if default else ''}"
        )
    for row in await conn.fetch(_INDEXES):
        objects["index"][_name(row["schema"], row["name"])] = str(row["def"])
    for row in await conn.fetch(_CONSTRAINTS):
        objects["constraint"][f"{_name(row['schema'], row['table'])}.{row['name']}"] = str(row["def"])
    for row in await conn.fetch(_TRIGGERS):
        objects["trigger"][f"{_name(row['schema'], row['table'])}.{row['name']}"] = str(row["def"])
    for row in await conn.fetch(_SEQUENCES):
        objects["sequence"][_name(row["schema"], row["name"])] = str(row["type"])
    for row in await conn.fetch(_VIEWS):
        objects["view"][_name(row["schema"], row["name"])] = "materialized view" if row["kind"] == "m" else "view"
    return SchemaSnapshot(objects)


def differences(live: SchemaSnapshot, expected: SchemaSnapshot) -> list[str]:
    """What ``live`` has that ``expected`` does not, lacks, or has differently — one line each.

    A whole table extra or missing is said once, not once per column.
    """
    live_tables = live.objects.get("table", {})
    expected_tables = expected.objects.get("table", {})
    out: list[str] = []
    for kind in sorted(set(live.objects) | set(expected.objects)):
        have = live.objects.get(kind, {})
        want = expected.objects.get(kind, {})
        for name in sorted(set(have) - set(want)):
            if kind == "column" and name.rsplit(".", 1)[0] not in expected_tables:
                continue
            out.append(f"extra {kind} {name} ({have[name]})")
        for name in sorted(set(want) - set(have)):
            if kind == "column" and name.rsplit(".", 1)[0] not in live_tables:
                continue
            out.append(f"missing {kind} {name} ({want[name]})")
        for name in sorted(set(have) & set(want)):
            if have[name] != want[name]:
                out.append(f"{kind} {name} differs: {have[name]} (expected {want[name]})")
    return out


def summarise(lines: list[str]) -> str:
    """``2 columns, 1 index`` from :func:`differences`' lines."""
    counts: dict[str, int] = {}
    for line in lines:
        words = line.split()
        kind = words[1] if words[0] in ("extra", "missing") else words[0]
        counts[kind] = counts.get(kind, 0) + 1
    plural = {"index": "indexes"}
    return ", ".join(
        f"{count} {plural.get(kind, kind + 's') if count > 1 else kind}" for kind, count in sorted(counts.items())
    )
