"""Databases beside an environment's: the restore copy, the swap of names, and the kept previous database.

Who calls what: ``restore_plan.py`` asks :func:`swap_ability` whether a restore over an
environment can be rebuilt beside it, and :func:`sessions_on` who is connected;
``restore.py`` calls :func:`create_copy`, :func:`make_way` and :func:`swap`;
``syncdb backups``/``restore --drop-previous``, the app and ``prune.py`` call
:func:`list_kept`, :func:`drop_kept` and :func:`drop_stale_copies`.

Names on the environment's server::

    app                                  the environment's database
    app__restore_20260101_120000         the copy being built (dropped on any failure)
    app__before_restore_20260101_120000  the previous database after a swap (kept until dropped)

Each copy carries a comment ``syncdb restore copy of app: pid 4242 on host h``; a copy
whose process is gone (killed) is listed as stale and dropped by the next restore or prune.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from syncdb_tui.core.errors import OperationError, RefusedError, UsageError
from syncdb_tui.core.processes import pid_alive
from syncdb_tui.core.sqltext import quote_ident

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.core.envs.environments import Environment

COPY_MARK = "__restore_"
PREVIOUS_MARK = "__before_restore_"
_STAMP = "%Y%m%d_%H%M%S"
_KEPT = re.compile(r"^(?P<base>.+?)(?P<mark>__restore_|__before_restore_)(?P<stamp>\d{8}_\d{6})(?:_(?P<n>\d+))?$")
_COMMENT = re.compile(r"pid (?P<pid>\d+) on host (?P<host>\S+)")
_MAX_NAME = 63


@dataclass(frozen=True)
class SwapAbility:
    """Whether a restore over the environment can be rebuilt beside it and swapped in."""

    possible: bool
    reason: str = ""
    """Why not (shown in the plan); empty when possible."""


@dataclass(frozen=True)
class Session:
    """A session connected to a database (another client of the environment)."""

    pid: int
    user: str
    application: str
    state: str
    since: str
    """When its backend started (ISO 8601)."""

    def describe(self) -> str:
        app = f" ({self.application})" if self.application else ""
        return f"pid {self.pid} of {self.user}{app}, {self.state or 'unknown state'} since {self.since[:19]}"

    def to_json(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "user": self.user,
            "application": self.application,
            "state": self.state,
            "since": self.since,
        }


@dataclass(frozen=True)
class KeptDatabase:
    """A database syncdb left beside an environment's: a previous database, or a restore copy."""

    name: str
    base: str
    """The environment's database it belongs to."""
    kind: str
    """``previous`` (kept after a swap) or ``copy`` (a restore being built, or left by a killed one)."""
    created_at: str
    """ISO 8601 (UTC) from the name's time stamp."""
    size: int
    comment: str = ""
    stale: bool = False
    """A copy whose restore process no longer runs."""

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "database": self.base,
            "kind": self.kind,
            "created_at": self.created_at,
            "size": self.size,
            "comment": self.comment,
            "stale": self.stale,
        }


def _maintenance_db(database: str) -> str:
    return "template1" if database == "postgres" else "postgres"


def beside_names(database: str, now: datetime | None = None) -> tuple[str, str]:
    """``(copy, previous)`` names for a restore over ``database`` (at most 63 bytes each)."""
    stamp = (now or datetime.now(UTC)).strftime(_STAMP)
    names = []
    for mark in (COPY_MARK, PREVIOUS_MARK):
        tail = f"{mark}{stamp}"
        base = database.encode()[: _MAX_NAME - len(tail) - 3].decode(errors="ignore")
        names.append(f"{base}{tail}")
    return names[0], names[1]


async def _free(conn: asyncpg.Connection, name: str) -> str:
    """``name``, or ``name_2``, ``name_3``… when a database of that name exists."""
    candidate, number = name, 2
    while await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", candidate):
        candidate = f"{name}_{number}"
        number += 1
    return candidate


async def free_beside_names(env: Environment) -> tuple[str, str]:
    """:func:`beside_names` made unique on ``env``'s server."""
    from syncdb_tui.core.envs.environments import connection

    copy, previous = beside_names(env.database)
    async with connection(env, database=_maintenance_db(env.database)) as conn:
        return await _free(conn, copy), await _free(conn, previous)


async def swap_ability(env: Environment) -> SwapAbility:
    """Whether the user may create a database and rename the environment's (owner with CREATEDB, or superuser)."""
    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        row = await conn.fetchrow(
            "SELECT r.rolsuper AS su, r.rolcreatedb AS createdb, pg_has_role(current_user, d.datdba, 'MEMBER') AS owns "
            "FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()"
        )
    if row is None:
        return SwapAbility(False, "the server does not show the current role or database")
    if row["su"]:
        return SwapAbility(True)
    missing = []
    if not row["createdb"]:
        missing.append("CREATEDB")
    if not row["owns"]:
        missing.append(f"ownership of {env.database}")
    if missing:
        return SwapAbility(
            False,
            f"the user {env.conninfo.user or '(default)'} lacks {' and '.join(missing)}, which rebuilding beside "
            "and swapping names needs",
        )
    return SwapAbility(True)


async def sessions_on(env: Environment, database: str) -> list[Session]:
    """Other sessions connected to ``database`` (not this one)."""
    from syncdb_tui.core.envs.environments import connection

    async with connection(env, database=_maintenance_db(database)) as conn:
        rows = await conn.fetch(
            "SELECT pid, coalesce(usename, '') AS u, coalesce(application_name, '') AS app, "
            "coalesce(state, '') AS state, backend_start FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend' ORDER BY pid",
            database,
        )
    return [
        Session(
            int(row["pid"]),
            str(row["u"]),
            str(row["app"]),
            str(row["state"]),
            row["backend_start"].isoformat() if row["backend_start"] else "",
        )
        for row in rows
    ]


async def create_copy(env: Environment, copy: str) -> None:
    """Create ``copy`` beside ``env``'s database: same encoding, collation, owner, settings and grants.

    Raises:
        OperationError: the server refused (the name is taken, no CREATEDB…).
    """
    import asyncpg

    from syncdb_tui.core.envs.environments import connection

    live = env.database
    async with connection(env, database=_maintenance_db(live)) as conn:
        row = await conn.fetchrow(
            "SELECT pg_encoding_to_char(encoding) AS enc, datcollate, datctype, datlocprovider, "
            "pg_get_userbyid(datdba) AS owner, datacl::text[] AS acl, "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su FROM pg_database WHERE datname = $1",
            live,
        )
        if row is None:
            raise OperationError(f"{live} does not exist on {env.name}'s server", title="restore failed")
        clauses = [f"ENCODING '{row['enc']}'"]
        if row["datlocprovider"] == "c":
            clauses.append(f"LC_COLLATE '{row['datcollate']}' LC_CTYPE '{row['datctype']}'")
        if row["su"] and row["owner"]:
            clauses.append(f"OWNER {quote_ident(str(row['owner']))}")
        comment = f"syncdb restore copy of {live}: pid {os.getpid()} on host {socket.gethostname()}"
        try:
            await conn.execute(f"CREATE DATABASE {quote_ident(copy)} TEMPLATE template0 {' '.join(clauses)}")
            await conn.execute(f"COMMENT ON DATABASE {quote_ident(copy)} IS '{comment.replace(chr(39), '')}'")
            await _copy_settings(conn, live, copy, list(row["acl"] or []))
        except asyncpg.PostgresError as error:
            await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(copy)}")
            raise OperationError(
                f"cannot create the restore copy {copy} on {env.name}'s server: {error}",
                hint="check that the user may create databases (CREATEDB), or restore in place with --in-place",
                title="restore failed",
            ) from None


async def _copy_settings(conn: asyncpg.Connection, live: str, copy: str, acl: list[str]) -> None:
    """The live database's ``ALTER DATABASE … SET`` settings and its grants, onto ``copy``."""
    settings = await conn.fetchval(
        "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
        "WHERE d.datname = $1 AND s.setrole = 0",
        live,
    )
    for item in settings or []:
        key, _, value = str(item).partition("=")
        await conn.execute(
            f"ALTER DATABASE {quote_ident(copy)} SET {quote_ident(key)} = '{value.replace(chr(39), chr(39) * 2)}'"
        )
    if not acl:
        return
    await conn.execute(f"REVOKE ALL ON DATABASE {quote_ident(copy)} FROM PUBLIC")
    grants = await conn.fetch(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS who, "
        "a.privilege_type AS what FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1",
        live,
    )
    for grant in grants:
        await conn.execute(f"GRANT {grant['what']} ON DATABASE {quote_ident(copy)} TO {grant['who']}")


async def make_way(env: Environment, *, wait_seconds: float, terminate: bool) -> list[Session]:
    """Wait up to ``wait_seconds`` for other sessions on ``env``'s database to end; terminate them if allowed.

    Returns the sessions that were terminated.

    Raises:
        RefusedError: sessions are still connected after the wait and ``terminate`` is off.
    """
    deadline = time.monotonic() + max(0.0, wait_seconds)
    sessions = await sessions_on(env, env.database)
    while sessions and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        sessions = await sessions_on(env, env.database)
    if not sessions:
        return []
    if not terminate:
        shown = "; ".join(session.describe() for session in sessions[:5])
        raise RefusedError(
            f"{len(sessions)} session(s) are still connected to {env.database} on {env.name} after "
            f"{wait_seconds:g} s: {shown}",
            hint="stop the application's connections and run the restore again, or pass --terminate to end them",
            title="database in use",
        )
    await terminate_sessions(env, env.database)
    return sessions


async def terminate_sessions(env: Environment, database: str) -> None:
    """``pg_terminate_backend`` every other session on ``database``."""
    from syncdb_tui.core.envs.environments import connection

    async with connection(env, database=_maintenance_db(database)) as conn:
        await conn.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )


async def swap(env: Environment, copy: str, previous: str, *, terminate: bool) -> None:
    """In one transaction: rename the environment's database to ``previous`` and ``copy`` to its name.

    Raises:
        OperationError: the server refused the renames (nothing was renamed).
    """
    import asyncpg

    from syncdb_tui.core.envs.environments import connection

    live = env.database
    async with connection(env, database=_maintenance_db(live)) as conn:
        for attempt in range(4):
            try:
                async with conn.transaction():
                    await conn.execute(f"ALTER DATABASE {quote_ident(live)} RENAME TO {quote_ident(previous)}")
                    await conn.execute(f"ALTER DATABASE {quote_ident(copy)} RENAME TO {quote_ident(live)}")
                    await conn.execute(f"COMMENT ON DATABASE {quote_ident(live)} IS NULL")
                    await conn.execute(
                        f"COMMENT ON DATABASE {quote_ident(previous)} IS "
                        f"'syncdb: {live} before a restore, kept until dropped'"
                    )
                return
            except asyncpg.ObjectInUseError as error:
                if terminate and attempt < 3:
                    await terminate_sessions(env, live)
                    continue
                problem = str(error)
            except asyncpg.PostgresError as error:
                problem = str(error)
            break
    raise OperationError(
        f"the restored copy {copy} could not take the name {live} on {env.name}'s server: {problem}; "
        f"{live} was not changed",
        hint="stop the sessions on the database (or pass --terminate), or restore in place with --in-place "
        "where the server forbids renaming databases",
        title="swap failed",
    )


def _belongs(base: str, database: str) -> bool:
    """Whether a kept database's (possibly shortened) base name is ``database``'s."""
    if base == database:
        return True
    shortest = _MAX_NAME - len(PREVIOUS_MARK) - len("20260101_120000") - 3
    return len(base.encode()) >= shortest and database.startswith(base)


def _parse(name: str) -> tuple[str, str, str] | None:
    match = _KEPT.match(name)
    if match is None:
        return None
    kind = "copy" if match.group("mark") == COPY_MARK else "previous"
    created = datetime.strptime(match.group("stamp"), _STAMP).replace(tzinfo=UTC).isoformat()
    return match.group("base"), kind, created


async def list_kept(env: Environment, *, every_database: bool = False) -> list[KeptDatabase]:
    """Previous databases and restore copies beside ``env``'s database (all of the server's with
    ``every_database``), newest first."""
    from syncdb_tui.core.envs.environments import connection

    async with connection(env, database=_maintenance_db(env.database)) as conn:
        rows = await conn.fetch(
            "SELECT datname, pg_database_size(oid) AS size, coalesce(shobj_description(oid, 'pg_database'), '') AS c "
            "FROM pg_database WHERE datname LIKE '%\\_\\_restore\\_%' OR datname LIKE '%\\_\\_before\\_restore\\_%'"
        )
    host = socket.gethostname()
    kept = []
    for row in rows:
        parsed = _parse(str(row["datname"]))
        if parsed is None:
            continue
        base, kind, created = parsed
        if not every_database and not _belongs(base, env.database):
            continue
        comment = str(row["c"])
        stale = False
        found = _COMMENT.search(comment)
        if kind == "copy" and found and found.group("host") == host:
            stale = not pid_alive(int(found.group("pid")))
        kept.append(KeptDatabase(str(row["datname"]), base, kind, created, int(row["size"]), comment, stale))
    kept.sort(key=lambda item: (item.created_at, item.name), reverse=True)
    return kept


async def drop_kept(env: Environment, name: str) -> KeptDatabase:
    """Drop a previous database (or a stale restore copy) named ``name``; anything else is refused.

    Raises:
        UsageError: ``name`` is not a database syncdb kept beside ``env``'s.
        RefusedError: it is a copy a running restore is still building.
    """
    from syncdb_tui.core.envs.environments import connection

    kept = {item.name: item for item in await list_kept(env, every_database=True)}
    item = kept.get(name)
    if item is None:
        raise UsageError(
            f"{name!r} is not a previous database or restore copy on {env.name}'s server",
            hint="`syncdb backups` lists the previous databases kept beside each environment",
            title="no such previous database",
        )
    if item.kind == "copy" and not item.stale:
        raise RefusedError(
            f"{name} is being built by a running restore ({item.comment})",
            hint="wait for that restore to end",
            title="restore in progress",
        )
    async with connection(env, database=_maintenance_db(env.database)) as conn:
        await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
    return item


async def drop_stale_copies(env: Environment) -> list[str]:
    """Drop the restore copies left by killed restores on this host (beside ``env``'s database); never raises."""
    dropped: list[str] = []
    with contextlib.suppress(Exception):
        for item in await list_kept(env):
            if item.kind == "copy" and item.stale:
                await drop_kept(env, item.name)
                dropped.append(item.name)
    return dropped
