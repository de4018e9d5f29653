"""Benchmark: the demo seeder vs a bare COPY of the same pre-generated rows (and, optionally, executemany).

Starts its own embedded PostgreSQL in a temp dir, builds one database at the demo's
head revision to use as a template, then:

- seeds a scratch copy once with ``syncdb_tui.demo.seed.seed`` at ``--scale``
  (default 430, about 2 million rows) and dumps every table with
  ``COPY … TO STDOUT (FORMAT binary)`` into files: the very same rows, pre-generated;
- ``--runs`` times (default 3), alternately on fresh copies of the template:
  the seeder, timing everything (generating the rows, COPY, indexes, sequences,
  ANALYZE), and the baseline: a bare ``COPY … FROM STDIN (FORMAT binary)`` of those
  files, table after table in one transaction with the same session settings
  (foreign-key triggers skipped), the schema's indexes in place as a plain load has
  them; only the COPY statements are timed;
- with ``--executemany-fraction`` > 0, also the old comparison: the same rows inserted
  with asyncpg ``executemany`` (only that leading fraction of every table, extrapolated).

Prints rows/s of each (medians) and, as its last line,
``RESULT seed ratio=<seeder rows/s over bare COPY rows/s> target=0.8``;
the other target is ≥ 250,000 rows/s for the seeder.

    python benchmarks/bench_seed.py [--scale 430] [--runs 3] [--executemany-fraction 0]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from alembic import command  # noqa: E402
from alembic.config import Config as AlembicConfig  # noqa: E402

from syncdb_tui.core.envs.embedded import ensure_server, stop_server  # noqa: E402
from syncdb_tui.core.envs.environments import ConnectionInfo  # noqa: E402
from syncdb_tui.demo import seed as demo_seed  # noqa: E402

DEMO_DIR = REPO / "syncdb_tui" / "demo" / "migrations"


def migrate(conninfo: ConnectionInfo) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(DEMO_DIR))
    cfg.attributes["sqlalchemy_url"] = conninfo.sqlalchemy_url("asyncpg")
    command.upgrade(cfg, "head")


async def run_copy(conninfo: ConnectionInfo, scale: float) -> tuple[int, float]:
    import asyncpg

    conn = await asyncpg.connect(**conninfo.asyncpg_kwargs())
    try:
        started = time.perf_counter()
        result = await demo_seed.seed(conn, demo_seed.SeedOptions(scale=scale))
        return result.total_rows, time.perf_counter() - started
    finally:
        await conn.close()


async def dump_rows(conninfo: ConnectionInfo, folder: Path) -> dict[str, Path]:
    """Each demo table of ``conninfo`` in binary COPY format, one file per table: the pre-generated rows."""
    import asyncpg

    files: dict[str, Path] = {}
    conn = await asyncpg.connect(**conninfo.asyncpg_kwargs())
    try:
        for table in demo_seed.DEMO_TABLES:
            files[table] = folder / f"{table}.copy"
            await conn.copy_from_table(table, output=str(files[table]), format="binary")
    finally:
        await conn.close()
    return files


async def run_bare_copy(conninfo: ConnectionInfo, files: dict[str, Path]) -> tuple[int, float]:
    """COPY the pre-generated files into a database at head: (rows, seconds in the COPY statements)."""
    import asyncpg

    conn = await asyncpg.connect(**conninfo.asyncpg_kwargs())
    rows = 0
    try:
        async with conn.transaction():
            await demo_seed._skip_foreign_key_checks(conn)
            started = time.perf_counter()
            for table, path in files.items():
                status = await conn.copy_to_table(table, source=str(path), format="binary")
                rows += int(status.split()[-1])
            seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return rows, seconds


async def run_executemany(conninfo: ConnectionInfo, scale: float, fraction: float) -> tuple[int, int, float]:
    """Insert the seeder's rows with executemany; returns (rows inserted, rows in full, seconds inserting)."""
    import asyncpg

    plan = demo_seed.plan(scale)
    base = dict.fromkeys(demo_seed.IDENTITY_TABLES, 1)
    conn = await asyncpg.connect(**conninfo.asyncpg_kwargs())
    inserted = 0
    full = 0
    seconds = 0.0
    try:
        async with conn.transaction():
            await demo_seed._skip_foreign_key_checks(conn)
            for table in demo_seed.DEMO_TABLES:
                columns = demo_seed.COLUMNS[table]
                placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
                total = plan.rows(table)
                full += total
                limit = total if table == "aibotkit_teams" else max(1, int(total * fraction))
                for batch in demo_seed._batches(table, total, 20_000, 1):
                    if batch[1] - (0 if table == "aibotkit_team_members" else 1) >= limit:
                        break
                    records = demo_seed._make_batch(
                        table, batch, seed_value=42, plan_=plan, base=base, keep=list(range(len(columns)))
                    )
                    started = time.perf_counter()
                    await conn.executemany(sql, records)
                    seconds += time.perf_counter() - started
                    inserted += len(records)
    finally:
        await conn.close()
    return inserted, full, seconds


async def admin_execute(admin: ConnectionInfo, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(**admin.asyncpg_kwargs())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=430.0, help="demo seeder scale (430 ≈ 2 million rows)")
    parser.add_argument("--runs", type=int, default=3, help="alternate runs of each (medians are reported)")
    parser.add_argument(
        "--executemany-fraction",
        type=float,
        default=0.0,
        help="also insert this leading fraction of each table with executemany (extrapolated when < 1; 0 = skip)",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="syncdb-bench-seed-"))
    try:
        server = ensure_server(root / ".syncdb", idle_stop=0)
        admin = ConnectionInfo(host=str(server.socket_dir), port=None, user=server.user, database="postgres")
        asyncio.run(admin_execute(admin, 'CREATE DATABASE "bench_head"'))
        migrate(admin.with_database("bench_head"))

        def fresh(name: str) -> ConnectionInfo:
            asyncio.run(admin_execute(admin, f'CREATE DATABASE "{name}" TEMPLATE "bench_head"'))
            return admin.with_database(name)

        def drop(name: str) -> None:
            asyncio.run(admin_execute(admin, f'DROP DATABASE "{name}"'))

        plan = demo_seed.plan(args.scale)
        print(f"scale {args.scale:g}: {plan.messages:,} messages; PostgreSQL at {server.pgdata}")
        asyncio.run(run_copy(fresh("bench_source"), args.scale))
        files = asyncio.run(dump_rows(admin.with_database("bench_source"), root))
        drop("bench_source")
        size = sum(path.stat().st_size for path in files.values())
        print(f"pre-generated rows: {size / 1e6:,.0f} MB in binary COPY files")

        seeder_rates: list[float] = []
        bare_rates: list[float] = []
        for run in range(args.runs):
            rows, seconds = asyncio.run(run_copy(fresh(f"bench_seed_{run}"), args.scale))
            seeder_rates.append(rows / seconds)
            drop(f"bench_seed_{run}")
            bare_rows, bare_seconds = asyncio.run(run_bare_copy(fresh(f"bench_bare_{run}"), files))
            bare_rates.append(bare_rows / bare_seconds)
            drop(f"bench_bare_{run}")
            print(
                f"run {run + 1}: seeder {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s; "
                f"bare COPY {bare_rows:,} rows in {bare_seconds:.2f} s = {bare_rows / bare_seconds:,.0f} rows/s"
            )
        seeder_rate, bare_rate = statistics.median(seeder_rates), statistics.median(bare_rates)
        print(f"demo seeder (median): {seeder_rate:>12,.0f} rows/s")
        print(f"bare COPY (median):   {bare_rate:>12,.0f} rows/s")

        if args.executemany_fraction > 0:
            inserted, full, many_seconds = asyncio.run(
                run_executemany(fresh("bench_executemany"), args.scale, args.executemany_fraction)
            )
            many_rate = inserted / many_seconds
            note = ""
            if inserted < full:
                note = f" (measured on {inserted:,} of {full:,} rows; full run {full / many_rate:.1f} s extrapolated)"
            print(f"executemany:          {many_rate:>12,.0f} rows/s{note}")
            print(f"ratio (seeder / executemany rows/s): {seeder_rate / many_rate:.2f}x")
        print(f"target ≥ 250,000 rows/s: {'met' if seeder_rate >= 250_000 else 'NOT met'}")
        print(f"RESULT seed ratio={seeder_rate / bare_rate:.2f} target=0.8")
    finally:
        stop_server(root / ".syncdb")  # before its data goes: stopping needs the data directory
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
