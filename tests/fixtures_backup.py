"""Helpers for the backup/restore/tools tests: environments over test databases, difficult data."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import asyncpg

from syncdb_tui.config import Config, EnvironmentConfig
from syncdb_tui.core.envs.embedded import EmbeddedServer
from syncdb_tui.core.envs.environments import ConnectionInfo, Environment

from alembic_factory import write_syncdb_toml
from conftest import run_psql


def env_for(url: str, name: str = "dev", *, protected: bool = False) -> Environment:
    """An :class:`Environment` over ``url`` (a test database)."""
    return Environment(
        name=name,
        protected=protected,
        conninfo=ConnectionInfo.from_url(url),
        config=EnvironmentConfig(name=name, url=url, protected=protected),
    )


def database_of(url: str) -> str:
    return url.split("@/", 1)[1].split("?", 1)[0]


psql = run_psql  # the suite's one way to run SQL with the bundled psql


SCHEMA_SQL = """
CREATE TABLE customers (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    email text UNIQUE
);
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers(id),
    total numeric(12, 2) NOT NULL,
    placed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE SEQUENCE invoice_seq START 1000;
CREATE TABLE difficult (
    id serial PRIMARY KEY,
    doc jsonb,
    tags text[],
    matrix int[][],
    blob bytea,
    big numeric(60, 30),
    at timestamptz,
    span interval,
    label text,
    long_text text,
    flag boolean,
    qty integer,
    doubled integer GENERATED ALWAYS AS (qty * 2) STORED
);
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
INSERT INTO alembic_version VALUES ('abc123def456');
"""

DATA_SQL = """
INSERT INTO customers (name, email)
SELECT 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 300) g;
INSERT INTO orders (customer_id, total, placed_at)
SELECT 1 + (g % 300), (g * 1.37)::numeric(12,2), '2024-01-01'::timestamptz + g * interval '1 hour'
FROM generate_series(1, 2000) g;
SELECT setval('invoice_seq', 4242);
INSERT INTO difficult (doc, tags, matrix, blob, big, at, span, label, long_text, flag, qty) VALUES
  ('{"a": [1, 2, {"b": null}], "emoji": "🚀", "nested": {"x": 1.5e300}}', ARRAY['a', 'b,c', 'd"e', NULL],
   '{{1,2},{3,4}}', '\\x00ff10deadbeef'::bytea, 123456789012345678901234567890.123456789012345678901234567891,
   '2024-02-29 23:59:59.999999+05:30', '1 year 2 mons 3 days 04:05:06.789',
   'שלום עולם مرحبا 👩‍👩‍👧 ñ', repeat('x', 1048576),
   true, 21),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  ('[]', '{}', '{}', ''::bytea, -0.000000000000000000000000000001, '-infinity', '-178000000 years', '', '', false, 0),
  ('"tab\\tnewline\\n\\\\ back"', ARRAY[E'line\\nbreak'], NULL, decode(repeat('ab', 5000), 'hex'), 'NaN', 'infinity',
   '0', E'quote '' and \\\\ backslash', E'\\t', NULL, -7);
"""


DIFFICULT_ONLY_SQL = (
    SCHEMA_SQL[SCHEMA_SQL.index("CREATE TABLE difficult") : SCHEMA_SQL.index("CREATE TABLE alembic_version")]
    + DATA_SQL[DATA_SQL.index("INSERT INTO difficult") :]
)
"""Only the table of difficult values (to add to a database that has its own tables)."""


def seed_database(server: EmbeddedServer, database: str) -> None:
    """Create the schema above and fill it."""
    psql(server, database, SCHEMA_SQL + DATA_SQL)


def table_fingerprints(server: EmbeddedServer, database: str) -> dict[str, tuple[int, str]]:
    """``{schema.table: (rows, md5 of the ordered rows)}`` of every user table (syncdb's ledger schema aside)."""
    tables = psql(
        server,
        database,
        "SELECT quote_ident(schemaname) || '.' || quote_ident(relname) FROM pg_stat_user_tables "
        "WHERE schemaname <> 'syncdb' ORDER BY 1",
    ).split()
    result: dict[str, tuple[int, str]] = {}
    for table in tables:
        out = psql(
            server,
            database,
            f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {table} t",
        ).strip()
        count, digest = out.split("|")
        result[table] = (int(count), digest)
    return result


def sequence_value(server: EmbeddedServer, database: str, sequence: str) -> str:
    return psql(server, database, f"SELECT last_value FROM {sequence}").strip()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_project(root: Path, urls: dict[str, str], *, protected: tuple[str, ...] = ()) -> Path:
    """A syncdb.toml (and an empty Alembic script directory) whose environments are ``urls``."""
    (root / "migrations").mkdir(exist_ok=True)
    (root / "migrations" / "env.py").write_text("")
    settings = [
        'script_location = "migrations"',
        'backup_dir = "backups"',
        f'default_env = "{next(iter(urls))}"',
        "lock_timeout = 1",
    ]
    return write_syncdb_toml(root, settings, urls, protected=protected)


def project_config(root: Path, urls: dict[str, str], *, protected: tuple[str, ...] = ()) -> Config:
    from syncdb_tui.config import load_config

    return load_config(write_project(root, urls, protected=protected))


def database_exists(server: EmbeddedServer, database: str) -> bool:
    return psql(server, "postgres", f"SELECT 1 FROM pg_database WHERE datname = '{database}'").strip() == "1"


def files_under(directory: Path) -> list[str]:
    """Every name under ``directory`` (hidden ones too), sorted."""
    if not directory.exists():
        return []
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*"))


async def wait_for_blocked_dump(conn: asyncpg.Connection, timeout: float = 20.0) -> None:
    """Wait until pg_dump is running and waiting for a table lock held by the test."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE 'LOCK TABLE%'"
        )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("pg_dump never started waiting for the lock")


def child_processes(name: str, parent: int | None = None) -> list[int]:
    """Pids of running processes called ``name`` whose parent is ``parent`` (default: this process)."""
    pids = []
    me = os.getpid() if parent is None else parent
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if comm == name and int(fields[1]) == me and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids
