"""The executor: apply exactly a plan, under the migration lock, and say truthfully how it ended.

``execute(project, env, plan)`` (blocking; run it in a thread from the app):

1. takes the migration advisory lock of the database (one syncdb at a time);
2. re-checks the plan under the lock: the database is still where the plan
   starts, no planned revision file nor env.py changed, no revision slipped
   into the path (``plan.plan_differences``); otherwise refuses, changing nothing;
3. takes the pre-change backup when the policy asked for one;
4. records the change in the ledger (``syncdb.ledger``, result ``running``);
5. runs Alembic to the plan's destination (never "head" re-resolved), with
   lock_timeout, retries that name the blocker, per-revision progress;
6. reads where the database stands, runs the post-flight checks and completes
   the ledger row.

The :class:`Outcome` says ok or failed at which revision, which revisions were
committed, where the database is now, and whether the failing revision was
really rolled back.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.changes import ledger
from syncdb_tui.core.changes.plan import Plan, plan_differences
from syncdb_tui.core.changes.postflight import Postflight, catalog_checks, drift_at_head
from syncdb_tui.core.errors import OperationError, RefusedError, SyncdbError
from syncdb_tui.core.events import JobProgress, ProgressCallback, emit
from syncdb_tui.core.project.runner import pg_message, run_alembic
from syncdb_tui.core.project.versions import current_revisions
from syncdb_tui.core.secrets import redact

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.envs.sessions import QueueSample
    from syncdb_tui.core.project.revisions import Project

_NON_TRANSACTIONAL = ("CONCURRENTLY", "COMMIT;", "VACUUM", "ALTER TYPE")


@dataclass(frozen=True)
class Outcome:
    """How a plan ended."""

    plan: Plan
    ok: bool
    now_at: tuple[str, ...]
    committed: tuple[str, ...] = ()
    """Planned revisions whose change is committed (applied, or undone for a downgrade)."""
    failed_revision: str = ""
    error: str = ""
    hint: str = ""
    rolled_back: bool = True
    """The failing revision's own changes were rolled back (False: it ran statements outside a transaction)."""
    attempts: int = 0
    seconds: float = 0.0
    backup_path: str = ""
    postflight: Postflight | None = None
    ledger_id: int | None = None
    dry_run: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    aborts: tuple[str, ...] = ()
    """Statements the lock-queue guard cancelled before they were retried."""

    @property
    def environment(self) -> str:
        return self.plan.environment

    def summary(self) -> str:
        """One line for a terminal or a notification."""
        now = ", ".join(self.now_at) or "base"
        plan = self.plan
        if self.dry_run:
            return f"dry run: {len(plan.revisions)} revision(s) would run on {plan.environment}; nothing was changed"
        if self.ok:
            if plan.action == "stamp":
                return f"{plan.environment} stamped: {', '.join(plan.before) or 'base'} → {now}"
            if not plan.revisions:
                return f"{plan.environment} is already at {now}: nothing to do"
            return (
                f"{plan.environment}: {plan.action} done in {self.seconds:.1f} s ({len(plan.revisions)} revision(s)); "
                f"now at {now}" + (f"; backup {self.backup_path}" if self.backup_path else "")
            )
        return self.error

    def to_json(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "ok": self.ok,
            "plan_id": plan.id,
            "environment": plan.environment,
            "action": plan.action,
            "direction": plan.action,
            "target": plan.target,
            "before": list(plan.before),
            "after": list(plan.after if self.dry_run else self.now_at),
            "now_at": list(self.now_at),
            "planned_after": list(plan.after),
            "revisions": [item.to_json() for item in plan.revisions],
            "revisions_risk": [
                {
                    "revision": item.revision,
                    "risk": item.risk,
                    "findings": [finding.to_json() for finding in item.findings],
                    "needs_live_database": item.needs_live_reason or None,
                    "irreversible": item.irreversible_reason or None,
                }
                for item in plan.revisions
            ],
            "risk": plan.risk,
            "committed": list(self.committed),
            "failed_revision": self.failed_revision or None,
            "rolled_back": self.rolled_back if not self.ok else None,
            "error": self.error or None,
            "hint": self.hint or None,
            "dry_run": self.dry_run,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "backup": self.backup_path or None,
            "postflight": self.postflight.to_json() if self.postflight is not None else None,
            "ledger_id": self.ledger_id,
            "consequences": list(plan.consequences),
            "stopped_at": plan.stopped_at or None,
            "notes": list(self.notes),
            "guard_aborts": list(self.aborts),
        }

    def error_object(self) -> OperationError:
        """The failure as the error the CLI prints (exit 5)."""
        return OperationError(self.error, hint=self.hint, title=f"{self.plan.action} failed")


def dry_run_outcome(plan: Plan) -> Outcome:
    """The outcome of not running ``plan`` (``--dry-run``)."""
    return Outcome(plan=plan, ok=True, now_at=plan.before, dry_run=True)


def _alembic_destination(project: Project, plan: Plan) -> str:
    if plan.action == "stamp":
        return plan.target
    if plan.action == "downgrade":
        if not plan.after:
            return "base"
        if len(plan.after) == 1:
            return plan.after[0]
        if plan.stopped_at:
            raise RefusedError(
                f"the downgrade of {plan.environment} stops before the irreversible {plan.stopped_at}, and with "
                "several heads left syncdb cannot name that point to Alembic",
                hint="downgrade one branch at a time (syncdb downgrade <revision>)",
                title="cannot apply plan",
            )
        return plan.target
    new = [rev for rev in plan.after if rev not in plan.before]
    if len(new) == 1:
        return new[0]
    if set(plan.after) == set(project.graph().heads):
        return "heads"
    return plan.target


def _progress_index(plan: Plan, graph_ancestors: Any, versions: tuple[str, ...]) -> int:
    reached = graph_ancestors(list(versions))
    if plan.action == "downgrade":
        return sum(1 for item in plan.revisions if item.revision not in reached)
    return sum(1 for item in plan.revisions if item.revision in reached)


def execute(
    project: Project,
    env: Environment,
    plan: Plan,
    *,
    backup: bool = False,
    progress: ProgressCallback | None = None,
    postflight: bool = True,
) -> Outcome:
    """Apply ``plan`` to ``env`` (blocking). See the module docstring for the steps.

    Raises:
        RefusedError: the plan is for another environment, or no longer describes what
            would run (nothing was changed).
        OperationError: the migration lock is held elsewhere, or the backup failed
            (nothing was changed).
        UnreachableError: the database cannot be reached.
    A failure while applying is not raised: it comes back as ``Outcome(ok=False)``.
    """
    if plan.environment != env.name or plan.database != env.database:
        raise RefusedError(
            f"the plan is for {plan.environment} (database {plan.database}), not {env.name} (database {env.database})",
            hint=f"apply it with --env {plan.environment}, or make a new plan for {env.name}",
            title="wrong environment",
        )
    return asyncio.run(_execute(project, env, plan, backup=backup, progress=progress, postflight=postflight))


async def _execute(
    project: Project,
    env: Environment,
    plan: Plan,
    *,
    backup: bool,
    progress: ProgressCallback | None,
    postflight: bool,
) -> Outcome:
    from syncdb_tui.core.envs.environments import connect
    from syncdb_tui.core.envs.sessions import acquire_advisory_lock, advisory_key

    started = time.monotonic()
    lock_conn = await connect(env, server_settings={"application_name": "syncdb lock"})
    try:
        emit(progress, JobProgress(phase=f"taking the migration lock of {env.name}"))
        await acquire_advisory_lock(lock_conn, env.database, project.config.migrate_lock_wait)
        current = await current_revisions(lock_conn) or ()
        problems = await asyncio.to_thread(plan_differences, project, plan, current)
        if problems:
            raise RefusedError(
                f"the plan for {plan.environment} no longer describes what would run: " + "; ".join(problems),
                hint="nothing was changed; look at the new status and make a new plan "
                "(syncdb migrate --dry-run), then run it again",
                title="plan no longer applies",
            )
        if plan.is_empty:
            return Outcome(plan=plan, ok=True, now_at=current, seconds=time.monotonic() - started)
        backup_path = ""
        if backup:
            backup_path = await _take_backup(project, env, progress)
        row_id = await ledger.start(
            lock_conn,
            action=plan.action,
            environment=plan.environment,
            plan_id=plan.id,
            from_revisions=plan.before,
            to_revisions=plan.after,
            revisions=[{"revision": item.revision, "sha256": item.sha256} for item in plan.revisions],
            backup_path=backup_path,
            application_name="syncdb migrate",
            details={"target": plan.target, "risk": plan.risk},
        )
        try:
            outcome = await _apply(project, env, lock_conn, plan, progress, started, backup_path)
        except BaseException as error:  # cancelled, interrupted: the row must not stay "running"
            now = await _safe_current(lock_conn)
            await ledger.finish(lock_conn, row_id, ok=False, to_revisions=now, error=redact(f"interrupted: {error!r}"))
            raise
        post: Postflight | None = None
        if postflight:
            post = await _postflight(project, env, lock_conn, outcome)
        await ledger.finish(
            lock_conn,
            row_id,
            ok=outcome.ok,
            to_revisions=outcome.now_at,
            error=outcome.error,
            postflight=post.to_json() if post is not None else None,
            details={"guard_aborts": list(outcome.aborts)} if outcome.aborts else None,
        )
        await _record_committed(lock_conn, row_id, outcome)
        if plan.action in ("upgrade", "stamp") and outcome.ok:
            await _clear_push_marker(lock_conn)
        return replace(outcome, postflight=post, ledger_id=row_id)
    finally:
        try:
            await lock_conn.execute("SELECT pg_advisory_unlock($1)", advisory_key(env.database))
        except Exception:
            pass
        try:
            await lock_conn.close()
        except Exception:
            pass


async def _safe_current(conn: Any) -> tuple[str, ...] | None:
    try:
        return await current_revisions(conn) or ()
    except Exception:
        return None


async def _take_backup(project: Project, env: Environment, progress: ProgressCallback | None) -> str:
    from syncdb_tui.core.backups.backup import backup_before_change

    emit(progress, JobProgress(phase=f"taking a backup of {env.name} before the change"))
    manifest = await backup_before_change(project.config, env, progress=progress)
    return str(manifest.path)


async def _apply(
    project: Project,
    env: Environment,
    lock_conn: Any,
    plan: Plan,
    progress: ProgressCallback | None,
    started: float,
    backup_path: str,
) -> Outcome:
    from alembic import command

    graph = project.graph()
    destination = _alembic_destination(project, plan)
    total = len(plan.revisions)
    verb = {"upgrade": "upgrading", "downgrade": "downgrading", "stamp": "stamping"}[plan.action]
    emit(progress, JobProgress(phase=f"{verb} {env.name} to {destination}", done=0, total=total or 1))

    def on_version(versions: tuple[str, ...]) -> None:
        done = _progress_index(plan, graph.ancestors, versions)
        current = plan.revisions[done].revision if done < total else ""
        emit(
            progress,
            JobProgress(
                phase=f"{env.name}: at {', '.join(versions) or 'base'}",
                detail=f"next {current}" if current else "",
                done=done,
                total=total,
                unit="revisions",
            ),
        )

    watch_progress = _SampleReporter(env.name, plan, progress)

    def call(cfg: Any) -> Any:
        if plan.action == "upgrade":
            return command.upgrade(cfg, destination)
        if plan.action == "downgrade":
            return command.downgrade(cfg, destination)
        return command.stamp(cfg, destination, purge=True)

    error: OperationError | None = None
    attempts = 0
    aborts: tuple[str, ...] = ()
    try:
        run = await asyncio.to_thread(
            run_alembic,
            project,
            env,
            call,
            action={"upgrade": "migrate", "downgrade": "downgrade", "stamp": "stamp"}[plan.action],
            progress=progress,
            on_version=on_version,
            take_lock=False,
            on_sample=watch_progress,
        )
        attempts = run.attempts
        aborts = run.aborts
    except OperationError as caught:
        error = caught
        aborts = tuple(getattr(caught, "aborts", ()))
    # Read back on the lock's own connection (idle while Alembic ran on its own).
    now = await current_revisions(lock_conn) or ()
    seconds = time.monotonic() - started
    if error is None:
        emit(progress, JobProgress(phase=f"{env.name} is at {', '.join(now) or 'base'}", done=total, total=total or 1))
        return Outcome(
            plan=plan,
            ok=True,
            now_at=now,
            committed=tuple(item.revision for item in plan.revisions),
            attempts=attempts,
            seconds=seconds,
            backup_path=backup_path,
            aborts=aborts,
        )
    return replace(_failure(plan, env, error, now, graph.ancestors, seconds, backup_path), aborts=aborts)


class _SampleReporter:
    """Turns the watcher's samples (lock queue, DDL progress) into progress events, with an ETA for DDL."""

    def __init__(self, env_name: str, plan: Plan, progress: ProgressCallback | None) -> None:
        self.env_name = env_name
        self.plan = plan
        self.progress = progress
        self._first: dict[tuple[str, str], tuple[float, int]] = {}

    def __call__(self, sample: QueueSample) -> None:
        detail = sample.describe()
        ddl = sample.progress
        if ddl is not None and ddl.total > 0:
            key = (ddl.command, ddl.relation)
            now = time.monotonic()
            started_at, started_done = self._first.setdefault(key, (now, ddl.done))
            rate = (ddl.done - started_done) / (now - started_at) if now > started_at else 0.0
            if rate > 0:
                detail += f", about {max(0.0, (ddl.total - ddl.done) / rate):.0f} s left"
            emit(
                self.progress,
                JobProgress(
                    phase=f"{self.env_name}: {ddl.command} {ddl.phase}",
                    done=min(ddl.done, ddl.total) if ddl.estimate else ddl.done,
                    total=ddl.total,
                    unit=ddl.unit,
                    detail=detail,
                ),
            )
            return
        emit(self.progress, JobProgress(phase=f"{self.env_name}: {sample.statement[:80]}", detail=detail))


def _failure(
    plan: Plan,
    env: Environment,
    error: OperationError,
    now: tuple[str, ...],
    ancestors: Any,
    seconds: float,
    backup_path: str,
) -> Outcome:
    reached = ancestors(list(now))
    if plan.action == "downgrade":
        committed = [item.revision for item in plan.revisions if item.revision not in reached]
        pending = [item for item in plan.revisions if item.revision in reached]
    else:
        committed = [item.revision for item in plan.revisions if item.revision in reached]
        pending = [item for item in plan.revisions if item.revision not in reached]
    failed = pending[0] if pending else None
    cause = error.__cause__
    reason = pg_message(cause) if cause is not None and not isinstance(cause, SyncdbError) else error.message
    now_text = ", ".join(now) or "base"
    verb = "undone" if plan.action == "downgrade" else "applied"
    rolled_back = True
    if failed is not None:
        sql = failed.sql.upper()
        rolled_back = not failed.needs_live_reason and not any(marker in sql for marker in _NON_TRANSACTIONAL)
        parts = [f"{plan.action} of {env.name} failed at revision {failed.revision} ({failed.message}): {reason}."]
    else:
        parts = [f"{plan.action} of {env.name} failed: {reason}."]
    if committed:
        parts.append(f"{len(committed)} earlier revision(s) were {verb} and committed: {', '.join(committed)}.")
    else:
        parts.append(f"No revision was {verb}.")
    parts.append(f"{env.name} is now at {now_text}.")
    if failed is not None:
        if rolled_back:
            parts.append(f"The changes of {failed.revision} were rolled back.")
        else:
            parts.append(
                f"{failed.revision} runs statements outside a transaction, so part of it may have been applied: "
                "check the schema before running again."
            )
    hint = error.hint if failed is None else ""
    if failed is not None:
        if plan.action == "downgrade":
            hint = f"fix the downgrade() of {failed.revision} and run syncdb downgrade again" + (
                f", or restore the backup taken before: syncdb restore {backup_path}" if backup_path else ""
            )
        else:
            hint = f"fix {failed.revision} and run syncdb migrate again" + (
                f"; the backup taken before is {backup_path}" if backup_path else ""
            )
    return Outcome(
        plan=plan,
        ok=False,
        now_at=now,
        committed=tuple(committed),
        failed_revision=failed.revision if failed else "",
        error=redact(" ".join(parts)),
        hint=redact(hint),
        rolled_back=rolled_back,
        seconds=seconds,
        backup_path=backup_path,
    )


async def _postflight(project: Project, env: Environment, conn: Any, outcome: Outcome) -> Postflight:
    post = await catalog_checks(conn)
    heads = set(project.graph().heads)
    if outcome.ok and heads and set(outcome.now_at) == heads:
        drift, note = await drift_at_head(project.config, env)
        post = replace(post, drift=drift, drift_note=note)
    return post


async def _record_committed(conn: Any, row_id: int, outcome: Outcome) -> None:
    """Mark in the ledger which of the planned revisions really took effect."""
    import json

    committed = set(outcome.committed)
    revisions = [
        {"revision": item.revision, "sha256": item.sha256, "committed": item.revision in committed}
        for item in outcome.plan.revisions
    ]
    await conn.execute(f"UPDATE {ledger.TABLE} SET revisions = $2::jsonb WHERE id = $1", row_id, json.dumps(revisions))


async def _clear_push_marker(conn: Any) -> None:
    from syncdb_tui.core.schema.push import clear_push_marker

    await clear_push_marker(conn)


def plan_and_apply(
    project: Project,
    env: Environment,
    action: str = "upgrade",
    target: str = "head",
    *,
    progress: ProgressCallback | None = None,
) -> Outcome:
    """Plan and apply at once, for syncdb's own databases (the demo's build, check's scratch copy).

    Never call this for a user's change: it asks nothing (no policy), so it is only for
    databases syncdb itself creates.

    Raises:
        OperationError: the change failed (the message says where the database stands).
    """
    from syncdb_tui.core.changes.plan import make_plan

    plan = make_plan(project, env, action, target, backup=False)
    outcome = execute(project, env, plan, progress=progress, postflight=False)
    if not outcome.ok:
        raise outcome.error_object()
    return outcome
