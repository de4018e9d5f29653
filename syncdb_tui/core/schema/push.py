"""`syncdb push`: apply the models' schema directly to a development database.

Who calls what: ``commands/push.py`` (and the TUI) call :func:`plan_push` to show
the SQL and its risks, then :func:`push` to apply it; ``core.status.status``
calls :func:`read_push_marker` so a pushed database never silently looks
migrated, and ``stamp``/``upgrade`` call :func:`clear_push_marker`.

The SQL comes from Alembic's autogenerate (``produce_migrations``), rendered
through an offline ``MigrationContext``; applying runs the same operations
through ``Operations`` on a live connection, in one transaction, and re-checks
that they still render to the SQL that was shown.  The marker lives in its own
schema (``syncdb.syncdb_push_marker``), where autogenerate never looks.
"""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import OperationError, RefusedError, SyncdbError
from syncdb_tui.core.events import JobProgress, ProgressCallback, emit
from syncdb_tui.core.secrets import redact

if TYPE_CHECKING:
    import asyncpg
    from sqlalchemy import MetaData

    from syncdb_tui.config import Config
    from syncdb_tui.core.envs.environments import Environment

MARKER_SCHEMA = "syncdb"
MARKER_TABLE = "syncdb_push_marker"
MARKER_QUALIFIED = f"{MARKER_SCHEMA}.{MARKER_TABLE}"
PUSHED_HINT = "generate a revision (`syncdb generate -m MESSAGE`), then `syncdb stamp head`"


# ---------------------------------------------------------------- the marker


@dataclass(frozen=True)
class PushMarker:
    """The last push into a database, ahead of its migrations."""

    pushed_at: datetime
    revision: str | None
    """The Alembic revision(s) the database was at when pushed (``None``: no version table)."""
    summary: str
    statements: int
    pushes: int = 1
    """How many pushes since the marker was last cleared."""

    @property
    def message(self) -> str:
        return f"pushed ahead of its migrations: {PUSHED_HINT}"

    def to_json(self) -> dict[str, Any]:
        return {
            "pushed_at": self.pushed_at.isoformat(),
            "revision": self.revision,
            "summary": self.summary,
            "statements": self.statements,
            "pushes": self.pushes,
            "message": self.message,
        }


async def read_push_marker(conn: asyncpg.Connection) -> PushMarker | None:
    """The database's push marker, or ``None`` when it was never pushed (or was stamped since)."""
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", MARKER_QUALIFIED):
        return None
    row = await conn.fetchrow(
        f"SELECT pushed_at, revision, summary, statements, count(*) OVER () AS pushes"
        f" FROM {MARKER_QUALIFIED} ORDER BY id DESC LIMIT 1"
    )
    if row is None:
        return None
    return PushMarker(row["pushed_at"], row["revision"], row["summary"], row["statements"], row["pushes"])


async def clear_push_marker(conn: asyncpg.Connection) -> None:
    """Forget the push marker (after the database was stamped or migrated)."""
    import asyncpg

    await conn.execute(f"DROP TABLE IF EXISTS {MARKER_QUALIFIED}")
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {MARKER_SCHEMA}")
    except asyncpg.DependentObjectsStillExistError:
        pass


_MARKER_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {MARKER_SCHEMA}",
    f"CREATE TABLE IF NOT EXISTS {MARKER_QUALIFIED} ("
    " id serial PRIMARY KEY, pushed_at timestamptz NOT NULL DEFAULT now(), revision text,"
    " summary text NOT NULL, statements integer NOT NULL)",
)


def _write_marker(sync_conn: Any, summary: str, statements: int) -> None:
    from sqlalchemy import text

    for statement in _MARKER_DDL:
        sync_conn.execute(text(statement))
    revision = None
    if sync_conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar():
        versions = [row[0] for row in sync_conn.execute(text("SELECT version_num FROM alembic_version"))]
        revision = ", ".join(sorted(versions)) or None
    sync_conn.execute(
        text(f"INSERT INTO {MARKER_QUALIFIED} (revision, summary, statements) VALUES (:r, :s, :n)"),
        {"r": revision, "s": summary, "n": statements},
    )


# ---------------------------------------------------------------- planning


@dataclass(frozen=True)
class PushPlan:
    """What a push would run on one environment."""

    environment: str
    statements: tuple[str, ...]
    destructive: tuple[str, ...] = ()
    """Why the push can lose data (drop table/column, lossy type change); empty when it cannot."""
    findings: tuple[Any, ...] = ()
    """Risk findings (``core.risk.Finding``) of the SQL."""
    risk: str = "NONE"
    """Worst finding: LOW/MEDIUM/HIGH, NONE without statements, UNKNOWN without the risk engine."""
    summary: str = ""
    drift: Any = None
    """The models-vs-database summary (``core.schema.drift.DriftSummary``)."""

    @property
    def is_empty(self) -> bool:
        return not self.statements

    @property
    def sql(self) -> str:
        return "".join(f"{statement};\n\n" for statement in self.statements)

    def to_json(self) -> dict[str, Any]:
        findings = [f.to_json() if hasattr(f, "to_json") else str(f) for f in self.findings]
        return {
            "environment": self.environment,
            "statements": list(self.statements),
            "sql": self.sql,
            "destructive": list(self.destructive),
            "risk": self.risk,
            "findings": findings,
            "summary": self.summary,
            "drift": self.drift.to_json() if self.drift is not None else None,
        }


@dataclass(frozen=True)
class PushResult:
    """What :func:`push` did."""

    environment: str
    plan: PushPlan
    applied: bool
    seconds: float = 0.0
    marker: PushMarker | None = field(default=None)
    ledger_id: int | None = None
    """The row recording this push in the database's ledger (set by ``core.changes.recorded.push``)."""
    ledger_problem: str = ""
    """Why the push could not be recorded in the ledger (empty when it was)."""

    def to_json(self) -> dict[str, Any]:
        return {
            **self.plan.to_json(),
            "applied": self.applied,
            "seconds": round(self.seconds, 3),
            "marker": self.marker.to_json() if self.marker is not None else None,
            "ledger_id": self.ledger_id,
        }


def _refuse_protected(env: Environment) -> None:
    # the policy (core.changes.policy) refuses push on a protected environment before anything is planned;
    # this guard keeps the function itself safe for any caller (schema sits below changes: no import of it)
    if env.protected:
        raise RefusedError(
            f"{env.name} is a protected environment: push changes a schema without a migration",
            hint="push only to development databases; for this one, `syncdb generate` a revision and `syncdb migrate`",
            title="push refused",
        )


def _flatten(operations: Any) -> list[Any]:
    from alembic.operations import ops

    flat: list[Any] = []
    for operation in operations.ops:
        if isinstance(operation, ops.OpContainer):
            flat.extend(_flatten(operation))
        else:
            flat.append(operation)
    return flat


def _produce(sync_conn: Any, metadata: MetaData) -> list[Any]:
    return _produce_with_diffs(sync_conn, metadata)[0]


def _produce_with_diffs(sync_conn: Any, metadata: MetaData) -> tuple[list[Any], list[Any]]:
    """Autogenerate's operations (flattened) and the same changes as diff tuples."""
    from alembic.autogenerate import produce_migrations
    from alembic.migration import MigrationContext

    from syncdb_tui.core.schema.drift import comparison_options

    context = MigrationContext.configure(sync_conn, opts=comparison_options(metadata))
    upgrade_ops = produce_migrations(context, metadata).upgrade_ops
    if upgrade_ops is None:  # produce_migrations always builds one; the attribute is Optional for other callers
        return [], []
    return _flatten(upgrade_ops), list(upgrade_ops.as_diffs())


def render_operations(operations: list[Any], metadata: MetaData) -> tuple[str, ...]:
    """Each operation's SQL, rendered offline for PostgreSQL."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    buffer = io.StringIO()
    context = MigrationContext.configure(
        dialect_name="postgresql",
        opts={"as_sql": True, "output_buffer": buffer, "literal_binds": True, "target_metadata": metadata},
    )
    runner = Operations(context)
    statements: list[str] = []
    for operation in operations:
        start = buffer.tell()
        runner.invoke(operation)
        # Alembic writes each statement to the buffer as "SQL;" followed by a blank line
        rendered = buffer.getvalue()[start:]
        statements += [part.strip().rstrip(";").strip() for part in rendered.split(";\n\n")]
    return tuple(statement for statement in statements if statement)


_INTEGER_RANK = {"SMALLINT": 1, "INTEGER": 2, "BIGINT": 3}


def _widening(old: Any, new: Any) -> bool:
    """Whether changing ``old`` to ``new`` keeps every value (varchar longer, text, bigger ints)."""
    from sqlalchemy import Integer, Numeric, String, Text

    if isinstance(old, String) and isinstance(new, String):
        if isinstance(new, Text) or new.length is None:
            return True
        return old.length is not None and not isinstance(old, Text) and new.length >= old.length
    if isinstance(old, Integer) and isinstance(new, Integer):
        rank_old = _INTEGER_RANK.get(type(old).__visit_name__.upper(), 2)
        rank_new = _INTEGER_RANK.get(type(new).__visit_name__.upper(), 2)
        return rank_new >= rank_old
    if isinstance(old, Integer) and isinstance(new, Numeric) and not isinstance(new, Integer):
        return new.scale is None or (new.precision or 1000) - (new.scale or 0) >= 19
    return False


def destructive_reasons(operations: list[Any]) -> tuple[str, ...]:
    """Why these operations can lose data (an empty tuple when they cannot)."""
    from alembic.operations import ops

    reasons = []
    for operation in operations:
        if isinstance(operation, ops.DropTableOp):
            reasons.append(f"drops table {operation.table_name} and its data")
        elif isinstance(operation, ops.DropColumnOp):
            reasons.append(f"drops column {operation.table_name}.{operation.column_name} and its data")
        elif isinstance(operation, ops.AlterColumnOp) and operation.modify_type is not None:
            old, new = operation.existing_type, operation.modify_type
            if old is None or not _widening(old, new):
                reasons.append(
                    f"changes the type of {operation.table_name}.{operation.column_name} from {old} to {new},"
                    " which can lose or reject data"
                )
    return tuple(reasons)


async def _risk(config: Config, env: Environment, sql: str) -> tuple[tuple[Any, ...], str]:
    """Findings and worst severity of ``sql``, judged with ``env``'s live table sizes."""
    if not sql:
        return (), "NONE"
    try:
        from syncdb_tui.core.risk import analysis as risk
    except ImportError:
        return (), "UNKNOWN"
    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        context = await risk.load_live_context(conn, risk.tables_touched(sql))
    analysis = risk.analyse_sql(sql, context=context, thresholds=config.risk)
    level = getattr(analysis.risk, "name", str(analysis.risk))
    return tuple(analysis.findings), level


async def _build_plan(
    config: Config, env: Environment, metadata: MetaData, operations: list[Any], drift: Any
) -> PushPlan:
    statements = render_operations(operations, metadata)
    findings, risk = await _risk(config, env, "".join(f"{statement};\n" for statement in statements))
    summary = "; ".join(drift.lines()) if drift is not None and not drift.is_empty else ""
    return PushPlan(
        environment=env.name,
        statements=statements,
        destructive=destructive_reasons(operations),
        findings=findings,
        risk=risk,
        summary=summary,
        drift=drift,
    )


async def plan_push(config: Config, env: Environment) -> PushPlan:
    """The SQL (and its risk) that would make ``env``'s schema match the models.

    Raises:
        RefusedError: ``env`` is protected.
        ConfigError: target_metadata missing or invalid.
        UnreachableError: the database cannot be reached.
    """
    from syncdb_tui.core.schema.drift import load_metadata, run_on_engine, summarise

    _refuse_protected(env)
    metadata = load_metadata(config)
    try:
        operations, diffs = await run_on_engine(env, lambda conn: _produce_with_diffs(conn, metadata))
    except SyncdbError:
        raise
    except Exception as error:
        raise OperationError(
            f"cannot compare the models with {env.name}: {redact(str(error))}",
            hint="check that target_metadata imports cleanly",
            title="push failed",
        ) from error
    return await _build_plan(config, env, metadata, operations, summarise(env.name, diffs))


async def push(
    config: Config,
    env: Environment,
    *,
    plan: PushPlan | None = None,
    allow_destructive: bool = False,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
) -> PushResult:
    """Apply the models' schema to ``env`` in one transaction, then mark it as pushed.

    Args:
        plan: the plan shown to the user; when given, the push fails if the database
            changed since (the SQL would differ).
        allow_destructive: the user confirmed dropping tables/columns or lossy type changes.
        dry_run: plan only; nothing is changed.

    Raises:
        RefusedError: protected environment, or destructive changes not allowed.
        OperationError: PostgreSQL rejected a statement (everything is rolled back),
            or the database changed since ``plan``.
        UnreachableError: the database cannot be reached.
    """
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    from syncdb_tui.core.schema.drift import comparison_options, load_metadata, run_on_engine

    _refuse_protected(env)
    started = time.perf_counter()
    current = plan if plan is not None else await plan_push(config, env)
    if dry_run or current.is_empty:
        return PushResult(env.name, current, applied=False, seconds=time.perf_counter() - started)
    if current.destructive and not allow_destructive:
        raise RefusedError(
            f"push to {env.name} would lose data: {'; '.join(current.destructive)}",
            hint="confirm by typing the environment's name, or pass --force",
            title="destructive push",
        )
    metadata = load_metadata(config)
    emit(progress, JobProgress(phase=f"pushing to {env.name}", done=0, total=len(current.statements)))

    def apply(sync_conn: Any) -> None:
        operations = _produce(sync_conn, metadata)
        if render_operations(operations, metadata) != current.statements:
            raise _Changed()
        if destructive_reasons(operations) and not allow_destructive:
            raise _Changed()
        lock_ms = max(1, int(config.lock_timeout * 1000))
        from sqlalchemy import text

        sync_conn.execute(text(f"SET LOCAL lock_timeout = '{lock_ms}ms'"))
        runner = Operations(MigrationContext.configure(sync_conn, opts=comparison_options(metadata)))
        for done, operation in enumerate(operations, start=1):
            runner.invoke(operation)
            emit(progress, JobProgress(phase=f"pushing to {env.name}", done=done, total=len(operations)))
        _write_marker(sync_conn, current.summary or f"{len(operations)} changes", len(current.statements))

    try:
        async with _migration_lock(config, env):
            await run_on_engine(env, apply, begin=True)
    except _Changed:
        raise OperationError(
            f"{env.name}'s schema changed while the push was being confirmed; nothing was applied",
            hint="run `syncdb push` again to see the new SQL",
            title="push aborted",
        ) from None
    except SyncdbError:
        raise
    except Exception as error:
        original = getattr(error, "orig", None) or error
        raise OperationError(
            f"push to {env.name} failed and was rolled back: {redact(str(original).strip())}",
            hint="fix the models (or the data in the way), then push again; nothing was changed",
            title="push failed",
        ) from error
    marker = await _read_marker(env)
    return PushResult(env.name, current, applied=True, seconds=time.perf_counter() - started, marker=marker)


@asynccontextmanager
async def _migration_lock(config: Config, env: Environment) -> AsyncIterator[None]:
    """Hold the migration advisory lock, so a push never runs beside a `syncdb migrate`."""
    from syncdb_tui.core.envs.environments import connection
    from syncdb_tui.core.envs.sessions import acquire_advisory_lock

    async with connection(env) as conn:
        key = await acquire_advisory_lock(conn, env.database, config.migrate_lock_wait)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", key)


class _Changed(Exception):
    """The database no longer matches the plan that was confirmed."""


async def _read_marker(env: Environment) -> PushMarker | None:
    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        return await read_push_marker(conn)
