"""Rehearsal: run a plan on a throw-away copy and measure what it really does.

``rehearse(project, env, plan)`` (blocking):

1. makes a scratch copy of the environment's database on the same server —
   ``CREATE DATABASE … TEMPLATE`` for an unprotected environment (refused, with the
   sessions named, while others are connected: PostgreSQL requires it), or a restore
   of the newest good full backup of the environment (``--from-backup FILE`` to choose)
   for a protected one, never touching the live database;
2. brings the copy to the plan's starting revision when the backup is older;
3. runs exactly the plan's revisions there with the real executor (same env.py,
   same lock_timeout), while a sampler on a second connection reads the migration
   backend's statement, its relation locks (``pg_locks``) every few milliseconds;
4. reports per statement (those longer than the sampling interval, and every one that
   touched rows) the duration, the locks taken and the rows it inserted, updated or
   deleted (the driver's row count of each statement, read through a SQLAlchemy event on
   the copy's connections only), per lock how long it was held, per table the rows
   inserted, updated and deleted, and the total time; flags a copy much smaller than the target;
5. drops the copy and saves the result beside the project (``.syncdb/rehearsals/<plan id>.json``),
   so that the same plan shown again (``--dry-run``, ``--plan FILE``) says how its rehearsal went.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import RefusedError, UsageError
from syncdb_tui.core.events import JobProgress, ProgressCallback, emit
from syncdb_tui.core.risk.locks import LOCK_MODE_NAMES

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.core.changes.plan import Plan
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.revisions import Project

SAMPLE_INTERVAL = 0.02
"""Seconds between two looks at the rehearsing backend."""

SMALL_COPY_RATIO = 0.5
"""A copy with fewer rows than this fraction of the target's is flagged: timings will be optimistic."""

_ACTIVITY = """
SELECT a.pid, coalesce(a.query, '') AS query, a.query_start, a.xact_start,
       coalesce(l.mode, '') AS mode, coalesce(c.relname, '') AS relation
FROM pg_stat_activity a
LEFT JOIN pg_locks l ON l.pid = a.pid AND l.granted AND l.locktype = 'relation'
LEFT JOIN pg_class c ON c.oid = l.relation AND c.relkind IN ('r', 'p', 'm')
    AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
    AND c.relname <> 'alembic_version'
WHERE a.application_name = 'syncdb migrate' AND a.datname = current_database() AND a.state = 'active'
"""

_TABLE_STATS = """
SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables
WHERE schemaname <> 'syncdb' AND relname <> 'alembic_version'
"""

_IGNORED = re.compile(
    r"^(SELECT pg_(backend_pid|advisory|try_advisory|cancel|terminate)|SHOW |SET |BEGIN|COMMIT|ROLLBACK)",
    re.IGNORECASE,
)
"""syncdb's and the driver's own bookkeeping, not the migration's statements."""

_STRONG = ("ACCESS EXCLUSIVE", "EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE")


@dataclass(frozen=True)
class StatementRun:
    """One statement seen running on the copy."""

    statement: str
    seconds: float
    locks: tuple[str, ...]
    """``MODE on table`` acquired while it ran."""
    rows: int | None = None
    """Rows it inserted, updated or deleted (the driver's row count; None: not reported, e.g. DDL, DO)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "statement": self.statement,
            "seconds": round(self.seconds, 3),
            "locks": list(self.locks),
            "rows": self.rows,
        }


@dataclass(frozen=True)
class LockHeld:
    """A relation lock the rehearsal took, and for how long it was held."""

    mode: str
    relation: str
    seconds: float

    def describe(self) -> str:
        return f"{self.mode} on {self.relation} for {self.seconds:.2f} s"

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "relation": self.relation, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Rehearsal:
    """The result of running a plan on a copy."""

    plan_id: str
    environment: str
    copy_from: str
    """"template of <db>" or "backup <path>"."""
    rehearsed_at: str
    ok: bool
    seconds: float
    error: str = ""
    statements: tuple[StatementRun, ...] = ()
    locks: tuple[LockHeld, ...] = ()
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per table: inserted, updated, deleted."""
    target_rows: int = 0
    copy_rows: int = 0
    notes: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    """Where the plan started, and the revisions it ran (to find the rehearsal of what is pending)."""
    revisions: tuple[str, ...] = ()
    hashes: tuple[str, ...] = ()
    """sha256 of each revision file when it was rehearsed (a rehearsal of edited files does not count)."""
    offline_matches: bool | None = None
    """The schema after the rehearsal equals the schema after running the plan's offline SQL (None: not compared)."""
    offline_differences: tuple[str, ...] = ()

    @property
    def small_copy(self) -> bool:
        return self.target_rows > 0 and self.copy_rows < self.target_rows * SMALL_COPY_RATIO

    def headline(self) -> str:
        """One line: when, on what, how long, the longest strong lock, the statement that touched most rows."""
        when = self.rehearsed_at[:16].replace("T", " ")
        if not self.ok:
            return f"rehearsed on {when} ({self.copy_from}): FAILED after {self.seconds:.1f} s: {self.error}"
        strong = [lock for lock in self.locks if lock.mode in _STRONG]
        longest = max(strong, key=lambda lock: lock.seconds, default=None)
        lock_text = f", {longest.describe()}" if longest else ""
        scale = (
            f" (the copy has {self.copy_rows:,} rows against {self.target_rows:,}: expect longer)"
            if self.small_copy
            else ""
        )
        busiest = max((run for run in self.statements if run.rows), key=lambda run: run.rows or 0, default=None)
        rows_text = f", {busiest.rows:,} rows by {busiest.statement[:40]}" if busiest is not None else ""
        return f"rehearsed on {when} ({self.copy_from}): took {self.seconds:.1f} s{lock_text}{rows_text}{scale}"

    def lines(self) -> list[str]:
        out = [self.headline()]
        for run in self.statements:
            locks = f" — {', '.join(run.locks)}" if run.locks else ""
            rows = f" — {run.rows:,} row(s)" if run.rows is not None else ""
            out.append(f"  {run.seconds:7.3f} s  {run.statement[:90]}{rows}{locks}")
        for lock in self.locks:
            out.append(f"  lock: {lock.describe()}")
        for table, counts in sorted(self.rows.items()):
            touched = ", ".join(f"{value:,} {name}" for name, value in counts.items() if value)
            if touched:
                out.append(f"  rows: {table}: {touched}")
        if self.offline_matches is True:
            out.append("  outcome: the same schema as running the plan's offline SQL (what the preview showed)")
        elif self.offline_matches is False:
            out.append("  outcome DIFFERS from the plan's offline SQL: " + "; ".join(self.offline_differences[:5]))
        out += [f"  note: {note}" for note in self.notes]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "environment": self.environment,
            "copy_from": self.copy_from,
            "rehearsed_at": self.rehearsed_at,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "error": self.error or None,
            "statements": [run.to_json() for run in self.statements],
            "locks": [lock.to_json() for lock in self.locks],
            "rows": self.rows,
            "target_rows": self.target_rows,
            "copy_rows": self.copy_rows,
            "small_copy": self.small_copy,
            "notes": list(self.notes),
            "headline": self.headline(),
            "before": list(self.before),
            "revisions": list(self.revisions),
            "hashes": list(self.hashes),
            "offline_matches": self.offline_matches,
            "offline_differences": list(self.offline_differences),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Rehearsal:
        return cls(
            plan_id=str(data["plan_id"]),
            environment=str(data["environment"]),
            copy_from=str(data["copy_from"]),
            rehearsed_at=str(data["rehearsed_at"]),
            ok=bool(data["ok"]),
            seconds=float(data["seconds"]),
            error=str(data.get("error") or ""),
            statements=tuple(
                StatementRun(
                    str(s["statement"]),
                    float(s["seconds"]),
                    tuple(s["locks"]),
                    None if s.get("rows") is None else int(s["rows"]),
                )
                for s in data.get("statements", [])
            ),
            locks=tuple(
                LockHeld(str(lk["mode"]), str(lk["relation"]), float(lk["seconds"])) for lk in data.get("locks", [])
            ),
            rows={str(k): {str(a): int(b) for a, b in v.items()} for k, v in data.get("rows", {}).items()},
            target_rows=int(data.get("target_rows", 0)),
            copy_rows=int(data.get("copy_rows", 0)),
            notes=tuple(data.get("notes", [])),
            before=tuple(data.get("before", [])),
            revisions=tuple(data.get("revisions", [])),
            hashes=tuple(data.get("hashes", [])),
            offline_matches=data.get("offline_matches"),
            offline_differences=tuple(data.get("offline_differences", [])),
        )


# ---------------------------------------------------------------- storage


def rehearsal_dir(project: Project) -> Path:
    return project.config.root / ".syncdb" / "rehearsals"


def save_rehearsal(project: Project, result: Rehearsal) -> Path:
    directory = rehearsal_dir(project)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.plan_id}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    tmp.replace(path)
    return path


def rehearsal_of_pending(
    project: Project, environment: str, before: tuple[str, ...], revisions: tuple[str, ...]
) -> Rehearsal | None:
    """The newest rehearsal of exactly these pending revisions, as their files are now, from ``before``."""
    from syncdb_tui.core.project.cache import file_hash

    saved = list(rehearsal_dir(project).glob("*.json"))
    if not saved:  # the common case: nothing was ever rehearsed, nothing to hash
        return None
    graph = project.graph()
    hashes = tuple(file_hash(graph.by_id[rev].path) if rev in graph.by_id else "" for rev in revisions)
    found: list[Rehearsal] = []
    for path in saved:
        try:
            item = Rehearsal.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if (
            item.environment == environment
            and tuple(sorted(item.before)) == tuple(sorted(before))
            and item.revisions == revisions
            and item.hashes == hashes
        ):
            found.append(item)
    return max(found, key=lambda item: item.rehearsed_at, default=None)


def rehearsal_of(project: Project, plan: Plan) -> Rehearsal | None:
    """The rehearsal of ``plan``: of its id, else of the same revisions (same files) from the same start.

    The id also covers the findings' texts, which quote live table sizes that move between
    two looks; the revisions, their files and the start are what the rehearsal ran.
    """
    return load_rehearsal(project, plan.id) or rehearsal_of_pending(
        project, plan.environment, plan.before, tuple(item.revision for item in plan.revisions)
    )


def load_rehearsal(project: Project, plan_id: str) -> Rehearsal | None:
    """The saved rehearsal of the plan ``plan_id`` (None when it was never rehearsed)."""
    path = rehearsal_dir(project) / f"{plan_id}.json"
    try:
        return Rehearsal.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------- sampling


class _Sampler:
    """Reads the rehearsing backend's statement and relation locks every SAMPLE_INTERVAL seconds."""

    def __init__(self) -> None:
        self.statements: dict[tuple[Any, str], list[float]] = {}
        self.statement_locks: dict[tuple[Any, str], list[str]] = {}
        self.locks: dict[tuple[str, str, Any], list[float]] = {}
        self.first_lock_owner: dict[tuple[str, str], tuple[Any, str]] = {}

    async def run(self, conn: asyncpg.Connection, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = time.monotonic()
            try:
                rows = await conn.fetch(_ACTIVITY)
            except Exception:
                return
            for row in rows:
                query = " ".join(str(row["query"]).split())
                if not query or _IGNORED.match(query):
                    continue
                key = (row["query_start"], query)
                seen = self.statements.setdefault(key, [now, now])
                seen[1] = now
                mode = LOCK_MODE_NAMES.get(str(row["mode"]), str(row["mode"]))
                relation = str(row["relation"])
                if mode and relation and not relation.startswith("pg_"):
                    lock_key = (mode, relation, row["xact_start"])
                    held = self.locks.setdefault(lock_key, [now, now])
                    held[1] = now
                    if (mode, relation) not in self.first_lock_owner:
                        self.first_lock_owner[(mode, relation)] = key
                        self.statement_locks.setdefault(key, []).append(f"{mode} on {relation}")
            try:
                await asyncio.wait_for(stop.wait(), SAMPLE_INTERVAL)
            except TimeoutError:
                pass

    def results(
        self, executed: list[tuple[str, float, int | None]] | None = None
    ) -> tuple[tuple[StatementRun, ...], tuple[LockHeld, ...]]:
        """The statements seen, merged with ``executed`` ((statement, seconds, rows) as the driver ran
        them, in order): a sampled statement gets its row count; one too short to be sampled is
        listed when it touched rows."""
        sampled = [
            StatementRun(query, max(0.0, last - first) + SAMPLE_INTERVAL, tuple(self.statement_locks.get(key, ())))
            for key, (first, last) in sorted(self.statements.items(), key=lambda item: item[1][0])
            for query in [key[1]]
        ]
        runs = tuple(_merge_executed(sampled, executed or []))
        merged: dict[tuple[str, str], float] = {}
        for (mode, relation, _xact), (first, last) in self.locks.items():
            merged[(mode, relation)] = merged.get((mode, relation), 0.0) + max(0.0, last - first) + SAMPLE_INTERVAL
        locks = tuple(
            LockHeld(mode, relation, seconds)
            for (mode, relation), seconds in sorted(merged.items(), key=lambda item: -item[1])
        )
        return runs, locks


def _merge_executed(sampled: list[StatementRun], executed: list[tuple[str, float, int | None]]) -> list[StatementRun]:
    if not executed:
        return sampled
    pending = list(sampled)
    out: list[StatementRun] = []
    for statement, seconds, rows in executed:
        match = next((run for run in pending if run.statement == statement), None)
        if match is not None:
            pending.remove(match)
            out.append(replace(match, seconds=max(match.seconds, seconds), rows=rows))
        elif rows is not None and rows > 0:
            out.append(StatementRun(statement, seconds, (), rows))
    return out + pending


class _RowCounter:
    """Row counts of the statements the migration runs on the copy: a SQLAlchemy event on every
    engine, kept only for connections to the copy's database (installed for the rehearsal only)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.executed: list[tuple[str, float, int | None]] = []
        self._started: dict[int, float] = {}

    def before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self._started[id(cursor)] = time.monotonic()

    def after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started = self._started.pop(id(cursor), None)
        try:
            if conn.engine.url.database != self.database:
                return
        except Exception:
            return
        text = " ".join(str(statement).split())
        if not text or _IGNORED.match(text) or "alembic_version" in text:
            return
        count = getattr(cursor, "rowcount", -1)
        rows = int(count) if isinstance(count, int) and count >= 0 else None
        seconds = time.monotonic() - started if started is not None else 0.0
        self.executed.append((text, seconds, rows))

    def __enter__(self) -> _RowCounter:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self.before)
        event.listen(Engine, "after_cursor_execute", self.after)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.remove(Engine, "before_cursor_execute", self.before)
        event.remove(Engine, "after_cursor_execute", self.after)


# ---------------------------------------------------------------- the copy


def _newest_good_backup(project: Project, env: Environment) -> Path:
    from syncdb_tui.core.backups.backup import newest_good_backup

    entry = asyncio.run(newest_good_backup(project.config, env.name, kind="full"))
    if entry is not None:
        return entry.path
    raise UsageError(
        f"{env.name} is protected, so the rehearsal runs on a restore of its newest good full backup, and there "
        f"is none in {project.config.backup_dir}",
        hint=f"take one (syncdb backup --env {env.name}) or name one with --from-backup FILE",
        title="no backup to rehearse on",
    )


async def _row_estimate(env: Environment, tables: set[str]) -> int:
    from syncdb_tui.core.envs.environments import connection

    if not tables:
        return 0
    async with connection(env) as conn:
        value = await conn.fetchval(
            "SELECT coalesce(sum(greatest(reltuples, 0)), 0)::bigint FROM pg_class "
            "WHERE relkind = 'r' AND relname = ANY($1::text[])",
            sorted(tables),
        )
        return int(value or 0)


async def _table_stats(env: Environment) -> dict[str, tuple[int, int, int]]:
    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        rows = await conn.fetch(_TABLE_STATS)
        return {str(r["relname"]): (int(r["n_tup_ins"]), int(r["n_tup_upd"]), int(r["n_tup_del"])) for r in rows}


# ---------------------------------------------------------------- rehearse


def rehearse(
    project: Project,
    env: Environment,
    plan: Plan,
    *,
    from_backup: Path | None = None,
    progress: ProgressCallback | None = None,
) -> Rehearsal:
    """Run ``plan`` on a scratch copy of ``env``'s database and report what it did (blocking).

    The live database is never changed. The copy is dropped afterwards, also on failure.

    Raises:
        RefusedError: the template copy is impossible while others are connected.
        UsageError: a protected environment without a backup to rehearse on; a plan of no revisions.
        OperationError: the copy could not be made.
        UnreachableError: the server cannot be reached.
    """
    if plan.action not in ("upgrade", "downgrade") or not plan.revisions:
        raise UsageError(
            f"there is nothing to rehearse: the plan for {plan.environment} runs no revision",
            hint="rehearse a migrate or downgrade that has pending revisions",
        )
    return asyncio.run(_rehearse(project, env, plan, from_backup=from_backup, progress=progress))


async def _rehearse(
    project: Project, env: Environment, plan: Plan, *, from_backup: Path | None, progress: ProgressCallback | None
) -> Rehearsal:
    from syncdb_tui.core.envs.scratch import scratch_database

    template = from_backup is None and not env.protected
    path: Path | None = None
    if template:
        emit(progress, JobProgress(phase=f"copying {env.database} (CREATE DATABASE … TEMPLATE)"))
        copy_from = f"template copy of {env.database}"
    else:
        path = from_backup if from_backup is not None else await asyncio.to_thread(_newest_good_backup, project, env)
        copy_from = f"restore of {path.name}"
    async with scratch_database(env, "rehearse", copy_of_live=template, create=template) as copy_env:
        if path is not None:
            from syncdb_tui.core.backups.restore import restore

            emit(progress, JobProgress(phase=f"restoring {path.name} into {copy_env.database}"))
            await restore(project.config, path, env=env, target_db=copy_env.database, progress=progress)
        notes: list[str] = []
        unrendered = [item.revision for item in plan.revisions if not item.rendered]
        if unrendered:
            notes.append(
                f"outcome not compared with the offline SQL: {', '.join(unrendered)} cannot be rendered offline"
            )
            started = time.monotonic()
            return await asyncio.to_thread(
                _run_on_copy, project, env, copy_env, plan, copy_from, notes, progress, started
            )
        async with scratch_database(copy_env, "offline", copy_of_live=True) as offline_env:
            started = time.monotonic()
            result = await asyncio.to_thread(
                _run_on_copy, project, env, copy_env, plan, copy_from, notes, progress, started
            )
            emit(progress, JobProgress(phase="running the plan's offline SQL on a second copy, to compare"))
            result = await _compare_with_offline(project, result, plan, copy_env, offline_env)
        emit(progress, JobProgress(phase=f"dropping the rehearsal copies {copy_env.database}"))
        return result


async def _compare_with_offline(
    project: Project, result: Rehearsal, plan: Plan, copy_env: Environment, offline_env: Environment
) -> Rehearsal:
    """Run the plan's offline SQL on ``offline_env`` and compare its schema with the rehearsed copy's."""
    import pglast

    from syncdb_tui.core.envs.environments import connection
    from syncdb_tui.core.schema.fingerprint import differences, snapshot

    if not result.ok:
        return result
    try:
        async with connection(offline_env) as conn:
            for statement in pglast.split(plan.sql_script()):
                await conn.execute(statement)
            offline = await snapshot(conn)
    except Exception as error:  # the offline SQL itself fails: that is the finding
        text = " ".join(str(error).split())[:200]
        updated = replace(result, offline_matches=False, offline_differences=(f"the offline SQL fails: {text}",))
        save_rehearsal(project, updated)
        return updated
    async with connection(copy_env) as conn:
        rehearsed = await snapshot(conn)
    found = tuple(differences(rehearsed, offline))
    updated = replace(result, offline_matches=not found, offline_differences=found)
    save_rehearsal(project, updated)
    return updated


def _run_on_copy(
    project: Project,
    env: Environment,
    copy_env: Environment,
    plan: Plan,
    copy_from: str,
    notes: list[str],
    progress: ProgressCallback | None,
    started: float,
) -> Rehearsal:
    from syncdb_tui.core.changes.executor import execute, plan_and_apply
    from syncdb_tui.core.changes.plan import make_plan
    from syncdb_tui.core.project.versions import read_current
    from syncdb_tui.core.risk.analysis import tables_touched

    current = asyncio.run(read_current(copy_env))
    if tuple(sorted(current)) != tuple(sorted(plan.before)):
        if plan.action != "upgrade" or not plan.before:
            raise RefusedError(
                f"the copy is at {', '.join(current) or 'base'}, not where the plan starts "
                f"({', '.join(plan.before) or 'base'})",
                hint="rehearse from a backup taken at the plan's starting revision (--from-backup FILE)",
                title="rehearsal copy elsewhere",
            )
        emit(progress, JobProgress(phase=f"bringing the copy from {', '.join(current) or 'base'} to the plan's start"))
        plan_and_apply(project, copy_env, "upgrade", plan.before[0] if len(plan.before) == 1 else "heads")
        notes.append(f"the copy was first migrated from {', '.join(current) or 'base'} to the plan's start")
    # the copy goes exactly as far as the plan: past an irreversible revision only if the plan does
    copy_plan = make_plan(project, copy_env, plan.action, plan.target, past_irreversible=not plan.stopped_at)
    if [item.revision for item in copy_plan.revisions] != [item.revision for item in plan.revisions]:
        raise RefusedError(
            "the copy would not run the plan's revisions: "
            f"{', '.join(item.revision for item in copy_plan.revisions) or 'none'} instead of "
            f"{', '.join(item.revision for item in plan.revisions)}",
            hint="make a new plan and rehearse it",
            title="rehearsal does not match the plan",
        )
    tables: set[str] = set()
    for item in plan.revisions:
        tables |= set(tables_touched(item.sql)) if item.sql else set()
    target_rows = asyncio.run(_row_estimate(env, tables))
    copy_rows = asyncio.run(_row_estimate(copy_env, tables))
    before_stats = asyncio.run(_table_stats(copy_env))
    sampler = _Sampler()
    outcome_box: list[Any] = []

    counter = _RowCounter(copy_env.database)

    async def run_with_sampler() -> None:
        from syncdb_tui.core.envs.environments import connect

        conn = await connect(copy_env, server_settings={"application_name": "syncdb rehearsal sampler"})
        stop = asyncio.Event()
        task = asyncio.create_task(sampler.run(conn, stop))
        try:
            with counter:
                outcome_box.append(await asyncio.to_thread(execute, project, copy_env, copy_plan, progress=progress))
        finally:
            stop.set()
            await task
            await conn.close()

    emit(progress, JobProgress(phase=f"rehearsing {len(plan.revisions)} revision(s) on the copy"))
    asyncio.run(run_with_sampler())
    outcome = outcome_box[0]
    seconds = time.monotonic() - started
    after_stats = asyncio.run(_table_stats(copy_env))
    rows: dict[str, dict[str, int]] = {}
    for table, (ins, upd, dele) in after_stats.items():
        b_ins, b_upd, b_del = before_stats.get(table, (0, 0, 0))
        counts = {"inserted": ins - b_ins, "updated": upd - b_upd, "deleted": dele - b_del}
        if any(counts.values()):
            rows[table] = counts
    statements, locks = sampler.results(counter.executed)
    if not statements:
        notes.append(
            f"every statement finished within the sampling interval ({SAMPLE_INTERVAL * 1000:.0f} ms): "
            "none is listed on its own"
        )
    result = Rehearsal(
        plan_id=plan.id,
        environment=env.name,
        copy_from=copy_from,
        rehearsed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ok=bool(outcome.ok),
        seconds=outcome.seconds or seconds,
        error=outcome.error,
        statements=statements,
        locks=locks,
        rows=rows,
        target_rows=target_rows,
        copy_rows=copy_rows,
        notes=tuple(notes),
        before=plan.before,
        revisions=tuple(item.revision for item in plan.revisions),
        hashes=tuple(item.sha256 for item in plan.revisions),
    )
    save_rehearsal(project, result)
    return result
