"""Helpers for the dev-loop tests (seed, push, drift, diff): demo databases at a revision.

- ``upgrade_url(url, target)``: run the demo's Alembic scripts on the database at ``url``.
- ``env_for(url, name, protected=False)``: an ``Environment`` for a test database URL.
- ``config_for(root, urls, **keys)``: write a syncdb.toml over the demo scripts and load it.
- ``fetch(url, sql)``: run a query with asyncpg and return its rows.
- ``write_module(path, name, source)``: a Python module on sys.path for custom models/seeders.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig

from syncdb_tui.config import EnvironmentConfig, load_config
from syncdb_tui.core.envs.environments import ConnectionInfo, Environment

from alembic_factory import write_syncdb_toml

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")
DEMO_DIR = REPO / "syncdb_tui" / "demo" / "migrations"


def off_loop(fn: Callable[[], T]) -> T:
    """Call ``fn`` here, or in a helper thread when this thread runs an event loop (async tests)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result()


def upgrade_url(url: str, target: str = "head") -> None:
    off_loop(lambda: _upgrade(url, target))


def _upgrade(url: str, target: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(DEMO_DIR))
    cfg.attributes["sqlalchemy_url"] = ConnectionInfo.from_url(url).sqlalchemy_url("asyncpg")
    command.upgrade(cfg, target)


def env_for(url: str, name: str = "dev", *, protected: bool = False) -> Environment:
    return Environment(
        name=name,
        protected=protected,
        conninfo=ConnectionInfo.from_url(url),
        config=EnvironmentConfig(name=name, url=url, protected=protected),
    )


def config_for(root: Path, urls: dict[str, str], *, protected: tuple[str, ...] = ("prod",), **keys: str) -> Any:
    """Write ``root/syncdb.toml`` (demo scripts, ``keys`` overriding top-level settings) and load it."""
    settings = {
        "script_location": str(DEMO_DIR),
        "target_metadata": "syncdb_tui.demo.models:metadata",
        "default_env": next(iter(urls)),
        **keys,
    }
    lines = [f"{key} = {value!r}".replace("'", '"') for key, value in settings.items() if value is not None]
    return load_config(write_syncdb_toml(root, lines, urls, protected=protected))


def fetch(url: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    async def go() -> list[Any]:
        conn = await asyncpg.connect(**ConnectionInfo.from_url(url).asyncpg_kwargs())
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return off_loop(lambda: asyncio.run(go()))


def execute(url: str, sql: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(**ConnectionInfo.from_url(url).asyncpg_kwargs())
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    off_loop(lambda: asyncio.run(go()))


def write_module(directory: Path, name: str, source: str) -> Path:
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path
