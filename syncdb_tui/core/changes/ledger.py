"""The ledger: every applied change, recorded in the target database itself.

One table, ``syncdb.ledger``, created on first use in a ``syncdb`` schema that
autogenerate never compares (Alembic only looks at the default schema unless
``include_schemas`` is set, and syncdb's drift check skips it).  A row is
written when a change starts (``result = 'running'``) and completed when it
ends, so a change killed half-way stays visible as ``running``/interrupted.
"""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.core.envs.environments import Environment

SCHEMA = "syncdb"
TABLE = f"{SCHEMA}.ledger"

_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {TABLE} (
    id bigserial PRIMARY KEY,
    plan_id text NOT NULL DEFAULT '',
    action text NOT NULL,
    environment text NOT NULL,
    from_revisions text[] NOT NULL DEFAULT '{{}}',
    to_revisions text[] NOT NULL DEFAULT '{{}}',
    revisions jsonb NOT NULL DEFAULT '[]',
    operator text NOT NULL DEFAULT '',
    host text NOT NULL DEFAULT '',
    application_name text NOT NULL DEFAULT '',
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    result text NOT NULL DEFAULT 'running',
    error text NOT NULL DEFAULT '',
    backup_path text NOT NULL DEFAULT '',
    details jsonb NOT NULL DEFAULT '{{}}',
    postflight jsonb
);
"""

RESULTS = ("running", "ok", "failed", "interrupted")
"""``interrupted``: the row says running, but no syncdb holds the migration lock (syncdb was killed)."""


@dataclass(frozen=True)
class LedgerEntry:
    """One recorded change."""

    id: int
    plan_id: str
    action: str
    environment: str
    from_revisions: tuple[str, ...]
    to_revisions: tuple[str, ...]
    revisions: tuple[dict[str, str], ...]
    """``{"revision": …, "sha256": …}`` of each revision the change ran."""
    operator: str
    host: str
    application_name: str
    started_at: datetime
    finished_at: datetime | None
    result: str
    """ok, failed, or running (still running, or interrupted: syncdb was killed)."""
    error: str
    backup_path: str
    details: dict[str, Any] = field(default_factory=dict)
    postflight: dict[str, Any] | None = None

    def summary(self) -> str:
        """One line: when, what, from → to, result."""
        before = ", ".join(self.from_revisions) or "base"
        after = ", ".join(self.to_revisions) or "base"
        when = self.started_at.strftime("%Y-%m-%d %H:%M")
        result = {"running": "still running", "interrupted": "INTERRUPTED (syncdb stopped before the end)"}.get(
            self.result, self.result
        )
        moved = f" {before} → {after}" if self.action in ("upgrade", "downgrade", "stamp", "restore") else ""
        return f"{when} {self.action}{moved}: {result} (by {self.operator}@{self.host})"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plan_id": self.plan_id,
            "action": self.action,
            "environment": self.environment,
            "from": list(self.from_revisions),
            "to": list(self.to_revisions),
            "revisions": list(self.revisions),
            "operator": self.operator,
            "host": self.host,
            "application_name": self.application_name,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "result": self.result,
            "error": self.error or None,
            "backup": self.backup_path or None,
            "details": self.details,
            "postflight": self.postflight,
        }


def operator() -> tuple[str, str]:
    """The OS user and host running this change."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return user, socket.gethostname()


async def ensure(conn: asyncpg.Connection) -> None:
    """Create the ledger's schema and table when missing."""
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", TABLE)
    if not exists:
        await conn.execute(_DDL)


async def start(
    conn: asyncpg.Connection,
    *,
    action: str,
    environment: str,
    plan_id: str = "",
    from_revisions: Sequence[str] = (),
    to_revisions: Sequence[str] = (),
    revisions: Sequence[dict[str, str]] = (),
    backup_path: str = "",
    application_name: str = "syncdb",
    details: dict[str, Any] | None = None,
) -> int:
    """Record a change that starts now; returns the row's id (pass it to :func:`finish`)."""
    await ensure(conn)
    user, host = operator()
    row_id = await conn.fetchval(
        f"INSERT INTO {TABLE} (plan_id, action, environment, from_revisions, to_revisions, revisions, operator, "
        "host, application_name, backup_path, details) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, "
        "$11::jsonb) RETURNING id",
        plan_id,
        action,
        environment,
        list(from_revisions),
        list(to_revisions),
        json.dumps(list(revisions)),
        user,
        host,
        application_name,
        backup_path,
        json.dumps(details or {}),
    )
    return int(row_id)


async def finish(
    conn: asyncpg.Connection,
    row_id: int,
    *,
    ok: bool,
    to_revisions: Sequence[str] | None = None,
    error: str = "",
    backup_path: str | None = None,
    postflight: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Complete the row ``row_id``: result, where the database stands now, post-flight findings.

    ``details`` are merged into the row's details (e.g. the lock-queue guard's aborts).
    """
    await conn.execute(
        f"UPDATE {TABLE} SET finished_at = now(), result = $2, error = $3, "
        "to_revisions = coalesce($4, to_revisions), backup_path = coalesce($5, backup_path), "
        "postflight = $6::jsonb, details = details || $7::jsonb WHERE id = $1",
        row_id,
        "ok" if ok else "failed",
        error,
        list(to_revisions) if to_revisions is not None else None,
        backup_path,
        json.dumps(postflight) if postflight is not None else None,
        json.dumps(details or {}),
    )


async def record(
    conn: asyncpg.Connection,
    *,
    action: str,
    environment: str,
    ok: bool,
    error: str = "",
    **kwargs: Any,
) -> int:
    """Record a change that has already ended (push, seed, restore)."""
    postflight = kwargs.pop("postflight", None)
    row_id = await start(conn, action=action, environment=environment, **kwargs)
    await finish(conn, row_id, ok=ok, error=error, postflight=postflight)
    return row_id


async def record_on(env: Environment, **kwargs: Any) -> int:
    """:func:`record` on a new connection to ``env``."""
    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        return await record(conn, **kwargs)


def _entry(row: asyncpg.Record) -> LedgerEntry:
    def load(value: Any, default: Any) -> Any:
        if value is None:
            return default
        return json.loads(value) if isinstance(value, str) else value

    return LedgerEntry(
        id=int(row["id"]),
        plan_id=row["plan_id"],
        action=row["action"],
        environment=row["environment"],
        from_revisions=tuple(row["from_revisions"] or ()),
        to_revisions=tuple(row["to_revisions"] or ()),
        revisions=tuple(load(row["revisions"], [])),
        operator=row["operator"],
        host=row["host"],
        application_name=row["application_name"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        result=row["result"],
        error=row["error"],
        backup_path=row["backup_path"],
        details=load(row["details"], {}),
        postflight=load(row["postflight"], None),
    )


async def entries(conn: asyncpg.Connection, *, limit: int = 50) -> list[LedgerEntry]:
    """The newest ``limit`` changes, newest first (empty when nothing was ever recorded)."""
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", TABLE):
        return []
    rows = await conn.fetch(f"SELECT * FROM {TABLE} ORDER BY id DESC LIMIT $1", limit)
    found = [_entry(row) for row in rows]
    if any(entry.result == "running" for entry in found) and not await _lock_held(conn):
        from dataclasses import replace

        found = [replace(entry, result="interrupted") if entry.result == "running" else entry for entry in found]
    return found


async def _lock_held(conn: asyncpg.Connection) -> bool:
    """True when a syncdb holds this database's migration lock (a change is really running)."""
    from syncdb_tui.core.envs.sessions import advisory_key, advisory_lock_holder

    database = str(await conn.fetchval("SELECT current_database()"))
    return await advisory_lock_holder(conn, advisory_key(database)) is not None


async def entries_of(env: Environment, *, limit: int = 50) -> list[LedgerEntry]:
    """:func:`entries` of ``env``'s database, on a new connection.

    Raises:
        UnreachableError: the database cannot be reached.
        OperationError: the ledger exists but cannot be read (no rights on the syncdb schema).
    """
    import asyncpg

    from syncdb_tui.core.envs.environments import connection
    from syncdb_tui.core.errors import OperationError

    async with connection(env) as conn:
        try:
            return await entries(conn, limit=limit)
        except asyncpg.PostgresError as error:
            raise OperationError(
                f"cannot read the ledger of {env.name} ({TABLE}): {error}",
                hint=f"grant the role USAGE on schema {SCHEMA} and SELECT on {TABLE}",
                title="ledger not readable",
            ) from None


async def applied_hashes(conn: asyncpg.Connection) -> dict[str, str]:
    """The sha256 each revision file had when it was last applied (by a successful upgrade)."""
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", TABLE):
        return {}
    rows = await conn.fetch(
        f"SELECT revisions FROM {TABLE} WHERE action = 'upgrade' AND result IN ('ok', 'failed') ORDER BY id"
    )
    hashes: dict[str, str] = {}
    for row in rows:
        value = row["revisions"]
        for item in json.loads(value) if isinstance(value, str) else value or []:
            if item.get("committed", True) and item.get("sha256"):
                hashes[str(item["revision"])] = str(item["sha256"])
    return hashes
