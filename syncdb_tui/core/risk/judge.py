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
    from syncdb_tui.core.risk.context import LiveContext

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
    cache: RevisionCache | None = None,
) -> tuple[list[PendingRevision], bool]:
    """Risk of each revision's SQL; with ``conn``, judged with the live table sizes.

    Analyses come from the revision cache when the same SQL was judged by the same engine (without
    live context; or with ``conn``, with the same facts about the tables it touches): on a full hit
    pglast is not imported.
    """
    graph = project.graph()
    messages = {rev: info.message for rev, info in graph.by_id.items()}
    if not with_risk:
        return [
            PendingRevision(s.revision, messages.get(s.revision, ""), "LOW", (), s.sql, s.needs_live_reason)
            for s in sqls
        ], False
    from syncdb_tui.core.project.cache import open_cache

    cache = cache or open_cache(project)
    # syncdb runs these revisions itself, with lock_timeout set on its session; a data migration
    # that cannot render fully offline is judged on what rendered before it stopped, plus a
    # needs-live-database finding: never "no findings"
    judgeable = [item for item in sqls if not item.irreversible_reason]
    items = [(item.revision, item.sql, item.needs_live_reason) for item in judgeable]
    if conn is None:
        analyses = analyse_cached(cache, items, thresholds=project.config.risk, session_lock_timeout=True)
    else:
        analyses = await _analyse_live(cache, conn, items, thresholds=project.config.risk)
    by_revision = {item.revision: analysis for item, analysis in zip(judgeable, analyses, strict=True)}
    judged = []
    for item in sqls:
        message = messages.get(item.revision, "")
        if item.irreversible_reason:
            judged.append(
                PendingRevision(item.revision, message, "HIGH", (), "", irreversible_reason=item.irreversible_reason)
            )
            continue
        analysis = by_revision[item.revision]
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
    return judged, conn is not None


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
    ready: Sequence[RiskAnalysis | None] = (),
) -> list[RiskAnalysis]:
    """Analyses without live context of ``(revision, sql, needs_live_reason)``, from the revision cache when
    the same SQL was judged by the same engine with the same thresholds; the others are judged and stored.

    ``ready``: analyses of some of the items (by position; None for the others) already judged the same
    way (``analyse_sql`` of the same SQL, reason, thresholds and ``session_lock_timeout``, e.g. while
    the SQL rendered): used, and stored, as if judged here.

    On a full hit pglast is not even imported.
    """
    from syncdb_tui.core.risk.analysis import RiskAnalysis, analyse_sql

    out: list[RiskAnalysis] = []
    fresh: list[tuple[str, str, str, Any]] = []
    limits = repr(thresholds)
    for index, (revision, sql, needs_live) in enumerate(items):
        key = ""
        if cache is not None and revision is not None:
            key = _sql_key(sql, needs_live, limits, session_lock_timeout)
            stored = cache.derived(revision, "risk", key)
            if isinstance(stored, dict):
                try:
                    out.append(RiskAnalysis.from_json(stored))
                    continue
                except (KeyError, TypeError, ValueError):
                    pass
        analysis = ready[index] if index < len(ready) else None
        if analysis is None:
            analysis = analyse_sql(
                sql, thresholds=thresholds, session_lock_timeout=session_lock_timeout, unrendered_reason=needs_live
            )
        out.append(analysis)
        if key and revision is not None:
            fresh.append((revision, "risk", key, analysis.to_json()))
    if cache is not None:
        cache.store_derived(fresh)
    return out


def _sql_key(sql: str, needs_live: str, limits: str, session_lock_timeout: bool) -> str:
    import hashlib

    text = f"{engine_key()}|{limits}|{session_lock_timeout}|{needs_live}|{sql}"
    return hashlib.sha256(text.encode()).hexdigest()


def tables_cached(cache: RevisionCache | None, items: Sequence[tuple[str | None, str]]) -> list[frozenset[str]]:
    """The tables each of ``(revision, sql)`` names (``risk.tables_touched``), from the revision cache
    when the same engine read the same SQL; the others are parsed and stored (the file is written by
    the caller's next flush)."""
    out: list[frozenset[str]] = []
    fresh: list[tuple[str, str, str, Any]] = []
    for revision, sql in items:
        key = _sql_key(sql, "", "", False) if cache is not None and revision is not None else ""
        stored = cache.derived(revision, "tables", key) if key and cache is not None and revision else None
        if isinstance(stored, list):
            out.append(frozenset(str(name) for name in stored))
            continue
        from syncdb_tui.core.risk.analysis import tables_touched

        found = tables_touched(sql) if sql else frozenset()
        out.append(found)
        if key and revision is not None:
            fresh.append((revision, "tables", key, sorted(found)))
    if cache is not None and fresh:
        cache.store_derived(fresh, flush=False)
    return out


def context_digest(context: LiveContext, tables: Iterable[str]) -> str:
    """A hash of what ``context`` says about ``tables`` (and the server version): what an analysis of SQL
    touching only ``tables`` can read of it, so that an analysis with the same digest is the same."""
    import hashlib

    from syncdb_tui.core.risk.model import bare

    names = sorted({name for table in tables for name in (table, bare(table))})
    parts = [f"server={context.server_version_num}"]
    related = set(names)
    for name in names:
        stats = context.tables.get(name)
        seen = name in context.looked_up
        size = f"{stats.rows_estimate!r}/{stats.total_bytes}" if stats is not None else "-"
        parts.append(f"{name}:{seen}:{size}")
        if name in context.indexes:
            related.add(context.indexes[name])
    for index, table in sorted(context.indexes.items()):
        if index in related or table in related:
            parts.append(f"index {index}->{table}")
    for table in sorted(related):
        if table in context.columns:
            parts.append(f"columns {table}={sorted(context.columns[table].items())!r}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


LIVE_KEPT = 4
"""Live-context analyses kept per revision (one per environment or table size recently seen)."""


async def _analyse_live(
    cache: RevisionCache | None,
    conn: asyncpg.Connection,
    items: Sequence[tuple[str, str, str]],
    *,
    thresholds: RiskThresholds | None,
) -> list[RiskAnalysis]:
    """Analyses of ``(revision, sql, needs_live_reason)`` with the live context of ``conn``.

    The tables each revision touches come from the cache; the context is read from the catalog
    (one query); an analysis is reused when the same SQL was judged by the same engine with the
    same facts about its tables (:func:`context_digest`): sizes that moved judge that revision again.
    """
    from syncdb_tui.core.risk.analysis import RiskAnalysis
    from syncdb_tui.core.risk.context import load_live_context

    touched = tables_cached(cache, [(revision, sql) for revision, sql, _ in items])
    context = await load_live_context(conn, set().union(*touched) if touched else set())
    limits = repr(thresholds)
    out: list[RiskAnalysis] = []
    fresh: list[tuple[str, str, str, Any]] = []
    for (revision, sql, needs_live), tables in zip(items, touched, strict=True):
        key = _sql_key(sql, needs_live, limits, True) if cache is not None else ""
        digest = context_digest(context, tables)
        kept = cache.derived(revision, "risk-live", key) if cache is not None else None
        entries = [entry for entry in kept if isinstance(entry, list) and len(entry) == 2] if kept else []
        found = next((value for known, value in entries if known == digest), None)
        if isinstance(found, dict):
            try:
                out.append(RiskAnalysis.from_json(found))
                continue
            except (KeyError, TypeError, ValueError):
                pass
        from syncdb_tui.core.risk.analysis import analyse_sql

        analysis = analyse_sql(
            sql, context=context, thresholds=thresholds, session_lock_timeout=True, unrendered_reason=needs_live
        )
        out.append(analysis)
        if key:
            others = [entry for entry in entries if entry[0] != digest][: LIVE_KEPT - 1]
            fresh.append((revision, "risk-live", key, [[digest, analysis.to_json()], *others]))
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

    from syncdb_tui.core.project.cache import open_cache
    from syncdb_tui.core.project.offline import offline_sql

    cache = open_cache(project)
    rendered = offline_sql(project, revision, direction, env, cache=cache)
    judged, _ = asyncio.run(judge_revisions(project, [rendered], conn=None, cache=cache))
    return judged[0]


def unrendered_note(item: PendingRevision) -> str:
    """Why ``item`` has no SQL to show ("" when it has)."""
    if item.irreversible_reason:
        return f"irreversible: {item.irreversible_reason}"
    if item.needs_live_reason:
        return f"needs a live database: {item.needs_live_reason}"
    return ""
