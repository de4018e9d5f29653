"""`syncdb reset`: a clean slate for a development database — drop, recreate, migrate to head, seed.

Who calls what: ``commands/reset.py`` asks the policy's questions from
:func:`reset_requirements` (action ``reset``: refused outright on a protected
environment, whatever the flags; the environment's name typed back elsewhere, or
``--force``), then calls :func:`reset`.  The migration runs through the change
pipeline's plan and executor (its own ledger row), the seed through ``core.seed`` (its
own row), and the reset itself is one ``reset`` row in the new database's ledger.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.changes import ledger
from syncdb_tui.core.changes.policy import Requirements, check_refusal, requirements
from syncdb_tui.core.errors import OperationError, SyncdbError
from syncdb_tui.core.events import JobProgress, ProgressCallback, emit
from syncdb_tui.core.secrets import redact
from syncdb_tui.core.sqltext import quote_ident

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.revisions import Project

DEVELOPMENT_ONLY = "reset drops and recreates the whole database, and is for development databases only"


@dataclass(frozen=True)
class ResetResult:
    """What a reset did."""

    environment: str
    database: str
    now_at: tuple[str, ...]
    seeded_rows: int | None
    """Rows the seed wrote (None: no seed configured, or --no-seed)."""
    ledger_id: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "database": self.database,
            "now_at": list(self.now_at),
            "seeded_rows": self.seeded_rows,
            "ledger_id": self.ledger_id,
        }


def reset_requirements(env: Environment) -> Requirements:
    """The policy's questions for resetting ``env``: refused on a protected environment; typed name elsewhere."""
    return requirements(
        env,
        "reset",
        extra_reasons=[
            f"reset drops the database {env.database} with everything in it, recreates it empty, "
            "migrates it to head and seeds it (when a seed is configured)"
        ],
        development_only=DEVELOPMENT_ONLY,
    )


async def _recreate(env: Environment) -> None:
    import asyncpg

    from syncdb_tui.core.envs.environments import connection

    name = quote_ident(env.database)
    try:
        async with connection(env, database="postgres") as conn:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {name}")
    except asyncpg.PostgresError as error:
        raise OperationError(
            f"cannot drop and recreate {env.database} on {env.name}'s server: {redact(str(error))}",
            hint="the role needs to own the database (and CREATEDB); or drop and create it yourself, then run "
            "syncdb migrate and syncdb seed",
            title="reset failed",
        ) from None


async def reset(
    project: Project,
    env: Environment,
    *,
    seed: bool = True,
    scale: float = 1.0,
    progress: ProgressCallback | None = None,
) -> ResetResult:
    """Drop and recreate ``env``'s database, migrate it to head and seed it (when a seed is configured).

    The caller has satisfied :func:`reset_requirements` (typed name or --force).

    Raises:
        RefusedError: ``env`` is protected (checked again here).
        OperationError: dropping, migrating or seeding failed (the message says where it stopped).
        UnreachableError: the server cannot be reached.
    """
    from syncdb_tui.core.changes.executor import execute
    from syncdb_tui.core.changes.plan import make_plan
    from syncdb_tui.core.envs.environments import connection
    from syncdb_tui.core.seed import seed_environment

    check_refusal(reset_requirements(env))
    emit(progress, JobProgress(phase=f"dropping and recreating {env.database}"))
    await _recreate(env)
    async with connection(env) as conn:
        row_id = await ledger.start(
            conn,
            action="reset",
            environment=env.name,
            application_name="syncdb reset",
            details={"database": env.database, "seed": seed},
        )
    error = ""
    seeded: int | None = None
    now_at: tuple[str, ...] = ()
    try:
        heads = (await asyncio.to_thread(project.graph)).heads
        if heads:
            target = "heads" if len(heads) > 1 else "head"
            emit(progress, JobProgress(phase=f"migrating {env.name} to {target}"))
            plan = await asyncio.to_thread(make_plan, project, env, "upgrade", target, backup=False)
            outcome = await asyncio.to_thread(execute, project, env, plan, progress=progress, postflight=False)
            if not outcome.ok:
                raise outcome.error_object()
            now_at = tuple(outcome.now_at)
        if seed and project.config.seed:
            emit(progress, JobProgress(phase=f"seeding {env.name}"))
            result = await seed_environment(project.config, env, scale=scale, progress=progress)
            seeded = result.total_rows
    except SyncdbError as failure:
        error = failure.message
        raise
    finally:
        try:
            async with connection(env) as conn:
                await ledger.finish(conn, row_id, ok=not error, to_revisions=now_at, error=redact(error))
        except Exception:
            pass  # the reset itself has finished (or failed) by now; the ledger row stays 'running'
    return ResetResult(env.name, env.database, now_at, seeded, row_id)
