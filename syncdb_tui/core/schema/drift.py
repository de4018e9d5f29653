"""Drift: how far a live database is from the models, and from another environment.

Who calls what: ``core.status.status`` calls :func:`compute_drift` (in a
thread) for the ``drift`` of an environment; ``core.report`` renders its
summary under "Schema Changes Detected"; ``check`` fails when it is not empty at
head; ``commands/diff.py`` calls :func:`diff_environments` for
``syncdb diff --env A --against B``.

Models vs database uses Alembic's autogenerate comparison
(``alembic.autogenerate.compare_metadata``) on SQLAlchemy's async engine with
asyncpg; environment vs environment reads both catalogs directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import ConfigError, OperationError, SyncdbError
from syncdb_tui.core.secrets import redact

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from syncdb_tui.config import Config
    from syncdb_tui.core.envs.environments import Environment

IGNORED_TABLES = frozenset({"alembic_version"})
IGNORED_PREFIX = "syncdb_"
IGNORED_SCHEMA = "syncdb"
"""syncdb's own schema (the ledger, the push marker): never compared, never pushed."""


def is_ignored_table(name: str | None) -> bool:
    """Alembic's version table and syncdb's own tables are never drift."""
    return name is not None and (name in IGNORED_TABLES or name.startswith(IGNORED_PREFIX))


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name`` hook that leaves out syncdb's schema and :func:`is_ignored_table` tables.

    Autogenerate compares only the default schema unless ``include_schemas`` is set; the
    schema check keeps syncdb's own schema out even then.
    """
    if type_ == "schema":
        return name != IGNORED_SCHEMA
    if type_ == "table":
        schema = parent_names.get("schema_name") if isinstance(parent_names, dict) else None
        return schema != IGNORED_SCHEMA and not is_ignored_table(name)
    return True


# ---------------------------------------------------------------- models vs database


@dataclass(frozen=True)
class NewTable:
    """A table in the models that the database lacks."""

    name: str
    columns: tuple[str, ...]
    indexes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "column_count": len(self.columns),
            "columns": list(self.columns),
            "index_count": len(self.indexes),
            "indexes": list(self.indexes),
        }


@dataclass(frozen=True)
class TypeChange:
    """A column whose type (or nullability, or default) differs."""

    column: str
    database: str
    models: str

    def to_json(self) -> dict[str, str]:
        return {"column": self.column, "from": self.database, "to": self.models}


@dataclass(frozen=True)
class ModifiedTable:
    """A table in both, with differences."""

    name: str
    added_columns: tuple[str, ...] = ()
    """In the models, not in the database."""
    removed_columns: tuple[str, ...] = ()
    """In the database, not in the models."""
    type_changes: tuple[TypeChange, ...] = ()
    nullable_changes: tuple[TypeChange, ...] = ()
    default_changes: tuple[TypeChange, ...] = ()
    added_indexes: tuple[str, ...] = ()
    removed_indexes: tuple[str, ...] = ()
    added_constraints: tuple[str, ...] = ()
    removed_constraints: tuple[str, ...] = ()

    def describe(self) -> str:
        """``+1 column (analytics_enabled), -1 index (idx_x)`` — one line for reports."""
        parts = []
        for sign, items, noun in (
            ("+", self.added_columns, "column"),
            ("-", self.removed_columns, "column"),
            ("+", self.added_indexes, "index"),
            ("-", self.removed_indexes, "index"),
            ("+", self.added_constraints, "constraint"),
            ("-", self.removed_constraints, "constraint"),
        ):
            if items:
                plural = noun if len(items) == 1 else ("indexes" if noun == "index" else noun + "s")
                parts.append(f"{sign}{len(items)} {plural} ({', '.join(items)})")
        for label, changes in (
            ("type", self.type_changes),
            ("nullability", self.nullable_changes),
            ("default", self.default_changes),
        ):
            for change in changes:
                parts.append(f"{change.column} {label} {change.database} → {change.models}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "added_columns": list(self.added_columns),
            "removed_columns": list(self.removed_columns),
            "type_changes": [change.to_json() for change in self.type_changes],
            "nullable_changes": [change.to_json() for change in self.nullable_changes],
            "default_changes": [change.to_json() for change in self.default_changes],
            "added_indexes": list(self.added_indexes),
            "removed_indexes": list(self.removed_indexes),
            "added_constraints": list(self.added_constraints),
            "removed_constraints": list(self.removed_constraints),
            "summary": self.describe(),
        }


@dataclass(frozen=True)
class DroppedTable:
    """A table in the database that the models no longer have."""

    name: str
    columns: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "column_count": len(self.columns), "columns": list(self.columns)}


@dataclass(frozen=True)
class DriftSummary:
    """Models vs one environment's live schema, summarised per table."""

    environment: str
    new_tables: tuple[NewTable, ...] = ()
    modified_tables: tuple[ModifiedTable, ...] = ()
    dropped_tables: tuple[DroppedTable, ...] = ()
    differences: int = 0
    """How many raw autogenerate differences were found."""

    @property
    def is_empty(self) -> bool:
        return not (self.new_tables or self.modified_tables or self.dropped_tables)

    def lines(self) -> list[str]:
        """The summary as plain lines (for status and the report)."""
        if self.is_empty:
            return ["models and database match"]
        out = [f"new table {t.name} ({len(t.columns)} columns, {len(t.indexes)} indexes)" for t in self.new_tables]
        out += [f"modified table {t.name}: {t.describe()}" for t in self.modified_tables]
        out += [f"dropped table {t.name} ({len(t.columns)} columns)" for t in self.dropped_tables]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "is_empty": self.is_empty,
            "new_tables": [table.to_json() for table in self.new_tables],
            "modified_tables": [table.to_json() for table in self.modified_tables],
            "dropped_tables": [table.to_json() for table in self.dropped_tables],
            "differences": self.differences,
        }


def load_metadata(config: Config) -> MetaData:
    """The models' ``MetaData`` named by ``target_metadata`` (or env.py's), read fresh from disk.

    Raises:
        ConfigError: none named, not importable, or not a MetaData.
    """
    from syncdb_tui.core.project.models import check_metadata, load_models

    spec = config.target_metadata
    if not spec:
        raise ConfigError(
            "no models: target_metadata is not set in the config, and env.py's target_metadata is None, "
            "so the models cannot be compared with the database",
            hint='set target_metadata = "package.models:Base.metadata" in syncdb.toml, or in env.py '
            "(target_metadata = Base.metadata)",
            title="missing target_metadata",
        )
    value = load_models(config)
    if value is None:
        raise ConfigError(
            "env.py's target_metadata is None, so the models cannot be compared with the database",
            hint="set target_metadata = Base.metadata in env.py, or target_metadata in syncdb.toml",
            title="missing target_metadata",
        )
    return check_metadata(value, spec)


def _type_text(value: Any) -> str:
    if value is None:
        return "NULL"
    text = getattr(value, "text", None)
    if text is not None:
        return str(text)
    arg = getattr(value, "arg", None)
    if arg is not None:
        return str(getattr(arg, "text", arg))
    try:
        from sqlalchemy.dialects import postgresql

        return str(value.compile(dialect=postgresql.dialect()))
    except Exception:
        return str(value)


def nullable_text(value: Any) -> str:
    return "NULL" if value else "NOT NULL"


def _constraint_label(constraint: Any) -> str:
    kind = type(constraint).__name__.replace("Constraint", "").lower() or "constraint"
    name = constraint.name if isinstance(getattr(constraint, "name", None), str) else None
    columns = ", ".join(column.name for column in getattr(constraint, "columns", ()))
    label = name or f"{kind}({columns})"
    return f"{label} [{'foreign key' if kind == 'foreignkey' else kind}]"


def summarise(environment: str, diffs: list[Any]) -> DriftSummary:
    """Group Alembic's raw autogenerate differences per table."""
    new: dict[str, NewTable] = {}
    dropped: dict[str, DroppedTable] = {}
    modified: dict[str, dict[str, list[Any]]] = {}
    new_indexes: dict[str, set[str]] = {}

    def bucket(table: str) -> dict[str, list[Any]]:
        return modified.setdefault(table, {})

    def add(table: str, key: str, value: Any) -> None:
        bucket(table).setdefault(key, []).append(value)

    flat: list[tuple[Any, ...]] = []
    for diff in diffs:
        flat.extend(diff if isinstance(diff, list) else [diff])
    for diff in flat:
        kind = diff[0]
        if kind == "add_table":
            table = diff[1]
            new[table.name] = NewTable(table.name, tuple(column.name for column in table.columns), ())
            new_indexes.setdefault(table.name, set()).update(str(index.name) for index in table.indexes)
        elif kind == "remove_table":
            table = diff[1]
            dropped[table.name] = DroppedTable(table.name, tuple(column.name for column in table.columns))
        elif kind == "add_column":
            add(diff[2], "added_columns", diff[3].name)
        elif kind == "remove_column":
            add(diff[2], "removed_columns", diff[3].name)
        elif kind in ("add_index", "remove_index"):
            index = diff[1]
            target = "added_indexes" if kind == "add_index" else "removed_indexes"
            if kind == "add_index" and index.table.name in new:
                new_indexes.setdefault(index.table.name, set()).add(str(index.name))
                continue
            add(index.table.name, target, str(index.name))
        elif kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
            constraint = diff[1]
            target = "added_constraints" if kind.startswith("add") else "removed_constraints"
            add(constraint.table.name, target, _constraint_label(constraint))
        elif kind == "modify_type":
            add(diff[2], "type_changes", TypeChange(diff[3], _type_text(diff[5]), _type_text(diff[6])))
        elif kind == "modify_nullable":
            add(diff[2], "nullable_changes", TypeChange(diff[3], nullable_text(diff[5]), nullable_text(diff[6])))
        elif kind == "modify_default":
            add(diff[2], "default_changes", TypeChange(diff[3], _type_text(diff[5]), _type_text(diff[6])))
    modified_tables = tuple(
        ModifiedTable(name, **{key: tuple(values) for key, values in changes.items()})
        for name, changes in sorted(modified.items())
        if name not in new and name not in dropped
    )
    return DriftSummary(
        environment=environment,
        new_tables=tuple(
            NewTable(name, new[name].columns, tuple(sorted(new_indexes.get(name, ())))) for name in sorted(new)
        ),
        modified_tables=modified_tables,
        dropped_tables=tuple(dropped[name] for name in sorted(dropped)),
        differences=len(flat),
    )


def comparison_options(metadata: MetaData) -> dict[str, Any]:
    """MigrationContext options used by drift and push alike."""
    return {
        "target_metadata": metadata,
        "compare_type": True,
        "compare_server_default": False,
        "include_name": include_name,
    }


async def run_on_engine(env: Environment, fn: Callable[[Any], Any], *, begin: bool = False) -> Any:
    """Run ``fn(sync_connection)`` on ``env`` through SQLAlchemy's async engine (asyncpg).

    Raises:
        UnreachableError: the database cannot be reached.
    """
    import asyncpg
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from syncdb_tui.core.envs.environments import translate_connect_error

    engine = create_async_engine(
        env.conninfo.sqlalchemy_url("asyncpg"),
        poolclass=NullPool,
        connect_args={"server_settings": {"application_name": "syncdb"}},
    )
    try:
        try:
            connection = engine.begin() if begin else engine.connect()
            async with connection as conn:
                return await conn.run_sync(fn)
        except (OSError, TimeoutError, asyncpg.PostgresError) as error:
            raise translate_connect_error(env.name, env.conninfo, error) from None
        except (OperationalError, InterfaceError, DBAPIError) as error:
            cause = _connection_cause(error)
            if cause is not None:
                raise translate_connect_error(env.name, env.conninfo, cause) from None
            raise
    finally:
        await engine.dispose()


def _connection_cause(error: BaseException) -> BaseException | None:
    """The driver error behind a SQLAlchemy error, when it is about connecting."""
    import asyncpg

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current,
            OSError
            | TimeoutError
            | asyncpg.InvalidCatalogNameError
            | asyncpg.InvalidPasswordError
            | asyncpg.InvalidAuthorizationSpecificationError
            | asyncpg.CannotConnectNowError,
        ):
            return current
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


async def compute_drift_async(config: Config, env: Environment) -> DriftSummary:
    """:func:`compute_drift` for callers already on an event loop."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    metadata = load_metadata(config)

    def compare(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts=comparison_options(metadata))
        return list(compare_metadata(context, metadata))

    try:
        diffs = await run_on_engine(env, compare)
    except SyncdbError:
        raise
    except Exception as error:
        raise OperationError(
            f"cannot compare the models with {env.name}: {redact(str(error))}",
            hint="check that target_metadata imports cleanly and the database is reachable",
            title="drift check failed",
        ) from error
    return summarise(env.name, diffs)


def compute_drift(config: Config, env: Environment) -> DriftSummary:
    """Compare ``config.target_metadata`` with ``env``'s live schema (blocking; run it in a thread).

    Raises:
        ConfigError: target_metadata missing or invalid (the message names the key).
        UnreachableError: the database cannot be reached.
        OperationError: the comparison failed.
    """
    return asyncio.run(compute_drift_async(config, env))


# ---------------------------------------------------------------- environment vs environment
