"""The CI gate behind `syncdb check`: every reason an environment is not safe to ship.

Problems: pending revisions (unless allowed), several heads, revisions in the
database that the scripts do not know, a pending risk above the allowed
maximum, model changes that no revision covers (autogenerate at head is
not empty: judged on a scratch database migrated to head on the same server
(for a protected environment, on an unprotected environment's server instead),
dropped afterwards), a database at head whose schema differs from the
models (drift: changed outside the migrations), and a revision file edited
after it was applied (its sha256 differs from the one the ledger recorded).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.envs.scratch import scratch_host
from syncdb_tui.core.errors import SyncdbError
from syncdb_tui.core.risk.judge import RISK_ORDER

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.revisions import Project
    from syncdb_tui.core.status import EnvironmentStatus


@dataclass(frozen=True)
class CheckResult:
    """The verdict of `syncdb check`."""

    environment: str
    problems: tuple[str, ...]
    notes: tuple[str, ...] = ()
    status: Any = None
    uncovered: Any = field(default=None)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "ok": self.ok,
            "problems": list(self.problems),
            "notes": list(self.notes),
            "uncovered_model_changes": self.uncovered.to_json()
            if self.uncovered is not None and hasattr(self.uncovered, "to_json")
            else None,
            "status": self.status.to_json() if self.status is not None else None,
        }


def status_problems(status: EnvironmentStatus, *, max_risk: str, allow_pending: bool) -> list[str]:
    """The problems visible in a status alone."""
    problems = []
    if not status.reachable:
        problems.append(f"{status.environment} is unreachable: {status.error}")
        return problems
    if status.multiple_heads:
        problems.append(f"the history has {len(status.heads)} heads: {', '.join(status.heads)}")
    if status.unknown:
        problems.append(f"the database is at {', '.join(status.unknown)}, unknown to the scripts")
    for item in status.edited:
        problems.append(
            f"revision file {item.path} ({item.revision}) was edited after it was applied to {status.environment} "
            "(its sha256 differs from the ledger's): what the database ran is not what the file says; "
            "restore the file as it was, and put the change in a new revision"
        )
    if status.pending and not allow_pending:
        problems.append(f"{len(status.pending)} pending revision(s): {', '.join(p.revision for p in status.pending)}")
    for pending in status.pending:
        if RISK_ORDER.get(pending.risk, 0) > RISK_ORDER[max_risk]:
            rules = ", ".join(sorted({f.rule for f in pending.findings if f.severity.name == pending.risk}))
            problems.append(f"{pending.revision} is {pending.risk} risk (over --max-risk {max_risk}): {rules}")
    return problems


async def uncovered_model_changes(project: Project, env: Environment) -> Any:
    """Model changes no revision covers: drift between the models and a scratch database at head.

    Returns ``None`` when no target_metadata is configured.
    Raises:
        OperationError: the scratch database cannot be created or migrated.
    """
    if not project.config.target_metadata:
        return None
    from syncdb_tui.core.changes.executor import plan_and_apply
    from syncdb_tui.core.envs.scratch import scratch_database
    from syncdb_tui.core.fingerprint import remember_expected
    from syncdb_tui.core.schema.drift import compute_drift

    async with scratch_database(env, "check") as scratch:
        heads = project.graph().heads
        if heads:
            await asyncio.to_thread(plan_and_apply, project, scratch, "upgrade", "heads" if len(heads) > 1 else "head")
        await remember_expected(project, scratch, tuple(sorted(heads)))  # the fingerprint at head: no second copy
        return await asyncio.to_thread(compute_drift, project.config, scratch)


async def check(
    project: Project,
    env: Environment,
    *,
    max_risk: str,
    allow_pending: bool,
    check_models: bool = True,
    require_models: bool = True,
) -> CheckResult:
    """Run every check against ``env``.

    ``check_models=False`` skips the model check (it creates and drops a scratch database).
    ``require_models``: a project without models (no target_metadata in the config, env.py's is None)
    fails the check, since nothing could be compared; ``--no-models`` turns that into a note.
    """
    from syncdb_tui.core.status import add_fingerprint
    from syncdb_tui.core.status import status as load_status

    status = await load_status(project, env)
    problems = status_problems(status, max_risk=max_risk, allow_pending=allow_pending)
    notes: list[str] = []
    uncovered = None
    if status.reachable and not check_models:
        notes.append("models not compared with the migrations: --dry-run creates no scratch database")
    elif status.reachable and not status.multiple_heads:
        try:
            host = await scratch_host(project.config, env)
            if host is None:
                notes.append(
                    "models not compared with the migrations: every environment is protected, and syncdb "
                    "creates no scratch database on a protected server"
                )
            else:
                if host is not env:
                    notes.append(f"models compared with the migrations on a scratch database on {host.name}'s server")
                uncovered = await uncovered_model_changes(project, host)
        except SyncdbError as error:
            notes.append(
                f"could not check the models against the migrations: {error.message}"
                + (f" ({error.hint})" if error.hint else "")
            )
        if uncovered is not None and not getattr(uncovered, "is_empty", True):
            problems.append(
                "the models have changes that no revision covers (run syncdb generate -m '...'): " + _summary(uncovered)
            )
        if uncovered is None and not project.config.target_metadata:
            if require_models:
                problems.append(
                    "no models to check: target_metadata is not set in the config and env.py's target_metadata "
                    "is None (set one, or pass --no-models to check migrations only)"
                )
            else:
                notes.append("models not checked: no target_metadata configured (--no-models)")
    # after the models: their scratch database at head gave the expected schema there too
    fingerprint = None
    if check_models and status.reachable:
        status = await add_fingerprint(project, env, status)
        fingerprint = status.fingerprint
    if fingerprint is not None and fingerprint.matches is False:
        problems.append(
            f"the live schema of {env.name} differs from what its migrations give at "
            f"{', '.join(fingerprint.revision) or 'base'} (changed outside the migrations): "
            + "; ".join(fingerprint.differences[:10])
            + (f"; … {len(fingerprint.differences) - 10} more" if len(fingerprint.differences) > 10 else "")
        )
    elif fingerprint is not None and fingerprint.matches is None and fingerprint.note:
        notes.insert(0, f"schema fingerprint not compared: {fingerprint.note}")
    fingerprint_differs = fingerprint is not None and fingerprint.matches is False
    # a hand-made change is already named object by object by the fingerprint: not twice
    if (uncovered is None or getattr(uncovered, "is_empty", True)) and not fingerprint_differs:
        problems += await _database_drift(project, env, status, notes, uncovered_checked=uncovered is not None)
    return CheckResult(env.name, tuple(problems), tuple(notes), status, uncovered)


async def _database_drift(
    project: Project, env: Environment, status: EnvironmentStatus, notes: list[str], *, uncovered_checked: bool
) -> list[str]:
    """A database at head whose schema differs from the models: changed outside the migrations."""
    at_head = status.reachable and status.current and not status.pending and not status.unknown
    if not at_head or status.multiple_heads or not project.config.target_metadata:
        return []
    from syncdb_tui.core.schema.drift import compute_drift

    try:
        drift = await asyncio.to_thread(compute_drift, project.config, env)
    except SyncdbError as error:
        notes.append(f"could not compare the database with the models: {error.message}")
        return []
    if getattr(drift, "is_empty", True):
        return []
    why = (
        "it was changed outside the migrations, by hand or by syncdb push"
        if uncovered_checked
        else "it was changed by hand, or the models are ahead of the migrations"
    )
    return [f"{env.name} is at head but its schema differs from the models ({why}): {_summary(drift)}"]


def _summary(drift: Any) -> str:
    data = drift.to_json() if hasattr(drift, "to_json") else {}
    parts = []
    for key, label in (("new_tables", "new"), ("modified_tables", "modified"), ("dropped_tables", "dropped")):
        items = data.get(key) or []
        if items:
            names = ", ".join(str(i.get("name", i)) if isinstance(i, dict) else str(i) for i in items)
            parts.append(f"{label}: {names}")
    return "; ".join(parts) or "see `syncdb status`"
