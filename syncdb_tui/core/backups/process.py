"""Running pg_dump / pg_restore / psql as asyncio subprocesses.

Who calls what: ``core/backup.py``, ``core/restore.py`` and
``core/backup_verify.py`` call :func:`run_tool`.  The child gets the password
through its environment (:meth:`ConnectionInfo.libpq_env`), never its command
line; it runs with umask 077 so every file it creates is private; it is
terminated when the awaiting task is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.core.errors import OperationError
from syncdb_tui.core.secrets import redact

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import ConnectionInfo
    from syncdb_tui.core.envs.tools import ToolInfo

_TERMINATE_GRACE = 5.0


@dataclass(frozen=True)
class ToolRun:
    """How a child program ended."""

    returncode: int
    stderr_tail: tuple[str, ...]
    stdout: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def errors(self) -> str:
        """The child's error lines (or its last lines), secrets removed, on one line."""
        marked = [line for line in self.stderr_tail if "error" in line.lower() or "fatal" in line.lower()]
        lines = marked or list(self.stderr_tail[-3:])
        return redact(" | ".join(line.strip() for line in lines if line.strip()))[:1500]


def command_line(tool: ToolInfo, args: Sequence[str]) -> str:
    """The command as a shell line, for plans and messages (it never holds a secret)."""
    return shlex.join([str(tool.path), *args])


async def run_tool(
    tool: ToolInfo,
    args: Sequence[str],
    conninfo: ConnectionInfo | None,
    *,
    on_line: Callable[[str], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    capture_stdout: bool = False,
    cwd: Path | None = None,
    tail: int = 40,
    extra_env: dict[str, str] | None = None,
) -> ToolRun:
    """Run ``tool args`` connected through ``conninfo``'s PG* variables (``None``: no server); wait for it.

    ``on_line`` receives each stderr line as it comes (pg_dump --verbose);
    ``extra_env`` adds variables such as ``PGOPTIONS`` (never a secret's only route);
    ``on_start`` the child's pid.  Cancelling the awaiting task terminates the
    child (SIGTERM, then SIGKILL after a grace period) before re-raising.

    Raises:
        OperationError: the program cannot be started.
    """
    child_env = conninfo.libpq_env() if conninfo is not None else _no_connection_env()
    child_env.update(extra_env or {})
    try:
        process = await asyncio.create_subprocess_exec(
            str(tool.path),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if capture_stdout else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=child_env,
            cwd=str(cwd) if cwd else None,
            umask=0o077,
            limit=1 << 20,
        )
    except OSError as error:
        raise OperationError(
            f"cannot start {tool.describe()}: {error.strerror or error}",
            hint="check that the program is installed and executable",
            title=f"{tool.name} failed to start",
        ) from error
    if on_start is not None:
        on_start(process.pid)
    lines: deque[str] = deque(maxlen=tail)

    async def read_stderr() -> None:
        assert process.stderr is not None
        while True:
            raw = await process.stderr.readline()
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            lines.append(line)
            if on_line is not None:
                on_line(line)

    async def read_stdout() -> str:
        if process.stdout is None:
            return ""
        data = await process.stdout.read()
        return data.decode("utf-8", errors="replace")

    try:
        _, stdout = await asyncio.gather(read_stderr(), read_stdout())
        returncode = await process.wait()
    except BaseException:
        await _stop(process)
        raise
    return ToolRun(returncode=returncode, stderr_tail=tuple(lines), stdout=stdout)


async def run_pipeline(
    feeder: ToolInfo,
    feeder_args: Sequence[str],
    tool: ToolInfo,
    args: Sequence[str],
    conninfo: ConnectionInfo,
    *,
    tail: int = 40,
    extra_env: dict[str, str] | None = None,
) -> ToolRun:
    """Run ``feeder feeder_args | tool args`` (e.g. ``pg_restore --file=- | psql``); wait for both.

    Only ``tool`` is connected (through ``conninfo``'s PG* variables); the feeder gets no
    connection settings.  Cancelling terminates both.

    Raises:
        OperationError: a program cannot be started.
    """
    read_fd, write_fd = os.pipe()
    processes: list[asyncio.subprocess.Process] = []
    try:
        processes.append(await _spawn(feeder, feeder_args, write_fd, _no_connection_env(), stdin=None))
        os.close(write_fd)
        write_fd = -1
        tool_env = {**conninfo.libpq_env(), **(extra_env or {})}
        processes.append(await _spawn(tool, args, asyncio.subprocess.DEVNULL, tool_env, stdin=read_fd))
    except BaseException:
        for process in processes:
            await _stop(process)
        raise
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)
    lines: deque[str] = deque(maxlen=tail)

    async def drain(process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    try:
        await asyncio.gather(*(drain(process) for process in processes))
        feeder_code, tool_code = [await process.wait() for process in processes]
    except BaseException:
        for process in processes:
            await _stop(process)
        raise
    return ToolRun(returncode=tool_code or feeder_code, stderr_tail=tuple(lines))


async def run_relay(
    tool: ToolInfo,
    args: Sequence[str],
    conninfo: ConnectionInfo,
    *,
    prologue: bytes,
    epilogue: bytes,
    feeder: ToolInfo | None = None,
    feeder_args: Sequence[str] = (),
    source: Path | None = None,
    tail: int = 40,
    extra_env: dict[str, str] | None = None,
) -> ToolRun:
    """Feed ``tool`` (psql) ``prologue``, then the output of ``feeder feeder_args`` (or the file
    ``source``), then ``epilogue`` — the epilogue only when the whole stream arrived.

    The prologue opens a transaction and the epilogue commits it, so a feeder that dies mid-stream
    (or this process being killed) leaves psql at end of input with the transaction open: the
    server rolls it back.  Cancelling terminates both programs.

    Raises:
        OperationError: a program cannot be started.
    """
    lines: deque[str] = deque(maxlen=tail)
    tool_env = {**conninfo.libpq_env(), **(extra_env or {})}
    try:
        consumer = await asyncio.create_subprocess_exec(
            str(tool.path),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=tool_env,
            umask=0o077,
        )
    except OSError as error:
        raise OperationError(
            f"cannot start {tool.describe()}: {error.strerror or error}", title="restore failed"
        ) from error
    processes = [consumer]

    async def drain(process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    async def pump() -> int:
        """Copy the stream into psql; returns the feeder's exit code (0 for a file read whole)."""
        assert consumer.stdin is not None
        sink = consumer.stdin
        try:
            sink.write(prologue)
            await sink.drain()
            if feeder is not None:
                producer = await asyncio.create_subprocess_exec(
                    str(feeder.path),
                    *feeder_args,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=_no_connection_env(),
                    umask=0o077,
                    limit=1 << 20,
                )
                processes.append(producer)
                assert producer.stdout is not None
                draining = asyncio.create_task(drain(producer))
                while chunk := await producer.stdout.read(1 << 18):
                    sink.write(chunk)
                    await sink.drain()
                code = await producer.wait()
                await draining
            else:
                assert source is not None
                code = 0
                with source.open("rb") as handle:
                    while chunk := await asyncio.to_thread(handle.read, 1 << 20):
                        sink.write(chunk)
                        await sink.drain()
            if code == 0:
                sink.write(epilogue)
                await sink.drain()
            return code
        except (BrokenPipeError, ConnectionResetError):
            return 0  # psql stopped reading (ON_ERROR_STOP): its own exit code says why
        finally:
            sink.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await sink.wait_closed()

    try:
        stderr_task = asyncio.create_task(drain(consumer))
        feeder_code = await pump()
        tool_code = await consumer.wait()
        await stderr_task
        for process in processes[1:]:
            if process.returncode is None:
                await _stop(process)
    except BaseException:
        for process in processes:
            await _stop(process)
        raise
    if feeder_code != 0:
        lines.append(f"error: {feeder.name if feeder else 'the source'} exited with code {feeder_code} mid-stream")
    return ToolRun(returncode=tool_code or feeder_code, stderr_tail=tuple(lines))


async def _spawn(
    tool: ToolInfo, args: Sequence[str], stdout: int, env: dict[str, str], *, stdin: int | None
) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            str(tool.path),
            *args,
            stdin=asyncio.subprocess.DEVNULL if stdin is None else stdin,
            stdout=stdout,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            umask=0o077,
        )
    except OSError as error:
        raise OperationError(
            f"cannot start {tool.describe()}: {error.strerror or error}",
            hint="check that the program is installed and executable",
            title=f"{tool.name} failed to start",
        ) from error


def _no_connection_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Terminate ``process`` and reap it (shielded from a second cancellation)."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.shield(asyncio.wait_for(process.wait(), _TERMINATE_GRACE))
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(process.wait())
