"""Changes that run without a revision plan (push, restore): the policy's questions and the ledger row.

``core.schema.push`` and ``core.backups.restore`` do the work; they sit below
``changes`` and know nothing of the policy or the ledger.  Both front ends call
the functions here instead, so that every push and restore asks the same
questions (:func:`push_requirements`, :func:`restore_requirements`, then
``policy.check_satisfied`` or the CLI's ``ctx.satisfy``) and is recorded the same
way in the target database's ``syncdb.ledger``.  (seed records itself:
``core.seed`` sits above ``changes``.)

Recording never fails the change it records: when the ledger cannot be written
the result carries ``ledger_problem`` for the front end to show.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.changes import ledger
from syncdb_tui.core.changes.policy import Requirements, requirements
from syncdb_tui.core.errors import OperationError, RefusedError
from syncdb_tui.core.secrets import redact

if TYPE_CHECKING:
    from syncdb_tui.config import Config
    from syncdb_tui.core.backups.restore import RestoreResult
    from syncdb_tui.core.backups.restore_plan import RestorePlan
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.events import ProgressCallback
    from syncdb_tui.core.schema.push import PushPlan, PushResult


# ---------------------------------------------------------------- push


def push_requirements(env: Environment, plan: PushPlan) -> Requirements:
    """What the policy asks before ``plan`` runs: refused on a protected environment; a destructive
    (or HIGH-risk) push needs the environment's name typed back (``--force`` skips it)."""
    return requirements(
        env,
        "push",
        risk=plan.risk,
        findings=[("", finding) for finding in plan.findings],
        extra_reasons=plan.destructive,
    )


async def push(
    config: Config,
    env: Environment,
    *,
    plan: PushPlan,
    allow_destructive: bool = False,
    progress: ProgressCallback | None = None,
) -> PushResult:
    """``core.schema.push.push`` of the confirmed ``plan``, recorded in ``env``'s ledger (action ``push``).

    A push that fails (rolled back) is recorded as failed.

    Raises:
        RefusedError: protected environment, or destructive changes not allowed.
        OperationError: PostgreSQL rejected a statement, or the database changed since ``plan``.
        UnreachableError: the database cannot be reached.
    """
    from syncdb_tui.core.schema.push import push as apply_push

    details = {
        "statements": list(plan.statements),
        "summary": plan.summary,
        "destructive": list(plan.destructive),
        "risk": plan.risk,
    }
    try:
        result = await apply_push(config, env, plan=plan, allow_destructive=allow_destructive, progress=progress)
    except OperationError as error:
        await _record(env, env.database, action="push", ok=False, error=error.message, details=details)
        raise
    if not result.applied:
        return result
    row_id, problem = await _record(env, env.database, action="push", ok=True, details=details)
    return dataclasses.replace(result, ledger_id=row_id, ledger_problem=problem)


# ---------------------------------------------------------------- restore


def restore_requirements(env: Environment, plan: RestorePlan) -> Requirements:
    """What the policy asks before this restore: ``restore`` over the environment's database (with the
    plan's reasons, e.g. --clean replacing objects), ``restore-new-database`` with a target database."""
    action = "restore-new-database" if plan.create_database else "restore"
    return requirements(env, action, extra_reasons=plan.confirmation_reasons)


async def restore(
    config: Config,
    backup_path: Path | str,
    *,
    env: Environment,
    target_db: str | None = None,
    clean: bool = False,
    safety_backup: bool = True,
    jobs: int | None = None,
    in_place: bool = False,
    wait_seconds: float = 30.0,
    terminate: bool = False,
    progress: ProgressCallback | None = None,
) -> RestoreResult:
    """``core.backups.restore.restore``, recorded in the restored database's ledger (action ``restore``).

    The row holds the backup's path, the revisions before (over an existing database)
    and after the restore, the mode, the previous database kept by a swap and the
    safety backup.  A restore over an existing database that fails is recorded there as
    failed (it was left as it was; a new database that fails is dropped again).

    Raises:
        what ``core.backups.restore.restore`` raises.
    """
    from syncdb_tui.core.backups.restore import restore as run_restore

    database = target_db or env.database
    before = () if target_db is not None else await _revisions(env, database)
    details: dict[str, Any] = {"database": database, "created_database": target_db is not None, "clean": clean}
    try:
        result = await run_restore(
            config,
            backup_path,
            env=env,
            target_db=target_db,
            clean=clean,
            safety_backup=safety_backup,
            jobs=jobs,
            in_place=in_place,
            wait_seconds=wait_seconds,
            terminate=terminate,
            progress=progress,
        )
    except (OperationError, RefusedError) as error:
        if isinstance(error, RefusedError) and error.title != "database in use":
            raise  # refused before anything ran: nothing to record
        # over an existing database (rolled back, or restored but different from the manifest); a new
        # database is dropped again when pg_restore fails, kept when only the comparison failed
        await _record(
            env,
            database,
            action="restore",
            ok=False,
            error=error.message,
            before=before,
            backup=_backup_of(config, backup_path, details),
            details=details,
        )
        raise
    details["safety_backup"] = str(result.safety_backup) if result.safety_backup else None
    details["mode"] = result.mode
    details["previous_database"] = result.previous_database
    if result.terminated:
        details["terminated_sessions"] = [session.to_json() for session in result.terminated]
    row_id, problem = await _record(
        env,
        result.database,
        action="restore",
        ok=True,
        before=before,
        after=result.alembic_revisions,
        backup=_backup_of(config, result.backup, details),
        details=details,
    )
    return dataclasses.replace(result, ledger_id=row_id, ledger_problem=problem)


def _backup_of(config: Config, backup_path: Path | str, details: dict[str, Any]) -> str:
    """The backup's resolved path; adds what its manifest says it holds to ``details``."""
    from syncdb_tui.core.backups.manifest import load_entry
    from syncdb_tui.core.backups.restore_plan import find_backup

    try:
        path = find_backup(config, backup_path)
        manifest = load_entry(path).manifest
    except Exception:
        return str(backup_path)
    if manifest is not None:
        details.update(
            kind=manifest.kind,
            format=manifest.format,
            backup_of=manifest.environment,
            backup_revisions=list(manifest.alembic_revisions),
        )
    return str(path)


# ---------------------------------------------------------------- the ledger row


async def _revisions(env: Environment, database: str) -> tuple[str, ...]:
    """The Alembic revisions ``database`` is at (empty when unknown)."""
    from syncdb_tui.core.backups.backup import read_alembic_revisions
    from syncdb_tui.core.envs.environments import connection

    try:
        async with connection(env, database=database) as conn:
            return await read_alembic_revisions(conn)
    except Exception:
        return ()


async def _record(
    env: Environment,
    database: str,
    *,
    action: str,
    ok: bool,
    details: dict[str, Any],
    error: str = "",
    before: tuple[str, ...] | None = None,
    after: tuple[str, ...] | None = None,
    backup: str = "",
) -> tuple[int | None, str]:
    """Record a finished change in ``database``'s ledger: ``(row id, "")``, or ``(None, why not)``; never raises.

    ``before``/``after`` default to the revisions the database is at now.
    """
    from syncdb_tui.core.backups.backup import read_alembic_revisions
    from syncdb_tui.core.envs.environments import connection

    try:
        async with connection(env, database=database) as conn:
            now = await read_alembic_revisions(conn)
            row_id = await ledger.record(
                conn,
                action=action,
                environment=env.name,
                ok=ok,
                error=redact(error),
                from_revisions=now if before is None else before,
                to_revisions=now if after is None else after,
                backup_path=backup,
                application_name=f"syncdb {action}",
                details=details,
            )
    except Exception as problem:
        return None, redact(str(problem)) or type(problem).__name__
    return row_id, ""
