"""A backup file against its manifest: size, SHA-256, a complete plain dump, a readable table of contents.

The file-level checks shared by the three users of a backup: ``backup.py`` checks that a
fresh archive is complete (:func:`read_toc`, :func:`plain_complete`), ``restore.py``
refuses a damaged file before it changes anything (:func:`integrity_problems`), and
``verify.py`` reports them (and adds a trial restore).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.core.backups.manifest import BackupManifest, checksum, size_of
from syncdb_tui.core.backups.process import run_tool
from syncdb_tui.core.errors import OperationError

if TYPE_CHECKING:
    from syncdb_tui.core.envs.tools import ToolInfo


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


def plain_complete(path: Path) -> bool:
    """Whether a plain SQL dump ends with pg_dump's end-of-dump marker."""
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
    (_, digest), readable = await asyncio.gather(asyncio.to_thread(checksum, path), readable_problem(manifest, tool))
    if digest != manifest.sha256:
        problems.append(f"its SHA-256 is {digest[:16]}…, the manifest says {manifest.sha256[:16]}…")
    if readable:
        problems.append(readable)
    return problems


async def readable_problem(manifest: BackupManifest, tool: ToolInfo | None) -> str:
    """Why the backup's file cannot be read back ("" when it can)."""
    if manifest.format == "plain":
        return (
            "" if await asyncio.to_thread(plain_complete, manifest.path) else "the SQL file has no end-of-dump marker"
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
