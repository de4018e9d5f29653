"""The Alembic engine: status, upgrade, downgrade, stamp, generate, offline SQL.

Who calls what: ``commands/*.py`` and the TUI's workers call these functions;
``status`` is a coroutine (asyncpg reads the version table; no Alembic command
runs); ``upgrade``/``downgrade``/``stamp``/``generate`` are blocking and must run
in a thread (they start their own event loop for the connection they use).
The graph and offline SQL live in ``revisions.py`` and ``offline.py``;
the lock, lock_timeout and blocker handling in ``alembic_runner.py``.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.alembic_runner import check_multiple_heads, run_alembic
from syncdb_tui.core.errors import ConfigError, OperationError, SyncdbError, UsageError
from syncdb_tui.core.events import JobProgress, ProgressCallback, emit
from syncdb_tui.core.offline import RevisionSQL, offline_range, offline_sql, split_by_revision
from syncdb_tui.core.revisions import ALEMBIC_LOCK, Project, RevisionGraph, RevisionInfo

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.core.environments import Environment
    from syncdb_tui.core.risk import Finding

__all__ = [
    "ALEMBIC_LOCK",
    "EnvironmentStatus",
    "GeneratedRevision",
    "MigrateResult",
    "PendingRevision",
    "Project",
    "RevisionGraph",
    "RevisionInfo",
    "RevisionSQL",
    "current_revisions",
    "downgrade",
    "generate",
    "offline_range",
    "offline_sql",
    "plan_downgrade",
    "plan_upgrade",
    "split_by_revision",
    "stamp",
    "status",
    "upgrade",
]

VERSION_TABLE = "alembic_version"

RISK_ORDER = {"NONE": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3}
"""Revision risks from least to most severe ("NONE": nothing pending)."""


def worst_risk(revisions: Iterable[PendingRevision], *, empty: str = "LOW") -> str:
    """The worst ``risk`` of ``revisions`` (an unknown name counts as LOW); ``empty`` when there are none."""
    worst = max((RISK_ORDER.get(item.risk, 1) for item in revisions), default=None)
    if worst is None:
        return empty
    return next(name for name, rank in RISK_ORDER.items() if rank == worst)


@dataclass(frozen=True)
class PendingRevision:
    """A revision not yet applied, with what it would run and risk."""

    revision: str
    message: str
    risk: str
    """LOW, MEDIUM or HIGH: the worst finding (LOW when none)."""
    findings: tuple[Finding, ...]
    sql: str
    needs_live_reason: str = ""
    suppressed: tuple[Finding, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "message": self.message,
            "risk": self.risk,
            "findings": [finding.to_json() for finding in self.findings],
            "suppressed": [finding.to_json() for finding in self.suppressed],
            "sql": self.sql,
            "needs_live_database": self.needs_live_reason or None,
        }


@dataclass(frozen=True)
class EnvironmentStatus:
    """Where one environment stands against the scripts."""

    environment: str
    database: str
    protected: bool
    reachable: bool
    error: str = ""
    error_hint: str = ""
    """What to do about ``error`` (the same hint the CLI prints)."""
    server_version: str = ""
    server_version_num: int = 0
    current: tuple[str, ...] = ()
    heads: tuple[str, ...] = ()
    applied: tuple[str, ...] = ()
    pending: tuple[PendingRevision, ...] = ()
    unknown: tuple[str, ...] = ()
    drift: Any = None
    """A drift summary (``core.drift.DriftSummary``) or ``None`` when not computed."""
    push_marker: Any = None
    judged_with_context: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def risk(self) -> str:
        return worst_risk(self.pending, empty="NONE")

    @property
    def multiple_heads(self) -> bool:
        return len(self.heads) > 1

    def to_json(self) -> dict[str, Any]:
        drift = self.drift.to_json() if self.drift is not None and hasattr(self.drift, "to_json") else None
        marker = None
        if self.push_marker is not None:
            to_json = getattr(self.push_marker, "to_json", None)
            marker = to_json() if to_json else str(self.push_marker)
        return {
            "environment": self.environment,
            "database": self.database,
            "protected": self.protected,
            "reachable": self.reachable,
            "error": self.error or None,
            "server_version": self.server_version,
            "current": list(self.current),
            "heads": list(self.heads),
            "applied": list(self.applied),
            "pending": [p.to_json() for p in self.pending],
            "unknown": list(self.unknown),
            "drift": drift,
            "pushed": marker,
            "risk": self.risk,
            "multiple_heads": self.multiple_heads,
            "judged_with_context": self.judged_with_context,
            "notes": list(self.notes),
        }


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


@dataclass(frozen=True)
class GeneratedRevision:
    """A revision produced by autogenerate."""

    revision: str
    message: str
    path: str
    """The file written ("" with dry_run)."""
    source: str
    """The revision file's Python text (upgrade and downgrade bodies with dry_run)."""
    empty: bool
    dry_run: bool
    sql: str = ""
    risk: str = "LOW"
    findings: tuple[Finding, ...] = ()


# ---------------------------------------------------------------- status


async def current_revisions(conn: asyncpg.Connection) -> tuple[str, ...] | None:
    """The version table's rows; ``None`` when there is no version table (nothing applied)."""
    import asyncpg

    try:
        rows = await conn.fetch(f"SELECT version_num FROM {VERSION_TABLE}")
    except asyncpg.UndefinedTableError:
        return None
    return tuple(sorted(str(row["version_num"]) for row in rows))


def _pending_order(graph: RevisionGraph, applied: set[str]) -> list[str]:
    return [rev for rev in graph.upgrade_order() if rev not in applied]


async def status(
    project: Project,
    env: Environment,
    *,
    with_risk: bool = True,
    with_drift: bool = False,
) -> EnvironmentStatus:
    """The status of ``env``: current, applied, pending (with SQL and risk), unknown.

    An unreachable environment comes back with ``reachable=False`` and the reason
    in ``error`` rather than raising, so a screen of several environments always
    renders.

    Raises:
        ConfigError: the scripts are broken (syntax error, dangling down_revision).
    """
    from syncdb_tui.core.environments import connect

    graph = await asyncio.to_thread(project.graph)
    base: dict[str, Any] = {"environment": env.name, "database": env.database, "protected": env.protected}
    try:
        conn = await connect(env)
    except SyncdbError as error:
        return EnvironmentStatus(**base, reachable=False, error=error.message, error_hint=error.hint, heads=graph.heads)
    try:
        version = await conn.fetchrow(
            "SELECT current_setting('server_version') AS v, current_setting('server_version_num')::int AS n"
        )
        current = await current_revisions(conn) or ()
        known = [rev for rev in current if rev in graph.by_id]
        unknown = tuple(rev for rev in current if rev not in graph.by_id)
        applied_set = graph.ancestors(known)
        applied = tuple(rev for rev in graph.upgrade_order() if rev in applied_set)
        pending_ids = [] if unknown else _pending_order(graph, applied_set)
        marker = await _push_marker(conn)
        pending, judged = await _pending_details(project, env, conn, graph, pending_ids, with_risk)
    finally:
        await conn.close()
    notes = []
    if unknown:
        notes.append(
            f"the database is at {', '.join(unknown)}, which the scripts in {project.script_location} "
            "do not know: it was migrated from other code (a newer branch?)"
        )
    if len(graph.heads) > 1:
        notes.append(f"the history has {len(graph.heads)} heads: {', '.join(graph.heads)}")
    if marker is not None:
        notes.append(
            "the schema was pushed ahead of its migrations; to get back in line: "
            "syncdb generate -m '...' then syncdb stamp head"
        )
    drift = await _drift(project, env) if with_drift else None
    return EnvironmentStatus(
        **base,
        reachable=True,
        server_version=str(version["v"]).split(" ")[0] if version else "",
        server_version_num=int(version["n"]) if version else 0,
        current=tuple(current),
        heads=graph.heads,
        applied=applied,
        pending=tuple(pending),
        unknown=unknown,
        drift=drift,
        push_marker=marker,
        judged_with_context=judged,
        notes=tuple(notes),
    )


async def _push_marker(conn: asyncpg.Connection) -> Any:
    try:
        from syncdb_tui.core.push import read_push_marker
    except ImportError:
        return None
    return await read_push_marker(conn)


async def _drift(project: Project, env: Environment) -> Any:
    if not project.config.target_metadata:
        return None
    from syncdb_tui.core.drift import compute_drift

    return await asyncio.to_thread(compute_drift, project.config, env)


async def _pending_details(
    project: Project,
    env: Environment,
    conn: asyncpg.Connection,
    graph: RevisionGraph,
    pending_ids: list[str],
    with_risk: bool,
) -> tuple[list[PendingRevision], bool]:
    if not pending_ids:
        return [], False
    sqls = await asyncio.to_thread(offline_range, project, pending_ids, "upgrade", env)
    return await judge_revisions(project, sqls, conn=conn if with_risk else None, with_risk=with_risk)


async def judge_revisions(
    project: Project,
    sqls: list[RevisionSQL] | tuple[RevisionSQL, ...],
    *,
    conn: asyncpg.Connection | None,
    with_risk: bool = True,
) -> tuple[list[PendingRevision], bool]:
    """Risk of each revision's SQL; with ``conn``, judged with the live table sizes."""
    graph = project.graph()
    messages = {rev: info.message for rev, info in graph.by_id.items()}
    if not with_risk:
        return [
            PendingRevision(s.revision, messages.get(s.revision, ""), "LOW", (), s.sql, s.needs_live_reason)
            for s in sqls
        ], False
    from syncdb_tui.core import risk

    context = None
    if conn is not None:
        tables: set[str] = set()
        for item in sqls:
            tables |= set(risk.tables_touched(item.sql)) if item.sql else set()
        context = await risk.load_live_context(conn, tables)
    judged = []
    for item in sqls:
        message = messages.get(item.revision, "")
        if not item.rendered:
            judged.append(PendingRevision(item.revision, message, "MEDIUM", (), "", item.needs_live_reason))
            continue
        # syncdb runs these revisions itself, with lock_timeout set on its session
        analysis = risk.analyse_sql(
            item.sql, context=context, thresholds=project.config.risk, session_lock_timeout=True
        )
        judged.append(
            PendingRevision(
                revision=item.revision,
                message=message,
                risk=analysis.risk.name,
                findings=tuple(analysis.findings),
                sql=item.sql,
                suppressed=tuple(analysis.suppressed),
            )
        )
    return judged, context is not None


async def judge_plan(project: Project, env: Environment, plan: MigrateResult) -> list[PendingRevision]:
    """Risk of each revision of an upgrade/downgrade plan, with live context when reachable."""
    from syncdb_tui.core.environments import connection

    async with connection(env) as conn:
        judged, _ = await judge_revisions(project, plan.revisions, conn=conn)
    return judged


def status_sync(project: Project, env: Environment, **kwargs: Any) -> EnvironmentStatus:
    """:func:`status` for synchronous callers (runs its own event loop)."""
    return asyncio.run(status(project, env, **kwargs))


# ---------------------------------------------------------------- upgrade / downgrade


async def _read_current(env: Environment) -> tuple[str, ...]:
    from syncdb_tui.core.environments import connection

    async with connection(env) as conn:
        return await current_revisions(conn) or ()


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
        from syncdb_tui.core.push import clear_push_marker
    except ImportError:
        return

    async def clear() -> None:
        from syncdb_tui.core.environments import connection

        async with connection(env) as conn:
            await clear_push_marker(conn)

    asyncio.run(clear())


# ---------------------------------------------------------------- generate


def generate(
    project: Project,
    env: Environment,
    message: str,
    *,
    dry_run: bool = False,
    rev_id: str | None = None,
) -> GeneratedRevision:
    """Autogenerate a revision from the models against ``env``'s database (blocking).

    With ``dry_run`` nothing is written: the revision's source comes back.

    Raises:
        ConfigError: no target_metadata (in syncdb.toml or env.py).
        OperationError: the database is not at head (Alembic refuses), or autogenerate failed.
    """
    from alembic import command
    from alembic.autogenerate import render_python_code
    from alembic.util import CommandError

    if not message.strip():
        raise UsageError("a revision needs a message", hint="pass -m 'what the change does'")
    captured: list[Any] = []

    def directives_hook(context: Any, revision: Any, directives: list[Any]) -> None:
        captured.extend(directives)
        if dry_run:
            directives[:] = []

    def call(cfg: Any) -> Any:
        if project.config.target_metadata:
            cfg.attributes["target_metadata"] = load_target_metadata(project.config.target_metadata)
        return command.revision(
            cfg,
            message=message,
            autogenerate=True,
            rev_id=rev_id,
            process_revision_directives=directives_hook,
        )

    try:
        outcome = run_alembic(project, env, call, action="generate", retry_on_lock_timeout=False)
    except OperationError as error:
        cause = error.__cause__
        if isinstance(cause, CommandError):
            text = str(cause)
            if "MetaData" in text or "target_metadata" in text:
                raise ConfigError(
                    "autogenerate needs the models' MetaData, and none is configured",
                    hint='set target_metadata = "package.models:metadata" in syncdb.toml '
                    "(and use it as target_metadata in env.py)",
                    title="missing target_metadata",
                ) from None
            raise OperationError(
                f"generate on {env.name} failed: {text}",
                hint="run `syncdb migrate` first if the database is not up to date",
                title="generate failed",
            ) from None
        raise
    project_graph_reset(project)
    if not captured:
        raise OperationError("autogenerate produced nothing", title="generate failed")
    directive = captured[0]
    upgrade_ops = directive.upgrade_ops
    empty = upgrade_ops.is_empty() if hasattr(upgrade_ops, "is_empty") else not upgrade_ops.ops
    script = outcome.value
    scripts = script if isinstance(script, list) else [script]
    path = ""
    source = ""
    revision = directive.rev_id or ""
    if not dry_run and scripts and scripts[0] is not None:
        path = str(scripts[0].path)
        revision = scripts[0].revision
        source = Path(path).read_text()
    else:
        # render_python_code does not indent its first line
        source = (
            f"# revision {revision}: {message}\n\n\ndef upgrade():\n    "
            + render_python_code(upgrade_ops)
            + "\n\n\ndef downgrade():\n    "
            + render_python_code(directive.downgrade_ops)
            + "\n"
        )
    return GeneratedRevision(revision, message, path, source, bool(empty), dry_run)


def project_graph_reset(project: Project) -> None:
    """Forget the cached scripts (after a new revision file was written)."""
    with project._lock:
        project._script = None
        project._graph = None


def load_target_metadata(spec: str) -> Any:
    """Import ``module:attribute`` and return it (the models' MetaData).

    Raises:
        ConfigError: the module or attribute cannot be imported.
    """
    from syncdb_tui.core.imports import import_object

    return import_object(
        spec, key="target_metadata", example="myapp.models:Base.metadata", expected="your models' MetaData"
    )


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
