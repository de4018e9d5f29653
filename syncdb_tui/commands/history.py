"""`syncdb history`: the ledger of changes applied to one environment (text, or --json)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext

DEFAULT_LIMIT = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--limit",
        "-n",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show the newest N changes (default {DEFAULT_LIMIT})",
    )


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.changes.ledger import entries_of
    from syncdb_tui.core.errors import UsageError
    from syncdb_tui.core.report import render_history

    if args.limit < 1:
        raise UsageError(f"--limit must be 1 or more, not {args.limit}", hint="for example: syncdb history --limit 20")
    env = ctx.environment()
    entries = asyncio.run(entries_of(env, limit=args.limit))
    if ctx.json:
        ctx.write_json([entry.to_json() for entry in entries])
    else:
        ctx.write(render_history(entries, env.name))
    return 0
