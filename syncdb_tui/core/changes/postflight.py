"""Post-flight: what a change may leave behind that the operator must hear about.

Indexes left INVALID (a failed ``CREATE INDEX CONCURRENTLY``), constraints still
``NOT VALID``, and drift between the models and the database once it is at
head.  Reported in the outcome, the ledger and the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.config import Config
    from syncdb_tui.core.envs.environments import Environment

_INVALID_INDEXES = """
SELECT n.nspname AS schema, c.relname AS index, t.relname AS table
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2
"""

_NOT_VALID_CONSTRAINTS = """
SELECT n.nspname AS schema, con.conname AS constraint, t.relname AS table
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE NOT con.convalidated AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2
"""


def _qualified(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


@dataclass(frozen=True)
class Postflight:
    """What the database looks like after a change, where it needs attention."""

    invalid_indexes: tuple[str, ...] = ()
    """``index on table`` for each index left INVALID."""
    not_valid_constraints: tuple[str, ...] = ()
    drift: tuple[str, ...] | None = None
    """Differences between the models and the database at head (None: not compared)."""
    drift_note: str = ""

    def problems(self) -> list[str]:
        out = [
            f"index {item} is INVALID (a failed CREATE INDEX CONCURRENTLY?): drop it and build it again"
            for item in self.invalid_indexes
        ]
        out += [
            f"constraint {item} is NOT VALID: run ALTER TABLE … VALIDATE CONSTRAINT when convenient"
            for item in self.not_valid_constraints
        ]
        if self.drift:
            out.append(
                "the models differ from the database at head: "
                + "; ".join(self.drift[:5])
                + (" …" if len(self.drift) > 5 else "")
            )
        return out

    @property
    def ok(self) -> bool:
        return not self.problems()

    def to_json(self) -> dict[str, Any]:
        return {
            "invalid_indexes": list(self.invalid_indexes),
            "not_valid_constraints": list(self.not_valid_constraints),
            "drift": list(self.drift) if self.drift is not None else None,
            "drift_note": self.drift_note or None,
            "problems": self.problems(),
        }


async def catalog_checks(conn: asyncpg.Connection) -> Postflight:
    """INVALID indexes and NOT VALID constraints of the database ``conn`` is on."""
    indexes = await conn.fetch(_INVALID_INDEXES)
    constraints = await conn.fetch(_NOT_VALID_CONSTRAINTS)
    return Postflight(
        invalid_indexes=tuple(f"{_qualified(r['schema'], r['index'])} on {r['table']}" for r in indexes),
        not_valid_constraints=tuple(f"{_qualified(r['schema'], r['constraint'])} on {r['table']}" for r in constraints),
    )


async def drift_at_head(config: Config, env: Environment) -> tuple[tuple[str, ...] | None, str]:
    """The models-vs-database differences (None and a note when they cannot be compared)."""
    if not config.target_metadata:
        return None, "no target_metadata configured: models not compared"
    from syncdb_tui.core.errors import SyncdbError
    from syncdb_tui.core.schema.drift import compute_drift_async

    try:
        summary = await compute_drift_async(config, env)
    except SyncdbError as error:
        return None, f"models not compared: {error.message}"
    return tuple(summary.lines()) if not summary.is_empty else (), ""
