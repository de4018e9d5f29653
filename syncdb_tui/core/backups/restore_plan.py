"""Planning a restore: which backup, which database, what is in the way, which binary.

Who calls what: ``core/restore.py`` calls :func:`plan_restore` before every
restore, ``syncdb restore`` calls it to print ``--dry-run`` and to decide on the
typed confirmation; ``core/backup_verify.py`` uses :func:`restore_command`.
Nothing here changes a database.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.core.backups.manifest import FORMAT_SUFFIXES, BackupManifest, load_entry
from syncdb_tui.core.backups.process import command_line
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

    @property
    def command(self) -> str:
        if self.feeder is not None:
            return f"{command_line(self.feeder, self.feeder_args)} | {command_line(self.tool, self.args)}"
        return command_line(self.tool, self.args)

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

    A data-only backup restored with ``clean`` runs in psql, in one transaction that
    first empties the backup's tables (``TRUNCATE``) and then loads them, so a failure
    leaves the old rows in place; a custom/directory archive is fed to it by
    ``pg_restore --file=-`` (see :func:`feeder_command`).
    """
    if manifest.kind == "data" and clean:
        source = str(manifest.path) if manifest.format == "plain" else "-"
        tables = ", ".join(table.name for table in manifest.tables)
        return "psql", [
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "--single-transaction",
            dbname_arg(database),
            f"--command=TRUNCATE {tables}",
            f"--file={source}",
        ]
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


def feeder_command(manifest: BackupManifest, *, clean: bool) -> list[str] | None:
    """pg_restore's arguments to turn an archive into SQL for psql, when the restore needs that."""
    if manifest.kind == "data" and clean and manifest.format != "plain":
        return ["--file=-", str(manifest.path)]
    return None


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
    jobs: int = 1,
) -> RestorePlan:
    """What restoring ``backup_path`` into ``env`` (or a new ``target_db`` on its server) would do.

    Reads the backup's manifest and the target's catalog; changes nothing.

    Raises:
        UsageError: no such backup, or options that cannot work (a bad name, --jobs with plain SQL).
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
    if jobs < 1 or (jobs > 1 and manifest.format == "plain"):
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
    program, _ = restore_command(manifest, "x", clean=clean, jobs=jobs)
    tool = await asyncio.to_thread(find_tool, program, info.server_version_num, at_least=manifest.tool_version_num)
    database = target_db or env.database
    refusal = ""
    existing: list[tuple[str, str]] = []
    if target_db is not None:
        if await _database_exists(env, target_db):
            refusal = (
                f"the database {target_db!r} already exists on {env.name}'s server; --target-db creates a new database"
            )
    else:
        existing = await _existing_objects(env, database)
    in_backup = {table.name for table in manifest.tables}
    if manifest.kind == "data":
        filled = await _tables_with_rows(env, database, [n for k, n in existing if k == "table" and n in in_backup])
        conflicts = [("table with rows", name) for name in filled]
        would_drop = [f"rows of table {name}" for name in filled]
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
        elif manifest.format == "plain" and manifest.kind != "data":
            refusal = f"{holds}, and a plain SQL backup cannot replace existing objects"
        else:
            reasons.append(f"--clean replaces {len(would_drop)} existing object(s) in {database}")
    if env.protected and target_db is None and not refusal:
        reasons.append(f"{env.name} is a protected environment")
    program, args = restore_command(manifest, database, clean=clean and needs_clean, jobs=jobs)
    if program != tool.name:
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
        safety_backup=bool(safety_backup and env.protected and target_db is None and existing),
        refusal=refusal,
        confirmation_reasons=tuple(reasons),
        feeder=feeder,
        feeder_args=tuple(feeder_args or ()),
    )
