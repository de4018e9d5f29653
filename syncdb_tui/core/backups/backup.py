"""Backups with pg_dump: kinds, formats, progress, atomic publication and manifests.

Who calls what: ``syncdb backup`` calls :func:`plan_backup` (for --dry-run) and
:func:`backup`; ``syncdb backups`` and the TUI call :func:`list_backups`;
the change executor calls :func:`backup_before_change`; ``core/restore.py`` calls
:func:`backup` for its safety backup.  The command line and destination come
from ``backup_plan.py``, files on disk are handled by ``backup_manifest.py``,
child processes by ``backup_process.py``, checks by ``backup_verify.py``.

One backup, step by step: a REPEATABLE READ, READ ONLY transaction is opened
and its snapshot exported (``pg_export_snapshot()``); pg_dump runs with
``--snapshot`` while the same transaction counts every table's rows and reads
``alembic_version``, so the manifest describes exactly what was dumped.  The
dump is written under a hidden temporary name, checked (pg_dump exited 0, the
archive's table of contents is readable, a plain dump has its trailer), hashed,
renamed to its final name, and only then does its manifest appear beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.core.backups.catalog import USER_TABLES_SQL, read_alembic_revisions
from syncdb_tui.core.backups.hashing import LiveChecksum
from syncdb_tui.core.backups.integrity import plain_complete, read_toc
from syncdb_tui.core.backups.manifest import (
    BackupEntry,
    BackupManifest,
    TableCount,
    clean_stale_partials,
    ensure_backup_dir,
    partial_path,
    publish,
    release,
    remove_path,
    reserve,
    scan_backups,
    size_of,
)
from syncdb_tui.core.backups.plan import (
    FORMATS,
    KINDS,
    BackupOptions,
    BackupPlan,
    being_written,
    explicit_destination,
    next_free,
    plan_backup,
)
from syncdb_tui.core.backups.process import ToolRun, run_tool
from syncdb_tui.core.errors import OperationError, SyncdbError, UnreachableError
from syncdb_tui.core.events import JobProgress, ProgressCallback, emit
from syncdb_tui.core.secrets import redact

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.transaction import Transaction

    from syncdb_tui.config import Config
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.envs.tools import ToolInfo

__all__ = [
    "FORMATS",
    "KINDS",
    "BackupEntry",
    "BackupManifest",
    "BackupOptions",
    "BackupPlan",
    "backup",
    "backup_before_change",
    "list_backups",
    "plan_backup",
    "read_alembic_revisions",
]

_DUMPING = re.compile(r'dumping contents of table "(?P<name>.+)"\s*$')
_FINISHED = re.compile(r"finished item \d+ TABLE DATA (?P<name>.+)$")
_TICK = 0.5

_TABLES_SQL = USER_TABLES_SQL


async def _tables_in_scope(conn: asyncpg.Connection, selected: list[str]) -> list[tuple[str, int]]:
    """``(name, oid)`` of the tables the dump holds; reads the catalog only (takes no table lock)."""
    rows = await conn.fetch(_TABLES_SQL)
    tables = [(str(row["name"]), int(row["oid"])) for row in rows]
    if selected:
        wanted = set(selected)
        tables = [table for table in tables if table[0] in wanted]
    return tables


async def _sizes_and_counts(
    conn: asyncpg.Connection, tables: list[tuple[str, int]], tracker: _DumpProgress
) -> tuple[dict[str, int], dict[str, int]]:
    """Each table's size (for progress) and exact row count, in the dump's snapshot."""
    rows = await conn.fetch(
        "SELECT oid, pg_table_size(oid) AS bytes FROM pg_class WHERE oid = ANY($1::oid[])",
        [oid for _, oid in tables],
    )
    by_oid = {int(row["oid"]): int(row["bytes"]) for row in rows}
    sizes = {name: by_oid.get(oid, 0) for name, oid in tables}
    tracker.set_sizes(sizes)
    return sizes, await count_rows(conn, [name for name, _ in tables])


async def count_rows(conn: asyncpg.Connection, names: list[str]) -> dict[str, int]:
    """Exact ``count(*)`` of each table (names already quoted)."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = int(await conn.fetchval(f"SELECT count(*) FROM {name}"))
    return counts


class _DumpProgress:
    """Turns pg_dump's verbose lines and the growing file into :class:`JobProgress` events."""

    def __init__(self, tables: list[str], target: Path, progress: ProgressCallback | None) -> None:
        self.sizes = dict.fromkeys(tables, 0)
        self.total_bytes = 1
        self.target = target
        self.progress = progress
        self.started = time.monotonic()
        self.current = ""
        self.finished: set[str] = set()

    def set_sizes(self, sizes: dict[str, int]) -> None:
        self.sizes = dict(sizes)
        self.total_bytes = sum(sizes.values()) or 1

    def on_line(self, line: str) -> None:
        dumping = _DUMPING.search(line)
        if dumping:
            if self.current:
                self.finished.add(self.current)
            self.current = dumping.group("name")
            self.emit()
            return
        finished = _FINISHED.search(line)
        if finished:
            name = finished.group("name").strip()
            self.finished.add(next((t for t in self.sizes if t.endswith(name)), name))

    def emit(self, phase: str | None = None) -> None:
        if self.progress is None:
            return
        written = size_of(self.target)
        elapsed = time.monotonic() - self.started
        rate = written / elapsed / 1e6 if elapsed > 0 else 0.0
        done_bytes = sum(self.sizes.get(name, 0) for name in self.finished)
        detail = (
            f"{len(self.finished)}/{len(self.sizes)} tables · {written / 1e6:.1f} MB written · "
            f"{elapsed:.0f} s · {rate:.1f} MB/s"
        )
        emit(
            self.progress,
            JobProgress(
                phase=phase or (f"dumping {self.current}" if self.current else "dumping schema"),
                done=min(done_bytes, self.total_bytes),
                total=self.total_bytes,
                unit="bytes",
                detail=detail,
            ),
        )

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(_TICK)
            self.emit()


async def backup(
    env: Environment, config: Config, options: BackupOptions, *, progress: ProgressCallback | None = None
) -> BackupManifest:
    """Dump ``env``'s database as ``options`` say; returns the manifest of the new backup.

    Nothing appears under the final name unless pg_dump succeeded and the archive
    checked out; on failure or cancellation the temporary file is removed.

    Raises:
        UsageError: invalid options, unknown table, or the destination exists.
        UnreachableError: the server cannot be reached.
        OperationError: pg_dump failed (its error, without secrets, is in the message), or the
            disk filled up (the path is named; nothing is left behind).
    """
    plan = await plan_backup(env, config, options)
    options = plan.options  # ``auto`` resolved
    destination = plan.destination
    ensure_backup_dir(destination.parent)
    await asyncio.to_thread(clean_stale_partials, destination.parent)
    destination = _take_name(destination, explicit=explicit_destination(options))
    try:
        return await _dump(env, plan, options, destination, progress)
    finally:
        release(destination)


def _take_name(destination: Path, *, explicit: bool) -> Path:
    """Reserve ``destination`` (or, for a default name, the next free one) for this process.

    Raises:
        UsageError: an explicit ``-o`` that another syncdb is writing, or that exists by now.
    """
    from syncdb_tui.core.backups.manifest import manifest_path_for, reserved_by

    for _ in range(1000):
        if reserve(destination):
            if destination.exists() or manifest_path_for(destination).exists():
                release(destination)
                if explicit:
                    raise _exists(destination)
                destination = next_free(destination)
                continue
            return destination
        if explicit:
            raise being_written(destination, reserved_by(destination) or 0)
        destination = next_free(destination)
    raise OperationError(f"no free backup name near {destination}", title="backup failed")


def _exists(destination: Path) -> SyncdbError:
    from syncdb_tui.core.errors import UsageError

    return UsageError(
        f"{destination} already exists; a backup never overwrites another",
        hint="choose another path with -o, or move the old backup away",
        title="backup exists",
    )


async def _dump(
    env: Environment,
    plan: BackupPlan,
    options: BackupOptions,
    destination: Path,
    progress: ProgressCallback | None,
) -> BackupManifest:
    """The dump itself, into ``destination`` (reserved by the caller)."""
    import asyncpg

    from syncdb_tui.core.envs.environments import connect

    partial = partial_path(destination)
    started = time.monotonic()
    emit(progress, JobProgress(phase=f"connecting to {env.name}"))
    conn = await connect(env)
    dump_task: asyncio.Task[ToolRun] | None = None
    tracker: _DumpProgress | None = None
    hasher: LiveChecksum | None = None
    ticker: asyncio.Task[None] | None = None
    try:
        transaction, snapshot_id, snapshot_note = await _open_snapshot(conn)
        selected = [arg.split("=", 1)[1] for arg in plan.args if arg.startswith("--table=")]
        tables = await _tables_in_scope(conn, selected)
        revisions = await read_alembic_revisions(conn)
        server_version = str(await conn.fetchval("SHOW server_version")).split(" ")[0]
        server_version_num = int(await conn.fetchval("SHOW server_version_num"))
        args = [*plan.args]
        if snapshot_id:
            args.append(f"--snapshot={snapshot_id}")
        args.append(f"--file={partial}")
        if options.fmt != "directory":
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        tracker = _DumpProgress([name for name, _ in tables], partial, progress)
        hasher = LiveChecksum(partial, options.fmt)

        def on_line(line: str, tracker: _DumpProgress = tracker) -> None:
            tracker.on_line(line)
            hasher.on_line(line)

        dump_task = asyncio.create_task(run_tool(plan.tool, args, env.conninfo, on_line=on_line))
        hasher.start()
        ticker = asyncio.create_task(tracker.tick())
        counting = asyncio.create_task(_sizes_and_counts(conn, tables, tracker))
        try:
            await asyncio.wait({dump_task, counting}, return_when=asyncio.FIRST_COMPLETED)
            if dump_task.done() and not dump_task.result().ok:
                raise _dump_failed(plan, dump_task.result(), destination)
            sizes, counts = await counting
        finally:
            if not counting.done():
                counting.cancel()
                with contextlib.suppress(BaseException):
                    await counting
        run = await dump_task
        ticker.cancel()
        await transaction.commit()
        if not run.ok:
            raise _dump_failed(plan, run, destination)
        tracker.finished.update(name for name, _ in tables)
        tracker.emit("checking the archive")
        (size, digest), _ = await asyncio.gather(hasher.result(), _check_complete(partial, options.fmt, plan.tool))
        manifest = BackupManifest(
            path=destination,
            environment=env.name,
            database=env.database,
            server_version=server_version,
            server_version_num=server_version_num,
            alembic_revisions=revisions,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            kind=options.kind,
            format=options.fmt,
            tool=plan.tool.to_json(),
            size=size,
            sha256=digest,
            tables=tuple(TableCount(name=name, rows=counts[name], bytes=sizes[name]) for name, _ in tables),
            requested_tables=tuple(options.tables),
            compression=plan.compression,
            snapshot=snapshot_note,
            duration_seconds=round(time.monotonic() - started, 3),
            reason=options.label.replace("-", " "),
        )
        try:
            await asyncio.to_thread(publish, partial, manifest)
        except FileExistsError:
            raise _exists(destination) from None
        except OSError as error:
            raise _write_failed(destination, error) from None
        emit(progress, JobProgress(phase="backup complete", done=1, total=1, detail=str(destination)))
        return manifest
    except (
        asyncpg.PostgresConnectionError,
        asyncpg.exceptions.ConnectionDoesNotExistError,
        asyncpg.exceptions.OperatorInterventionError,
        ConnectionError,
    ) as error:
        if dump_task is not None and dump_task.done() and not dump_task.cancelled() and dump_task.exception() is None:
            run = dump_task.result()
            if not run.ok:
                raise _dump_failed(plan, run, destination) from None
        raise _server_gone(env, str(error)) from None
    finally:
        if ticker is not None:
            ticker.cancel()
        if hasher is not None:
            hasher.close()
        if dump_task is not None and not dump_task.done():
            dump_task.cancel()
            with contextlib.suppress(BaseException):
                await dump_task
        if partial.exists():
            await asyncio.to_thread(remove_path, partial)
        with contextlib.suppress(Exception):
            await asyncio.shield(conn.close(timeout=2))


async def _open_snapshot(conn: asyncpg.Connection) -> tuple[Transaction, str | None, str]:
    """Start the REPEATABLE READ transaction and export its snapshot for pg_dump.

    Where exporting is impossible (e.g. a server that forbids it), the counts are
    taken in a transaction of their own just before the dump, and the manifest says so.
    """
    import asyncpg

    transaction = conn.transaction(isolation="repeatable_read", readonly=True)
    await transaction.start()
    # the counts run beside pg_dump: parallel workers would only take CPU from it
    await conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    try:
        snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
        return transaction, str(snapshot), "exported"
    except asyncpg.PostgresError as error:
        await transaction.rollback()
        transaction = conn.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
        await conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        note = f"counted in a separate snapshot just before the dump ({redact(str(error))})"
        return transaction, None, note


_SERVER_GONE = (
    "server closed the connection unexpectedly",
    "terminating connection due to administrator command",
    "connection to server",
    "could not receive data from server",
    "the database system is shutting down",
    "no connection to the server",
)


def _dump_failed(plan: BackupPlan, run: ToolRun, destination: Path) -> SyncdbError:
    errors = run.errors()
    lowered = errors.lower()
    if "no space left on device" in lowered:
        return OperationError(
            f"the disk holding {destination.parent} is full: pg_dump could not write {destination.name} "
            f"({errors}); nothing was kept",
            hint=f"free space in {destination.parent}, or write the backup elsewhere with -o",
            title="disk full",
        )
    if any(marker in lowered for marker in _SERVER_GONE):
        return UnreachableError(
            f"the server of {plan.environment} ({plan.database}) went away during the backup: {errors}; "
            "nothing was kept",
            hint="check that the server is up (and why it stopped), then run the backup again",
            title=f"{plan.environment} unreachable",
        )
    hint = "read pg_dump's message above; nothing was written"
    if "compression" in lowered and ("support" in lowered or "not built" in lowered):
        hint = "this pg_dump lacks that compression method; use --compress gzip:1 (or none)"
    elif "server version" in lowered and "mismatch" in lowered:
        hint = "install a PostgreSQL client at least as new as the server, or set SYNCDB_PG_BINDIR"
    return OperationError(
        f"pg_dump of {plan.environment} ({plan.database}) failed with exit code {run.returncode}: {errors}",
        hint=hint,
        title="backup failed",
    )


def _server_gone(env: Environment, problem: str) -> UnreachableError:
    return UnreachableError(
        f"the server of {env.name} ({env.display_url}) went away during the backup: {redact(problem)}; "
        "nothing was kept",
        hint="check that the server is up (and why it stopped), then run the backup again",
        title=f"{env.name} unreachable",
    )


def _write_failed(destination: Path, error: OSError) -> OperationError:
    import errno

    if error.errno == errno.ENOSPC:
        return OperationError(
            f"the disk holding {destination.parent} is full: the manifest of {destination.name} could not be "
            "written; nothing was published",
            hint=f"free space in {destination.parent}, or write the backup elsewhere with -o",
            title="disk full",
        )
    return OperationError(
        f"cannot publish {destination} or its manifest: {error.strerror or error}; nothing was published",
        hint=f"check {destination.parent} (permissions, free space)",
        title="backup failed",
    )


async def _check_complete(partial: Path, fmt: str, tool: ToolInfo) -> None:
    """Raise unless the dump just written is whole (plain: trailer; others: readable TOC)."""
    if fmt == "plain":
        if not await asyncio.to_thread(plain_complete, partial):
            raise OperationError(
                f"pg_dump exited 0 but {partial.name} has no end-of-dump marker: the file is incomplete",
                hint="check free disk space and run the backup again",
                title="backup incomplete",
            )
        return
    await read_toc(partial, tool)


async def list_backups(config: Config) -> list[BackupEntry]:
    """Every backup in ``config.backup_dir``, newest first, with its manifest and a cheap status.

    Temporary files of unfinished backups are never listed.
    """
    return await asyncio.to_thread(scan_backups, config.backup_dir)


async def backups_of(config: Config, env_name: str) -> tuple[list[BackupEntry], bool]:
    """The good backups taken of ``env_name``, newest first, and ``True``; or, when there are none,
    every good backup and ``False`` (a backup of another environment can be restored too)."""
    entries = [entry for entry in await list_backups(config) if entry.good and entry.manifest is not None]
    own = [entry for entry in entries if entry.manifest is not None and entry.manifest.environment == env_name]
    return (own, True) if own else (entries, False)


async def newest_good_backup(config: Config, env_name: str, *, kind: str | None = None) -> BackupEntry | None:
    """The newest good backup taken of ``env_name`` (of ``kind`` when given: "full", "schema"…), else ``None``.

    The one rule for "the newest backup we can trust" (the report's last-backup line and the
    rehearsal of a protected environment both ask it).
    """
    for entry in await list_backups(config):
        manifest = entry.manifest
        if not entry.good or manifest is None or manifest.environment != env_name:
            continue
        if kind is None or manifest.kind == kind:
            return entry
    return None


async def backup_before_change(
    config: Config, env: Environment, *, progress: ProgressCallback | None = None
) -> BackupManifest:
    """The full backup the policy asks for before a change (``[backup] format``, labelled before-migrate).

    Raises:
        OperationError: the backup failed (the change must not go ahead).
    """
    options = BackupOptions(fmt=config.backup_format, label="before-migrate")
    return await backup(env, config, options, progress=progress)
