"""Seeding an environment with test data (`syncdb seed`).

Who calls what: ``commands/seed.py`` and the TUI call :func:`seed_environment`;
it runs the project's ``seed`` callable (``module:function`` from the config) or
the AI BotKit demo seeder (``syncdb_tui.demo.seed:seed``).

The callable receives a connection and a :class:`SeedOptions`:

- an ``async def`` gets the asyncpg connection (use ``copy_records_to_table`` for speed);
- a plain ``def`` gets a SQLAlchemy ``Connection`` (sync), already inside a transaction.

It may return a :class:`SeedResult`, a row count, or nothing (syncdb then counts
the rows it added).  Seeding is refused on protected environments, whatever the flags.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import ConfigError, OperationError, RefusedError, SyncdbError
from syncdb_tui.core.events import JobProgress, ProgressCallback, emit
from syncdb_tui.core.sqltext import quote_ident

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.config import Config
    from syncdb_tui.core.changes.policy import Requirements
    from syncdb_tui.core.envs.environments import Environment

DEMO_SEED = "syncdb_tui.demo.seed:seed"
INTERNAL_TABLES = ("alembic_version",)
INTERNAL_PREFIX = "syncdb_"

ConfirmCallback = Callable[[str], bool]
"""Asked before touching a database that holds data: gets what would happen, returns yes/no."""


@dataclass(frozen=True)
class SeedOptions:
    """What a seed callable is asked to do."""

    scale: float = 1.0
    """Amount of data: 1.0 is a few thousand rows for the demo."""
    seed: int = 42
    """Random seed: the same value gives the same rows."""
    batch_size: int = 20_000
    """Rows per COPY batch."""
    progress: ProgressCallback | None = field(default=None, compare=False, repr=False)
    """Called with :class:`JobProgress` events (rows done / total)."""
    environment: str = ""
    """The environment's name, for callables that behave differently per environment."""


@dataclass(frozen=True)
class SeedResult:
    """What seeding wrote."""

    tables: dict[str, int] = field(default_factory=dict)
    """Rows added per table."""
    total_rows: int = 0
    seconds: float = 0.0
    source: str = ""
    """The ``module:function`` that produced the data."""
    environment: str = ""
    truncated: tuple[str, ...] = ()
    """Tables emptied first (``--reset``)."""
    ledger_id: int | None = None
    """The row recording this seed in the database's ledger (``syncdb.ledger``)."""
    ledger_problem: str = ""
    """Why the seed could not be recorded in the ledger (empty when it was)."""

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "source": self.source,
            "tables": dict(self.tables),
            "total_rows": self.total_rows,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second),
            "truncated": list(self.truncated),
            "ledger_id": self.ledger_id,
        }


def load_seed_callable(spec: str) -> Callable[..., Any]:
    """Import the ``module:function`` named by the config's ``seed`` key.

    Raises:
        ConfigError: malformed, not importable, missing or not callable.
    """
    from syncdb_tui.core.imports import import_object

    value = import_object(
        spec, key="seed", example="myapp.fixtures:seed", expected="a function taking (connection, options)"
    )
    if not callable(value):
        raise ConfigError(f"seed: {spec} is not callable", hint="point it at a function", title="invalid seed")
    return value  # type: ignore[no-any-return]


async def user_tables(conn: asyncpg.Connection) -> list[str]:
    """The ordinary tables of the current schema, without Alembic's and syncdb's own."""
    rows = await conn.fetch(
        """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
        ORDER BY c.relname
        """
    )
    names = [row["relname"] for row in rows]
    return [name for name in names if name not in INTERNAL_TABLES and not name.startswith(INTERNAL_PREFIX)]


async def tables_with_rows(conn: asyncpg.Connection, tables: list[str]) -> list[str]:
    """Those of ``tables`` that hold at least one row."""
    found = []
    for table in tables:
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {quote_ident(table)})"):
            found.append(table)
    return found


async def count_rows(conn: asyncpg.Connection, tables: list[str]) -> dict[str, int]:
    return {table: int(await conn.fetchval(f"SELECT count(*) FROM {quote_ident(table)}")) for table in tables}


async def _tables_to_seed(conn: asyncpg.Connection, env: Environment) -> tuple[list[str], list[str]]:
    """The user tables and those already holding rows.

    Raises:
        RefusedError: there are no tables to seed.
    """
    tables = await user_tables(conn)
    if not tables:
        raise RefusedError(
            f"{env.name} has no tables to seed (database {env.database})",
            hint="run `syncdb migrate` (or `syncdb push` on dev) first",
            title="nothing to seed",
        )
    return tables, await tables_with_rows(conn, tables)


def refuse_protected(env: Environment) -> None:
    """Raise RefusedError on a protected environment (the policy never seeds one, whatever the flags)."""
    from syncdb_tui.core.changes.policy import check_refusal, requirements

    check_refusal(requirements(env, "seed"))


def nonempty_requirements(env: Environment, question: str) -> Requirements:
    """What the policy asks before seeding into (or truncating) tables that hold data: the typed name."""
    from syncdb_tui.core.changes.policy import requirements

    return requirements(env, "seed", extra_reasons=[f"{env.name} already holds data, and seed would {question}"])


async def seed_question(config: Config, env: Environment) -> str:
    """What seeding ``env`` would need to ask before it writes, asked before anything starts.

    Returns ``""`` when the tables are empty, else the question for the typed-name
    confirmation (the tables that already hold data).

    Raises:
        RefusedError: protected environment, or no tables to seed.
        UnreachableError: the database cannot be reached.
    """
    from syncdb_tui.core.envs.environments import connection

    refuse_protected(env)
    async with connection(env) as conn:
        _, filled = await _tables_to_seed(conn, env)
    if not filled:
        return ""
    listing = ", ".join(filled[:6]) + (f" and {len(filled) - 6} more" if len(filled) > 6 else "")
    return f"add seed rows to tables that already hold data ({listing})"


async def seed_environment(
    config: Config,
    env: Environment,
    *,
    scale: float = 1.0,
    reset: bool = False,
    confirm_nonempty: ConfirmCallback | None = None,
    progress: ProgressCallback | None = None,
    seed_value: int = 42,
) -> SeedResult:
    """Fill ``env``'s database with test data.

    Args:
        config: the project (its ``seed`` callable, or the demo seeder when unset).
        env: the environment; refused when protected.
        scale: amount of data (1.0 = a few thousand rows for the demo).
        reset: truncate the tables first (asks ``confirm_nonempty`` when they hold data).
        confirm_nonempty: asked before writing into (or truncating) tables that hold data;
            without it such a database is refused.
        progress: receives row-count events.

    Raises:
        RefusedError: protected environment, or data present and not confirmed.
        ConfigError: the ``seed`` setting is invalid.
        UnreachableError: the database cannot be reached.
        OperationError: the seed callable or the database failed (nothing is kept).
    """
    import asyncpg

    from syncdb_tui.core.envs.environments import connection

    refuse_protected(env)
    if scale <= 0:
        raise ConfigError(f"the seed scale must be positive, not {scale}", title="invalid scale")
    spec = config.seed or DEMO_SEED
    seed_callable = load_seed_callable(spec)
    options = SeedOptions(scale=scale, seed=seed_value, progress=progress, environment=env.name)
    async with connection(env) as conn:
        tables, filled = await _tables_to_seed(conn, env)
        truncated: tuple[str, ...] = ()
        if filled:
            listing = ", ".join(filled[:6]) + (f" and {len(filled) - 6} more" if len(filled) > 6 else "")
            if reset:
                question = f"truncate {len(filled)} tables holding data ({listing}) before seeding"
            else:
                question = f"add seed rows to tables that already hold data ({listing})"
            if confirm_nonempty is None or not confirm_nonempty(question):
                raise RefusedError(
                    f"{env.name} already holds data in {listing}",
                    hint="pass --reset to empty the tables first, or --force to add rows beside the existing ones",
                    title="database not empty",
                )
        if reset and filled:
            emit(progress, JobProgress(phase=f"truncating {len(tables)} tables"))
            quoted = ", ".join(quote_ident(table) for table in tables)
            try:
                await conn.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
            except asyncpg.PostgresError as error:
                raise OperationError(
                    f"cannot truncate the tables of {env.name}: {error}",
                    hint="check for sessions holding locks on them (syncdb status shows blockers)",
                    title="reset failed",
                ) from None
            truncated = tuple(tables)
        started = time.perf_counter()
        details = {"source": spec, "scale": scale, "seed": seed_value, "reset": reset, "truncated": list(truncated)}
        try:
            result = await _call_seed(seed_callable, spec, env, conn, options, tables)
        except SyncdbError as error:
            await _record(env, ok=False, error=error.message, details=details)
            raise
        except asyncpg.PostgresError as error:
            failure = OperationError(
                f"seeding {env.name} with {spec} failed: {error}",
                hint="nothing was kept; check that the database is at the revision the seeder expects",
                title="seed failed",
            )
            await _record(env, ok=False, error=failure.message, details=details)
            raise failure from None
        except Exception as error:
            failure = OperationError(
                f"the seed callable {spec} raised {type(error).__name__}: {error}",
                hint="fix the seed function (SYNCDB_DEBUG=1 shows the traceback)",
                title="seed failed",
            )
            await _record(env, ok=False, error=failure.message, details=details)
            raise failure from error
    details["tables"] = dict(result.tables)
    details["total_rows"] = result.total_rows
    ledger_id, problem = await _record(env, ok=True, details=details)
    return SeedResult(
        tables=result.tables,
        total_rows=result.total_rows,
        seconds=result.seconds or (time.perf_counter() - started),
        source=spec,
        environment=env.name,
        truncated=truncated,
        ledger_id=ledger_id,
        ledger_problem=problem,
    )


async def _record(env: Environment, *, ok: bool, details: dict[str, Any], error: str = "") -> tuple[int | None, str]:
    """Record the seed in ``env``'s ledger (on a connection of its own): ``(row id, "")`` or ``(None, why not)``.

    Never raises: the seed itself has finished (or failed) when this runs.
    """
    from syncdb_tui.core.changes import ledger
    from syncdb_tui.core.envs.environments import connection
    from syncdb_tui.core.project.versions import current_revisions
    from syncdb_tui.core.secrets import redact

    try:
        async with connection(env) as conn:
            revisions = await current_revisions(conn) or ()
            row_id = await ledger.record(
                conn,
                action="seed",
                environment=env.name,
                ok=ok,
                error=redact(error),
                from_revisions=revisions,
                to_revisions=revisions,
                application_name="syncdb seed",
                details=details,
            )
    except Exception as problem:
        return None, redact(str(problem)) or type(problem).__name__
    return row_id, ""


async def _call_seed(
    seed_callable: Callable[..., Any],
    spec: str,
    env: Environment,
    conn: asyncpg.Connection,
    options: SeedOptions,
    tables: list[str],
) -> SeedResult:
    started = time.perf_counter()
    is_async = inspect.iscoroutinefunction(seed_callable) or inspect.iscoroutinefunction(
        getattr(seed_callable, "__call__", None)  # noqa: B004
    )
    before: dict[str, int] = {}
    if spec != DEMO_SEED:
        before = await count_rows(conn, tables)
    if is_async:
        value = await seed_callable(conn, options)
    else:
        value = await _call_sync(seed_callable, env, options)
    if isinstance(value, SeedResult):
        return value
    seconds = time.perf_counter() - started
    after = await count_rows(conn, tables)
    added = {table: after[table] - before.get(table, 0) for table in tables if after[table] != before.get(table, 0)}
    total = int(value) if isinstance(value, int) and not isinstance(value, bool) else sum(added.values())
    return SeedResult(tables=added, total_rows=total, seconds=seconds, source=spec)


async def _call_sync(seed_callable: Callable[..., Any], env: Environment, options: SeedOptions) -> Any:
    """Run a plain-function seeder on a SQLAlchemy sync connection, in one transaction."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(env.conninfo.sqlalchemy_url("asyncpg"), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(seed_callable, options)
    finally:
        await engine.dispose()
