"""Where an environment stands against the scripts: current, applied, pending (judged), unknown, drift."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import SyncdbError
from syncdb_tui.core.project.offline import offline_range
from syncdb_tui.core.project.versions import current_revisions
from syncdb_tui.core.risk.judge import PendingRevision, judge_revisions, worst_risk

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.core.changes.ledger import LedgerEntry
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.revisions import Project, RevisionGraph


@dataclass(frozen=True)
class EditedRevision:
    """A revision applied to an environment whose file has changed since (ledger hash differs)."""

    revision: str
    path: str
    """The revision file, relative to the project's root when it is inside it."""

    def to_json(self) -> dict[str, str]:
        return {"revision": self.revision, "path": self.path}


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
    """A drift summary (``core.schema.drift.DriftSummary``) or ``None`` when not computed."""
    push_marker: Any = None
    judged_with_context: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    edited: tuple[EditedRevision, ...] = ()
    rehearsal: Any = None
    """The newest rehearsal of exactly what is pending (``core.changes.rehearse.Rehearsal``), or None."""
    fingerprint: Any = None
    """The live schema's fingerprint against the expected one (``core.fingerprint.FingerprintStatus``), or None."""
    """Applied revisions whose file changed since it was applied here (its sha256 differs from the ledger's)."""
    last_change: LedgerEntry | None = None
    """The newest change recorded in the environment's ledger (None: nothing recorded, or not readable)."""

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
            "edited": [item.to_json() for item in self.edited],
            "fingerprint": self.fingerprint.to_json() if self.fingerprint is not None else None,
            "rehearsal": self.rehearsal.to_json() if self.rehearsal is not None else None,
            "last_change": self.last_change.to_json() if self.last_change is not None else None,
        }


def _pending_order(graph: RevisionGraph, applied: set[str]) -> list[str]:
    return [rev for rev in graph.upgrade_order() if rev not in applied]


async def status(
    project: Project,
    env: Environment,
    *,
    with_risk: bool = True,
    with_drift: bool = False,
    with_fingerprint: bool = False,
    with_sql: bool = True,
    graph: RevisionGraph | None = None,
) -> EnvironmentStatus:
    """The status of ``env``: current, applied, pending (with SQL and risk), unknown.

    ``with_sql=False`` is the quick look of the app's first screen: the pending revisions
    come without SQL and risk (their ``risk`` is ``""``: not judged yet) and no rehearsal
    is looked up, so nothing renders SQL; with ``graph`` given (the app reads it from the
    revision cache) nothing of Alembic is imported.

    An unreachable environment comes back with ``reachable=False`` and the reason
    in ``error`` rather than raising, so a screen of several environments always
    renders.

    Raises:
        ConfigError: the scripts are broken (syntax error, dangling down_revision).
    """
    from syncdb_tui.core.envs.environments import connect

    if graph is None:
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
        hashes, last_change, ledger_note = await _ledger_state(conn)
        if with_sql:
            pending, judged = await _pending_details(project, env, conn, graph, pending_ids, with_risk)
        else:
            pending, judged = [_unjudged(graph, rev) for rev in pending_ids], False
    finally:
        await conn.close()
    edited = await asyncio.to_thread(edited_revisions, project, graph, applied, hashes)
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
    notes += [
        f"revision file {item.path} was edited after it was applied here (ledger hash differs)" for item in edited
    ]
    if ledger_note:
        notes.append(ledger_note)
    drift = await _drift(project, env) if with_drift else None
    rehearsal = None
    if pending and with_sql:
        from syncdb_tui.core.changes.rehearse import rehearsal_of_pending

        rehearsal = await asyncio.to_thread(
            rehearsal_of_pending, project, env.name, tuple(current), tuple(item.revision for item in pending)
        )
    result = EnvironmentStatus(
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
        edited=edited,
        last_change=last_change,
        rehearsal=rehearsal,
    )
    return await add_fingerprint(project, env, result) if with_fingerprint else result


async def add_fingerprint(project: Project, env: Environment, status: EnvironmentStatus) -> EnvironmentStatus:
    """``status`` with the live schema's fingerprint against the expected one (and a note when they differ)."""
    from dataclasses import replace

    from syncdb_tui.core.fingerprint import fingerprint_status

    if not status.reachable:
        return status
    fingerprint = await fingerprint_status(project, env)
    notes = status.notes
    if fingerprint.matches is False:
        notes += (
            f"the live schema differs from what the migrations give at {', '.join(status.current) or 'base'} "
            f"({len(fingerprint.differences)} difference(s)): changed by hand?",
        )
    return replace(status, fingerprint=fingerprint, notes=notes)


async def _ledger_state(conn: asyncpg.Connection) -> tuple[dict[str, str], LedgerEntry | None, str]:
    """The ledger's hash of each applied revision file, its newest entry, and a note when it cannot be read."""
    import asyncpg

    from syncdb_tui.core.changes import ledger

    try:
        hashes = await ledger.applied_hashes(conn)
        newest = await ledger.entries(conn, limit=1)
    except asyncpg.PostgresError as error:  # a role without rights on the syncdb schema: status still renders
        return (
            {},
            None,
            f"the ledger ({ledger.TABLE}) cannot be read ({error}): last change and edited revision files not checked",
        )
    return hashes, newest[0] if newest else None, ""


def edited_revisions(
    project: Project, graph: RevisionGraph, applied: tuple[str, ...], hashes: dict[str, str]
) -> tuple[EditedRevision, ...]:
    """The ``applied`` revisions whose file's sha256 is not the one the ledger recorded when applying it."""
    # the revision cache's hashes: a file is read again only when its size or mtime changed
    from syncdb_tui.core.project.cache import file_hash as file_sha256

    edited = []
    for revision in applied:
        recorded = hashes.get(revision)
        info = graph.by_id.get(revision)
        if not recorded or info is None:
            continue
        if file_sha256(info.path) != recorded:
            edited.append(EditedRevision(revision, _display_path(project, info.path)))
    return tuple(edited)


def _display_path(project: Project, path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(project.config.root.resolve()))
    except (ValueError, OSError):
        return path


async def _push_marker(conn: asyncpg.Connection) -> Any:
    try:
        from syncdb_tui.core.schema.push import read_push_marker
    except ImportError:
        return None
    import asyncpg

    try:
        return await read_push_marker(conn)
    except asyncpg.PostgresError:  # no rights on the syncdb schema: status still renders
        return None


async def _drift(project: Project, env: Environment) -> Any:
    if not project.config.target_metadata:
        return None
    from syncdb_tui.core.schema.drift import compute_drift

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
    from syncdb_tui.core.project.cache import open_cache

    cache = await asyncio.to_thread(open_cache, project)  # read once: the SQL and the findings of each revision
    sqls = await asyncio.to_thread(offline_range, project, pending_ids, "upgrade", env, cache=cache)
    return await judge_revisions(project, sqls, conn=conn if with_risk else None, with_risk=with_risk, cache=cache)


def _unjudged(graph: RevisionGraph, revision: str) -> PendingRevision:
    """A pending revision before its SQL is rendered and judged (``risk=""``)."""
    info = graph.by_id.get(revision)
    return PendingRevision(revision, info.message if info else "", "", (), "")


def status_sync(project: Project, env: Environment, **kwargs: Any) -> EnvironmentStatus:
    """:func:`status` for synchronous callers (runs its own event loop)."""
    return asyncio.run(status(project, env, **kwargs))
