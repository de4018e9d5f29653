"""Restoring a backup with pg_restore (custom, directory) or psql (plain SQL).

Who calls what: ``syncdb restore`` calls :func:`plan_restore` (``restore_plan.py``; for --dry-run and
to know whether to ask for a typed confirmation) and then :func:`restore`;
``core/backup_verify.py`` uses :func:`restore_command`, :func:`create_database`,
:func:`drop_database` and :func:`compare_tables` for its deep check.

Order of a restore: the plan (refused if the target holds objects and
``clean`` is off) → integrity checks of the backup (size, SHA-256, readable
table of contents) → then, by the plan's mode:

- ``swap`` (over an environment, the default): a copy ``<db>__restore_<time>`` is
  created beside the database, restored into (pg_restore ``--jobs``), checked (every
  table's row count, the table set and the Alembic revision against the manifest);
  other sessions are waited for (or terminated); both names are swapped in one
  transaction, the old database kept as ``<db>__before_restore_<time>``.  Any failure
  before the swap drops the copy: the environment is exactly as it was.
- ``in-place`` (no privilege to swap, ``--in-place``, data-only or table backups): a
  safety backup of a protected target, then pg_restore/psql in ONE transaction (a
  data-only stream is committed only once it arrived whole), then the checks.
- ``new-database``: the database is created, restored into, checked; dropped on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.core.backups.manifest import BackupManifest
from syncdb_tui.core.backups.process import ToolRun, run_relay, run_tool
from syncdb_tui.core.backups.restore_plan import RestorePlan, find_backup, plan_restore, restore_command
from syncdb_tui.core.backups.swap import Session, create_copy, drop_stale_copies, make_way, swap
from syncdb_tui.core.errors import OperationError, RefusedError
from syncdb_tui.core.events import JobProgress, ProgressCallback, emit
from syncdb_tui.core.sqltext import quote_ident

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.config import Config
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.envs.tools import ToolInfo

__all__ = [
    "RestorePlan",
    "RestoreResult",
    "TableCheck",
    "check_integrity",
    "compare_tables",
    "create_database",
    "current_revisions",
    "differences",
    "drop_database",
    "find_backup",
    "plan_restore",
    "restore",
    "restore_command",
    "tables_of",
]

_PROCESSING = re.compile(r'processing data for table "(?P<name>.+)"')
_FINISHED = re.compile(r"finished item \d+ TABLE DATA (?P<tag>.+?)\s*$")
"""A parallel pg_restore's leader reports a table's data loaded (and committed): the table's name, no schema."""
_QUALIFIED = re.compile(r'(?:"(?:[^"]|"")*"|[^".]+)\.(?:"(?P<quoted>(?:[^"]|"")*)"|(?P<bare>[^".]+))')
"""A manifest table name, ``quote_ident(schema).quote_ident(table)``."""


@dataclass(frozen=True)
class TableCheck:
    """One table's rows after a restore against the manifest's count."""

    name: str
    expected: int
    actual: int | None
    """``None`` when the table is missing."""

    @property
    def ok(self) -> bool:
        return self.actual == self.expected


@dataclass(frozen=True)
class RestoreResult:
    """What a finished restore did and found."""

    backup: Path
    environment: str
    database: str
    created_database: bool
    safety_backup: Path | None
    alembic_revisions: tuple[str, ...]
    tables: tuple[TableCheck, ...]
    duration_seconds: float
    tool: ToolInfo
    ledger_id: int | None = None
    """The row recording this restore in the restored database's ledger (set by ``core.changes.recorded``)."""
    ledger_problem: str = ""
    """Why the restore could not be recorded in the ledger (empty when it was)."""
    mode: str = "in-place"
    """``new-database``, ``swap`` or ``in-place`` (see :class:`RestorePlan`)."""
    previous_database: str | None = None
    """``swap``: the environment's former database, kept under this name until dropped."""
    terminated: tuple[Session, ...] = ()
    """``swap``: sessions ended to make way (``terminate``)."""
    backup_of: str = ""
    """The environment the backup was taken of."""

    def to_json(self) -> dict[str, object]:
        return {
            "backup": str(self.backup),
            "environment": self.environment,
            "database": self.database,
            "created_database": self.created_database,
            "safety_backup": str(self.safety_backup) if self.safety_backup else None,
            "alembic_revisions": list(self.alembic_revisions),
            "tables": [{"name": t.name, "expected": t.expected, "actual": t.actual, "ok": t.ok} for t in self.tables],
            "duration_seconds": self.duration_seconds,
            "tool": self.tool.to_json(),
            "ledger_id": self.ledger_id,
            "mode": self.mode,
            "previous_database": self.previous_database,
            "terminated_sessions": [session.to_json() for session in self.terminated],
            "backup_of": self.backup_of,
        }


async def check_integrity(manifest: BackupManifest, tool: ToolInfo | None = None) -> None:
    """Refuse a backup whose size or SHA-256 differs from its manifest, or whose TOC cannot be read.

    Raises:
        RefusedError: the file is missing, truncated, altered or unreadable.
    """
    from syncdb_tui.core.backups.integrity import integrity_problems

    problems = await integrity_problems(manifest, tool)
    if problems:
        raise RefusedError(
            f"{manifest.path.name} will not be restored: {'; '.join(problems)}",
            hint="the file is damaged or incomplete: restore another backup (`syncdb backups --verify`)",
            title="backup damaged",
        )


async def create_database(env: Environment, database: str) -> None:
    """``CREATE DATABASE`` on ``env``'s server (template0, so nothing local leaks in)."""
    import asyncpg

    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        try:
            await conn.execute(f"CREATE DATABASE {quote_ident(database)} TEMPLATE template0")
        except asyncpg.PostgresError as error:
            raise OperationError(
                f"cannot create the database {database!r} on {env.name}'s server: {error}",
                hint="check that the user may create databases (CREATEDB) and the name is free",
                title="restore failed",
            ) from None


async def drop_database(env: Environment, database: str) -> None:
    """``DROP DATABASE IF EXISTS`` (forcing other sessions out); never raises."""
    from syncdb_tui.core.envs.environments import connection

    with contextlib.suppress(Exception):
        async with connection(env) as conn:
            try:
                await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(database)} WITH (FORCE)")
            except Exception:
                await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(database)}")


async def compare_tables(
    env: Environment,
    database: str,
    manifest: BackupManifest,
    *,
    workers: int = 2,
    counted: Mapping[str, int | None] | None = None,
) -> tuple[tuple[str, ...], list[TableCheck]]:
    """The Alembic revisions now in ``database`` and each manifest table's rows against the manifest.

    The counts run on up to ``workers`` connections at once, biggest tables first, without
    parallel query (measured faster than parallel workers when several counts run at once).
    ``counted``: exact counts already taken of tables whose rows can no longer change
    (:class:`_EarlyCounts`); those tables are not counted again.
    """
    from syncdb_tui.core.backups.backup import read_alembic_revisions
    from syncdb_tui.core.envs.environments import connection

    expected = manifest.expected_rows()
    sizes = {table.name: table.bytes for table in manifest.tables}
    actual: dict[str, int | None] = {name: count for name, count in (counted or {}).items() if name in expected}
    queue = sorted((name for name in expected if name not in actual), key=lambda name: sizes.get(name, 0), reverse=True)

    async def count_some() -> None:
        async with connection(env, database=database, server_settings={"max_parallel_workers_per_gather": "0"}) as conn:
            while queue:
                name = queue.pop(0)
                actual[name] = await _count_or_none(conn, name)

    async with connection(env, database=database) as conn:
        revisions = await read_alembic_revisions(conn)
    if queue:
        await asyncio.gather(*(count_some() for _ in range(max(1, min(workers, len(queue))))))
    return revisions, [TableCheck(name, rows, actual.get(name)) for name, rows in expected.items()]


def _unqualified(name: str) -> str | None:
    """The table's own name, unquoted, of a manifest name ``schema.table`` (None when it does not parse)."""
    match = _QUALIFIED.fullmatch(name)
    if match is None:
        return None
    quoted = match.group("quoted")
    return quoted.replace('""', '"') if quoted is not None else match.group("bare")


class _EarlyCounts:
    """Exact row counts of the tables a parallel pg_restore has finished loading, taken while it goes on.

    A table's rows do not change after its TABLE DATA item (the later items build indexes,
    constraints and triggers), so its count then is the count the check after the restore
    would take: the check counts only the tables left (the check itself is unchanged).  One
    table at a time on one connection (pg_restore keeps the cores busy); a table whose name
    appears in two schemas is left to the check, as is any table whose count did not finish.
    """

    def __init__(self, env: Environment, database: str, manifest: BackupManifest) -> None:
        self.env, self.database = env, database
        by_name: dict[str, list[str]] = {}
        for qualified in manifest.expected_rows():
            table = _unqualified(qualified)
            if table is not None:
                by_name.setdefault(table, []).append(qualified)
        self._tables = {table: names[0] for table, names in by_name.items() if len(names) == 1}
        self.counts: dict[str, int | None] = {}
        self._queue: list[str] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def on_line(self, line: str) -> None:
        match = _FINISHED.search(line)
        qualified = self._tables.get(match.group("tag")) if match else None
        if qualified is None or self._closing:
            return
        self._queue.append(qualified)
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._count())

    async def _count(self) -> None:
        from syncdb_tui.core.envs.environments import connection

        settings = {"max_parallel_workers_per_gather": "0", "application_name": "syncdb restore check"}
        async with connection(self.env, database=self.database, server_settings=settings) as conn:
            while not self._closing:
                if not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                name = self._queue.pop(0)
                count = await _count_or_none(conn, name)
                if count is not None:  # a failed count is left to the check
                    self.counts[name] = count

    async def finish(self) -> dict[str, int | None]:
        """Stop (after the count in progress) and close the connection; the counts taken."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        return dict(self.counts)

    async def cancel(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


async def _count_or_none(conn: asyncpg.Connection, name: str) -> int | None:
    import asyncpg

    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {name}"))
    except asyncpg.PostgresError:
        return None


async def restore(
    config: Config,
    backup_path: Path | str,
    *,
    env: Environment,
    target_db: str | None = None,
    clean: bool = False,
    safety_backup: bool = True,
    jobs: int | None = None,
    in_place: bool = False,
    wait_seconds: float = 30.0,
    terminate: bool = False,
    progress: ProgressCallback | None = None,
) -> RestoreResult:
    """Restore a backup into ``env``'s database, or into a new database ``target_db`` on its server.

    Front ends call ``core.changes.recorded.restore`` instead: it records the restore in
    the ledger.  The caller asks first what the policy asks for
    (``core.changes.recorded.restore_requirements``).  Over an environment the backup is
    rebuilt beside the database and swapped in (``wait_seconds`` for other sessions to
    leave, or ``terminate`` them), unless the plan says in place.

    Raises:
        UsageError: no such backup or impossible options.
        RefusedError: the target holds objects and ``clean`` is off, the database exists,
            the backup fails its integrity checks, or sessions stay connected (nothing was changed).
        UnreachableError: the server cannot be reached.
        OperationError: pg_restore/psql failed, or the restored row counts, tables or Alembic
            revision differ from the manifest (the environment is as it was, except for a
            new database or an in-place restore whose check failed after it committed).
    """
    started = time.monotonic()
    plan = await plan_restore(
        config,
        backup_path,
        env=env,
        target_db=target_db,
        clean=clean,
        safety_backup=safety_backup,
        jobs=jobs,
        in_place=in_place,
    )
    if plan.refusal:
        raise RefusedError(
            plan.refusal,
            hint="restore into a new database with --target-db NAME, or pass --clean to replace what is there",
            title="restore refused",
        )
    manifest = plan.manifest
    emit(progress, JobProgress(phase="checking the backup", detail=str(plan.backup)))
    if plan.mode == "swap":
        # the copy is thrown away on any failure: the integrity check runs beside its restore
        return await _restore_beside(
            plan, env, wait_seconds=wait_seconds, terminate=terminate, progress=progress, started=started
        )
    await check_integrity(manifest, plan.tool)
    safety_path: Path | None = None
    if plan.safety_backup:
        from syncdb_tui.core.backups.backup import BackupOptions, backup

        emit(progress, JobProgress(phase=f"safety backup of {env.name}"))
        safety = await backup(env, config, BackupOptions(label="before-restore"), progress=progress)
        safety_path = safety.path
    if plan.create_database:
        await create_database(env, plan.database)
    early = _EarlyCounts(env, plan.database, manifest) if plan.jobs > 1 and plan.mode != "in-place" else None
    try:
        try:
            run = await _run_restore(plan, env, progress, config.lock_timeout, early)
        except _BlockedRestore as blocked:
            raise OperationError(
                f"the restore into {plan.database} waited more than {config.lock_timeout:g} s for locks held by "
                f"other sessions and was cancelled (rolled back): {blocked}",
                hint="stop the application's connections to the database (or raise lock_timeout in "
                "syncdb.toml) and run the restore again"
                + (f"; the safety backup is {safety_path}" if safety_path else ""),
                title="restore blocked",
            ) from None
        if not run.ok:
            dropped = f"; the new database {plan.database} was dropped again" if plan.create_database else ""
            rolled = "" if plan.jobs > 1 else " (rolled back: it ran in one transaction)"
            raise OperationError(
                f"{plan.tool.name} failed restoring {plan.backup.name} into {plan.database}{rolled}: "
                f"{run.errors()}{dropped}",
                hint="read the error above; the backup itself is intact"
                + (f"; the safety backup is {safety_path}" if safety_path else ""),
                title="restore failed",
            )
    except BaseException:
        if early is not None:
            await early.cancel()
        if plan.create_database:
            await asyncio.shield(drop_database(env, plan.database))
        if safety_path is not None:
            from syncdb_tui.core.backups.manifest import mark_failed_attempt

            await asyncio.to_thread(mark_failed_attempt, safety_path)
        raise
    counted = await early.finish() if early is not None else {}
    emit(progress, JobProgress(phase="comparing row counts with the manifest"))
    revisions, checks = await compare_tables(env, plan.database, manifest, counted=counted)
    problems = differences(manifest, revisions, checks, await tables_of(env, plan.database))
    if problems:
        raise _differs(plan.database, problems, f"inspect {plan.database} before using it")
    return RestoreResult(
        backup=plan.backup,
        environment=env.name,
        database=plan.database,
        created_database=plan.create_database,
        safety_backup=safety_path,
        alembic_revisions=revisions,
        tables=tuple(checks),
        duration_seconds=round(time.monotonic() - started, 3),
        tool=plan.tool,
        mode=plan.mode,
        backup_of=manifest.environment,
    )


MIGRATION_LOCK_WAIT = 10.0
"""Seconds a restore over an environment waits for a running migration's lock before it gives up."""


async def _restore_beside(
    plan: RestorePlan,
    env: Environment,
    *,
    wait_seconds: float,
    terminate: bool,
    progress: ProgressCallback | None,
    started: float,
) -> RestoreResult:
    """Restore into the copy, check it, make way, swap names; drop the copy on any failure before the swap."""
    from syncdb_tui.core.envs.environments import connect
    from syncdb_tui.core.envs.sessions import acquire_advisory_lock

    manifest, copy = plan.manifest, plan.copy_database
    await drop_stale_copies(env)
    # no migration may run while the copy is built: it would be lost at the swap
    lock_conn = await connect(env, server_settings={"application_name": "syncdb restore lock"})
    try:
        await acquire_advisory_lock(lock_conn, env.database, MIGRATION_LOCK_WAIT)
    except BaseException:
        await lock_conn.close()
        raise
    checking = asyncio.create_task(check_integrity(manifest, plan.tool))
    try:
        emit(progress, JobProgress(phase=f"creating {copy} beside {plan.database}"))
        await create_copy(env, copy)
    except BaseException:
        checking.cancel()
        await lock_conn.close()
        raise
    early = _EarlyCounts(env, copy, manifest) if plan.jobs > 1 else None
    try:
        run = await _run_restore(plan, env, progress, 0, early)
        counted = await early.finish() if early is not None else {}
        await checking  # a damaged backup is refused, whatever pg_restore made of it
        if not run.ok:
            raise OperationError(
                f"{plan.tool.name} failed restoring {plan.backup.name} into the copy {copy}: {run.errors()}; "
                f"the copy was dropped and {plan.database} on {env.name} was not touched",
                hint="read the error above; the backup itself is intact",
                title="restore failed",
            )
        emit(progress, JobProgress(phase="comparing the copy with the manifest"))
        revisions, checks = await compare_tables(env, copy, manifest, counted=counted)
        problems = differences(manifest, revisions, checks, await tables_of(env, copy))
        if problems:
            raise _differs(copy, problems, f"the copy was dropped and {plan.database} on {env.name} was not touched")
        # the migration lock's session is on the live database: it must be gone before the rename
        await lock_conn.close()
        emit(progress, JobProgress(phase=f"waiting for other sessions on {plan.database} to end"))
        terminated = await make_way(env, wait_seconds=wait_seconds, terminate=terminate)
        emit(progress, JobProgress(phase=f"swapping {copy} into place"))
        await swap(env, copy, plan.previous_database, terminate=terminate)
    except BaseException:
        if early is not None:
            await early.cancel()
        if not checking.done():
            checking.cancel()
        with contextlib.suppress(BaseException):
            await checking
        with contextlib.suppress(BaseException):
            await lock_conn.close()
        await asyncio.shield(drop_database(env, copy))
        raise
    return RestoreResult(
        backup=plan.backup,
        environment=env.name,
        database=plan.database,
        created_database=False,
        safety_backup=None,
        alembic_revisions=revisions,
        tables=tuple(checks),
        duration_seconds=round(time.monotonic() - started, 3),
        tool=plan.tool,
        mode="swap",
        previous_database=plan.previous_database,
        terminated=tuple(terminated),
        backup_of=manifest.environment,
    )


async def current_revisions(env: Environment) -> tuple[str, ...]:
    """The Alembic revisions ``env``'s database is at now (empty when it has none)."""
    from syncdb_tui.core.backups.catalog import read_alembic_revisions
    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        return await read_alembic_revisions(conn)


async def tables_of(env: Environment, database: str) -> list[str]:
    from syncdb_tui.core.backups.catalog import user_tables
    from syncdb_tui.core.envs.environments import connection

    async with connection(env, database=database) as conn:
        return await user_tables(conn)


def differences(
    manifest: BackupManifest, revisions: tuple[str, ...], checks: list[TableCheck], tables: list[str] | None = None
) -> list[str]:
    """What a restored database (its Alembic ``revisions``, row ``checks`` and user ``tables``)
    has that the manifest does not say (empty when it matches).

    ``tables`` is compared as a set only for a backup of the whole database (syncdb's own
    ledger schema aside): a restore must not bring tables the manifest does not name.
    """
    problems = [
        f"{check.name}: {'missing' if check.actual is None else f'{check.actual} rows'}, "
        f"the manifest says {check.expected}"
        for check in checks
        if not check.ok
    ]
    if tables is not None and not manifest.requested_tables and manifest.kind != "data":
        named = {table.name for table in manifest.tables}
        extra = sorted(name for name in tables if name not in named and not name.startswith("syncdb."))
        if extra:
            problems.append(f"tables the manifest does not name: {', '.join(extra[:10])}")
    carries_revision = manifest.includes_data and any(t.name.endswith("alembic_version") for t in manifest.tables)
    if carries_revision and tuple(sorted(revisions)) != tuple(sorted(manifest.alembic_revisions)):
        problems.append(
            f"alembic revision is {', '.join(revisions) or 'none'}, "
            f"the manifest says {', '.join(manifest.alembic_revisions) or 'none'}"
        )
    return problems


def _differs(database: str, problems: list[str], what_now: str) -> OperationError:
    return OperationError(
        f"the restore into {database} finished, but it differs from the backup's manifest: "
        + "; ".join(problems[:10])
        + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""),
        hint=f"{what_now}; the differences above are what is wrong",
        title="restore verification failed",
    )


async def _run_restore(
    plan: RestorePlan,
    env: Environment,
    progress: ProgressCallback | None,
    lock_timeout: float,
    early: _EarlyCounts | None = None,
) -> ToolRun:
    total = len(plan.manifest.tables) or 1
    done: list[str] = []
    started = time.monotonic()

    def on_line(line: str) -> None:
        if early is not None:
            early.on_line(line)
        match = _PROCESSING.search(line)
        if match:
            done.append(match.group("name"))
            emit(
                progress,
                JobProgress(
                    phase=f"restoring {match.group('name')}",
                    done=len(done) - 1,
                    total=total,
                    unit="tables",
                    detail=f"{len(done)}/{total} tables · {time.monotonic() - started:.0f} s",
                ),
            )

    emit(progress, JobProgress(phase=f"restoring into {plan.restore_database}", done=0, total=total, unit="tables"))
    application = f"syncdb restore {secrets.token_hex(4)}"
    extra_env = {"PGAPPNAME": application}
    conninfo = env.conninfo.with_database(plan.restore_database)
    if plan.prologue:
        work = run_relay(
            plan.tool,
            plan.args,
            conninfo,
            prologue=plan.prologue.encode(),
            epilogue=plan.epilogue.encode(),
            feeder=plan.feeder,
            feeder_args=plan.feeder_args,
            source=None if plan.feeder else plan.manifest.path,
            extra_env=extra_env,
        )
    else:
        work = run_tool(plan.tool, plan.args, conninfo, on_line=on_line, extra_env=extra_env)
    if plan.create_database or lock_timeout <= 0:
        return await work
    # Over a live database the archive's own "SET lock_timeout = 0" would let the restore queue
    # forever behind the application's locks (and everything behind it): a watchdog cancels it.
    blockers: list[str] = []
    watchdog = asyncio.create_task(_lock_watchdog(env, plan.database, application, lock_timeout, blockers))
    try:
        run = await work
    finally:
        watchdog.cancel()
        with contextlib.suppress(BaseException):
            await watchdog
    if blockers and not run.ok:
        raise _BlockedRestore(blockers)
    return run


class _BlockedRestore(Exception):
    def __init__(self, blockers: list[str]) -> None:
        super().__init__("; ".join(blockers))
        self.blockers = blockers


async def _lock_watchdog(
    env: Environment, database: str, application: str, lock_timeout: float, blockers: list[str]
) -> None:
    """Wait until the restore has waited ``lock_timeout`` for a lock; note the blockers in ``blockers``; cancel it."""
    from syncdb_tui.core.envs.environments import connection

    async with connection(env, database=database) as conn:
        while True:
            await asyncio.sleep(min(0.25, lock_timeout / 4))
            row = await conn.fetchrow(
                "SELECT pid, pg_blocking_pids(pid) AS blockers FROM pg_stat_activity "
                "WHERE application_name = $1 AND wait_event_type = 'Lock' "
                "AND now() - query_start > make_interval(secs => $2)",
                application,
                lock_timeout,
            )
            if row is None or not row["blockers"]:
                continue
            sessions = await conn.fetch(
                "SELECT pid, coalesce(usename, '') AS u, coalesce(application_name, '') AS app, "
                "coalesce(state, '') AS state, left(coalesce(query, ''), 80) AS q "
                "FROM pg_stat_activity WHERE pid = ANY($1::int[])",
                list(row["blockers"]),
            )
            blockers.extend(
                f"pid {s['pid']} of {s['u']}" + (f" ({s['app']})" if s["app"] else "") + f", {s['state']}: {s['q']}"
                for s in sessions
            )
            await conn.execute("SELECT pg_cancel_backend($1)", row["pid"])
            return
