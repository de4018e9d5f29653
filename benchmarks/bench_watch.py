"""Benchmark: the lock-queue watcher while a migration runs — its overhead, and how fast the guard acts.

Starts its own embedded PostgreSQL in a temp dir, then, in the same run:

- overhead: the same migration (an UPDATE of every row of a ``--rows`` table) applied by
  syncdb's executor with the watcher sampling every 250 ms, and with the watcher as good
  as off (one sample an hour), on fresh template copies, alternating, ``--repeat`` times
  each; prints the medians and their ratio (target: < 2% overhead);
- guard latency: a report holds ACCESS SHARE on the table, the migration's ALTER waits
  behind it, application writers arrive one every 0.4 s and queue behind the ALTER;
  with ``max_queued = 2`` the guard must cancel the ALTER once the third writer queues.
  Prints the time from the third writer's arrival to its insert going through, against
  the target of twice the sampling interval.

    python benchmarks/bench_watch.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from syncdb_tui.config import load_config  # noqa: E402
from syncdb_tui.core.changes.executor import execute, plan_and_apply  # noqa: E402
from syncdb_tui.core.changes.plan import make_plan  # noqa: E402
from syncdb_tui.core.envs.embedded import ensure_server  # noqa: E402
from syncdb_tui.core.envs.environments import resolve  # noqa: E402
from syncdb_tui.core.project.revisions import Project  # noqa: E402

from alembic_factory import add_revision, make_project, revision_source  # noqa: E402

INTERVAL_MS = 250


async def _admin(server_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _project(root: Path, url: str, interval_ms: int, extra: str = "") -> Project:
    root.mkdir(parents=True, exist_ok=True)
    make_project(root, {"dev": url}, revisions=1, extra_config=f"[guard]\ninterval_ms = {interval_ms}\n{extra}")
    toml = root / "syncdb.toml"
    toml.write_text(
        toml.read_text()
        .replace("lock_timeout = 1", "lock_timeout = 60")
        .replace("lock_retries = 1", "lock_retries = 6")
    )
    return Project.from_config(load_config(toml))


def overhead(server: object, work: Path, rows: int, repeat: int) -> None:
    admin_url = server.url("postgres")  # type: ignore[attr-defined]
    asyncio.run(_admin(admin_url, "CREATE DATABASE bench_watch_src"))
    src_url = server.url("bench_watch_src")  # type: ignore[attr-defined]
    seed_project = _project(work / "seed", src_url, INTERVAL_MS)
    plan_and_apply(seed_project, resolve(seed_project.config, "dev"), "upgrade", "head")
    asyncio.run(_admin(src_url, f"INSERT INTO t_1 (name) SELECT md5(g::text) FROM generate_series(1, {rows}) g"))
    asyncio.run(_admin(src_url, "VACUUM ANALYZE t_1"))
    timings: dict[str, list[float]] = {"watcher every 250 ms": [], "watcher off": []}
    for n in range(repeat):
        for label, interval in (("watcher every 250 ms", INTERVAL_MS), ("watcher off", 3_600_000)):
            name = f"bench_watch_{n}_{interval}"
            asyncio.run(_admin(admin_url, f"CREATE DATABASE {name} TEMPLATE bench_watch_src"))
            project = _project(work / name, server.url(name), interval)  # type: ignore[attr-defined]
            add_revision(
                work / name,
                "r0002_update.py",
                revision_source("r0002", "r0001", "rewrite names", "op.execute(\"UPDATE t_1 SET name = name || 'x'\")"),
            )
            project = _project(work / name, server.url(name), interval)  # type: ignore[attr-defined]
            env = resolve(project.config, "dev")
            plan = make_plan(project, env, "upgrade", "head", backup=False)
            started = time.perf_counter()
            outcome = execute(project, env, plan, postflight=False)
            elapsed = time.perf_counter() - started
            assert outcome.ok, outcome.error
            timings[label].append(elapsed)
            asyncio.run(_admin(admin_url, f"DROP DATABASE {name}"))
    on = statistics.median(timings["watcher every 250 ms"])
    off = statistics.median(timings["watcher off"])
    print(f"migration: UPDATE of {rows:,} rows, {repeat} runs each (medians)")
    print(f"  watcher every {INTERVAL_MS} ms: {on:7.2f} s   {[f'{t:.2f}' for t in timings['watcher every 250 ms']]}")
    print(f"  watcher off:             {off:7.2f} s   {[f'{t:.2f}' for t in timings['watcher off']]}")
    print(f"  overhead: {100 * (on / off - 1):+.1f}% (ratio {on / off:.3f}; target < 2%)")


def guard_latency(server: object, work: Path) -> None:
    import asyncpg

    admin_url = server.url("postgres")  # type: ignore[attr-defined]
    asyncio.run(_admin(admin_url, "CREATE DATABASE bench_guard"))
    url = server.url("bench_guard")  # type: ignore[attr-defined]
    project = _project(work / "guard", url, INTERVAL_MS, "max_queued = 2")
    env = resolve(project.config, "dev")
    plan_and_apply(project, env, "upgrade", "head")
    add_revision(
        work / "guard",
        "r0002_alter.py",
        revision_source("r0002", "r0001", "add a column", 'op.add_column("t_1", sa.Column("extra", sa.Integer))'),
    )
    project = _project(work / "guard", url, INTERVAL_MS, "max_queued = 2")
    env = resolve(project.config, "dev")
    plan = make_plan(project, env, "upgrade", "head", backup=False)
    third_arrived: list[float] = []
    third_done: list[float] = []
    release = threading.Event()

    def sessions() -> None:
        async def main() -> None:
            holder = await asyncpg.connect(url)
            await holder.execute("BEGIN; SELECT count(*) FROM t_1")
            watcher = await asyncpg.connect(url)
            while not await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'syncdb migrate' "
                "AND wait_event_type = 'Lock'"
            ):
                await asyncio.sleep(0.02)

            async def writer(n: int) -> None:
                await asyncio.sleep(0.4 * n)
                conn = await asyncpg.connect(url)
                if n == 2:
                    third_arrived.append(time.perf_counter())
                await conn.execute("INSERT INTO t_1 (name) VALUES ('w')")
                if n == 2:
                    third_done.append(time.perf_counter())
                await conn.close()

            await asyncio.gather(*(writer(n) for n in range(3)))
            while not release.is_set():
                await asyncio.sleep(0.05)
            await holder.execute("COMMIT")
            await holder.close()
            await watcher.close()

        asyncio.run(main())

    thread = threading.Thread(target=sessions)
    thread.start()
    try:
        outcome_box: list[object] = []
        runner = threading.Thread(target=lambda: outcome_box.append(execute(project, env, plan, postflight=False)))
        runner.start()
        deadline = time.monotonic() + 60
        while not third_done and time.monotonic() < deadline:
            time.sleep(0.05)
        release.set()
        runner.join(120)
    finally:
        release.set()
        thread.join(30)
    outcome = outcome_box[0] if outcome_box else None
    latency = (third_done[0] - third_arrived[0]) if third_done and third_arrived else float("nan")
    aborts = getattr(outcome, "aborts", ())
    print(
        f"guard (max_queued = 2, interval {INTERVAL_MS} ms): the third queued writer went through after "
        f"{latency * 1000:.0f} ms (target ≤ {2 * INTERVAL_MS} ms); aborts recorded: {len(aborts)}; "
        f"migration ok after retry: {getattr(outcome, 'ok', False)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="syncdb-bench-watch-"))
    try:
        server = ensure_server(root / ".syncdb")
        overhead(server, root / "work", args.rows, args.repeat)
        guard_latency(server, root / "work")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
