"""Restoring a backup with pg_restore (custom, directory) or psql (plain SQL).

Who calls what: ``syncdb restore`` calls :func:`plan_restore` (``restore_plan.py``; for --dry-run and
to know whether to ask for a typed confirmation) and then :func:`restore`;
``core/backup_verify.py`` uses :func:`restore_command`, :func:`create_database`,
:func:`drop_database` and :func:`compare_tables` for its deep check.

Order of a restore: the plan (refused if the target holds objects and
``clean`` is off) → integrity checks of the backup (size, SHA-256, readable
table of contents) → a safety backup of a protected target → the new database
(``target_db``) → pg_restore/psql with ``--exit-on-error`` / ``ON_ERROR_STOP``,
in one transaction where the format allows → the Alembic revision and every
table's row count compared with the manifest.  A new database whose restore
fails is dropped again.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.core.backups.manifest import BackupManifest
from syncdb_tui.core.backups.process import ToolRun, run_pipeline, run_tool
from syncdb_tui.core.backups.restore_plan import RestorePlan, find_backup, plan_restore, restore_command
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
    "drop_database",
    "find_backup",
    "plan_restore",
    "restore",
    "restore_command",
]

_PROCESSING = re.compile(r'processing data for table "(?P<name>.+)"')


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
    env: Environment, database: str, manifest: BackupManifest, *, workers: int = 2
) -> tuple[tuple[str, ...], list[TableCheck]]:
    """The Alembic revisions now in ``database`` and each manifest table's rows against the manifest.

    The counts run on up to ``workers`` connections at once, biggest tables first, without
    parallel query (measured faster than parallel workers when several counts run at once).
    """
    from syncdb_tui.core.backups.backup import read_alembic_revisions
    from syncdb_tui.core.envs.environments import connection

    expected = manifest.expected_rows()
    sizes = {table.name: table.bytes for table in manifest.tables}
    queue = sorted(expected, key=lambda name: sizes.get(name, 0), reverse=True)
    actual: dict[str, int | None] = {}

    async def count_some() -> None:
        async with connection(env, database=database, server_settings={"max_parallel_workers_per_gather": "0"}) as conn:
            while queue:
                name = queue.pop(0)
                actual[name] = await _count_or_none(conn, name)

    async with connection(env, database=database) as conn:
        revisions = await read_alembic_revisions(conn)
    await asyncio.gather(*(count_some() for _ in range(max(1, min(workers, len(queue))))))
    return revisions, [TableCheck(name, rows, actual.get(name)) for name, rows in expected.items()]


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
    jobs: int = 1,
    progress: ProgressCallback | None = None,
) -> RestoreResult:
    """Restore a backup into ``env``'s database, or into a new database ``target_db`` on its server.

    Front ends call ``core.changes.recorded.restore`` instead: it records the restore in
    the ledger.  The caller asks first what the policy asks for
    (``core.changes.recorded.restore_requirements``).

    Raises:
        UsageError: no such backup or impossible options.
        RefusedError: the target holds objects and ``clean`` is off, the database exists,
            or the backup fails its integrity checks (nothing was changed).
        UnreachableError: the server cannot be reached.
        OperationError: pg_restore/psql failed (a new database is dropped again), or the
            restored row counts or Alembic revision differ from the manifest.
    """
    started = time.monotonic()
    plan = await plan_restore(
        config, backup_path, env=env, target_db=target_db, clean=clean, safety_backup=safety_backup, jobs=jobs
    )
    if plan.refusal:
        raise RefusedError(
            plan.refusal,
            hint="restore into a new database with --target-db NAME, or pass --clean to replace what is there",
            title="restore refused",
        )
    manifest = plan.manifest
    emit(progress, JobProgress(phase="checking the backup", detail=str(plan.backup)))
    await check_integrity(manifest, plan.tool)
    safety_path: Path | None = None
    if plan.safety_backup:
        from syncdb_tui.core.backups.backup import BackupOptions, backup

        emit(progress, JobProgress(phase=f"safety backup of {env.name}"))
        safety = await backup(env, config, BackupOptions(label="before-restore"), progress=progress)
        safety_path = safety.path
    if plan.create_database:
        await create_database(env, plan.database)
    try:
        try:
            run = await _run_restore(plan, env, progress, config.lock_timeout)
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
            rolled = "" if "--jobs" in " ".join(plan.args) else " (rolled back: it ran in one transaction)"
            raise OperationError(
                f"{plan.tool.name} failed restoring {plan.backup.name} into {plan.database}{rolled}: "
                f"{run.errors()}{dropped}",
                hint="read the error above; the backup itself is intact"
                + (f"; the safety backup is {safety_path}" if safety_path else ""),
                title="restore failed",
            )
    except BaseException:
        if plan.create_database:
            await asyncio.shield(drop_database(env, plan.database))
        raise
    emit(progress, JobProgress(phase="comparing row counts with the manifest"))
    revisions, checks = await compare_tables(env, plan.database, manifest)
    _raise_on_differences(plan, manifest, revisions, checks)
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
    )


def _raise_on_differences(
    plan: RestorePlan, manifest: BackupManifest, revisions: tuple[str, ...], checks: list[TableCheck]
) -> None:
    problems = [
        f"{check.name}: {'missing' if check.actual is None else f'{check.actual} rows'}, "
        f"the manifest says {check.expected}"
        for check in checks
        if not check.ok
    ]
    carries_revision = manifest.includes_data and any(t.name.endswith("alembic_version") for t in manifest.tables)
    if carries_revision and tuple(sorted(revisions)) != tuple(sorted(manifest.alembic_revisions)):
        problems.append(
            f"alembic revision is {', '.join(revisions) or 'none'}, "
            f"the manifest says {', '.join(manifest.alembic_revisions) or 'none'}"
        )
    if problems:
        raise OperationError(
            f"the restore into {plan.database} finished, but it differs from the backup's manifest: "
            + "; ".join(problems[:10])
            + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""),
            hint=f"inspect {plan.database} before using it; the differences above are what is wrong",
            title="restore verification failed",
        )


async def _run_restore(
    plan: RestorePlan, env: Environment, progress: ProgressCallback | None, lock_timeout: float
) -> ToolRun:
    total = len(plan.manifest.tables) or 1
    done: list[str] = []
    started = time.monotonic()

    def on_line(line: str) -> None:
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

    emit(progress, JobProgress(phase=f"restoring into {plan.database}", done=0, total=total, unit="tables"))
    application = f"syncdb restore {secrets.token_hex(4)}"
    extra_env = {"PGAPPNAME": application}
    conninfo = env.conninfo.with_database(plan.database)
    if plan.feeder is not None:
        work = run_pipeline(plan.feeder, plan.feeder_args, plan.tool, plan.args, conninfo, extra_env=extra_env)
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
