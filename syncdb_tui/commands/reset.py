"""`syncdb reset --env dev`: drop and recreate a development database, migrate it to head and seed it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-seed", action="store_true", help="leave the database empty after migrating")
    parser.add_argument("--scale", type=float, default=1.0, help="amount of seed data (1 = the default)")


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.changes.policy import check_refusal
    from syncdb_tui.core.reset import reset, reset_requirements

    env = ctx.environment()
    req = reset_requirements(env)
    check_refusal(req)
    seeds = not args.no_seed and bool(ctx.config.seed)
    if ctx.dry_run:
        ctx.note(
            f"dry run: would drop {env.database} on {env.display_url}, recreate it, migrate it to head"
            + (f" and seed it ({ctx.config.seed})" if seeds else "")
            + "; nothing was changed"
        )
        return 0
    ctx.satisfy(req)
    result = asyncio.run(reset(ctx.project, env, seed=seeds, scale=args.scale, progress=ctx.progress_printer()))
    if ctx.json:
        ctx.write_json(result.to_json())
        return 0
    at = ", ".join(result.now_at) or "base (no revisions)"
    seeded = f", seeded with {result.seeded_rows} rows" if result.seeded_rows is not None else ""
    ctx.note(f"{env.name}: {env.database} recreated, now at {at}{seeded}")
    return 0
