"""Benchmark: `syncdb status --json` vs `alembic current` + `alembic heads` on big histories.

Builds synthetic linear Alembic projects of 100 and 1000 revisions in a temp
dir (each revision creates a table), migrates a database to the middle
revision, then times, in the same run, fresh processes of:

- ``syncdb status --json --no-drift`` (reads the graph, the version table, renders
  the pending revisions' SQL and judges their risk);
- ``alembic current`` plus ``alembic heads`` (the comparable Alembic CLI work,
  which reports less: no pending list, no SQL, no risk).

Prints the median wall time of each and the ratio. Target: ratio ≤ 1.0.

    python benchmarks/bench_status.py [--runs 3]
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


def bench(revisions: int, runs: int, server_dir: Path) -> None:
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
        middle = rev_id(revisions // 2)
        subprocess.run(
            [sys.executable, "-m", "syncdb_tui", "migrate", middle, "--json"],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        )
        syncdb_times, alembic_times = [], []
        alembic = str(Path(sys.executable).parent / "alembic")
        for _ in range(runs):
            syncdb_times.append(
                timed([sys.executable, "-m", "syncdb_tui", "status", "--json", "--no-drift"], root, env)
            )
            alembic_times.append(timed([alembic, "current"], root, env) + timed([alembic, "heads"], root, env))
        s, a = statistics.median(syncdb_times), statistics.median(alembic_times)
        print(
            f"{revisions:5d} revisions, db at {middle} ({revisions - revisions // 2} pending): "
            f"syncdb status --json {s:.2f} s | alembic current + heads {a:.2f} s | ratio {s / a:.2f}"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    server_dir = Path(tempfile.mkdtemp(prefix="bench_status_pg_")) / ".syncdb"
    for revisions in (100, 1000):
        bench(revisions, args.runs, server_dir)


if __name__ == "__main__":
    main()
