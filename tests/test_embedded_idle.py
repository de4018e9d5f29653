"""The embedded server's idle grace period: consecutive CLI calls share one server, it stops
once idle for the configured time (even when its last user was SIGKILLed), `syncdb server status|stop`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncdb_tui.core.envs.embedded import keeper_alive, postmaster_pid, stop_server

from alembic_factory import make_project


@pytest.fixture
def project() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="syncdb-idle-"))
    root.chmod(0o755)  # as root the server runs as another user, who must reach it
    make_project(root, {"dev": "embedded"}, revisions=1)
    yield root
    stop_server(root / ".syncdb")
    shutil.rmtree(root, ignore_errors=True)


def syncdb(root: Path, *argv: str, idle: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYNCDB_EMBEDDED_IDLE_STOP": str(idle)}
    return subprocess.run(
        [sys.executable, "-m", "syncdb_tui", *argv], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def wait_for(condition: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_consecutive_calls_share_one_server_until_stopped(project: Path) -> None:
    data_dir, pgdata = project / ".syncdb", project / ".syncdb" / "pgdata"
    first = syncdb(project, "status", "--json", idle=60)
    assert first.returncode == 0, first.stderr
    server = postmaster_pid(pgdata)
    assert server is not None, "the server stays up after the last user exits"
    keeper = keeper_alive(data_dir)
    assert keeper is not None
    second = syncdb(project, "status", "--json", idle=60)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["pending"] == json.loads(first.stdout)["pending"]
    assert postmaster_pid(pgdata) == server, "the second call joined the running server"
    assert keeper_alive(data_dir) == keeper, "one keeper per server"

    status = syncdb(project, "server", "status", "--json", idle=60)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["running"] and data["pid"] == server and data["users"] == []
    assert data["keeper_pid"] == keeper and data["idle_stop"] == 60
    assert data["stops_in"] is not None and 0 < data["stops_in"] <= 60

    stop = syncdb(project, "server", "stop", idle=60)
    assert stop.returncode == 0, stop.stderr
    assert "stopped" in stop.stdout
    assert postmaster_pid(pgdata) is None
    assert wait_for(lambda: keeper_alive(data_dir) is None), "the keeper leaves with its server"
    again = syncdb(project, "server", "status", idle=60)
    assert again.returncode == 0 and "stopped" in again.stdout


def test_server_stops_after_the_idle_period(project: Path) -> None:
    data_dir, pgdata = project / ".syncdb", project / ".syncdb" / "pgdata"
    result = syncdb(project, "status", "--json", idle=1)
    assert result.returncode == 0, result.stderr
    assert wait_for(lambda: postmaster_pid(pgdata) is None), "stopped once idle for a second"
    assert not (pgdata / "postmaster.pid").exists()
    assert wait_for(lambda: keeper_alive(data_dir) is None)


def test_a_killed_holder_does_not_keep_the_server_up(project: Path) -> None:
    data_dir, pgdata = project / ".syncdb", project / ".syncdb" / "pgdata"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from syncdb_tui.core.envs.embedded import ensure_server; "
            "ensure_server(Path(sys.argv[1]), idle_stop=1); print('up', flush=True); time.sleep(600)",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "up"
        time.sleep(2.5)  # longer than the idle period: a live user keeps the server up
        assert postmaster_pid(pgdata) is not None
        status = syncdb(project, "server", "stop", idle=1)
        assert status.returncode == 3 and "in use" in status.stderr, "stop refuses while a syncdb uses it"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        assert wait_for(lambda: postmaster_pid(pgdata) is None), "the keeper stops it once the killed user is gone"
        assert wait_for(lambda: keeper_alive(data_dir) is None)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_invalid_idle_setting_is_a_clear_error(project: Path) -> None:
    result = syncdb(project, "status", idle="soon")  # type: ignore[arg-type]
    assert result.returncode == 2
    assert "SYNCDB_EMBEDDED_IDLE_STOP" in result.stderr and "Traceback" not in result.stderr
