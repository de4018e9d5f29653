"""Checking backups: size, SHA-256, a readable table of contents, and (deep) a trial restore.

Who calls what: ``syncdb backups --verify [--deep]`` and the TUI call
:func:`verify_backup`.  The file-level checks it reports (also used by ``backup.py``
and ``restore.py``) live in ``integrity.py``; the deep check restores with ``restore.py``.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.core.backups.integrity import readable_problem
from syncdb_tui.core.backups.manifest import (
    BackupEntry,
    BackupManifest,
    checksum,
    load_entry,
    record_verified,
    size_of,
)
from syncdb_tui.core.backups.process import run_tool
from syncdb_tui.core.events import JobProgress, ProgressCallback, emit

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.envs.tools import ToolInfo


@dataclass(frozen=True)
class VerifyCheck:
    """One check of a backup."""

    name: str
    """``manifest``, ``size``, ``sha256``, ``readable`` or ``deep restore``."""
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class VerifyResult:
    """The verdict on one backup."""

    path: Path
    checks: tuple[VerifyCheck, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def problems(self) -> list[str]:
        return [f"{check.name}: {check.detail}" for check in self.checks if not check.ok]

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


async def verify_backup(
    entry: BackupEntry | Path,
    *,
    deep: bool = False,
    env: Environment | None = None,
    progress: ProgressCallback | None = None,
) -> VerifyResult:
    """Check a backup: manifest, size, SHA-256, readable TOC; with ``deep``, a trial restore.

    The deep check restores into a scratch database on ``env``'s server, checks its
    identity against the manifest (the database the archive says it was dumped from,
    the Alembic revision, the set of tables) and every table's row count, and drops the
    scratch database.  A backup that passes is noted in ``backup_dir`` (``verified_note``).

    Raises:
        UsageError: ``deep`` without ``env``.
        UnreachableError: (deep) the server cannot be reached.
    """
    from syncdb_tui.core.errors import UsageError

    if isinstance(entry, Path):
        entry = load_entry(entry)
    checks: list[VerifyCheck] = []
    manifest = entry.manifest
    if manifest is None:
        return VerifyResult(entry.path, (VerifyCheck("manifest", False, entry.problem),))
    checks.append(VerifyCheck("manifest", True, f"{manifest.kind} {manifest.format} of {manifest.environment}"))
    emit(progress, JobProgress(phase=f"verifying {entry.path.name}"))
    if not entry.path.exists():
        checks.append(VerifyCheck("size", False, f"{entry.path} does not exist"))
        return VerifyResult(entry.path, tuple(checks))
    actual_size = size_of(entry.path)
    checks.append(
        VerifyCheck(
            "size",
            actual_size == manifest.size,
            f"{actual_size} bytes" + ("" if actual_size == manifest.size else f", manifest says {manifest.size}"),
        )
    )
    _, digest = await asyncio.to_thread(checksum, entry.path)
    checks.append(
        VerifyCheck(
            "sha256",
            digest == manifest.sha256,
            digest if digest == manifest.sha256 else f"{digest} ≠ {manifest.sha256}",
        )
    )
    problem = await readable_problem(manifest, None)
    checks.append(VerifyCheck("readable", not problem, problem or "table of contents read"))
    if deep:
        if env is None:
            raise UsageError("--deep needs an environment whose server can hold a scratch database")
        if all(check.ok for check in checks):
            checks.append(await _deep_check(manifest, env, progress))
        else:
            checks.append(VerifyCheck("deep restore", False, "skipped: the file failed the checks above"))
    result = VerifyResult(entry.path, tuple(checks))
    if result.ok:
        await asyncio.to_thread(record_verified, manifest, deep=deep)
    return result


async def _deep_check(manifest: BackupManifest, env: Environment, progress: ProgressCallback | None) -> VerifyCheck:
    from syncdb_tui.core.backups.restore import compare_tables, create_database, differences, drop_database, tables_of
    from syncdb_tui.core.backups.restore_plan import restore_command
    from syncdb_tui.core.envs.environments import probe
    from syncdb_tui.core.envs.tools import find_tool

    if manifest.kind == "data":
        return VerifyCheck("deep restore", True, "skipped: a data-only backup needs its schema to restore into")
    info = await probe(env)
    scratch = f"syncdb_verify_{secrets.token_hex(4)}"
    program, args = restore_command(manifest, scratch, clean=False)
    tool = await asyncio.to_thread(find_tool, program, info.server_version_num, at_least=manifest.tool_version_num)
    emit(progress, JobProgress(phase=f"trial restore into {scratch}"))
    await create_database(env, scratch)
    try:
        run = await run_tool(tool, args, env.conninfo.with_database(scratch))
        if not run.ok:
            return VerifyCheck("deep restore", False, f"{tool.name} failed: {run.errors()}")
        revisions, tables = await compare_tables(env, scratch, manifest)
        present = await tables_of(env, scratch)
    finally:
        await asyncio.shield(drop_database(env, scratch))
    problems = differences(manifest, revisions, tables, present)
    source = await _archive_database(manifest, tool)
    if source and source != manifest.database:
        problems.insert(0, f"the archive was dumped from the database {source}, the manifest says {manifest.database}")
    if problems:
        return VerifyCheck("deep restore", False, "; ".join(problems[:10]))
    revision = ", ".join(revisions) or "no revision"
    return VerifyCheck(
        "deep restore",
        True,
        f"{len(tables)} tables restored with the manifest's row counts, table set and revision ({revision})",
    )


async def _archive_database(manifest: BackupManifest, tool: ToolInfo) -> str:
    """The database a custom/directory archive says it was dumped from (``""`` when unknown)."""
    if manifest.format == "plain" or tool.name != "pg_restore":
        return ""
    run = await run_tool(tool, ["--list", str(manifest.path)], None, capture_stdout=True)
    for line in run.stdout.splitlines():
        if line.startswith(";") and "dbname:" in line:
            return line.split("dbname:", 1)[1].strip()
    return ""
