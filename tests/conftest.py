"""Shared fixtures: one real embedded PostgreSQL per test session, a fresh database per test.

- ``pg_server``: the session's :class:`EmbeddedServer` (started from the wheel).
- ``fresh_db``: a factory; ``fresh_db()`` creates a new empty database and returns its URL.
- ``db_url``: one fresh database's URL for the current test.
- ``psql_exec(url, sql)``: run SQL with the bundled psql (returns stdout).
- ``demo_project``: a temporary project directory with syncdb.toml whose dev/staging/prod
  environments are fresh databases on the session server and whose scripts are the demo's.
- ``run_cli(*argv, cwd=...)``: run `syncdb` in-process; returns (exit_code, stdout, stderr).
"""

from __future__ import annotations

import atexit
import io
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from syncdb_tui.core.envs.embedded import EmbeddedServer, ensure_server

from alembic_factory import write_syncdb_toml

# Embedded servers started by tests (and the syncdb processes they run) stop with their last
# user, as before the idle grace period; tests of the grace period set their own value.
os.environ["SYNCDB_EMBEDDED_IDLE_STOP"] = "0"

# fixtures shared by several test modules of one area (UI, explorer)
pytest_plugins = ["fixtures_ui", "fixtures_explorer", "fixtures_live"]

REPO = Path(__file__).resolve().parent.parent
DEMO_MIGRATIONS = REPO / "syncdb_tui" / "demo" / "migrations"

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedServer]:
    # Not under pytest's 0700 tmp dir: as root the server runs as another user, who must reach it.
    root = Path(tempfile.mkdtemp(prefix="syncdb-test-pg-"))
    root.chmod(0o755)
    # atexit runs last-registered first: the wheel's hook stops the server, then this removes its data
    atexit.register(shutil.rmtree, root, True)
    yield ensure_server(root / ".syncdb")


def run_psql(server: EmbeddedServer, database: str, sql: str, *, check: bool = True) -> str:
    """Run ``sql`` on ``database`` with the bundled psql; returns stdout (unaligned, tuples only)."""
    env = {**os.environ, "PGHOST": str(server.socket_dir), "PGUSER": server.user, "PGDATABASE": database}
    result = subprocess.run(
        [str(server.bin_dir / "psql"), "-XAtq", "-v", "ON_ERROR_STOP=1"],
        input=sql,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"psql failed: {result.stderr}")
    return result.stdout


@pytest.fixture(scope="session")
def fresh_db(pg_server: EmbeddedServer) -> Callable[..., str]:
    """Factory: ``fresh_db(template=None)`` → URL of a new database on the session server."""

    def make(template: str | None = None, name: str | None = None) -> str:
        database = name or f"t{os.getpid()}_{next(_counter)}"
        clause = f' TEMPLATE "{template}"' if template else ""
        run_psql(pg_server, "postgres", f'CREATE DATABASE "{database}"{clause};')
        return db_url_for(pg_server, database)

    return make


def db_url_for(server: EmbeddedServer, database: str) -> str:
    return f"postgresql://{server.user}@/{database}?host={server.socket_dir}"


@pytest.fixture
def db_url(fresh_db: Callable[..., str]) -> str:
    return fresh_db()


@pytest.fixture
def psql_exec(pg_server: EmbeddedServer) -> Callable[[str, str], str]:
    def execute(url: str, sql: str) -> str:
        database = url.split("@/", 1)[1].split("?", 1)[0]
        return run_psql(pg_server, database, sql)

    return execute


@dataclass
class DemoProject:
    root: Path
    config_path: Path
    urls: dict[str, str]

    def database(self, env: str) -> str:
        return self.urls[env].split("@/", 1)[1].split("?", 1)[0]


def write_demo_config(root: Path, urls: dict[str, str], *, protected: tuple[str, ...] = ("prod",)) -> Path:
    """Write a syncdb.toml for the demo scripts (copied to ``root/migrations``)."""
    shutil.copytree(DEMO_MIGRATIONS, root / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    settings = [
        'script_location = "migrations"',
        'target_metadata = "syncdb_tui.demo.models:metadata"',
        'seed = "syncdb_tui.demo.seed:seed"',
        'backup_dir = "backups"',
        f'default_env = "{next(iter(urls))}"',
        "lock_timeout = 1",
        "migrate_lock_wait = 2",
    ]
    return write_syncdb_toml(root, settings, urls, protected=protected)


@pytest.fixture
def demo_project(tmp_path: Path, fresh_db: Callable[..., str]) -> DemoProject:
    urls = {name: fresh_db() for name in ("dev", "staging", "prod")}
    config_path = write_demo_config(tmp_path, urls)
    return DemoProject(root=tmp_path, config_path=config_path, urls=urls)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., CliResult]]:
    """Run `syncdb ARGV` in-process with captured stdout/stderr and no terminal."""
    from syncdb_tui.cli import main

    def run(*argv: str, cwd: Path | None = None, stdin: str = "") -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr("sys.stdout", out)
        monkeypatch.setattr("sys.stderr", err)
        monkeypatch.setattr("sys.stdin", _FakeTty(stdin) if stdin else io.StringIO(""))
        if cwd is not None:
            monkeypatch.chdir(cwd)
        code = main(list(argv))
        monkeypatch.undo()
        return CliResult(code, out.getvalue(), err.getvalue())

    yield run


class _FakeTty(io.StringIO):
    """Standard input that claims to be a terminal (to answer typed confirmations)."""

    def isatty(self) -> bool:
        return True
