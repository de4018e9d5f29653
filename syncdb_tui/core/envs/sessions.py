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


@dataclass
class BlockerWatch:
    """Polls who blocks the migration's backends, so a lock timeout can name them."""

    env: Environment
    pids: list[int] = field(default_factory=list)
    seen: dict[int, Session] = field(default_factory=dict)
    interval: float = 0.25
    on_version: Callable[[tuple[str, ...]], None] | None = None
    """Called when the version table changes (a revision committed), for progress."""
    _versions: tuple[str, ...] | None = None
    _task: asyncio.Task[None] | None = None
    _conn: asyncpg.Connection | None = None

    async def start(self) -> None:
        from syncdb_tui.core.envs.environments import connect

        self._conn = await connect(self.env)
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
            except Exception:
                return
            for row in rows:
                self.seen[row["pid"]] = _session(row)
            if self.on_version is not None:
                await self._report_version()
            await asyncio.sleep(self.interval)

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
