"""The one judging service: the risk of each revision's SQL, for status, plans, generate, risk and report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.config import RiskThresholds
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.cache import RevisionCache
    from syncdb_tui.core.project.offline import RevisionSQL
    from syncdb_tui.core.project.revisions import Project
    from syncdb_tui.core.risk.analysis import Finding, RiskAnalysis

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
        # syncdb runs these revisions itself, with lock_timeout set on its session; a data migration
        # that cannot render fully offline is judged on what rendered before it stopped, plus a
        # needs-live-database finding: never "no findings"
        analysis = risk.analyse_sql(
            item.sql,
            context=context,
            thresholds=project.config.risk,
            session_lock_timeout=True,
            unrendered_reason=item.needs_live_reason,
        )
        judged.append(
            PendingRevision(
                revision=item.revision,
                message=message,
                risk=analysis.risk.name,
                findings=tuple(analysis.findings),
                sql=item.sql,
                needs_live_reason=item.needs_live_reason,
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


@lru_cache(maxsize=1)
def engine_key() -> str:
    """Changes whenever a file of the risk engine changes (cached analyses are then judged again)."""
    import hashlib
    import os
    from pathlib import Path

    digest = hashlib.sha256()
    directory = Path(__file__).resolve().parent
    for name in sorted(os.listdir(directory)):
        if name.endswith(".py"):
            st = os.stat(directory / name)
            digest.update(f"{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def analyse_cached(
    cache: RevisionCache | None,
    items: Sequence[tuple[str | None, str, str]],
    *,
    thresholds: RiskThresholds | None,
    session_lock_timeout: bool,
) -> list[RiskAnalysis]:
    """Analyses without live context of ``(revision, sql, needs_live_reason)``, from the revision cache when
    the same SQL was judged by the same engine with the same thresholds; the others are judged and stored.

    On a full hit pglast is not even imported.
    """
    import hashlib

    from syncdb_tui.core.risk.analysis import RiskAnalysis, analyse_sql

    out: list[RiskAnalysis] = []
    fresh: list[tuple[str, str, str, Any]] = []
    limits = repr(thresholds)
    for revision, sql, needs_live in items:
        key = ""
        if cache is not None and revision is not None:
            text = f"{engine_key()}|{limits}|{session_lock_timeout}|{needs_live}|{sql}"
            key = hashlib.sha256(text.encode()).hexdigest()
            stored = cache.derived(revision, "risk", key)
            if isinstance(stored, dict):
                try:
                    out.append(RiskAnalysis.from_json(stored))
                    continue
                except (KeyError, TypeError, ValueError):
                    pass
        analysis = analyse_sql(
            sql, thresholds=thresholds, session_lock_timeout=session_lock_timeout, unrendered_reason=needs_live
        )
        out.append(analysis)
        if key and revision is not None:
            fresh.append((revision, "risk", key, analysis.to_json()))
    if cache is not None:
        cache.store_derived(fresh)
    return out


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
