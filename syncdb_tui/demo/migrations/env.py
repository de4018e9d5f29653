"""Alembic environment of the AI BotKit demo, following Alembic's asyncio recipe.

The database comes from, in order: a connection passed in
``config.attributes["connection"]`` (Alembic's connection-sharing recipe; syncdb
passes one), a SQLAlchemy URL in ``config.attributes["sqlalchemy_url"]``, or the
``sqlalchemy.url`` main option.  Online runs use asyncpg through SQLAlchemy's
async engine; offline runs (``--sql``) render SQL with literal values.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from syncdb_tui.demo.models import metadata as demo_metadata

config = context.config

target_metadata = config.attributes.get("target_metadata") or demo_metadata

# syncdb's own bookkeeping tables are not part of the models.
IGNORED_TABLE_PREFIXES = ("syncdb_",)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "table" and name is not None:
        return not name.startswith(IGNORED_TABLE_PREFIXES)
    return True


COMMON_OPTIONS: dict[str, Any] = {
    "target_metadata": target_metadata,
    "compare_type": True,
    "transaction_per_migration": True,
    "include_name": include_name,
}


def database_url() -> URL:
    given = config.attributes.get("sqlalchemy_url") or config.get_main_option("sqlalchemy.url")
    if not given:
        raise RuntimeError("no database URL: set sqlalchemy.url or pass config.attributes['sqlalchemy_url']")
    return make_url(given) if isinstance(given, str) else given


def async_url(url: URL) -> URL:
    """The same URL with the asyncpg driver (the only one the demo needs)."""
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "asyncpg":
        return url.set(drivername="postgresql+asyncpg")
    return url


def run_migrations_offline() -> None:
    """Render the migrations as SQL (``alembic upgrade --sql``) without a database."""
    context.configure(
        url=database_url(),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **COMMON_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, **COMMON_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Open an async engine, then run the migrations on a sync view of its connection."""
    engine = create_async_engine(async_url(database_url()), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection", None)
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
