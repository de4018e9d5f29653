"""Benchmark: `syncdb status --json` vs `alembic current` + `alembic heads` on a big history.

Builds a synthetic linear Alembic project of 1,000 revisions (each creates a table) in a
temp dir, migrates a database to the middle revision, then times, alternately in the same
run, fresh processes of:

- ``syncdb status --json --no-drift`` cold: no revision cache (``.syncdb/cache/revisions.json``
  removed first), so it loads the graph with Alembic, renders the 500 pending revisions'
  offline SQL and judges them, and stores all of it;
- the same warm: the graph, the SQL and the findings come from the revision cache (Alembic and
  SQLAlchemy are not imported);
- ``alembic current`` plus ``alembic heads`` (the comparable Alembic CLI work, which reports
  less: no pending list, no SQL, no risk).

Before the timed runs one status run fills the schema-fingerprint cache (the expected schema is
built once on a scratch database, keyed by the revision files and the server; it is not the
revision cache and stays in place for the cold runs).

Prints the median wall time of each and, last, ``RESULT status_cold ratio=<cold/alembic> target=1.0``
and ``RESULT status_warm ratio=<warm/alembic> target=0.5``.

    python benchmarks/bench_status.py [--runs 5] [--revisions 1000] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from syncdb_tui.core.envs.embedded import ensure_server  # noqa: E402

from alembic_factory import make_project, rev_id  # noqa: E402

ALEMBIC_INI = """[alembic]
script_location = migrations
sqlalchemy.url = {url}
"""


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr[-2000:]}")
    return elapsed


def bench(revisions: int, runs: int, server_dir: Path) -> tuple[float, float]:
    server = ensure_server(server_dir)
    database = f"bench_status_{revisions}"
    psql = [
        str(server.bin_dir / "psql"),
        "-XAtq",
        "-h",
        str(server.socket_dir),
        "-U",
        "postgres",
        "-d",
        "postgres",
    ]
    subprocess.run([*psql, "-c", f"DROP DATABASE IF EXISTS {database}"], check=True, capture_output=True)
    subprocess.run([*psql, "-c", f"CREATE DATABASE {database}"], check=True, capture_output=True)
    url = f"postgresql://postgres@/{database}?host={server.socket_dir}"
    root = Path(tempfile.mkdtemp(prefix=f"bench_status_{revisions}_"))
    try:
        make_project(root, {"dev": url}, revisions=revisions)
        (root / "alembic.ini").write_text(ALEMBIC_INI.format(url=url.replace("postgresql://", "postgresql+asyncpg://")))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        # both tools run as installed: with their bytecode cached (PYTHONDONTWRITEBYTECODE would make
        # every edited syncdb module compile again in every run, which no user's install does)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        middle = rev_id(revisions // 2)
        subprocess.run(
            [sys.executable, "-m", "syncdb_tui", "migrate", middle, "--json"],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        )
        status = [sys.executable, "-m", "syncdb_tui", "status", "--json", "--no-drift"]
        timed(status, root, env)  # the fingerprint cache (not the revision cache) is filled once
        revision_cache = root / ".syncdb" / "cache" / "revisions.json"
        cold_times, warm_times, alembic_times = [], [], []
        alembic = str(Path(sys.executable).parent / "alembic")
        for _ in range(runs):
            revision_cache.unlink(missing_ok=True)
            cold_times.append(timed(status, root, env))
            warm_times.append(timed(status, root, env))
            alembic_times.append(timed([alembic, "current"], root, env) + timed([alembic, "heads"], root, env))
        cold, warm, a = (statistics.median(times) for times in (cold_times, warm_times, alembic_times))
        print(
            f"{revisions:5d} revisions, db at {middle} ({revisions - revisions // 2} pending), medians of {runs}: "
            f"syncdb status --json cold {cold:.2f} s, warm {warm:.2f} s | alembic current + heads {a:.2f} s"
        )
        return cold / a, warm / a
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (median reported)")
    parser.add_argument("--revisions", type=int, default=1000, help="revisions of the synthetic history")
    parser.add_argument("--quick", action="store_true", help="3 runs")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    server_dir = Path(tempfile.mkdtemp(prefix="bench_status_pg_")) / ".syncdb"
    cold, warm = bench(args.revisions, runs, server_dir)
    print(f"RESULT status_cold ratio={cold:.2f} target=1.0")
    print(f"RESULT status_warm ratio={warm:.2f} target=0.5")


if __name__ == "__main__":
    main()
