"""Benchmark: the demo seeder (COPY in batches) vs the same rows inserted with executemany.

Starts its own embedded PostgreSQL in a temp dir, creates two databases at the
demo's head revision, then, in the same run:

- seeds the first with ``syncdb_tui.demo.seed.seed`` at ``--scale`` (default 430,
  about 2 million rows), timing everything: generating the rows, COPY, sequences;
- inserts the very same rows (same generators, same seed) into the second with
  asyncpg ``executemany`` (INSERT … VALUES), batch by batch, in one transaction and
  with the same session settings; only the ``executemany`` calls are timed (row
  generation is excluded, which favours the baseline).  ``--executemany-fraction``
  below 1 inserts only that leading fraction of every table and extrapolates the
  time linearly (the output says so).

Prints rows, seconds and rows/s of each and their ratio. Target: ≥ 100,000 rows/s.

    python benchmarks/bench_seed.py [--scale 430] [--executemany-fraction 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from alembic import command  # noqa: E402
from alembic.config import Config as AlembicConfig  # noqa: E402

from syncdb_tui.core.envs.embedded import ensure_server  # noqa: E402
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=430.0, help="demo seeder scale (430 ≈ 2 million rows)")
    parser.add_argument(
        "--executemany-fraction",
        type=float,
        default=1.0,
        help="leading fraction of each table to insert with executemany (extrapolated when < 1)",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="syncdb-bench-seed-"))
    try:
        server = ensure_server(root / ".syncdb")
        admin = ConnectionInfo(host=str(server.socket_dir), port=None, user=server.user, database="postgres")

        async def create(name: str) -> None:
            import asyncpg

            conn = await asyncpg.connect(**admin.asyncpg_kwargs())
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        targets = {name: admin.with_database(name) for name in ("bench_copy", "bench_executemany")}
        for name, conninfo in targets.items():
            asyncio.run(create(name))
            migrate(conninfo)
        plan = demo_seed.plan(args.scale)
        print(f"scale {args.scale:g}: {plan.messages:,} messages; PostgreSQL at {server.pgdata}")

        rows, copy_seconds = asyncio.run(run_copy(targets["bench_copy"], args.scale))
        copy_rate = rows / copy_seconds
        print(f"demo seeder (COPY):  {rows:>12,} rows in {copy_seconds:8.2f} s = {copy_rate:>10,.0f} rows/s")

        inserted, full, many_seconds = asyncio.run(
            run_executemany(targets["bench_executemany"], args.scale, args.executemany_fraction)
        )
        many_rate = inserted / many_seconds
        note = ""
        if inserted < full:
            note = f" (measured on {inserted:,} of {full:,} rows; full run extrapolated to {full / many_rate:.1f} s)"
        print(f"executemany:         {inserted:>12,} rows in {many_seconds:8.2f} s = {many_rate:>10,.0f} rows/s{note}")
        print(f"ratio (seeder / executemany rows/s): {copy_rate / many_rate:.2f}x")
        print(f"target ≥ 100,000 rows/s: {'met' if copy_rate >= 100_000 else 'NOT met'}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
