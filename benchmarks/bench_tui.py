"""Benchmark of the full-screen app: first complete screen, and event-loop stalls.

    python benchmarks/bench_tui.py [--revisions 1000] [--scale 1.0] [--runs 3] [--startup-only]
                                   [--stalls-only] [--stall-runs 1]

1. startup: wall time from starting a new Python process until the main screen
   shows the status of all three demo environments (embedded server already
   running; headless, 120x40), alternating with the baseline: a minimal Textual
   app (Header, DataTable of three rows, Footer) started the same way.
   Target: <= 2x the minimal app (``RESULT tui ratio=<syncdb/minimal> target=2``).
2. stalls: the longest event-loop stall (lateness of a 10 ms ticker) while a
   1000-revision timeline loads and is scrolled, and while a backup of the demo's
   dev database runs from the backup modal.  Target: no stall over 100 ms.
   ``--stall-runs N`` repeats the timeline run N times on fresh apps in this process (the
   first one cold: imports, Pygments' lexer) and prints the median and worst of them.

Prints one line per figure, the last ``RESULT tui …``; not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for extra in (REPO, REPO / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

TICK = 0.010


class StallMeter:
    """A task that sleeps TICK repeatedly and records how late each wake-up is."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(TICK)
            late = loop.time() - before - TICK
            self.worst = max(self.worst, late)
            self.samples += 1

    def __enter__(self) -> StallMeter:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


def _main_screen(app: Any) -> Any:
    from syncdb_tui.ui.screens.main import MainScreen

    return next(screen for screen in app.screen_stack if isinstance(screen, MainScreen))


async def settle(pilot: Any, app: Any) -> None:
    """Wait for every worker (cancelled ones count as done), then one repaint."""
    from textual.worker import WorkerCancelled, WorkerFailed

    for _ in range(20):
        running = [worker for worker in app.workers if not worker.is_finished]
        if not running:
            break
        for worker in running:
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass
            except Exception:  # a pending worker: give it a moment
                await pilot.pause(0.01)
    await pilot.pause()


async def _wait_statuses(pilot: Any, app: Any, names: list[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            statuses = _main_screen(app).statuses
        except StopIteration:
            statuses = {}
        if all(name in statuses for name in names):
            return
        await pilot.pause(0.005)
    raise TimeoutError(f"statuses of {names} did not load within {timeout} s")


# ---------------------------------------------------------------- 1. startup (child process)


def child_startup(config_path: str) -> None:
    """Run in a fresh interpreter: open the app, print the time when all statuses are shown."""
    from syncdb_tui.config import load_config
    from syncdb_tui.ui.app import SyncdbApp

    config = load_config(config_path)
    names = list(config.environments)

    async def run() -> tuple[float, float]:
        app = SyncdbApp(config)
        async with app.run_test(size=(120, 40)) as pilot:
            await _wait_statuses(pilot, app, names)
            shown = await painted(pilot, app)
            await pilot.pause()
            return shown, time.time()

    shown, idle = asyncio.run(run())
    print(json.dumps({"shown": shown, "idle": idle}))


async def painted(pilot: Any, app: Any) -> float:
    """The time of the next paint after every pending message was handled (the screen as shown)."""
    await pilot._wait_for_screen()
    done = asyncio.Event()
    app.call_after_refresh(done.set)
    await done.wait()
    return time.time()


def child_minimal() -> None:
    """The baseline, in a fresh interpreter: a minimal Textual app with three rows, shown."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, Footer, Header

    class Minimal(App[None]):
        def compose(self) -> ComposeResult:
            yield Header()
            yield DataTable()
            yield Footer()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("environment", "current", "pending")
            for name in ("dev", "staging", "prod"):
                table.add_row(name, "abc123", "0")

    async def run() -> tuple[float, float]:
        app = Minimal()
        async with app.run_test(size=(120, 40)) as pilot:
            shown = await painted(pilot, app)
            await pilot.pause()
            return shown, time.time()

    shown, idle = asyncio.run(run())
    print(json.dumps({"shown": shown, "idle": idle}))


def _time_child(args: list[str], cwd: Path) -> tuple[float, float]:
    """(seconds to the painted screen, seconds until the process is also idle) of one child."""
    started = time.time()
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True, cwd=cwd)
    times = json.loads(out.stdout.strip().splitlines()[-1])
    return float(times["shown"]) - started, float(times["idle"]) - started


def measure_startup(config_path: Path, runs: int) -> dict[str, list[float]]:
    """Start-to-shown and start-to-idle times of syncdb and of the minimal app, measured alternately."""
    times: dict[str, list[float]] = {"syncdb": [], "syncdb idle": [], "minimal": [], "minimal idle": []}
    for _ in range(runs):
        for name, args in (("syncdb", ["--child-startup", str(config_path)]), ("minimal", ["--child-minimal"])):
            shown, idle = _time_child(args, config_path.parent)
            times[name].append(shown)
            times[f"{name} idle"].append(idle)
    return times


# ---------------------------------------------------------------- 2. stalls


async def stall_timeline(config: Any) -> tuple[float, float, int]:
    """(worst stall while loading, worst stall while scrolling, rows) for a long history."""
    from syncdb_tui.ui.app import SyncdbApp
    from syncdb_tui.ui.widgets.timeline import MigrationTimeline

    app = SyncdbApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        with StallMeter() as loading:
            await _wait_statuses(pilot, app, list(config.environments), timeout=300)
            await settle(pilot, app)
        timeline = app.screen.query_one(MigrationTimeline)
        await pilot.press("2")
        with StallMeter() as scrolling:
            for _ in range(200):
                await pilot.press("down")
            for _ in range(20):
                await pilot.press("pagedown")
            await pilot.press("end")
            for _ in range(20):
                await pilot.press("pageup")
            await pilot.press("home")
            await settle(pilot, app)
        return loading.worst, scrolling.worst, timeline.row_count


async def stall_backup(config: Any) -> tuple[float, float, int]:
    """(worst stall, seconds, progress events) while a backup of dev runs from the modal."""
    from syncdb_tui.ui.app import SyncdbApp
    from syncdb_tui.ui.messages import JobFinished, JobProgressed
    from syncdb_tui.ui.screens.backup import BackupScreen

    seen: list[Any] = []
    app = SyncdbApp(config, env="dev")
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await _wait_statuses(pilot, app, list(config.environments))
        await settle(pilot, app)
        await pilot.press("b")
        while not isinstance(app.screen, BackupScreen):
            await pilot.pause(0.01)
        started = time.monotonic()
        with StallMeter() as meter:
            await pilot.press("ctrl+s")
            while not any(isinstance(message, JobFinished) for message in seen):
                await pilot.pause(0.01)
                if time.monotonic() - started > 600:
                    raise TimeoutError("the backup did not finish")
        seconds = time.monotonic() - started
    return meter.worst, seconds, sum(isinstance(message, JobProgressed) for message in seen)


def long_history_project(root: Path, revisions: int) -> Path:
    from syncdb_tui.core.envs.embedded import ensure_server
    from syncdb_tui.core.envs.environments import ConnectionInfo, ensure_embedded_database

    from alembic_factory import make_project

    server = ensure_server(root / ".syncdb")
    urls = {}
    for name in ("dev", "staging", "prod"):
        database = f"bench_{name}"
        ensure_embedded_database(server, database)
        info = ConnectionInfo(host=str(server.socket_dir), port=None, user=server.user, database=database)
        urls[name] = f"postgresql://{info.user}@/{database}?host={info.host}"
    return make_project(
        root, urls, revisions=revisions, protected=("prod",), extra_config="[tui]\nrefresh_interval = 3600"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="syncdb TUI benchmark")
    parser.add_argument("--revisions", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=1.0, help="demo data scale for the backup run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--startup-only", action="store_true", help="only the startup figure (no stall runs)")
    parser.add_argument("--stalls-only", action="store_true", help="only the stall figures (no startup runs)")
    parser.add_argument("--stall-runs", type=int, default=1, help="timeline stall runs (each on a fresh app)")
    parser.add_argument("--child-startup", default="", help=argparse.SUPPRESS)
    parser.add_argument("--child-minimal", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_startup:
        child_startup(args.child_startup)
        return 0
    if args.child_minimal:
        child_minimal()
        return 0

    from syncdb_tui.config import load_config
    from syncdb_tui.core.envs.environments import resolve
    from syncdb_tui.demo.project import build_demo, write_demo_project

    work = Path(tempfile.mkdtemp(prefix="syncdb-bench-tui-"))
    demo_path = write_demo_project(work / "demo")
    demo = load_config(demo_path)
    build_demo(demo, scale=args.scale)
    for name in demo.environments:
        resolve(demo, name)  # the embedded server is running before the timed runs
    measure_startup(demo_path, 1)  # warm-up: the revision cache, the OS page cache
    result = ""
    if not args.stalls_only:
        result = print_startup(measure_startup(demo_path, args.runs))
    if args.startup_only:
        print(result)
        return 0

    os.chdir(work)
    long_config = load_config(long_history_project(work / "long", args.revisions))
    loads: list[float] = []
    scrolls: list[float] = []
    for _ in range(max(1, args.stall_runs)):
        loading, scrolling, rows = asyncio.run(stall_timeline(long_config))
        loads.append(loading)
        scrolls.append(scrolling)
        print(
            f"timeline with {rows} revisions: worst stall while loading {loading * 1000:.0f} ms, "
            f"while scrolling {scrolling * 1000:.0f} ms (target < 100 ms)"
        )
    if len(loads) > 1:
        print(
            f"timeline over {len(loads)} runs: loading median {statistics.median(loads) * 1000:.0f} ms, "
            f"worst {max(loads) * 1000:.0f} ms; scrolling median {statistics.median(scrolls) * 1000:.0f} ms, "
            f"worst {max(scrolls) * 1000:.0f} ms (target < 100 ms)"
        )

    worst, seconds, events = asyncio.run(stall_backup(demo))
    print(
        f"backup of demo dev from the modal: {seconds:.2f} s, {events} progress events, "
        f"worst stall {worst * 1000:.0f} ms (target < 100 ms)"
    )
    if result:
        print(result)
    return 0


def print_startup(times: dict[str, list[float]]) -> str:
    """Print the startup figures; returns the ``RESULT tui …`` line."""
    startup, minimal = times["syncdb"], times["minimal"]
    print(
        f"startup to complete main screen painted (3 demo envs): median {statistics.median(startup):.2f} s, "
        f"best {min(startup):.2f} s, runs {', '.join(f'{t:.2f}' for t in startup)}"
    )
    print(
        f"minimal Textual app (DataTable, three rows), same way: median {statistics.median(minimal):.2f} s, "
        f"runs {', '.join(f'{t:.2f}' for t in minimal)}"
    )
    print(
        f"until the process is idle too (Pilot.pause(): SQL, judging and drift done in the background): "
        f"syncdb median {statistics.median(times['syncdb idle']):.2f} s, "
        f"minimal {statistics.median(times['minimal idle']):.2f} s"
    )
    return f"RESULT tui ratio={statistics.median(startup) / statistics.median(minimal):.2f} target=2"


if __name__ == "__main__":
    raise SystemExit(main())
