"""Lock-conflict preview: the sessions a migration would wait behind.

Who calls what: ``commands/risk.py`` (``syncdb risk --env``), ``core/report.py``
(the report's blockers) and the TUI call :func:`lock_conflicts` with the tables
the pending revisions touch (``risk.tables_touched``). Read-only: it queries
``pg_locks`` and ``pg_stat_activity`` of the current database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

LOCK_MODE_NAMES = {
    "AccessShareLock": "ACCESS SHARE",
    "RowShareLock": "ROW SHARE",
    "RowExclusiveLock": "ROW EXCLUSIVE",
    "ShareUpdateExclusiveLock": "SHARE UPDATE EXCLUSIVE",
    "ShareLock": "SHARE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ExclusiveLock": "EXCLUSIVE",
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
}


@dataclass(frozen=True)
class Blocker:
    """A session a migration on those tables would wait behind (or that holds back the database)."""

    pid: int
    user: str
    state: str
    """``active``, ``idle in transaction``, … (pg_stat_activity.state)."""
    duration_seconds: float
    """How long it has been in that state (idle in transaction) or running its query (active)."""
    query: str
    """First line of its current or last query."""
    lock_mode: str | None
    """The strongest lock it holds on one of the tables (``ACCESS SHARE``, …), None if none."""
    table: str | None
    granted: bool = True
    """False when it is itself waiting for that lock (it queues ahead of the migration)."""

    @property
    def sentence(self) -> str:
        """One line for people: whom the migration would wait behind and why."""
        how_long = f"{self.state} for {human_duration(self.duration_seconds)}"
        if self.lock_mode and self.table:
            verb = "holds" if self.granted else "is waiting for"
            return (
                f"this migration would wait behind pid {self.pid} ({how_long}; user {self.user}), "
                f"which {verb} {self.lock_mode} on {self.table}: {self.query}"
            )
        return (
            f"pid {self.pid} has been {how_long} (user {self.user}): a migration waits behind it as soon as it "
            f"touches a table that session has used: {self.query}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "user": self.user,
            "state": self.state,
            "duration_seconds": round(self.duration_seconds, 1),
            "query": self.query,
            "lock_mode": self.lock_mode,
            "table": self.table,
            "granted": self.granted,
            "sentence": self.sentence,
        }


def human_duration(seconds: float) -> str:
    """``42 s``, ``6 min``, ``2 h 5 min``."""
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


_SQL = """
WITH wanted AS (
    SELECT to_regclass(CASE WHEN t.schema IS NULL THEN quote_ident(t.relname)
                            ELSE quote_ident(t.schema) || '.' || quote_ident(t.relname) END) AS oid
    FROM unnest($1::text[], $2::text[]) AS t(schema, relname)
),
held AS (
    SELECT l.pid, l.mode, l.granted, c.relname,
           CASE l.mode WHEN 'AccessExclusiveLock' THEN 8 WHEN 'ExclusiveLock' THEN 7
                       WHEN 'ShareRowExclusiveLock' THEN 6 WHEN 'ShareLock' THEN 5
                       WHEN 'ShareUpdateExclusiveLock' THEN 4 WHEN 'RowExclusiveLock' THEN 3
                       WHEN 'RowShareLock' THEN 2 ELSE 1 END AS strength
    FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
    WHERE l.locktype = 'relation' AND l.relation IN (SELECT oid FROM wanted WHERE oid IS NOT NULL)
      AND l.pid <> pg_backend_pid()
),
strongest AS (
    SELECT DISTINCT ON (pid) pid, mode, granted, relname FROM held ORDER BY pid, strength DESC
)
SELECT a.pid, coalesce(a.usename, '') AS usename, coalesce(a.state, '') AS state, coalesce(a.query, '') AS query,
       extract(epoch FROM now() - CASE
           WHEN a.state = 'active' THEN a.query_start
           WHEN a.state LIKE 'idle in transaction%' THEN a.state_change
           ELSE coalesce(a.xact_start, a.state_change) END)::float8 AS seconds,
       s.mode, s.granted, s.relname
FROM pg_stat_activity a
LEFT JOIN strongest s ON s.pid = a.pid
WHERE a.pid <> pg_backend_pid()
  AND a.datname = current_database()
  AND a.backend_type = 'client backend'
  AND (s.pid IS NOT NULL
       OR (a.state LIKE 'idle in transaction%' AND now() - a.state_change > make_interval(secs => $3))
       OR (a.state = 'active' AND now() - a.query_start > make_interval(secs => $3)))
ORDER BY (s.pid IS NULL), seconds DESC
"""


async def lock_conflicts(
    conn: asyncpg.Connection, tables: Iterable[str], *, long_running_seconds: float
) -> list[Blocker]:
    """Sessions holding locks on ``tables``, plus sessions idle in transaction or running for longer
    than ``long_running_seconds``; never the caller's own session.

    Args:
        conn: a connection to the target database.
        tables: table names as the SQL writes them (``schema.table`` or ``table``).
        long_running_seconds: from this age on, a session is listed even without locks on the tables.

    Raises:
        OperationError: the catalog query failed.
    """
    import asyncpg

    from syncdb_tui.core.errors import OperationError

    names = sorted({t for t in tables if t})
    schemas = [n.rsplit(".", 1)[0] if "." in n else None for n in names]
    relnames = [n.rsplit(".", 1)[-1] for n in names]
    try:
        rows = await conn.fetch(_SQL, schemas, relnames, float(long_running_seconds))
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
        raise OperationError(
            f"could not read pg_locks / pg_stat_activity for the lock preview: {error}",
            hint="the role needs pg_read_all_stats (or superuser) to see other sessions' queries",
        ) from error
    blockers = []
    for row in rows:
        query = (row["query"] or "").strip().splitlines()
        blockers.append(
            Blocker(
                pid=int(row["pid"]),
                user=row["usename"],
                state=row["state"] or "unknown",
                duration_seconds=float(row["seconds"] or 0.0),
                query=query[0][:200] if query else "",
                lock_mode=LOCK_MODE_NAMES.get(row["mode"], row["mode"]) if row["mode"] else None,
                table=row["relname"],
                granted=bool(row["granted"]) if row["granted"] is not None else True,
            )
        )
    return blockers


def lock_text(lock: str, *, verb: str = "") -> str:
    """A finding's lock for people: "takes SHARE", or "no table lock" when it takes none."""
    if not lock or lock.lower() in ("none", "no lock"):
        return "no table lock"
    return f"{verb}{lock}"
