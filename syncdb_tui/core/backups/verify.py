"""Checking backups: size, SHA-256, a readable table of contents, and (deep) a trial restore.

Who calls what: ``syncdb backups --verify [--deep]`` and the TUI call
:func:`verify_backup`; ``core/restore.py`` calls :func:`integrity_problems`
before it changes anything; ``core/backup.py`` calls :func:`read_toc` to check
that a fresh archive is complete.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.core.backups.manifest import BackupEntry, BackupManifest, checksum, load_entry, size_of
from syncdb_tui.core.backups.process import run_tool
from syncdb_tui.core.errors import OperationError
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


async def read_toc(path: Path, tool: ToolInfo | None = None, *, at_least: int | None = None) -> list[str]:
    """The table of contents of a custom/directory archive (``pg_restore --list``).

    Raises:
        OperationError: pg_restore cannot read it (truncated, corrupt, or not an archive).
    """
    from syncdb_tui.core.envs.tools import find_tool

    restore_tool = tool if tool is not None and tool.name == "pg_restore" else None
    if restore_tool is None:
        if tool is not None:
            at_least = max(at_least or 0, tool.version_num)
        restore_tool = await asyncio.to_thread(find_tool, "pg_restore", None, at_least=at_least)
    run = await run_tool(restore_tool, ["--list", str(path)], None, capture_stdout=True)
    if not run.ok:
        raise OperationError(
            f"{path.name} is not a readable archive: {run.errors()}",
            hint="the file is truncated or damaged; take a new backup",
            title="archive unreadable",
        )
    return [line for line in run.stdout.splitlines() if line and not line.startswith(";")]


def _plain_complete(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 4096))
        return b"PostgreSQL database dump complete" in handle.read()


async def integrity_problems(manifest: BackupManifest, tool: ToolInfo | None = None) -> list[str]:
    """What is wrong with a backup's file against its manifest (empty when nothing is)."""
    path = manifest.path
    if not path.exists():
        return [f"{path} does not exist"]
    problems: list[str] = []
    actual_size = size_of(path)
    if actual_size != manifest.size:
        problems.append(f"it has {actual_size} bytes, the manifest says {manifest.size} (truncated or altered)")
    (_, digest), readable = await asyncio.gather(asyncio.to_thread(checksum, path), _readable(manifest, tool))
    if digest != manifest.sha256:
        problems.append(f"its SHA-256 is {digest[:16]}…, the manifest says {manifest.sha256[:16]}…")
    if readable:
        problems.append(readable)
    return problems


async def _readable(manifest: BackupManifest, tool: ToolInfo | None) -> str:
    if manifest.format == "plain":
        return (
            "" if await asyncio.to_thread(_plain_complete, manifest.path) else "the SQL file has no end-of-dump marker"
        )
    try:
        await read_toc(
            manifest.path,
            tool if tool is not None and tool.name == "pg_restore" else None,
            at_least=manifest.tool_version_num,
        )
    except OperationError as error:
        return f"pg_restore cannot read it ({error.message})"
    return ""


async def verify_backup(
    entry: BackupEntry | Path,
    *,
    deep: bool = False,
    env: Environment | None = None,
    progress: ProgressCallback | None = None,
) -> VerifyResult:
    """Check a backup: manifest, size, SHA-256, readable TOC; with ``deep``, a trial restore.

    The deep check restores into a scratch database on ``env``'s server, compares
    every table's row count with the manifest, and drops the scratch database.

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
    problem = await _readable(manifest, None)
    checks.append(VerifyCheck("readable", not problem, problem or "table of contents read"))
    if deep:
        if env is None:
            raise UsageError("--deep needs an environment whose server can hold a scratch database")
        if all(check.ok for check in checks):
            checks.append(await _deep_check(manifest, env, progress))
        else:
            checks.append(VerifyCheck("deep restore", False, "skipped: the file failed the checks above"))
    return VerifyResult(entry.path, tuple(checks))


async def _deep_check(manifest: BackupManifest, env: Environment, progress: ProgressCallback | None) -> VerifyCheck:
    from syncdb_tui.core.envs.environments import probe
    from syncdb_tui.core.backups.restore import compare_tables, create_database, drop_database
    from syncdb_tui.core.backups.restore_plan import restore_command
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
        _, tables = await compare_tables(env, scratch, manifest)
    finally:
        await asyncio.shield(drop_database(env, scratch))
    wrong = [f"{t.name}: {t.actual} rows, manifest {t.expected}" for t in tables if not t.ok]
    if wrong:
        return VerifyCheck("deep restore", False, "; ".join(wrong[:10]))
    return VerifyCheck("deep restore", True, f"{len(tables)} tables restored with the manifest's row counts")
