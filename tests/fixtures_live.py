"""Real application sessions beside a migration: a holder of a lock, a background writer.

Shared by the tests that operate a migration on a live database (test_live_ops.py,
test_safe_patterns.py); registered in conftest.py (pytest_plugins):

- ``session_holder(url, sql="", app="…")``: another process connects (with that
  application_name), runs ``sql`` inside an open transaction (``BEGIN; SELECT count(*)
  FROM t`` holds ACCESS SHARE on t) and keeps it open until ``release()``, ``hold_for``
  seconds, or the end of the test;
- ``background_writer(url, statement, args)``: a thread that keeps running ``statement``
  (``args()`` gives its parameters each time) on its own connection and records how long
  each write took; stopped at the end of the test (or ``stop()``).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

_HOLDER = """
import asyncio, os, sys
import asyncpg

async def main() -> None:
    url, app, sql, hold_for = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    conn = await asyncpg.connect(url, server_settings={"application_name": app})
    if sql:
        await conn.execute("BEGIN; " + sql)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    released = loop.run_in_executor(None, sys.stdin.read)  # EOF on stdin: release
    try:
        await asyncio.wait_for(released, hold_for if hold_for > 0 else None)
    except TimeoutError:
        pass
    if sql:
        await conn.execute("COMMIT")
    await conn.close()
    print("released", flush=True)
    os._exit(0)  # the thread still reading stdin must not keep the process alive

asyncio.run(main())
"""


@dataclass
class SessionHolder:
    """Another process's session, holding what ``sql`` locked until released."""

    process: subprocess.Popen[str]

    def release(self, timeout: float = 30) -> None:
        """End the holder's transaction and session (and wait for it)."""
        if self.process.poll() is None and self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def wait(self, timeout: float = 30) -> None:
        """Wait until the holder let go by itself (``hold_for``)."""
        self.process.wait(timeout)


def start_holder(url: str, sql: str = "", *, app: str = "holder", hold_for: float = 0) -> SessionHolder:
    """Start a :class:`SessionHolder`; returns once its transaction is open."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url, app, sql, str(hold_for)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != "ready":
        process.kill()
        raise AssertionError(f"the holder session did not start: {line!r}")
    return SessionHolder(process)


@pytest.fixture
def session_holder() -> Iterator[Callable[..., SessionHolder]]:
    holders: list[SessionHolder] = []

    def start(url: str, sql: str = "", *, app: str = "holder", hold_for: float = 0) -> SessionHolder:
        holder = start_holder(url, sql, app=app, hold_for=hold_for)
        holders.append(holder)
        return holder

    yield start
    for holder in holders:
        holder.release()


@dataclass
class BackgroundWriter:
    """A thread writing to the database in a loop, as an application would; ``waits`` in seconds."""

    url: str
    statements: Sequence[str]
    """Tried in order each time: the first that does not fail with an undefined column is used
    (an application that writes a new column as soon as it exists)."""
    args: Callable[[], Sequence[Any]]
    pause: float = 0.01
    waits: list[float] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> BackgroundWriter:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        async def main() -> None:
            conn = await asyncpg.connect(self.url, server_settings={"application_name": "app writer"})
            try:
                while not self._stop.is_set():
                    started = time.monotonic()
                    for index, statement in enumerate(self.statements):
                        try:
                            await conn.execute(statement, *self.args())
                            break
                        except asyncpg.UndefinedColumnError:
                            if index == len(self.statements) - 1:
                                raise
                    self.waits.append(time.monotonic() - started)
                    await asyncio.sleep(self.pause)
            finally:
                await conn.close()

        try:
            asyncio.run(main())
        except BaseException as error:  # surfaced by the test through .errors
            self.errors.append(error)

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def longest(self) -> float:
        return max(self.waits, default=0.0)


@pytest.fixture
def background_writer() -> Iterator[Callable[..., BackgroundWriter]]:
    writers: list[BackgroundWriter] = []

    def start(
        url: str, statements: str | Sequence[str], args: Callable[[], Sequence[Any]] = tuple, pause: float = 0.01
    ) -> BackgroundWriter:
        listed = [statements] if isinstance(statements, str) else list(statements)
        writer = BackgroundWriter(url, listed, args, pause).start()
        writers.append(writer)
        return writer

    yield start
    for writer in writers:
        writer.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")
