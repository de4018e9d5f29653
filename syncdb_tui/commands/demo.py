"""`syncdb demo [--reset]`: build the AI BotKit demo and open the TUI (or print its status)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.config import Config
    from syncdb_tui.core.changes.policy import Requirements


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reset",
        action="store_true",
        help="drop and rebuild the three demo databases (embedded ones only; prod asks for its name, or --force)",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="amount of fake data (1 = a few thousand rows)")
    parser.add_argument("--no-tui", action="store_true", help="print the three environments' status and exit")
    parser.add_argument(
        "--dir",
        default="syncdb-demo",
        help="where to create the demo project when none is found (./syncdb-demo)",
    )


def _demo_config(args: argparse.Namespace, ctx: CommandContext) -> Config:
    from syncdb_tui.config import load_config
    from syncdb_tui.core.errors import ConfigError, UsageError
    from syncdb_tui.demo.project import is_demo_config, uses_packaged_scripts, write_demo_project

    if getattr(args, "config", None):
        given = ctx.config
        if not is_demo_config(given):
            # build_demo drops and recreates the environments' databases: never on someone's project
            raise UsageError(
                f"{args.config} is not a syncdb demo config (it needs target_metadata = "
                '"syncdb_tui.demo.models:metadata" and dev, staging and prod environments), and '
                "syncdb demo rebuilds its environments' databases from scratch",
                hint="run syncdb demo without --config: it writes its own project to ./syncdb-demo (or --dir DIR)",
                title="not the demo's config",
            )
        return given
    try:
        found = ctx.config
    except ConfigError:
        found = None
    if found is not None and is_demo_config(found) and not uses_packaged_scripts(found):
        return found
    if found is not None and uses_packaged_scripts(found):
        ctx.note(f"{found.path} uses the scripts inside the package; the demo gets its own writable project")
    path = write_demo_project(Path(args.dir))
    ctx.note(f"demo project: {path}")
    return load_config(path)


def _describe_dry_run(args: argparse.Namespace, ctx: CommandContext) -> None:
    """What `syncdb demo` would do, touching nothing (no project written, no server started)."""
    from syncdb_tui.core.errors import ConfigError
    from syncdb_tui.demo.project import DEMO_TARGETS, is_demo_config, uses_packaged_scripts

    try:
        found = ctx.config
    except ConfigError:
        found = None
    own = found is not None and is_demo_config(found) and not uses_packaged_scripts(found)
    if getattr(args, "config", None) or own:
        where = str(found.path if found is not None else args.config)
    else:
        where = f"{args.dir}/syncdb.toml (written if missing, with the demo's scripts)"
    targets = ", ".join(f"{name} at {target}" for name, target in DEMO_TARGETS.items())
    how = (
        "rebuilt from scratch (only databases of syncdb's embedded server are ever dropped; a protected one "
        "asks for its name, or --force)"
        if args.reset
        else "reused when already built"
    )
    ctx.note(
        f"dry run: would use {where}, start the embedded PostgreSQL beside it and build {targets} "
        f"(prod protected), seeded at scale {args.scale}; environments {how}. Nothing was changed."
    )


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio
    import math
    import sys

    from syncdb_tui.core.envs.environments import resolve
    from syncdb_tui.core.errors import UsageError
    from syncdb_tui.core.project.revisions import Project
    from syncdb_tui.core.report import render_status
    from syncdb_tui.core.status import status
    from syncdb_tui.demo.project import DEMO_TARGETS, build_demo

    if not math.isfinite(args.scale) or args.scale <= 0:
        raise UsageError(
            f"--scale must be a positive number, not {args.scale}",
            hint="1 gives a few thousand rows; 0.1 fewer, 10 more",
        )
    if ctx.dry_run:
        _describe_dry_run(args, ctx)
        return 0
    config = _demo_config(args, ctx)

    def satisfy(req: Requirements) -> None:
        ctx.note(f"demo: {req.environment}'s database is dropped and rebuilt from scratch")
        ctx.satisfy(req)

    built = build_demo(config, reset=args.reset, scale=args.scale, progress=ctx.progress_printer(), satisfy=satisfy)
    for item in built:
        how = "reused" if item.reused else f"built at {item.target}, {item.rows} rows"
        ctx.note(f"{item.name}: {how}")
    use_tui = not args.no_tui and not ctx.json and sys.stdout.isatty() and sys.stdin.isatty()
    if use_tui:
        try:
            from syncdb_tui.ui.app import run_app
        except ModuleNotFoundError:
            use_tui = False
        else:
            return run_app(config)
    project = Project.from_config(config)
    results = []
    for name in DEMO_TARGETS:
        env = resolve(config, name)
        results.append((env, asyncio.run(status(project, env))))
    if ctx.json:
        ctx.write_json([result.to_json() for _, result in results])
    else:
        ctx.write("\n".join(render_status(result, env.display_url) for env, result in results))
    return 0
