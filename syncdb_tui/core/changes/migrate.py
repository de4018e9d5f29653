"""Upgrade, downgrade, stamp."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import OperationError, UsageError
from syncdb_tui.core.events import JobProgress, ProgressCallback, emit
from syncdb_tui.core.project.offline import RevisionSQL, offline_range, offline_sql
from syncdb_tui.core.project.revisions import ALEMBIC_LOCK, Project
from syncdb_tui.core.project.runner import check_multiple_heads, run_alembic
from syncdb_tui.core.project.versions import read_current as _read_current

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment


@dataclass(frozen=True)
class MigrateResult:
    """What an upgrade, downgrade or stamp did (or, with dry_run, would do)."""

    environment: str
    direction: str
    target: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    revisions: tuple[RevisionSQL, ...]
    dry_run: bool
    attempts: int = 1
    seconds: float = 0.0
    backup_path: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "direction": self.direction,
            "target": self.target,
            "before": list(self.before),
            "after": list(self.after),
            "revisions": [
                {"revision": r.revision, "sql": r.sql, "needs_live_database": r.needs_live_reason or None}
                for r in self.revisions
            ],
            "dry_run": self.dry_run,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "backup": self.backup_path or None,
        }


def plan_upgrade(project: Project, env: Environment, target: str = "head") -> MigrateResult:
    """What ``upgrade`` would run, rendered offline; changes nothing (reads the version table)."""
    project.resolve_target(target)
    check_multiple_heads(project, target)
    current = asyncio.run(_read_current(env))
    graph = project.graph()
    unknown = [rev for rev in current if rev not in graph.by_id]
    if unknown:
        raise _unknown_current(project, env, unknown)
    applied = graph.ancestors(list(current))
    destination = _upgrade_destinations(project, target)
    wanted = graph.ancestors(destination)
    path = [rev for rev in graph.upgrade_order() if rev in wanted and rev not in applied]
    revisions = offline_range(project, path, "upgrade", env)
    return MigrateResult(env.name, "upgrade", target, current, tuple(destination), tuple(revisions), True)


def _upgrade_destinations(project: Project, target: str) -> list[str]:
    script = project.script()
    graph = project.graph()
    if target in ("head", "heads"):
        return list(graph.heads)
    if target.startswith("+"):
        raise UsageError(
            "relative upgrade targets (+N) are not supported by syncdb",
            hint="name the revision to upgrade to, or 'head'",
        )
    with ALEMBIC_LOCK:
        found = script.get_revisions(target)
    return [rev.revision for rev in found if rev is not None]


def _unknown_current(project: Project, env: Environment, unknown: list[str]) -> OperationError:
    return OperationError(
        f"{env.name} is at revision {', '.join(unknown)}, which the scripts in {project.script_location} "
        "do not contain",
        hint="check out the code that created it (a newer branch?), or, if the revision is really gone, "
        "`syncdb stamp` the revision the schema corresponds to",
        title="unknown revision in database",
    )


def upgrade(
    project: Project,
    env: Environment,
    target: str = "head",
    *,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
    plan: MigrateResult | None = None,
) -> MigrateResult:
    """Apply revisions up to ``target`` (blocking; run in a thread).

    ``plan`` is the :func:`plan_upgrade` result the user saw and confirmed; it is used as
    is (not rendered again) once the database is checked to be where the plan started.

    Raises:
        UsageError: unknown target, or several heads and target "head".
        OperationError: unknown revision in the database, migration lock held, blocked by
            a lock past the retries, or a revision failed (it is rolled back; earlier
            revisions stay applied, one transaction each).
        UnreachableError: the database cannot be reached.
    """
    from alembic import command

    plan = _confirmed_plan(env, plan) if plan is not None else plan_upgrade(project, env, target)
    if dry_run or not plan.revisions:
        return plan
    emit(progress, JobProgress(phase=f"upgrading {env.name} to {target}", done=0, total=len(plan.revisions)))

    def failed_at() -> str:
        now = asyncio.run(_read_current(env))
        done = project.graph().ancestors(list(now))
        for item in plan.revisions:
            if item.revision not in done:
                return f" at revision {item.revision} (the database stays at {', '.join(now) or 'base'})"
        return ""

    order = [item.revision for item in plan.revisions]

    def on_version(versions: tuple[str, ...]) -> None:
        done = max((order.index(rev) + 1 for rev in versions if rev in order), default=0)
        emit(
            progress,
            JobProgress(
                phase=f"{env.name}: applied {', '.join(versions)}", done=done, total=len(order), unit="revisions"
            ),
        )

    outcome = run_alembic(
        project,
        env,
        lambda cfg: command.upgrade(cfg, target),
        action="migrate",
        revision_after_failure=failed_at,
        progress=progress,
        on_version=on_version,
    )
    after = asyncio.run(_read_current(env))
    emit(
        progress,
        JobProgress(phase=f"{env.name} is at {', '.join(after)}", done=len(plan.revisions), total=len(plan.revisions)),
    )
    _clear_push_marker(env)
    return MigrateResult(
        env.name,
        "upgrade",
        target,
        plan.before,
        after,
        plan.revisions,
        False,
        outcome.attempts,
        outcome.seconds,
    )


def _confirmed_plan(env: Environment, plan: MigrateResult) -> MigrateResult:
    """``plan`` if the database is still where it started, else an error (nothing runs).

    Raises:
        OperationError: someone migrated ``env`` since the plan was shown.
    """
    current = asyncio.run(_read_current(env))
    if current != plan.before:
        raise OperationError(
            f"{env.name} moved from {', '.join(plan.before) or 'base'} to {', '.join(current) or 'base'} "
            "since the plan was shown, so it no longer describes what would run",
            hint="look at the new status and run the command again",
            title="database changed",
        )
    return plan


def plan_downgrade(project: Project, env: Environment, target: str) -> MigrateResult:
    """What ``downgrade`` would run (offline SQL of each revision undone, newest first)."""
    project.resolve_target(target)
    current = asyncio.run(_read_current(env))
    graph = project.graph()
    unknown = [rev for rev in current if rev not in graph.by_id]
    if unknown:
        raise _unknown_current(project, env, unknown)
    if not current:
        raise UsageError(
            f"{env.name} has no revision applied, so there is nothing to downgrade",
            title="nothing to downgrade",
        )
    applied = graph.ancestors(list(current))
    keep = _downgrade_keep(project, current, target)
    undo = [rev for rev in reversed(graph.upgrade_order()) if rev in applied and rev not in keep]
    revisions = [offline_sql(project, rev, "downgrade", env) for rev in undo]
    children = {parent for rev in keep for parent in graph.by_id[rev].down_revisions}
    after = tuple(sorted(rev for rev in keep if rev not in children))
    return MigrateResult(env.name, "downgrade", target, current, after, tuple(revisions), True)


def _downgrade_keep(project: Project, current: tuple[str, ...], target: str) -> set[str]:
    graph = project.graph()
    if target == "base":
        return set()
    if target.startswith("+"):
        raise UsageError(
            f"downgrade goes back; {target!r} is a step forward",
            hint=f"use `syncdb migrate` to go forward, or downgrade -{target[1:]}",
            title="invalid downgrade target",
        )
    if target.startswith("-"):
        try:
            steps = int(target[1:])
        except ValueError:
            raise UsageError(f"{target!r} is not a relative target", hint="use -1, -2, …") from None
        keep_heads = list(current)
        for step in range(steps):
            if not keep_heads:
                raise UsageError(
                    f"{target} goes back further than the history: only {step} step(s) lead from "
                    f"{', '.join(current)} to base",
                    hint="use -N with N at most the steps applied, a revision id, or base to undo everything",
                    title="invalid downgrade target",
                )
            nxt: list[str] = []
            for rev in keep_heads:
                nxt.extend(graph.by_id[rev].down_revisions)
            keep_heads = nxt
        return graph.ancestors(keep_heads)
    script = project.script()
    with ALEMBIC_LOCK:
        found = [rev.revision for rev in script.get_revisions(target) if rev is not None]
    if set(found) - graph.ancestors(list(current)):
        raise UsageError(
            f"{target} is not below the current revision ({', '.join(current)}), so downgrading to it is impossible",
            hint="use `syncdb migrate` to go forward",
            title="invalid downgrade target",
        )
    return graph.ancestors(found)


def downgrade(
    project: Project,
    env: Environment,
    target: str,
    *,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
    plan: MigrateResult | None = None,
) -> MigrateResult:
    """Roll back to ``target`` (-1, a revision, base) (blocking; run in a thread).

    ``plan``: the confirmed :func:`plan_downgrade` result, as for :func:`upgrade`.

    Raises:
        UsageError, OperationError, UnreachableError: as :func:`upgrade`.
    """
    from alembic import command

    plan = _confirmed_plan(env, plan) if plan is not None else plan_downgrade(project, env, target)
    if dry_run or not plan.revisions:
        return plan
    emit(progress, JobProgress(phase=f"downgrading {env.name} to {target}", done=0, total=len(plan.revisions)))
    alembic_target = target
    outcome = run_alembic(
        project,
        env,
        lambda cfg: command.downgrade(cfg, alembic_target),
        action="downgrade",
        progress=progress,
    )
    after = asyncio.run(_read_current(env))
    return MigrateResult(
        env.name,
        "downgrade",
        target,
        plan.before,
        after,
        plan.revisions,
        False,
        outcome.attempts,
        outcome.seconds,
    )


def stamp(project: Project, env: Environment, revision: str, *, dry_run: bool = False) -> MigrateResult:
    """Set the version table to ``revision`` without running migrations (blocking).

    Raises:
        UsageError: unknown revision.
    """
    from alembic import command

    if revision[:1] in ("-", "+"):
        raise UsageError(
            f"stamp needs an absolute revision, not the relative {revision!r}",
            hint="name the revision the schema matches (an id, head or base)",
        )
    project.resolve_target(revision)
    before = asyncio.run(_read_current(env))
    if dry_run:
        return MigrateResult(env.name, "stamp", revision, before, (revision,), (), True)
    outcome = run_alembic(project, env, lambda cfg: command.stamp(cfg, revision, purge=True), action="stamp")
    after = asyncio.run(_read_current(env))
    _clear_push_marker(env)
    return MigrateResult(env.name, "stamp", revision, before, after, (), False, outcome.attempts, outcome.seconds)


def _clear_push_marker(env: Environment) -> None:
    try:
        from syncdb_tui.core.schema.push import clear_push_marker
    except ImportError:
        return

    async def clear() -> None:
        from syncdb_tui.core.envs.environments import connection

        async with connection(env) as conn:
            await clear_push_marker(conn)

    asyncio.run(clear())


def render_sql(revisions: tuple[RevisionSQL, ...] | list[RevisionSQL]) -> str:
    """The SQL of several revisions as one script, with a header per revision."""
    out = io.StringIO()
    for item in revisions:
        out.write(f"-- revision {item.revision} ({item.direction})\n")
        if item.rendered:
            out.write(item.sql.rstrip() + "\n\n")
        else:
            out.write(f"-- needs a live database: {item.needs_live_reason}\n\n")
    return out.getvalue()
