"""The CI gate behind `syncdb check`: every reason an environment is not safe to ship.

Problems: pending revisions (unless allowed), several heads, revisions in the
database that the scripts do not know, a pending risk above the allowed
maximum, and model changes that no revision covers (autogenerate at head is
not empty: judged on a scratch database migrated to head on the same server,
dropped afterwards).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import SyncdbError

if TYPE_CHECKING:
    from syncdb_tui.core.environments import Environment
    from syncdb_tui.core.migrations import EnvironmentStatus
    from syncdb_tui.core.revisions import Project

RISK_ORDER = {"NONE": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3}


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
    from dataclasses import replace

    from syncdb_tui.core.drift import compute_drift
    from syncdb_tui.core.environments import Environment, connection
    from syncdb_tui.core.migrations import upgrade

    scratch_name = f"syncdb_check_{os.getpid()}"
    async with connection(env) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{scratch_name}"')
        await conn.execute(f'CREATE DATABASE "{scratch_name}"')
    scratch = Environment(
        name=f"{env.name} (scratch)",
        protected=False,
        conninfo=env.conninfo.with_database(scratch_name),
        config=replace(env.config, protected=False, backup_before_migrate=False),
        embedded=env.embedded,
    )
    try:
        heads = project.graph().heads
        if heads:
            await asyncio.to_thread(upgrade, project, scratch, "heads" if len(heads) > 1 else "head")
        return await asyncio.to_thread(compute_drift, project.config, scratch)
    finally:
        async with connection(env) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)')


async def check(project: Project, env: Environment, *, max_risk: str, allow_pending: bool) -> CheckResult:
    """Run every check against ``env``."""
    from syncdb_tui.core.migrations import status as load_status

    status = await load_status(project, env)
    problems = status_problems(status, max_risk=max_risk, allow_pending=allow_pending)
    notes: list[str] = []
    uncovered = None
    if status.reachable and not status.multiple_heads:
        try:
            uncovered = await uncovered_model_changes(project, env)
        except SyncdbError as error:
            notes.append(f"could not check the models against the migrations: {error.message}")
        if uncovered is not None and not getattr(uncovered, "is_empty", True):
            problems.append(
                "the models have changes that no revision covers (run syncdb generate -m '...'): " + _summary(uncovered)
            )
        if uncovered is None and not project.config.target_metadata:
            notes.append("models not checked: no target_metadata configured")
    return CheckResult(env.name, tuple(problems), tuple(notes), status, uncovered)


def _summary(drift: Any) -> str:
    data = drift.to_json() if hasattr(drift, "to_json") else {}
    parts = []
    for key, label in (("new_tables", "new"), ("modified_tables", "modified"), ("dropped_tables", "dropped")):
        items = data.get(key) or []
        if items:
            names = ", ".join(str(i.get("name", i)) if isinstance(i, dict) else str(i) for i in items)
            parts.append(f"{label}: {names}")
    return "; ".join(parts) or "see `syncdb status`"
