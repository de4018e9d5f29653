"""``[embedded] idle_stop`` in syncdb.toml: parsed, validated (exit 2, one clear message), used by the
server's keeper, and overridden by ``SYNCDB_EMBEDDED_IDLE_STOP`` when that is set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncdb_tui.config import load_config
from syncdb_tui.core.envs.embedded import (
    DEFAULT_IDLE_STOP,
    IDLE_STOP_ENV,
    idle_stop_seconds,
    postmaster_pid,
    read_keeper_state,
    stop_server,
)
from syncdb_tui.core.errors import ConfigError

from alembic_factory import make_project


def write_project(root: Path, embedded: str) -> Path:
    (root / "migrations").mkdir(exist_ok=True)
    (root / "migrations" / "env.py").write_text("# env\n")
    path = root / "syncdb.toml"
    path.write_text(f'script_location = "migrations"\n{embedded}\n[environments.dev]\nurl = "embedded"\n')
    return path


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("300", 300.0), ("2.5", 2.5), ("0", 0.0), ('"90s"', 90.0), ('"5m"', 300.0), ('"1h"', 3600.0)],
)
def test_idle_stop_takes_seconds_and_durations(tmp_path: Path, value: str, seconds: float) -> None:
    config = load_config(write_project(tmp_path, f"[embedded]\nidle_stop = {value}\n"))
    assert config.embedded_idle_stop == seconds


def test_idle_stop_unset_means_the_variable_or_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write_project(tmp_path, ""))
    assert config.embedded_idle_stop is None
    monkeypatch.delenv(IDLE_STOP_ENV, raising=False)
    assert idle_stop_seconds(configured=config.embedded_idle_stop) == DEFAULT_IDLE_STOP


def test_the_variable_wins_over_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IDLE_STOP_ENV, raising=False)
    assert idle_stop_seconds(configured=42.0) == 42.0
    monkeypatch.setenv(IDLE_STOP_ENV, "7")
    assert idle_stop_seconds(configured=42.0) == 7.0
    assert idle_stop_seconds(3.0, configured=42.0) == 3.0, "an explicit value wins over both"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[embedded]\nidle_stop = -1\n", "embedded.idle_stop = -1 is not a duration"),
        ('[embedded]\nidle_stop = "soon"\n', "embedded.idle_stop = 'soon' is not a duration"),
        ("[embedded]\nidle_stop = true\n", "is not a duration"),
        ("[embedded]\nidle_stopp = 5\n", "unknown key 'idle_stopp' in [embedded]"),
        ('embedded = "yes"\n', "embedded must be a dict"),
    ],
)
def test_a_bad_value_is_one_clear_message(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_project(tmp_path, body))
    assert expected in caught.value.message
    assert caught.value.exit_code == 2


def test_a_bad_value_exits_2_on_the_command_line(tmp_path: Path) -> None:
    write_project(tmp_path, '[embedded]\nidle_stop = "a while"\n')
    result = subprocess.run(
        [sys.executable, "-m", "syncdb_tui", "status"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "embedded.idle_stop" in result.stderr and "is not a duration" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def idle_project() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="syncdb-idle-config-"))
    root.chmod(0o755)  # as root the server runs as another user, who must reach it
    make_project(root, {"dev": "embedded"}, revisions=1, extra_config="[embedded]\nidle_stop = 1.5")
    yield root
    stop_server(root / ".syncdb")
    shutil.rmtree(root, ignore_errors=True)


def test_the_keeper_uses_the_configured_grace_period(idle_project: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != IDLE_STOP_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "syncdb_tui", "status", "--json"],
        cwd=idle_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data_dir = idle_project / ".syncdb"
    state = read_keeper_state(data_dir)
    assert state is not None and state["idle_stop"] == 1.5
    deadline = time.monotonic() + 20
    while postmaster_pid(data_dir / "pgdata") is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert postmaster_pid(data_dir / "pgdata") is None, "stopped after the configured idle period"
