"""`syncdb downgrade TARGET`: roll back to TARGET (-1, a revision, base), or exactly a saved plan (--plan)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from syncdb_tui.commands.change_flow import add_plan_arguments

    parser.add_argument("target", nargs="?", default=None, help="where to go back to: -1, -2, a revision id, or base")
    add_plan_arguments(parser)


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from syncdb_tui.commands import change_flow
    from syncdb_tui.core.errors import UsageError

    if args.target is None and not args.plan_file:
        raise UsageError(
            "downgrade needs a target: -1, -2, a revision id, or base",
            hint="for example: syncdb downgrade -1 (or --plan FILE to apply a saved plan)",
        )
    return change_flow.run(ctx, args, "downgrade", args.target)
