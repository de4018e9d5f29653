"""Regenerate ``screenshots/*.svg`` (and PNG where a converter exists) from the real app on the demo.

    python scripts/screenshots.py [--out screenshots] [--demo-dir DIR]

Builds the AI BotKit demo (embedded dev/staging/prod; reused when it exists), opens
the app headless with Textual's Pilot, drives it to each state and saves
``App.save_screenshot`` SVGs.  PNGs come from ``rsvg-convert`` (Debian:
librsvg2-bin) or the ``cairosvg`` package, whichever is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# name, terminal size, environment, keys pressed, screen to wait for (class name or "")
SHOTS: tuple[tuple[str, tuple[int, int], str, tuple[str, ...], str], ...] = (
    ("main", (120, 40), "dev", (), ""),
    ("main-prod", (120, 40), "prod", ("2",), ""),
    ("risk-all-pending", (120, 40), "prod", ("a", "4"), ""),
    ("confirm-prod", (120, 40), "prod", ("m",), "ConfirmScreen"),
    ("backup-modal", (120, 40), "dev", ("b",), "BackupScreen"),
    ("restore-modal", (120, 40), "prod", ("r",), "RestoreScreen"),
    ("dry-run-plan", (120, 40), "prod", ("n", "m"), "ReportScreen"),
    ("help", (120, 40), "dev", ("f1",), "HelpScreen"),
    ("main-wide", (200, 50), "prod", (), ""),
    ("main-narrow", (80, 24), "prod", ("2",), ""),
    ("risk-narrow-no-color", (80, 24), "prod", ("NO_COLOR", "a", "4"), ""),
    ("plan-staging", (120, 40), "staging", ("m",), "ConfirmScreen"),
    # last: this one changes the demo (staging is migrated; its job shows in the Jobs pane)
    ("jobs-after-migrate", (120, 40), "staging", ("m", "wait:ConfirmScreen", "enter"), ""),
)


async def _settle(pilot: Any, *, flows: bool = False) -> None:
    """Wait for the workers, except flows waiting for a modal's answer (they never end by themselves)."""
    from textual.worker import WorkerCancelled, WorkerFailed

    for _ in range(20):
        running = [
            worker
            for worker in pilot.app.workers
            if not worker.is_finished and (flows or not (worker.group or "").startswith("flow:"))
        ]
        if not running:
            break
        for worker in running:
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass
            except Exception:
                await pilot.pause(0.01)
    await pilot.pause()


async def _shoot(
    config: Any, out: Path, name: str, size: tuple[int, int], env: str, keys: Sequence[str], wait_for: str
) -> Path:
    import os

    from syncdb_tui.ui.app import SyncdbApp

    if "NO_COLOR" in keys:
        os.environ["NO_COLOR"] = "1"  # read (and removed) by the app at start
    app = SyncdbApp(config, env=env)
    async with app.run_test(size=size) as pilot:
        await _settle(pilot)
        for key in keys:
            if key == "NO_COLOR":
                continue
            if key.startswith("wait:"):
                for _ in range(500):
                    if type(app.screen).__name__ == key[5:]:
                        break
                    await pilot.pause(0.02)
                continue
            await pilot.press(key)
        for _ in range(500):
            if not wait_for or type(app.screen).__name__ == wait_for:
                break
            await pilot.pause(0.02)
        await _settle(pilot, flows=not wait_for)
        path = Path(app.save_screenshot(f"{name}.svg", path=str(out)))
    return path


def to_png(svg: Path) -> Path | None:
    """Convert with rsvg-convert or cairosvg; None when neither is available."""
    png = svg.with_suffix(".png")
    if shutil.which("rsvg-convert"):
        subprocess.run(["rsvg-convert", "-o", str(png), str(svg)], check=True)
        return png
    try:
        import cairosvg  # type: ignore[import-not-found]
    except ImportError:
        return None
    cairosvg.svg2png(url=str(svg), write_to=str(png))
    return png


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "screenshots"), help="output directory")
    parser.add_argument("--demo-dir", default="", help="demo project directory (default: a temporary one)")
    args = parser.parse_args(argv)

    from syncdb_tui.config import load_config
    from syncdb_tui.core.backups.backup import BackupOptions, backup
    from syncdb_tui.core.envs.environments import resolve
    from syncdb_tui.demo.project import build_demo, write_demo_project

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    demo_dir = Path(args.demo_dir) if args.demo_dir else Path(tempfile.mkdtemp(prefix="syncdb-shots-")) / "demo"
    config = load_config(write_demo_project(demo_dir))
    build_demo(config)
    if not list(config.backup_dir.glob("*.manifest.json")):
        asyncio.run(backup(resolve(config, "prod"), config, BackupOptions()))
    for name, size, env, keys, wait_for in SHOTS:
        svg = asyncio.run(_shoot(config, out, name, size, env, keys, wait_for))
        png = to_png(svg)
        print(f"{svg}" + (f"  {png.name}" if png else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
