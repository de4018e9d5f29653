"""Benchmark of the table explorer on a 10-million-row table (issue 6).

Starts its own embedded PostgreSQL in a temporary directory, builds
``big(id bigint primary key, k integer indexed, payload text)`` with one
INSERT … SELECT over generate_series, then prints median and p95 latency of:

- opening the table (catalog + first page) on an open session;
- the next page at depth 5,000,000 by keyset, and by OFFSET (the baseline);
- paging forward from depth 5,000,000 page after page (each request anchored on the page
  before): the headline, without prefetch (as the app runs); and, for reference, with the
  session's optional prefetch, 30 ms between requests like a key held down;
- a sorted page on the indexed column (first page and one at depth 5,000,000);
- an equality filter on the indexed column;

and the process's memory (tracemalloc peak and RSS) while paging through
1,000 pages; then, in the app (``SyncdbApp`` opened on the explorer, headless, 120x40,
driven by Textual's Pilot), keypress → painted page: the ``n`` key sent the way Pilot
sends keys (without Pilot's own waits for CPU idle, which alone take 40 ms and more),
until the next page is in the grid and the screen has rendered it, at depth.
Targets: open ≤ 100 ms; any page ≤ 20 ms median; memory flat; next page
at depth p95 ≤ 3 ms; keypress → painted page ≤ 16 ms median.
The last line is ``RESULT explorer ratio=<p95 ms / 3 ms> target=1``.

    python benchmarks/bench_explorer.py [--rows 10000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from syncdb_tui.config import Config, EnvironmentConfig
from syncdb_tui.core.envs.embedded import EmbeddedServer, ensure_server
from syncdb_tui.core.explorer.query import Filter, Operator, Sort, TableRef, offset_query
from syncdb_tui.core.explorer.session import ExplorerSession, ViewState, open_session, ordering_keys

BIG = TableRef("public", "big")
PAGE = 100


def psql(server: EmbeddedServer, database: str, sql: str) -> str:
    env = {**os.environ, "PGHOST": str(server.socket_dir), "PGUSER": server.user, "PGDATABASE": database}
    result = subprocess.run(
        [str(server.bin_dir / "psql"), "-XAtq", "-v", "ON_ERROR_STOP=1"],
        input=sql,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"psql failed: {result.stderr.strip()}")
    return result.stdout


def build(server: EmbeddedServer, rows: int) -> float:
    started = time.perf_counter()
    psql(server, "postgres", "DROP DATABASE IF EXISTS bench; CREATE DATABASE bench;")
    psql(
        server,
        "bench",
        f"""
        SET maintenance_work_mem = '512MB';
        CREATE TABLE big (id bigint NOT NULL, k integer NOT NULL, payload text NOT NULL);
        INSERT INTO big (id, k, payload)
          SELECT g, ((g * 7919) % 1000003)::int, 'row ' || g FROM generate_series(1::bigint, {rows}) AS g;
        ALTER TABLE big ADD PRIMARY KEY (id);
        CREATE INDEX big_k_idx ON big (k);
        VACUUM ANALYZE big;
        """,
    )
    return time.perf_counter() - started


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def timed(call: Callable[[], Awaitable[Any]], repeats: int) -> tuple[float, float]:
    samples = []
    await call()  # warm the plan cache and the buffers once
    for _ in range(repeats):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95


def line(label: str, figures: tuple[float, float], target: str = "") -> None:
    median, p95 = figures
    print(f"  {label:<48} median {median:9.2f} ms   p95 {p95:9.2f} ms  {target}")


async def walk(
    session: ExplorerSession, info: Any, view: ViewState, depth: int, pages: int, *, prefetch: bool, pause: float
) -> tuple[float, float]:
    """Median and p95 of ``pages`` successive next pages from ``depth`` (each anchored on the page before)."""
    session.prefetch = prefetch
    samples = []
    anchor: tuple[Any, ...] = (depth,)
    page = await session.page(info, view, "next", anchor)  # warm-up
    anchor = page.keys[-1]
    try:
        for _ in range(pages):
            if pause:
                await asyncio.sleep(pause)
            started = time.perf_counter()
            page = await session.page(info, view, "next", anchor)
            samples.append((time.perf_counter() - started) * 1000)
            anchor = page.keys[-1]
    finally:
        session.prefetch = False
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]


async def measure(session: ExplorerSession, rows: int, repeats: int) -> float:
    depth = rows // 2
    info = await session.describe(BIG)
    plain = ViewState(BIG)
    print(f"latency ({repeats} runs each, page size {PAGE}, after one warm-up run):")
    line("open table (catalog + first page)", await timed(lambda: session.open_table(plain), repeats), "≤ 100 ms")
    line(
        f"next page at depth {depth:,} (keyset)",
        await timed(lambda: session.page(info, plain, "next", (depth,)), repeats),
        "≤ 20 ms",
    )
    offset = offset_query(BIG, info.column_names, ordering_keys(info, None), depth, PAGE)

    async def by_offset() -> None:
        async with session.connection(BIG) as conn:
            await conn.fetch(offset.sql)

    keyset_median = (await timed(lambda: session.page(info, plain, "next", (depth,)), repeats))[0]
    offset_figures = await timed(by_offset, max(3, repeats // 10))
    line(f"next page at depth {depth:,} (OFFSET baseline)", offset_figures)
    print(f"  {'':<48} keyset is {offset_figures[0] / keyset_median:,.0f}x faster than OFFSET")
    line("previous page at depth (keyset)", await timed(lambda: session.page(info, plain, "prev", (depth,)), repeats))
    line("last page (keyset)", await timed(lambda: session.page(info, plain, "last"), repeats))
    by_k = ViewState(BIG, Sort("k"))
    line("sorted page on indexed k (first)", await timed(lambda: session.page(info, by_k, "first"), repeats), "≤ 20 ms")
    async with session.connection(BIG) as conn:
        anchor = await conn.fetchrow(f"SELECT k, id FROM big ORDER BY k, id OFFSET {depth} LIMIT 1")
    line(
        f"sorted page on indexed k at depth {depth:,}",
        await timed(lambda: session.page(info, by_k, "next", (anchor["k"], anchor["id"])), repeats),
        "≤ 20 ms",
    )
    equal = ViewState(BIG, None, (Filter("k", Operator.EQ, "424242"),))
    line("filter k = 424242 (indexed)", await timed(lambda: session.page(info, equal, "first"), repeats), "≤ 20 ms")
    index = info.index_for("k")
    print(f"  (the sort on k is served by {'the index ' + index.name if index else 'a full scan'})")
    pages = max(200, repeats * 4)
    headline = await walk(session, info, plain, depth, pages, prefetch=False, pause=0.0)
    line(f"next pages from depth {depth:,} ({pages}, one after another)", headline, "p95 ≤ 3 ms")
    served = await walk(session, info, plain, depth, pages, prefetch=True, pause=0.03)
    line("  the same with prefetch on, 30 ms apart (reference)", served)
    session.prefetch = False
    return headline[1]


async def memory(session: ExplorerSession, pages: int) -> None:
    info = await session.describe(BIG)
    view = ViewState(BIG)
    tracemalloc.start()
    page = await session.page(info, view, "first")
    checkpoints = {10, 100, 250, 500, 750, pages}
    print(f"memory while paging through {pages:,} pages ({pages * PAGE:,} rows):")
    started = time.perf_counter()
    for number in range(2, pages + 1):
        page = await session.page(info, view, "next", page.keys[-1])
        if number in checkpoints:
            current, peak = tracemalloc.get_traced_memory()
            print(
                f"  page {number:>5}: traced now {current / 1e6:6.2f} MB, traced peak {peak / 1e6:6.2f} MB, "
                f"RSS {rss_mb():7.1f} MB"
            )
    elapsed = time.perf_counter() - started
    tracemalloc.stop()
    print(f"  {pages - 1} pages in {elapsed:.2f} s ({elapsed * 1000 / (pages - 1):.2f} ms per page, traced)")


async def keypress_to_paint(config: Config, depth: int, presses: int) -> tuple[float, float, float]:
    """Median and p95 (ms) of ``n`` pressed in the app's explorer → the next page painted, at ``depth``,
    and the median CPU time (ms) the app's process spent on one press (less sensitive than wall time
    to other load on the machine; the server's time is not in it)."""
    from syncdb_tui.ui.app import SyncdbApp
    from syncdb_tui.ui.screens.explorer import ExplorerScreen, PageRequest

    app = SyncdbApp(config, "bench", start="explorer", table="public.big")
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 60
        while not (isinstance(app.screen, ExplorerScreen) and app.screen.page is not None):
            if time.monotonic() > deadline:
                raise TimeoutError("the explorer did not show the table")
            await pilot.pause(0.01)
        screen = app.screen
        assert screen.request is not None
        screen._load_page(PageRequest(screen.request.view, "next", (depth,)))  # jump to the depth
        await pilot.pause(0.2)
        await pilot.pause()
        samples, cpu = await _timed_presses(app, pilot, lambda: screen.page, presses)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, statistics.median(cpu)


async def textual_floor(presses: int) -> tuple[float, float]:
    """Median wall and CPU (ms) of the same keypress → paint path in a minimal Textual app: one
    line-API widget filling a 120x40 screen, a key whose worker swaps its page (no database) and
    repaints it. What Textual itself costs here, for the figure above."""
    from rich.segment import Segment
    from textual import work
    from textual.app import App, ComposeResult
    from textual.geometry import Size
    from textual.scroll_view import ScrollView
    from textual.strip import Strip

    class Lines(ScrollView, can_focus=True):
        page = 0

        def render_line(self, y: int) -> Strip:
            width = self.scrollable_content_region.width
            text = f" {self.page * 100 + y:>8}  a row of page {self.page}"
            return Strip([Segment(text.ljust(width)[:width])], width)

    class Floor(App[None]):
        BINDINGS = [("n", "next", "next")]

        def compose(self) -> ComposeResult:
            yield Lines()

        def on_mount(self) -> None:
            lines = self.query_one(Lines)
            lines.virtual_size = Size(80, 101)
            lines.focus()

        def action_next(self) -> None:
            self.load()

        @work(exclusive=True)
        async def load(self) -> None:
            await asyncio.sleep(0)
            lines = self.query_one(Lines)
            lines.page += 1
            lines.refresh()

    app = Floor()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        lines = app.query_one(Lines)
        samples, cpu = await _timed_presses(app, pilot, lambda: lines.page, presses)
    return statistics.median(samples), statistics.median(cpu)


async def _timed_presses(
    app: Any, pilot: Any, page: Callable[[], object], presses: int
) -> tuple[list[float], list[float]]:
    """Wall and CPU times (ms) of ``presses`` presses of ``n``, each until ``page()`` is a new object and the
    screen has painted it; three more presses first, not counted (they warm plans, caches and widgets)."""
    from textual import events

    samples: list[float] = []
    cpu: list[float] = []
    for number in range(presses + 3):
        before = page()
        started, cpu_started = time.perf_counter(), time.process_time()
        key = events.Key("n", "n")
        key.set_sender(app)
        assert app._driver is not None
        app._driver.send_message(key)  # what Pilot.press sends
        while page() is before:
            await asyncio.sleep(0)
        await pilot._wait_for_screen()  # the widgets have handled the new page
        app.screen._on_timer_update()  # and the screen renders what changed (as Pilot.pause does)
        if number >= 3:
            samples.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
        await pilot.pause(0.02)
    return samples, cpu


async def run(server: EmbeddedServer, root: Path, rows: int, repeats: int, pages: int) -> None:
    url = server.url("bench")
    config = Config(
        root=root,
        path=None,
        environments={"bench": EnvironmentConfig(name="bench", url=url)},
        default_env="bench",
        explorer_page_size=PAGE,
        explorer_statement_timeout=60,
    )
    started = time.perf_counter()
    session = await open_session(config, "bench")
    print(f"session opened (connect + settings) in {(time.perf_counter() - started) * 1000:.1f} ms")
    try:
        p95 = await measure(session, rows, repeats)
        await memory(session, pages)
    finally:
        await session.close()
    presses = max(30, repeats)
    median, key_p95, cpu = await keypress_to_paint(config, rows // 2, presses)
    print(f"in the app: keypress n → painted next page at depth {rows // 2:,} ({presses} presses):")
    line("keypress → painted page (Pilot, headless 120x40)", (median, key_p95), "median ≤ 16 ms")
    print(f"  {'the app process CPU per press':<48} median {cpu:9.2f} ms")
    floor, floor_cpu = await textual_floor(presses)
    print(
        f"  {'Textual alone (minimal app, same key → paint path)':<48} median {floor:9.2f} ms "
        f"(CPU {floor_cpu:.2f} ms): the app's press is {median / floor:.2f}x that"
    )
    print(f"RESULT explorer ratio={p95 / 3.0:.2f} target=1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="use (and keep) this directory for the server")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-explorer-"))
    server = ensure_server(root / ".syncdb", idle_stop=0)
    try:
        print(f"building big: {args.rows:,} rows, PK on id, index on k …", flush=True)
        print(f"built in {build(server, args.rows):.1f} s; size {psql(server, 'bench', SIZE_SQL).strip()}")
        asyncio.run(run(server, root, args.rows, args.repeats, args.pages))
    finally:
        if args.keep is None:
            pg_ctl = server.bin_dir / "pg_ctl"
            subprocess.run([str(pg_ctl), "stop", "-D", str(server.pgdata), "-m", "fast"], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)


SIZE_SQL = "SELECT pg_size_pretty(pg_total_relation_size('big'))"

if __name__ == "__main__":
    main()
