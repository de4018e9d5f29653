"""Guards around changing a database: the migration advisory lock, lock_timeout, blockers.

Who calls what: ``alembic_runner.py`` takes :func:`advisory_lock` before any
Alembic command that writes, sets the session's ``lock_timeout`` and runs a
:class:`BlockerWatch` beside it so that a migration stuck behind another
session can name that session.  When a typed confirmation is needed is decided
by ``core.changes.policy`` (CLI and TUI ask the same way).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from syncdb_tui.core.errors import OperationError

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.core.envs.environments import Environment

MIGRATE_APPLICATION_NAME = "syncdb migrate"


def advisory_key(database: str) -> int:
    """The 63-bit advisory lock key that guards migrations of ``database``."""
    digest = hashlib.sha256(f"syncdb:migrate:{database}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class Session:
    """Another backend, as an operator needs to see it."""

    pid: int
    user: str
    application: str
    state: str
    seconds: float
    query: str

    def describe(self) -> str:
        minutes = self.seconds / 60
        duration = f"{minutes:.0f} min" if minutes >= 1 else f"{self.seconds:.0f} s"
        first_line = self.query.strip().splitlines()[0][:120] if self.query.strip() else "(no query)"
        who = f"{self.user}" + (f" ({self.application})" if self.application else "")
        return f"pid {self.pid} of {who}, {self.state or 'unknown state'} for {duration}: {first_line}"


_SESSION_COLUMNS = """
    a.pid, coalesce(a.usename, '') AS usename, coalesce(a.application_name, '') AS app,
    coalesce(a.state, '') AS state,
    extract(epoch FROM now() - coalesce(a.xact_start, a.query_start, a.backend_start))::float8 AS seconds,
    coalesce(a.query, '') AS query
"""


def _session(row: asyncpg.Record) -> Session:
    return Session(
        pid=row["pid"],
        user=row["usename"],
        application=row["app"],
        state=row["state"],
        seconds=float(row["seconds"] or 0),
        query=row["query"],
    )


async def advisory_lock_holder(conn: asyncpg.Connection, key: int) -> Session | None:
    """The session holding the migration advisory lock ``key``, if any."""
    row = await conn.fetchrow(
        f"SELECT {_SESSION_COLUMNS} FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 "
        "AND l.objsubid = 1 AND l.pid <> pg_backend_pid() LIMIT 1",
        (key >> 32) & 0xFFFF_FFFF,
        key & 0xFFFF_FFFF,
    )
    return _session(row) if row else None


async def acquire_advisory_lock(conn: asyncpg.Connection, database: str, wait_seconds: float) -> int:
    """Take the migration lock of ``database`` on ``conn``, waiting at most ``wait_seconds``.

    Raises:
        OperationError: another session still holds it; the message names that session.
    """
    key = advisory_key(database)
    deadline = time.monotonic() + wait_seconds
    while True:
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
            return key
        if time.monotonic() >= deadline:
            holder = await advisory_lock_holder(conn, key)
            who = holder.describe() if holder else "a session that has since gone"
            raise OperationError(
                f"another syncdb is migrating {database} (it holds the migration lock): {who}; "
                f"waited {wait_seconds:.0f} s",
                hint="wait for it to finish and run again; if it is stuck, stop that session "
                "(SELECT pg_terminate_backend(pid))",
                title="migration already running",
            )
        await asyncio.sleep(0.2)


@dataclass(frozen=True)
class DdlProgress:
    """What PostgreSQL's progress views say about the migration's running statement."""

    command: str
    """CREATE INDEX, CLUSTER, VACUUM, ANALYZE, COPY, or ALTER TABLE (a rewrite: an estimate)."""
    phase: str
    relation: str
    done: int
    total: int
    unit: str = "blocks"
    estimate: bool = False
    """A table rewrite without a progress view: ``done`` is the size of the new relation's files
    written so far against the old relation's size (``total``), in bytes — an estimate (the new
    table may be bigger or smaller, and its indexes are rebuilt after it)."""

    @property
    def fraction(self) -> float | None:
        if self.total <= 0:
            return None
        return min(self.done / self.total, 0.99) if self.estimate else self.done / self.total

    def describe(self) -> str:
        fraction = self.fraction
        pct = f" {'about ' if self.estimate else ''}{100 * fraction:.0f}%" if fraction is not None else ""
        if self.estimate:
            pct += f" ({self.done / 1048576:.0f} of {self.total / 1048576:.0f} MB written)"
        return f"{self.command} on {self.relation}: {self.phase}{pct}"


@dataclass(frozen=True)
class QueueSample:
    """One look at the migration's backend and the sessions queued behind it."""

    statement: str
    """The migration backend's current statement (first line)."""
    waiting_for_lock: bool
    blocked_by: tuple[Session, ...]
    queued: int
    """Other sessions waiting for a lock behind the migration."""
    oldest_wait_ms: int
    progress: DdlProgress | None = None

    def describe(self) -> str:
        parts = []
        if self.waiting_for_lock:
            who = ", ".join(f"pid {s.pid} ({s.application or s.user})" for s in self.blocked_by) or "another session"
            parts.append(f"waiting for a lock held by {who}")
        if self.queued:
            parts.append(f"{self.queued} session(s) queued behind it, oldest {self.oldest_wait_ms / 1000:.1f} s")
        if self.progress is not None:
            parts.append(self.progress.describe())
        return "; ".join(parts) or "running"


_MIGRATION_BACKENDS = """
SELECT pid, coalesce(query, '') AS query, coalesce(wait_event_type, '') AS wait
FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND (pid = ANY($1::int[]) OR (application_name = $2 AND datname = current_database()))
"""

_QUEUE = """
SELECT count(*)::int AS queued,
       coalesce(max(extract(epoch FROM clock_timestamp() - coalesce(a.state_change, a.query_start))), 0)::float8
           AS oldest
FROM pg_stat_activity a
WHERE a.wait_event_type = 'Lock' AND NOT (a.pid = ANY($1::int[])) AND pg_blocking_pids(a.pid) && $1::int[]
"""

_PROGRESS = """
SELECT 'CREATE INDEX' AS command, phase, relid::regclass::text AS relation,
       CASE WHEN blocks_total > 0 THEN blocks_done ELSE tuples_done END AS done,
       CASE WHEN blocks_total > 0 THEN blocks_total ELSE tuples_total END AS total
FROM pg_stat_progress_create_index WHERE pid = ANY($1::int[])
UNION ALL
SELECT command, phase, relid::regclass::text, heap_blks_scanned, heap_blks_total
FROM pg_stat_progress_cluster WHERE pid = ANY($1::int[])
UNION ALL
SELECT 'VACUUM', phase, relid::regclass::text, heap_blks_scanned, heap_blks_total
FROM pg_stat_progress_vacuum WHERE pid = ANY($1::int[])
UNION ALL
SELECT 'ANALYZE', phase, relid::regclass::text, sample_blks_scanned, sample_blks_total
FROM pg_stat_progress_analyze WHERE pid = ANY($1::int[])
UNION ALL
SELECT 'COPY', command, relid::regclass::text, bytes_processed, bytes_total
FROM pg_stat_progress_copy WHERE pid = ANY($1::int[])
LIMIT 1
"""


_REWRITE_TARGET = """
SELECT c.oid::regclass::text AS relation, pg_relation_filenode(c.oid) AS filenode
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation AND c.relkind IN ('r', 'm')
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.pid = ANY($1::int[]) AND l.granted AND l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
  AND a.state = 'active' AND a.query_start < clock_timestamp() - make_interval(secs => $2)
ORDER BY c.relpages DESC
LIMIT 1
"""
"""The table a long statement of the migration holds ACCESS EXCLUSIVE on (a rewrite candidate).
Nothing here takes a lock on it (pg_relation_size would wait behind the migration's lock)."""

_RELATION_FILES = """
WITH db AS (SELECT oid FROM pg_database WHERE datname = current_database()),
dirs AS (
    SELECT 'base/' || db.oid AS dir FROM db
    UNION ALL
    SELECT 'pg_tblspc/' || t.oid || '/' || v || '/' || db.oid
    FROM db, pg_tablespace t, LATERAL pg_ls_dir('pg_tblspc/' || t.oid, true, false) AS v
    WHERE t.spcname NOT IN ('pg_default', 'pg_global')
      AND v LIKE 'PG\\_' || (current_setting('server_version_num')::int / 10000) || '\\_%'
),
files AS (
    SELECT split_part(f, '.', 1)::oid AS node, (pg_stat_file(dir || '/' || f, true)).size AS size
    FROM dirs, LATERAL pg_ls_dir(dir, true, false) AS f
    WHERE f ~ '^[0-9]+(\\.[0-9]+)?$'
)
SELECT coalesce(sum(size) FILTER (WHERE node = $1), 0)::bigint AS old_size,
       coalesce(sum(size) FILTER (WHERE node NOT IN (
           SELECT pg_relation_filenode(c.oid) FROM pg_class c WHERE pg_relation_filenode(c.oid) IS NOT NULL
       )), 0)::bigint AS new_size
FROM files
"""
"""From the files of the database (its default directory and every tablespace, without taking
any lock): the size of the old table's files (filenode ``$1``, all segments), and of the files
no committed relation owns — the new heap (and indexes) a rewrite is writing, also when SET
TABLESPACE writes it elsewhere. Needs pg_ls_dir/pg_stat_file (superuser or pg_read_server_files)."""

REWRITE_AFTER_SECONDS = 1.0
"""A statement holding ACCESS EXCLUSIVE for this long without a progress view is looked at as a rewrite."""


@dataclass
class BlockerWatch:
    """Watches the migration's backends while they run (every ``interval`` seconds).

    It remembers who blocks them (so a lock timeout can name the session), reports the
    lock queue the migration causes and the progress of long DDL (``on_sample``), and, with
    a ``guard``, cancels the migration's statement when too many application sessions queue
    behind it or wait too long (``guard_tripped``; the runner then retries with backoff).
    """

    env: Environment
    pids: list[int] = field(default_factory=list)
    seen: dict[int, Session] = field(default_factory=dict)
    interval: float = 0.25
    on_version: Callable[[tuple[str, ...]], None] | None = None
    """Called when the version table changes (a revision committed), for progress."""
    on_sample: Callable[[QueueSample], None] | None = None
    """Called with each sample that shows something: a lock wait, a queue, DDL progress."""
    max_queued: int = 0
    """Guard: cancel when more sessions than this queue behind the migration (0: off)."""
    max_queue_wait_ms: int = 0
    """Guard: cancel when the oldest queued session has waited longer than this (0: off)."""
    guard_tripped: bool = False
    aborts: list[str] = field(default_factory=list)
    """What the guard cancelled, and why (one line each)."""
    last_sample: QueueSample | None = None
    _files_readable: bool = True
    _versions: tuple[str, ...] | None = None
    _task: asyncio.Task[None] | None = None
    _conn: asyncpg.Connection | None = None

    async def start(self) -> None:
        from syncdb_tui.core.envs.environments import connect

        self._conn = await connect(self.env, server_settings={"application_name": "syncdb watch"})
        self._task = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        assert self._conn is not None
        while True:
            try:
                rows = await self._conn.fetch(
                    f"SELECT DISTINCT {_SESSION_COLUMNS} FROM pg_stat_activity blocked "
                    "CROSS JOIN LATERAL unnest(pg_blocking_pids(blocked.pid)) AS b(pid) "
                    "JOIN pg_stat_activity a ON a.pid = b.pid "
                    "WHERE blocked.pid = ANY($1::int[]) OR (blocked.application_name = $2 "
                    "AND blocked.datname = current_database())",
                    self.pids,
                    MIGRATE_APPLICATION_NAME,
                )
                blockers = [_session(row) for row in rows]
                for session in blockers:
                    self.seen[session.pid] = session
                await self._sample(blockers)
            except asyncio.CancelledError:
                raise
            except Exception:
                return
            if self.on_version is not None:
                await self._report_version()
            await asyncio.sleep(self.interval)

    async def _sample(self, blockers: list[Session]) -> None:
        assert self._conn is not None
        backends = await self._conn.fetch(_MIGRATION_BACKENDS, self.pids, MIGRATE_APPLICATION_NAME)
        pids = [int(row["pid"]) for row in backends]
        if not pids:
            return
        queue = await self._conn.fetchrow(_QUEUE, pids)
        progress_row = await self._conn.fetchrow(_PROGRESS, pids)
        progress = None
        if progress_row is not None:
            progress = DdlProgress(
                command=str(progress_row["command"]),
                phase=str(progress_row["phase"]),
                relation=str(progress_row["relation"] or "?"),
                done=int(progress_row["done"] or 0),
                total=int(progress_row["total"] or 0),
                unit="bytes" if progress_row["command"] == "COPY" else "blocks",
            )
        elif self._files_readable:
            progress = await self._rewrite_estimate(pids)
        statement = next((str(row["query"]).strip().splitlines()[0][:200] for row in backends if row["query"]), "")
        waiting = any(row["wait"] == "Lock" for row in backends)
        blocking_migration = {s.pid: s for s in blockers}
        sample = QueueSample(
            statement=statement,
            waiting_for_lock=waiting,
            blocked_by=tuple(blocking_migration.values()) if waiting else (),
            queued=int(queue["queued"] or 0) if queue else 0,
            oldest_wait_ms=int(float(queue["oldest"] or 0) * 1000) if queue else 0,
            progress=progress,
        )
        self.last_sample = sample
        if self.on_sample is not None and (sample.waiting_for_lock or sample.queued or sample.progress):
            self.on_sample(sample)
        if not self.guard_tripped and self._over_limit(sample):
            self.guard_tripped = True
            why = (
                f"{sample.queued} session(s) queued behind the migration, the oldest for "
                f"{sample.oldest_wait_ms / 1000:.1f} s (guard: max_queued {self.max_queued or 'off'}, "
                f"max_queue_wait_ms {self.max_queue_wait_ms or 'off'})"
            )
            self.aborts.append(f"cancelled {statement or 'the running statement'}: {why}")
            for pid in pids:
                await self._conn.execute("SELECT pg_cancel_backend($1)", pid)

    async def _rewrite_estimate(self, pids: list[int]) -> DdlProgress | None:
        """For a rewrite without a progress view (ALTER TABLE … TYPE, SET TABLESPACE, …): the size of
        the new relation files written so far against the old relation's size."""
        import asyncpg

        assert self._conn is not None
        target = await self._conn.fetchrow(_REWRITE_TARGET, pids, REWRITE_AFTER_SECONDS)
        if target is None or target["filenode"] is None:
            return None
        try:
            sizes = await self._conn.fetchrow(_RELATION_FILES, target["filenode"])
        except asyncpg.PostgresError:  # no right to list the data directory: no estimate
            self._files_readable = False
            return None
        if sizes is None or not sizes["old_size"] or not sizes["new_size"]:
            return None
        return DdlProgress(
            command="ALTER TABLE",
            phase="rewriting (new file size against the old)",
            relation=str(target["relation"]),
            done=int(sizes["new_size"]),
            total=int(sizes["old_size"]),
            unit="bytes",
            estimate=True,
        )

    def _over_limit(self, sample: QueueSample) -> bool:
        if not sample.queued:
            return False
        if self.max_queued and sample.queued > self.max_queued:
            return True
        return bool(self.max_queue_wait_ms and sample.oldest_wait_ms > self.max_queue_wait_ms)

    async def _report_version(self) -> None:
        import asyncpg

        assert self._conn is not None
        try:
            rows = await self._conn.fetch("SELECT version_num FROM alembic_version")
        except asyncpg.UndefinedTableError:
            return
        versions = tuple(sorted(str(row["version_num"]) for row in rows))
        if versions != self._versions:
            first = self._versions is None
            self._versions = versions
            if not first and self.on_version is not None:
                self.on_version(versions)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self._conn is not None:
            await self._conn.close()

    def describe(self) -> str:
        if not self.seen:
            return "the blocking session could not be identified (it may have finished)"
        return "; ".join(session.describe() for session in self.seen.values())
