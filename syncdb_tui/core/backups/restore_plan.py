"""Planning a restore: which backup, which database, what is in the way, which binary.

Who calls what: ``core/restore.py`` calls :func:`plan_restore` before every
restore, ``syncdb restore`` calls it to print ``--dry-run`` and to decide on the
typed confirmation; ``core/backup_verify.py`` uses :func:`restore_command`.
Nothing here changes a database.

Three modes: ``new-database`` (``--target-db``); ``swap`` (over an environment: rebuilt
beside in a copy, checked, then renamed into place, the current database kept); and
``in-place`` in one transaction, where the swap is impossible (privileges, ``--in-place``)
or the backup holds only part of the database (data-only, ``-t`` tables).
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.core.backups.manifest import FORMAT_SUFFIXES, BackupManifest, load_entry
from syncdb_tui.core.backups.process import command_line
from syncdb_tui.core.backups.swap import Session, free_beside_names, sessions_on, swap_ability
from syncdb_tui.core.errors import RefusedError, UsageError

if TYPE_CHECKING:
    from syncdb_tui.config import Config
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.envs.tools import ToolInfo

_SAFE_DBNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,62}$")

_OBJECTS_SQL = """
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' ELSE 'relation' END AS kind,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 2
"""


@dataclass(frozen=True)
class RestorePlan:
    """What :func:`restore` would do; printed by ``--dry-run``."""

    backup: Path
    manifest: BackupManifest
    environment: str
    database: str
    """The database restored into."""
    create_database: bool
    clean: bool
    tool: ToolInfo
    args: tuple[str, ...]
    existing_objects: tuple[str, ...]
    """User objects already in the target (``table public.orders``…)."""
    would_drop: tuple[str, ...]
    """Existing objects the restore replaces (``--clean``) or empties (data-only)."""
    safety_backup: bool
    refusal: str = ""
    """Why the restore cannot go ahead as asked (empty when it can)."""
    confirmation_reasons: tuple[str, ...] = ()
    """Why a typed confirmation is needed (empty when none is)."""
    feeder: ToolInfo | None = None
    """For a data-only restore that empties the tables first: the pg_restore whose SQL psql runs."""
    feeder_args: tuple[str, ...] = ()
    mode: str = "in-place"
    """``new-database``, ``swap`` (rebuilt beside, checked, renamed into place) or ``in-place``."""
    mode_reason: str = ""
    """Why a restore over an environment runs in place rather than beside (empty for the others)."""
    copy_database: str = ""
    """``swap``: the database the backup is restored into before the swap."""
    previous_database: str = ""
    """``swap``: the name the environment's current database keeps afterwards."""
    current_revisions: tuple[str, ...] = ()
    """The Alembic revisions the target is at now (empty for a new database)."""
    sessions: tuple[Session, ...] = ()
    """``swap``: other sessions connected to the environment's database now."""
    jobs: int = 1
    prologue: str = ""
    """A data-only ``--clean``: what psql reads first (BEGIN and TRUNCATE)."""
    epilogue: str = ""
    """… and last, only once the whole stream arrived (COMMIT)."""

    @property
    def restore_database(self) -> str:
        """Where pg_restore/psql writes: the copy for a swap, else :attr:`database`."""
        return self.copy_database or self.database

    @property
    def cross_environment(self) -> bool:
        return self.manifest.environment != self.environment

    @property
    def command(self) -> str:
        if self.prologue:
            source = command_line(self.feeder, self.feeder_args) if self.feeder else f"cat {self.manifest.path}"
            return (
                f"(echo {self.prologue.strip()!r}; {source} && echo {self.epilogue.strip()!r}) | "
                f"{command_line(self.tool, self.args)}"
            )
        return command_line(self.tool, self.args)

    def describe_mode(self) -> str:
        """How the restore runs, in a sentence."""
        if self.mode == "new-database":
            return f"into the new database {self.database}"
        if self.mode == "swap":
            return (
                f"rebuilt beside as {self.copy_database} ({self.jobs} job(s)), checked against the manifest, then "
                f"swapped in; the current {self.database} is kept as {self.previous_database}"
            )
        return f"in place, in one transaction ({self.mode_reason})"

    def to_json(self) -> dict[str, object]:
        return {
            "backup": str(self.backup),
            "environment": self.environment,
            "database": self.database,
            "create_database": self.create_database,
            "clean": self.clean,
            "tool": self.tool.to_json(),
            "command": self.command,
            "existing_objects": list(self.existing_objects),
            "would_drop": list(self.would_drop),
            "safety_backup": self.safety_backup,
            "refusal": self.refusal,
            "confirmation_reasons": list(self.confirmation_reasons),
            "kind": self.manifest.kind,
            "format": self.manifest.format,
            "mode": self.mode,
            "mode_reason": self.mode_reason,
            "copy_database": self.copy_database or None,
            "previous_database": self.previous_database or None,
            "backup_of": self.manifest.environment,
            "cross_environment": self.cross_environment,
            "current_revisions": list(self.current_revisions),
            "revisions_after": list(self.manifest.alembic_revisions),
            "sessions": [session.to_json() for session in self.sessions],
            "jobs": self.jobs,
        }


def find_backup(config: Config, backup: Path | str) -> Path:
    """The backup named ``backup``: a path, or a name in ``backup_dir`` (with or without suffix).

    Raises:
        UsageError: nothing of that name exists.
    """
    given = Path(backup).expanduser()
    candidates = [given]
    if not given.is_absolute():
        candidates.append(config.backup_dir / given)
    for base in list(candidates):
        candidates.extend(base.with_name(base.name + suffix) for suffix in FORMAT_SUFFIXES.values() if suffix)
    for candidate in candidates:
        name = candidate.name
        if name.endswith(".manifest.json"):
            candidate = candidate.with_name(name[: -len(".manifest.json")])
        if candidate.exists():
            return candidate.resolve()
    raise UsageError(
        f"there is no backup {str(backup)!r} (looked for it as a path and in {config.backup_dir})",
        hint="`syncdb backups` lists the backups there",
        title="backup not found",
    )


def dbname_arg(database: str) -> str:
    """``--dbname`` for ``database``: the bare name, or a quoted conninfo when it has odd characters."""
    if _SAFE_DBNAME.match(database):
        return f"--dbname={database}"
    quoted = database.replace("\\", "\\\\").replace("'", "\\'")
    return f"--dbname=dbname='{quoted}'"


def restore_command(manifest: BackupManifest, database: str, *, clean: bool, jobs: int = 1) -> tuple[str, list[str]]:
    """The program (``pg_restore`` or ``psql``) and its arguments to restore ``manifest``'s backup.

    A data-only backup restored with ``clean`` runs in psql reading its standard input:
    syncdb writes ``BEGIN`` and a ``TRUNCATE`` of the backup's tables, then the archive's
    SQL (``pg_restore --file=-``, see :func:`feeder_command`), and ``COMMIT`` only once the
    whole stream arrived, so neither a failure nor a stream cut short commits anything
    (:func:`data_only_transaction`).
    """
    if manifest.kind == "data" and clean:
        return "psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", dbname_arg(database), "--file=-"]
    if manifest.format == "plain":
        return "psql", [
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "--single-transaction",
            dbname_arg(database),
            f"--file={manifest.path}",
        ]
    args = ["--verbose", "--exit-on-error", "--no-owner", dbname_arg(database)]
    if clean and manifest.kind != "data":
        args += ["--clean", "--if-exists"]
    if jobs > 1:
        args.append(f"--jobs={jobs}")
    else:
        args.append("--single-transaction")
    args.append(str(manifest.path))
    return "pg_restore", args


def data_only_transaction(manifest: BackupManifest) -> tuple[str, str]:
    """``(prologue, epilogue)`` around a data-only ``--clean`` stream: BEGIN + TRUNCATE, and COMMIT."""
    tables = ", ".join(table.name for table in manifest.tables)
    return f"BEGIN;\nTRUNCATE {tables};\n", "\nCOMMIT;\n"


def feeder_command(manifest: BackupManifest, *, clean: bool) -> list[str] | None:
    """pg_restore's arguments to turn an archive into SQL for psql, when the restore needs that."""
    if manifest.kind == "data" and clean and manifest.format != "plain":
        return ["--file=-", str(manifest.path)]
    return None


def default_jobs(manifest: BackupManifest) -> int:
    """Parallel pg_restore workers where the result is thrown away on failure: cores, at most 4."""
    if manifest.format == "plain":
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


async def _current_revisions(env: Environment, database: str) -> tuple[str, ...]:
    from syncdb_tui.core.backups.catalog import read_alembic_revisions
    from syncdb_tui.core.envs.environments import connection

    async with connection(env, database=database) as conn:
        return await read_alembic_revisions(conn)


async def _existing_objects(env: Environment, database: str) -> list[tuple[str, str]]:
    from syncdb_tui.core.envs.environments import connection

    async with connection(env, database=database) as conn:
        rows = await conn.fetch(_OBJECTS_SQL)
    return [(str(row["kind"]), str(row["name"])) for row in rows]


async def _tables_with_rows(env: Environment, database: str, tables: list[str]) -> list[str]:
    from syncdb_tui.core.envs.environments import connection

    if not tables:
        return []
    async with connection(env, database=database) as conn:
        return [name for name in tables if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {name})")]


async def _database_exists(env: Environment, database: str) -> bool:
    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database))


async def plan_restore(
    config: Config,
    backup_path: Path | str,
    *,
    env: Environment,
    target_db: str | None = None,
    clean: bool = False,
    safety_backup: bool = True,
    jobs: int | None = None,
    in_place: bool = False,
) -> RestorePlan:
    """What restoring ``backup_path`` into ``env`` (or a new ``target_db`` on its server) would do.

    Reads the backup's manifest and the target's catalog; changes nothing.  ``jobs``
    ``None`` picks parallel workers where a failure only throws a copy away (a new
    database, the copy of a swap); ``in_place`` forgoes the swap.

    Raises:
        UsageError: no such backup, or options that cannot work (a bad name, --jobs with plain SQL
            or in place).
        RefusedError: the backup has no readable manifest.
        UnreachableError: the server cannot be reached.
        OperationError: no pg_restore/psql fits the server and the archive.
    """
    from syncdb_tui.core.envs.environments import probe
    from syncdb_tui.core.envs.tools import find_tool

    path = find_backup(config, backup_path)
    entry = load_entry(path)
    if entry.manifest is None:
        raise RefusedError(
            f"{path} cannot be restored safely: {entry.problem}",
            hint="restore only backups that syncdb backups lists as ok",
            title="backup incomplete",
        )
    manifest = entry.manifest
    if jobs is not None and (jobs < 1 or (jobs > 1 and manifest.format == "plain")):
        raise UsageError(
            f"--jobs {jobs} is not possible for a {manifest.format}-format backup",
            hint="parallel restore needs a custom or directory backup; drop --jobs",
        )
    if target_db is not None and not _SAFE_DBNAME.match(target_db):
        raise UsageError(
            f"{target_db!r} is not a database name syncdb will create",
            hint="use letters, digits, _ . - (at most 63 characters)",
        )
    info = await probe(env)
    mode, mode_reason = await _mode(env, manifest, target_db=target_db, in_place=in_place)
    if mode == "in-place" and jobs is not None and jobs > 1:
        raise UsageError(
            f"--jobs {jobs} is refused for a restore in place ({mode_reason}): parallel pg_restore gives up the "
            "one transaction that keeps the environment whole when the restore fails",
            hint="drop --jobs" + ("" if in_place else "; a restore rebuilt beside the database runs in parallel"),
        )
    chosen_jobs = (jobs or default_jobs(manifest)) if mode != "in-place" else 1
    database = target_db or env.database
    refusal = ""
    existing: list[tuple[str, str]] = []
    current: tuple[str, ...] = ()
    if target_db is not None:
        if await _database_exists(env, target_db):
            refusal = (
                f"the database {target_db!r} already exists on {env.name}'s server; --target-db creates a new database"
            )
    else:
        existing = await _existing_objects(env, database)
        current = await _current_revisions(env, database)
    in_backup = {table.name for table in manifest.tables}
    if manifest.kind == "data":
        filled = await _tables_with_rows(env, database, [n for k, n in existing if k == "table" and n in in_backup])
        conflicts = [("table with rows", name) for name in filled]
        would_drop = [f"rows of table {name}" for name in filled]
    elif mode == "swap":
        conflicts = existing
        would_drop = [f"{kind} {name}" for kind, name in existing]
    else:
        conflicts = existing
        would_drop = [f"{kind} {name}" for kind, name in existing if name in in_backup or kind != "table"]
    needs_clean = bool(conflicts)
    reasons: list[str] = []
    if needs_clean and not refusal:
        shown = ", ".join(f"{kind} {name}" for kind, name in conflicts[:5])
        more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
        holds = f"{database} on {env.name} already holds {len(conflicts)} object(s) ({shown}{more})"
        if not clean:
            refusal = f"{holds}; restoring over existing objects needs --clean"
        elif manifest.format == "plain" and manifest.kind != "data" and mode != "swap":
            refusal = f"{holds}, and a plain SQL backup cannot replace existing objects in place"
        else:
            reasons.append(f"--clean replaces {len(would_drop)} existing object(s) in {database}")
    if env.protected and target_db is None and not refusal:
        reasons.append(f"{env.name} is a protected environment")
    if target_db is None and manifest.environment != env.name and not refusal:
        reasons.append(
            f"the backup is of {manifest.environment} ({manifest.database}), not of {env.name}: "
            f"{env.name} will hold {manifest.environment}'s data"
        )
    copy = previous = ""
    sessions: tuple[Session, ...] = ()
    if mode == "swap":
        copy, previous = await free_beside_names(env)
        sessions = tuple(await sessions_on(env, database))
    prologue = epilogue = ""
    if manifest.kind == "data" and clean and needs_clean:
        prologue, epilogue = data_only_transaction(manifest)
    program, args = restore_command(
        manifest, copy or database, clean=clean and needs_clean and mode != "swap", jobs=chosen_jobs
    )
    tool = await asyncio.to_thread(find_tool, program, info.server_version_num, at_least=manifest.tool_version_num)
    feeder_args = feeder_command(manifest, clean=clean and needs_clean)
    feeder = None
    if feeder_args is not None:
        feeder = await asyncio.to_thread(
            find_tool, "pg_restore", info.server_version_num, at_least=manifest.tool_version_num
        )
    return RestorePlan(
        backup=path,
        manifest=manifest,
        environment=env.name,
        database=database,
        create_database=target_db is not None,
        clean=clean and needs_clean,
        tool=tool,
        args=tuple(args),
        existing_objects=tuple(f"{kind} {name}" for kind, name in existing),
        would_drop=tuple(would_drop) if clean else (),
        safety_backup=bool(safety_backup and env.protected and mode == "in-place" and existing),
        refusal=refusal,
        confirmation_reasons=tuple(reasons),
        feeder=feeder,
        feeder_args=tuple(feeder_args or ()),
        mode=mode,
        mode_reason=mode_reason,
        copy_database=copy,
        previous_database=previous,
        current_revisions=current,
        sessions=sessions,
        jobs=chosen_jobs,
        prologue=prologue,
        epilogue=epilogue,
    )


async def _mode(
    env: Environment, manifest: BackupManifest, *, target_db: str | None, in_place: bool
) -> tuple[str, str]:
    """``(mode, why in place)`` of a restore: ``new-database``, ``swap`` or ``in-place``."""
    if target_db is not None:
        return "new-database", ""
    if manifest.kind == "data":
        return "in-place", "a data-only backup holds only the rows of its tables"
    if manifest.requested_tables:
        return "in-place", "a backup of selected tables holds only part of the database"
    if in_place:
        return "in-place", "--in-place was asked for"
    ability = await swap_ability(env)
    if not ability.possible:
        return "in-place", ability.reason
    return "swap", ""
