"""The one judging service: the risk of each revision's SQL, for status, plans, generate, risk and report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.offline import RevisionSQL
    from syncdb_tui.core.project.revisions import Project
    from syncdb_tui.core.risk.analysis import Finding

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
    irreversible_reason: str = ""
    """Set when this revision's downgrade() always fails (downgrade plans only)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "message": self.message,
            "risk": self.risk,
            "findings": [finding.to_json() for finding in self.findings],
            "suppressed": [finding.to_json() for finding in self.suppressed],
            "sql": self.sql,
            "needs_live_database": self.needs_live_reason or None,
            "irreversible": self.irreversible_reason or None,
        }


async def judge_revisions(
    project: Project,
    sqls: Sequence[RevisionSQL],
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
    from syncdb_tui.core.risk import analysis as risk

    context = None
    if conn is not None:
        tables: set[str] = set()
        for item in sqls:
            tables |= set(risk.tables_touched(item.sql)) if item.sql else set()
        context = await risk.load_live_context(conn, tables)
    judged = []
    for item in sqls:
        message = messages.get(item.revision, "")
        if item.irreversible_reason:
            judged.append(
                PendingRevision(item.revision, message, "HIGH", (), "", irreversible_reason=item.irreversible_reason)
            )
            continue
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


async def judge_with_env(project: Project, env: Environment, sqls: Sequence[RevisionSQL]) -> list[PendingRevision]:
    """Risk of each of ``sqls``, with live context from ``env`` when it is reachable."""
    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        judged, _ = await judge_revisions(project, sqls, conn=conn)
    return judged


def judge_offline(
    project: Project, revision: str, direction: str = "upgrade", env: Environment | None = None
) -> PendingRevision:
    """Render one revision's SQL and judge it without live context (blocking; run it in a thread).

    The one way the timeline preview, generate and the app's SQL pane judge a single revision.
    """
    import asyncio

    from syncdb_tui.core.project.offline import offline_sql

    rendered = offline_sql(project, revision, direction, env)
    judged, _ = asyncio.run(judge_revisions(project, [rendered], conn=None))
    return judged[0]


def unrendered_note(item: PendingRevision) -> str:
    """Why ``item`` has no SQL to show ("" when it has)."""
    if item.irreversible_reason:
        return f"irreversible: {item.irreversible_reason}"
    if item.needs_live_reason:
        return f"needs a live database: {item.needs_live_reason}"
    return ""
