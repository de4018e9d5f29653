"""Planning a backup: options, the pg_dump command line, the binary and the destination.

Who calls what: ``core/backup.py`` calls :func:`plan_backup` before every dump;
``syncdb backup --dry-run`` prints the :class:`BackupPlan` it returns.  Nothing
here writes a file or changes a database.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.core.backups.manifest import default_name, human_size, manifest_path_for, partial_path, reserved_by
from syncdb_tui.core.backups.process import command_line
from syncdb_tui.core.errors import UsageError

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.config import Config
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.envs.tools import ToolInfo

KINDS = ("full", "schema", "data")
FORMATS = ("custom", "plain", "directory")
AUTO = "auto"
"""The default format: ``custom``, or a parallel ``directory`` dump over ``[backup] parallel_above``."""
FORMAT_CHOICES = (AUTO, *FORMATS)
_COMPRESSION = re.compile(r"^(?:(?P<level>\d)|(?P<method>none|gzip|zstd|lz4)(?::(?P<detail>[a-z_=0-9,]+))?)$")


@dataclass(frozen=True)
class BackupOptions:
    """What to back up, and how."""

    kind: str = "full"
    """``full``, ``schema`` (definitions only) or ``data`` (rows only)."""
    tables: tuple[str, ...] = ()
    """Only these tables (``name`` or ``schema.name``); empty for all."""
    fmt: str = AUTO
    """``auto`` (default: see :func:`resolve_format`), ``custom``, ``plain`` (SQL) or ``directory``."""
    jobs: int = 1
    """Parallel pg_dump workers (directory format only)."""
    output: Path | None = None
    """Where to write; default ``backup_dir/backup_<env>_<YYYYmmdd_HHMMSS>``."""
    compression: str | None = None
    """pg_dump's ``--compress`` value (``gzip:1``, ``0``, ``zstd:3``…); default from the config."""
    label: str = ""
    """Appended to the default name and recorded as the manifest's ``reason``."""


@dataclass(frozen=True)
class BackupPlan:
    """What :func:`backup` would run; printed by ``--dry-run``."""

    environment: str
    database: str
    server_version: str
    tool: ToolInfo
    args: tuple[str, ...]
    """pg_dump's arguments, without ``--snapshot`` and ``--file`` (added at run time)."""
    destination: Path
    options: BackupOptions
    """The options as they will run (``auto`` resolved)."""
    compression: str
    format_reason: str = ""
    """Why ``auto`` chose this format ("" when the format was asked for)."""

    @property
    def command(self) -> str:
        """The full command line (no password: it travels in the child's environment)."""
        return command_line(self.tool, [*self.args, f"--file={self.destination}"])

    def to_json(self) -> dict[str, object]:
        return {
            "environment": self.environment,
            "database": self.database,
            "server_version": self.server_version,
            "tool": self.tool.to_json(),
            "command": self.command,
            "destination": str(self.destination),
            "kind": self.options.kind,
            "format": self.options.fmt,
            "tables": list(self.options.tables),
            "jobs": self.options.jobs,
            "compression": self.compression,
            "format_reason": self.format_reason,
        }


def _check_options(options: BackupOptions) -> None:
    if options.kind not in KINDS:
        raise UsageError(f"unknown backup kind {options.kind!r}", hint=f"use one of: {', '.join(KINDS)}")
    if options.fmt not in FORMAT_CHOICES:
        raise UsageError(f"unknown backup format {options.fmt!r}", hint=f"use one of: {', '.join(FORMAT_CHOICES)}")
    if options.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {options.jobs}")
    if options.jobs > 1 and options.fmt not in ("directory", AUTO):
        raise UsageError(
            f"--jobs {options.jobs} needs the directory format (pg_dump dumps in parallel only into a directory)",
            hint="add --format directory, or drop --jobs",
        )


def compression_args(spec: str | None, config_spec: str, fmt: str, tool: ToolInfo) -> tuple[list[str], str]:
    """pg_dump's compression argument for ``spec`` (or the config's) and its canonical name.

    Raises:
        UsageError: the value is not a compression pg_dump knows, or this pg_dump is too old for it.
    """
    if fmt == "plain":
        if spec not in (None, "", "none", "0"):
            raise UsageError(
                f"plain-format backups are written uncompressed (asked for --compress {spec})",
                hint="use --format custom (compressed, and restorable with pg_restore), or drop --compress",
            )
        return [], "none"
    chosen = (spec or config_spec or "gzip:1").strip().lower()
    match = _COMPRESSION.match(chosen)
    if match is None:
        raise UsageError(
            f"{chosen!r} is not a compression pg_dump understands",
            hint="use gzip:N (N 0-9), none, or a level 0-9 (zstd and lz4 need a pg_dump built with them)",
        )
    if match.group("level") is not None:
        level = match.group("level")
        return [f"--compress={level}"], "none" if level == "0" else f"gzip:{level}"
    method, detail = match.group("method"), match.group("detail")
    if tool.major >= 16:
        return [f"--compress={chosen}"], chosen
    if method == "none":
        return ["--compress=0"], "none"
    if method == "gzip" and (detail is None or detail.isdigit()):
        return [f"--compress={detail or 6}"], f"gzip:{detail or 6}"
    raise UsageError(
        f"--compress {chosen} needs pg_dump 16 or newer; the one that fits this server is {tool.describe()}",
        hint="use gzip:N, or install a newer PostgreSQL client",
    )


async def plan_backup(env: Environment, config: Config, options: BackupOptions) -> BackupPlan:
    """The pg_dump command, binary, database and destination of a backup; changes nothing.

    Raises:
        UsageError: invalid options, or the destination already exists.
        UnreachableError: the server cannot be reached.
        OperationError: no pg_dump fits the server.
    """
    from syncdb_tui.core.envs.environments import probe
    from syncdb_tui.core.envs.tools import find_tool

    _check_options(options)
    info = await probe(env)
    options, format_reason = await resolve_format(env, config, options)
    tool = await asyncio.to_thread(find_tool, "pg_dump", info.server_version_num)
    compress, compression = compression_args(options.compression, config.backup_compression, options.fmt, tool)
    args = [f"--format={options.fmt}", "--verbose", *compress]
    if options.kind == "schema":
        args.append("--schema-only")
    elif options.kind == "data":
        args.append("--data-only")
    if options.jobs > 1:
        args.append(f"--jobs={options.jobs}")
    if options.tables:
        tables = await _resolve_tables(env, options.tables)
        args.extend(f"--table={name}" for name in tables)
    destination = _destination(env, config, options)
    if destination.exists() or manifest_path_for(destination).exists():
        raise UsageError(
            f"{destination} already exists; a backup never overwrites another",
            hint="choose another path with -o, or move the old backup away",
            title="backup exists",
        )
    holder = reserved_by(destination)
    if holder is not None:
        raise being_written(destination, holder)
    return BackupPlan(
        environment=env.name,
        database=env.database,
        server_version=info.server_version,
        tool=tool,
        args=tuple(args),
        destination=destination,
        options=options,
        compression=compression,
        format_reason=format_reason,
    )


async def resolve_format(env: Environment, config: Config, options: BackupOptions) -> tuple[BackupOptions, str]:
    """``options`` with ``auto`` replaced by the format to use, and why ("" when it was asked for).

    ``auto`` is ``directory`` with one pg_dump job per core (at least two) for a full or data
    backup of a database of ``[backup] parallel_above`` bytes or more, written to a default
    name or into a directory; otherwise ``custom`` (one file).  ``--jobs N`` alone means
    ``directory``.  A parallel directory dump is several times faster than one ``custom``
    stream: each job compresses its own tables.
    """
    if options.fmt != AUTO:
        return options, ""
    if options.jobs > 1:
        return replace(options, fmt="directory"), f"directory: --jobs {options.jobs} dumps in parallel"
    output = options.output.expanduser() if options.output is not None else None
    if options.kind == "schema" or options.tables or (output is not None and not output.is_dir()):
        return replace(options, fmt="custom"), ""
    size = await database_size(env)
    threshold = config.backup_parallel_above
    if size < threshold:
        return replace(options, fmt="custom"), ""
    jobs = max(2, os.cpu_count() or 2)
    return (
        replace(options, fmt="directory", jobs=jobs),
        f"directory with {jobs} jobs: {env.database} is {human_size(size)}, "
        f"over [backup] parallel_above ({human_size(threshold)})",
    )


async def database_size(env: Environment) -> int:
    """``pg_database_size`` of ``env``'s database in bytes (reads the catalog; takes no lock)."""
    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        return int(await conn.fetchval("SELECT pg_database_size(current_database())"))


def being_written(destination: Path, holder: int) -> UsageError:
    """The error for ``-o`` onto a path another syncdb (pid ``holder``) is writing."""
    return UsageError(
        f"{destination} is being written by another syncdb (pid {holder}); a backup never overwrites another",
        hint="choose another path with -o, or wait for that backup to finish",
        title="backup in progress",
    )


def explicit_destination(options: BackupOptions) -> bool:
    """Whether ``-o`` named the file itself (rather than a directory for the default name)."""
    if options.output is None:
        return False
    output = options.output.expanduser()
    return not (output.is_dir() and options.fmt != "directory")


def next_free(destination: Path) -> Path:
    """The next free name after ``destination`` (``_2``, ``_3``…), skipping names other syncdbs hold."""
    return _free_name(destination.parent, destination.name)


def _destination(env: Environment, config: Config, options: BackupOptions) -> Path:
    if options.output is not None:
        output = options.output.expanduser()
        output = output if output.is_absolute() else Path.cwd() / output
        if not (output.is_dir() and options.fmt != "directory"):
            return output.resolve()
        directory = output
    else:
        directory = config.backup_dir
    return _free_name(directory.resolve(), default_name(env.name, options.fmt, label=options.label))


def _free_name(directory: Path, name: str) -> Path:
    """``directory/name``, or ``name`` with ``_2``, ``_3``… before its suffix when that is taken."""
    candidate = directory / name
    stem, suffix = (name[: -len(Path(name).suffix)], Path(name).suffix) if Path(name).suffix else (name, "")
    number = 2
    while (
        candidate.exists()
        or manifest_path_for(candidate).exists()
        or partial_path(candidate).exists()
        or reserved_by(candidate) is not None
    ):
        candidate = directory / f"{stem}_{number}{suffix}"
        number += 1
    return candidate


async def _resolve_tables(env: Environment, names: tuple[str, ...]) -> list[str]:
    """Each requested table as ``schema.table`` (quoted where needed); unknown names are an error."""
    from syncdb_tui.core.envs.environments import connection

    resolved: list[str] = []
    async with connection(env) as conn:
        for name in names:
            row = await _lookup_table(conn, name)
            if row is None:
                raise UsageError(
                    f"there is no table {name!r} in {env.name} ({env.database})",
                    hint="check the name (schema.table); `syncdb studio` lists the tables",
                    title="unknown table",
                )
            resolved.append(row)
    return resolved


async def _lookup_table(conn: asyncpg.Connection, name: str) -> str | None:
    import asyncpg

    try:
        qualified: str | None = await conn.fetchval(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')",
            name,
        )
    except asyncpg.PostgresError:
        return None
    return qualified
