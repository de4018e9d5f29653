"""Benchmark: `syncdb backup` / `syncdb restore` against bare pg_dump / pg_restore (issue 4).

Builds a database of at least ``--size-mb`` MB (default 500) with generate_series on
its own embedded PostgreSQL in a temporary directory, then times, in the same run
and alternating to even out noise on a shared machine:

- backup, custom format: syncdb (core ``backup()``, default ``-Z 1``) vs bare
  ``pg_dump -Fc -Z 1`` (same compression); bare ``pg_dump -Fc`` (default level) for reference;
- backup, directory format with ``--jobs 2``: syncdb vs bare ``pg_dump -Fd -j 2 -Z 1``;
- restore into a new database: syncdb (core ``restore()``: integrity checks, create,
  pg_restore, row-count comparison) vs bare ``createdb`` + ``pg_restore`` with the same flags;
  and the directory backup restored with ``--jobs 2``;
- restore over an environment (issue 11): syncdb ``restore --clean`` over a live copy of the
  database (integrity checks, the copy beside it built with pg_restore ``--jobs``, row counts,
  table set and revision checked, sessions, the swap of names) vs the best bare setting of
  ``createdb`` + ``pg_restore`` into a new database (``--single-transaction`` or ``-j N``),
  same archive; the ratio is syncdb's time over bare's (target ≤ 1.05, ``RESULT restore``).

- the default format of a big database (``auto``: a directory dump with one job per core) vs
  bare ``pg_dump -Fc`` with its defaults (``--sections parallel --size-mb 1000``): target ≥ 3x faster
  at ≤ 1.1x the size (``RESULT backup_parallel``, syncdb's time over bare's, target ≤ 0.333).

``--sections backup,restore,swap`` picks what to run (default those three; ``parallel`` on demand).

Prints MB/s (database size / wall time) and syncdb's throughput as a ratio of the
bare tool's (target ≥ 0.97).  Run: ``python benchmarks/bench_backup.py [--size-mb 500] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from syncdb_tui.config import Config, EnvironmentConfig
from syncdb_tui.core.backups.backup import BackupOptions, backup
from syncdb_tui.core.backups.restore import restore
from syncdb_tui.core.envs.embedded import EmbeddedServer, ensure_server
from syncdb_tui.core.envs.environments import ConnectionInfo, Environment
from syncdb_tui.core.envs.tools import ToolInfo, find_tool

TABLES = 4


def psql(server: EmbeddedServer, database: str, sql: str) -> str:
    env = {**os.environ, "PGHOST": str(server.socket_dir), "PGUSER": server.user, "PGDATABASE": database}
    result = subprocess.run(
        [str(server.bin_dir / "psql"), "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def build_database(server: EmbeddedServer, database: str, size_mb: int) -> int:
    """Create ``database`` with TABLES tables totalling at least ``size_mb`` MB; returns its size in bytes."""
    psql(server, "postgres", f'CREATE DATABASE "{database}"')
    rows_per_table = int(size_mb * 1e6 / 170 / TABLES)
    for index in range(TABLES):
        psql(
            server,
            database,
            f"""
            SET synchronous_commit = off;
            CREATE TABLE events_{index} (
                id bigint PRIMARY KEY, account_id int NOT NULL, kind text NOT NULL,
                payload text NOT NULL, amount numeric(12, 2), created_at timestamptz NOT NULL
            );
            INSERT INTO events_{index}
            SELECT g, ((g::bigint * 7919) % 100000)::int, (ARRAY['click', 'view', 'buy', 'refund'])[1 + g % 4],
                   md5(g::text) || md5((g * 31)::text) || substr(md5((g * 17)::text), 1, 16),
                   ((g % 100000) / 100.0)::numeric(12, 2),
                   '2024-01-01'::timestamptz + g * interval '1 second'
            FROM generate_series(1::bigint, {rows_per_table}) g;
            """,
        )
    psql(server, database, "VACUUM ANALYZE")
    return int(psql(server, database, "SELECT pg_database_size(current_database())"))


def environment(server: EmbeddedServer, database: str) -> Environment:
    url = f"postgresql://{server.user}@/{database}?host={server.socket_dir}"
    return Environment(
        name="bench",
        protected=False,
        conninfo=ConnectionInfo.from_url(url),
        config=EnvironmentConfig(name="bench", url=url),
    )


def run_bare(args: list[str], server: EmbeddedServer, database: str) -> None:
    env = {**os.environ, "PGHOST": str(server.socket_dir), "PGUSER": server.user, "PGDATABASE": database}
    subprocess.run(args, env=env, check=True, capture_output=True)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    result = action()
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    return time.perf_counter() - started


def best(times: list[float]) -> float:
    return min(times)


def report(label: str, size: int, seconds: float, baseline: float | None = None) -> None:
    rate = size / 1e6 / seconds
    ratio = f"   ratio {baseline / seconds:5.3f}" if baseline else ""
    print(f"  {label:<48} {seconds:7.2f} s  {rate:7.1f} MB/s{ratio}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--sections",
        default="backup,restore,swap",
        help="backup, parallel (default format of a big database vs bare pg_dump -Fc; use --size-mb 1000), "
        "restore, swap (comma-separated)",
    )
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="syncdb_bench_backup_"))
    try:
        return run(work, options.size_mb, options.rounds, set(options.sections.split(",")))
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, size_mb: int, rounds: int, sections: set[str] | None = None) -> int:
    sections = sections or {"backup", "restore", "swap"}
    server = ensure_server(work / ".syncdb")
    started = time.perf_counter()
    size = build_database(server, "bench", size_mb)
    print(f"database: {size / 1e6:.0f} MB in {TABLES} tables (built in {time.perf_counter() - started:.0f} s)")
    pg_dump = find_tool("pg_dump", 180000)
    pg_restore = find_tool("pg_restore", 180000)
    print(f"tools: {pg_dump.describe()}; {pg_restore.describe()}; rounds: {rounds} (best of)\n", flush=True)
    env = environment(server, "bench")
    backups = work / "backups"
    config = Config(root=work, path=None, environments={"bench": env.config}, default_env="bench", backup_dir=backups)
    bare_dir = work / "bare"
    bare_dir.mkdir()
    counter = iter(range(1_000_000))

    def fresh(name: str) -> Path:
        path = bare_dir / f"{name}_{next(counter)}"
        return path

    timings: dict[str, list[float]] = {}
    artefacts: dict[str, Path] = {}

    def record(key: str, seconds: float) -> None:
        timings.setdefault(key, []).append(seconds)

    def bare_dump(key: str, extra: list[str]) -> None:
        target = fresh(key)
        record(key, timed(lambda: run_bare([str(pg_dump.path), *extra, f"--file={target}"], server, "bench")))
        artefacts[key] = target

    def syncdb_dump(key: str, opts: BackupOptions) -> None:
        holder: dict[str, Path] = {}

        async def go() -> None:
            manifest = await backup(env, config, opts)
            holder["path"] = manifest.path

        record(key, timed(go))
        artefacts[key] = holder["path"]

    if "backup" not in sections:
        if "parallel" in sections:
            parallel_default(config, env, size, rounds, artefacts, timings, bare_dump, syncdb_dump)
            if not sections & {"restore", "swap"}:
                return 0
        syncdb_dump("syncdb backup (custom, -Z 1)", BackupOptions(fmt="custom"))
        if "restore" in sections:
            syncdb_dump("syncdb backup --format directory --jobs 2", BackupOptions(fmt="directory", jobs=2))
        timings.clear()
        run_restores(server, env, config, size, rounds, sections, artefacts, timings, counter, pg_restore)
        return 0
    print("backup", flush=True)
    for _ in range(rounds):
        bare_dump("pg_dump -Fc -Z 1", ["-Fc", "-Z", "1"])
        syncdb_dump("syncdb backup (custom, -Z 1)", BackupOptions(fmt="custom"))
    bare_dump("pg_dump -Fc (default compression)", ["-Fc"])
    for _ in range(rounds):
        bare_dump("pg_dump -Fd -j 2 -Z 1", ["-Fd", "-j", "2", "-Z", "1"])
        syncdb_dump("syncdb backup --format directory --jobs 2", BackupOptions(fmt="directory", jobs=2))
    base = best(timings["pg_dump -Fc -Z 1"])
    report("pg_dump -Fc -Z 1", size, base)
    report("syncdb backup (custom, -Z 1)", size, best(timings["syncdb backup (custom, -Z 1)"]), base)
    report("pg_dump -Fc (default compression, reference)", size, best(timings["pg_dump -Fc (default compression)"]))
    base_dir = best(timings["pg_dump -Fd -j 2 -Z 1"])
    report("pg_dump -Fd -j 2 -Z 1", size, base_dir)
    report(
        "syncdb backup --format directory --jobs 2",
        size,
        best(timings["syncdb backup --format directory --jobs 2"]),
        base_dir,
    )
    custom_archive = artefacts["syncdb backup (custom, -Z 1)"]
    print(
        f"  archive sizes: custom -Z 1 {custom_archive.stat().st_size / 1e6:.0f} MB, "
        f"custom default {artefacts['pg_dump -Fc (default compression)'].stat().st_size / 1e6:.0f} MB",
        flush=True,
    )

    ratio_custom = best(timings["syncdb backup (custom, -Z 1)"]) / base
    ratio_directory = best(timings["syncdb backup --format directory --jobs 2"]) / base_dir
    print(f"RESULT backup ratio={max(ratio_custom, ratio_directory):.3f} target=1.03", flush=True)
    if "parallel" in sections:
        parallel_default(config, env, size, rounds, artefacts, timings, bare_dump, syncdb_dump)
    run_restores(server, env, config, size, rounds, sections, artefacts, timings, counter, pg_restore)
    return 0


def parallel_default(
    config: Config,
    env: Environment,
    size: int,
    rounds: int,
    artefacts: dict[str, Path],
    timings: dict[str, list[float]],
    bare_dump: Callable[[str, list[str]], None],
    syncdb_dump: Callable[[str, BackupOptions], None],
) -> None:
    """syncdb's default backup of a big database (auto: a parallel directory dump) vs bare ``pg_dump -Fc``."""
    from dataclasses import replace

    over = replace(config, backup_parallel_above=min(config.backup_parallel_above, size))
    key = "syncdb backup (default: auto)"
    print(f"\nbig database: syncdb's default format vs bare pg_dump's default (-Fc), {size / 1e6:.0f} MB", flush=True)
    for _ in range(rounds):
        bare_dump("pg_dump -Fc (default)", ["-Fc"])

        async def go() -> None:
            manifest = await backup(env, over, BackupOptions())
            artefacts[key] = manifest.path

        timings.setdefault(key, []).append(timed(go))
    base = best(timings["pg_dump -Fc (default)"])
    ours = best(timings[key])
    report("pg_dump -Fc (default)", size, base)
    report("syncdb backup (auto: directory, parallel)", size, ours, base)
    bare_size = artefacts["pg_dump -Fc (default)"].stat().st_size
    our_size = sum(f.stat().st_size for f in artefacts[key].rglob("*") if f.is_file())
    print(
        f"  speed-up {base / ours:.2f}x (target >= 3), size {our_size / 1e6:.0f} MB vs {bare_size / 1e6:.0f} MB "
        f"= {our_size / bare_size:.2f}x (target <= 1.1)",
        flush=True,
    )
    print(f"RESULT backup_parallel ratio={ours / base:.3f} target=0.333", flush=True)


def run_restores(
    server: EmbeddedServer,
    env: Environment,
    config: Config,
    size: int,
    rounds: int,
    sections: set[str],
    artefacts: dict[str, Path],
    timings: dict[str, list[float]],
    counter: Iterator[int],
    pg_restore: ToolInfo,
) -> None:
    """The restore sections: into a new database, and over an environment (rebuilt beside + swap)."""

    def record(key: str, seconds: float) -> None:
        timings.setdefault(key, []).append(seconds)

    custom_archive = artefacts["syncdb backup (custom, -Z 1)"]
    restore_flags = ["--exit-on-error", "--no-owner"]

    def bare_restore(key: str, archive: Path, extra: list[str]) -> None:
        database = f"bare_{next(counter)}"

        def go() -> None:
            psql(server, "postgres", f'CREATE DATABASE "{database}" TEMPLATE template0')
            run_bare(
                [str(pg_restore.path), *restore_flags, *extra, f"--dbname={database}", str(archive)], server, "postgres"
            )

        record(key, timed(go))
        psql(server, "postgres", f'DROP DATABASE "{database}"')

    def syncdb_restore(key: str, archive: Path, jobs: int) -> None:
        database = f"syncdb_{next(counter)}"
        record(key, timed(lambda: restore(config, archive, env=env, target_db=database, jobs=jobs)))
        psql(server, "postgres", f'DROP DATABASE "{database}"')

    if "restore" in sections:
        print("\nrestore into a new database", flush=True)
        directory_archive = artefacts["syncdb backup --format directory --jobs 2"]
        for _ in range(rounds):
            bare_restore("pg_restore --single-transaction", custom_archive, ["--single-transaction"])
            syncdb_restore("syncdb restore --target-db", custom_archive, 1)
        for _ in range(rounds):
            bare_restore("pg_restore -j 2 (directory)", directory_archive, ["--jobs=2"])
            syncdb_restore("syncdb restore --jobs 2 (directory)", directory_archive, 2)
        base_restore = best(timings["pg_restore --single-transaction"])
        report("pg_restore --single-transaction", size, base_restore)
        report("syncdb restore --target-db", size, best(timings["syncdb restore --target-db"]), base_restore)
        base_restore_dir = best(timings["pg_restore -j 2 (directory)"])
        report("pg_restore -j 2 (directory)", size, base_restore_dir)
        report(
            "syncdb restore --jobs 2 (directory)",
            size,
            best(timings["syncdb restore --jobs 2 (directory)"]),
            base_restore_dir,
        )
    if "swap" in sections:
        swap_restores(server, env, config, size, rounds, custom_archive, timings, counter, bare_restore)
    print("\nall timings (s):")
    for key, values in timings.items():
        print(f"  {key:<48} {', '.join(f'{v:.2f}' for v in values)}")


def swap_restores(
    server: EmbeddedServer,
    env: Environment,
    config: Config,
    size: int,
    rounds: int,
    archive: Path,
    timings: dict[str, list[float]],
    counter: Iterator[int],
    bare_restore: Callable[[str, Path, list[str]], None],
) -> None:
    """syncdb restore over an environment (rebuilt beside, checked, swapped) vs the best bare pg_restore."""
    jobs = max(1, min(os.cpu_count() or 1, 4))
    psql(server, "postgres", 'CREATE DATABASE "live" TEMPLATE "bench"')
    live = environment(server, "live")
    print(f"\nrestore over an environment (rebuilt beside + swap, pg_restore --jobs {jobs} in the copy)", flush=True)

    def syncdb_swap() -> None:
        key = "syncdb restore --clean over an environment"
        started = time.perf_counter()
        result = asyncio.run(restore(config, archive, env=live, clean=True))
        timings.setdefault(key, []).append(time.perf_counter() - started)
        assert result.mode == "swap" and result.previous_database
        psql(server, "postgres", f'DROP DATABASE "{result.previous_database}"')

    for _ in range(rounds):
        bare_restore("pg_restore --single-transaction", archive, ["--single-transaction"])
        bare_restore(f"pg_restore -j {jobs}", archive, [f"--jobs={jobs}"])
        syncdb_swap()
    bare_single = best(timings["pg_restore --single-transaction"])
    bare_parallel = best(timings[f"pg_restore -j {jobs}"])
    base = min(bare_single, bare_parallel)
    report("pg_restore --single-transaction (new database)", size, bare_single)
    report(f"pg_restore -j {jobs} (new database)", size, bare_parallel)
    swapped = best(timings["syncdb restore --clean over an environment"])
    report("syncdb restore --clean over an environment", size, swapped, base)
    print(f"  syncdb time / best bare time: {swapped / base:.3f} (target <= 1.05)", flush=True)
    print(f"RESULT restore ratio={swapped / base:.3f} target=1.05", flush=True)


if __name__ == "__main__":
    sys.exit(main())
