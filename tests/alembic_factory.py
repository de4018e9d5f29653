"""Small Alembic projects built on the fly, for tests and benchmarks.

``make_project(root, urls, revisions=N, env_style=...)`` writes a syncdb.toml,
a script directory with an env.py and N linear revisions (each creates a
table ``t_<n>``), and returns the config path.  ``add_revision`` appends a
revision with any body (for syntax errors, dangling parents, branches).

env styles:
- ``shared``: async env.py that uses ``config.attributes["connection"]`` when given
  (Alembic's connection-sharing recipe) — what the demo does;
- ``own-async``: async env.py that ignores any passed connection and calls
  ``asyncio.run`` itself (Alembic's plain async template);
- ``sync``: Alembic's generic (synchronous) template, connecting with psycopg2.
"""

from __future__ import annotations

from pathlib import Path

ENV_SHARED = """
import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config
target_metadata = None


def url():
    return config.attributes.get("sqlalchemy_url") or config.get_main_option("sqlalchemy.url")


def run_migrations_offline():
    context.configure(url=url(), target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"}, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection):
    context.configure(connection=connection, target_metadata=target_metadata, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations():
    engine = create_async_engine(url())
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    connection = config.attributes.get("connection", None)
    if connection is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(connection)
"""

ENV_OWN_ASYNC = """
import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import async_engine_from_config
from sqlalchemy import pool

config = context.config
target_metadata = None


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection):
    context.configure(connection=connection, target_metadata=target_metadata, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations():
    engine = async_engine_from_config(config.get_section(config.config_ini_section, {}),
                                      prefix="sqlalchemy.", poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
"""

ENV_SYNC = """
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
target_metadata = None


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
"""

ENV_FILES = {"shared": ENV_SHARED, "own-async": ENV_OWN_ASYNC, "sync": ENV_SYNC}

MAKO = '''"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""
from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade():
    ${upgrades if upgrades else "pass"}


def downgrade():
    ${downgrades if downgrades else "pass"}
'''


def revision_source(
    revision: str,
    down_revision: str | tuple[str, ...] | None,
    message: str,
    upgrade_body: str,
    downgrade_body: str = "pass",
) -> str:
    return (
        f'"""{message}\n\nRevision ID: {revision}\nRevises: {down_revision}\nCreate Date: 2026-01-01 00:00:00\n"""\n'
        "from alembic import op\nimport sqlalchemy as sa\n\n"
        f"revision = {revision!r}\ndown_revision = {down_revision!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n    {upgrade_body}\n\n\ndef downgrade():\n    {downgrade_body}\n"
    )


def rev_id(n: int) -> str:
    return f"r{n:04d}"


def table_revision(n: int) -> str:
    down = rev_id(n - 1) if n > 1 else None
    up = f'op.create_table("t_{n}", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))'
    return revision_source(rev_id(n), down, f"create table t_{n}", up, f'op.drop_table("t_{n}")')


def write_syncdb_toml(
    root: Path, settings: list[str], urls: dict[str, str], *, protected: tuple[str, ...] = ()
) -> Path:
    """Write ``root/syncdb.toml``: the top-level ``settings`` lines, then one table per environment."""
    lines = [*settings, ""]
    for name, url in urls.items():
        lines += [f"[environments.{name}]", f'url = "{url}"']
        if name in protected:
            lines.append("protected = true")
        lines.append("")
    path = root / "syncdb.toml"
    path.write_text("\n".join(lines))
    return path


def make_project(
    root: Path,
    urls: dict[str, str],
    *,
    revisions: int = 3,
    env_style: str = "shared",
    protected: tuple[str, ...] = (),
    extra_config: str = "",
) -> Path:
    """Write a project with ``revisions`` linear table-creating revisions; returns the syncdb.toml."""
    scripts = root / "migrations"
    versions = scripts / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (scripts / "env.py").write_text(ENV_FILES[env_style])
    (scripts / "script.py.mako").write_text(MAKO)
    for n in range(1, revisions + 1):
        (versions / f"{rev_id(n)}_t{n}.py").write_text(table_revision(n))
    settings = [
        'script_location = "migrations"',
        f'default_env = "{next(iter(urls))}"',
        "lock_timeout = 1",
        "lock_retries = 1",
        "migrate_lock_wait = 2",
        extra_config,
    ]
    return write_syncdb_toml(root, settings, urls, protected=protected)


def add_revision(root: Path, filename: str, source: str) -> Path:
    path = root / "migrations" / "versions" / filename
    path.write_text(source)
    return path
