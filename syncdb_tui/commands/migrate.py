"""`syncdb migrate [TARGET]`: apply pending revisions (default head), or exactly a saved plan (--plan)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from syncdb_tui.commands.change_flow import add_plan_arguments

    parser.add_argument("target", nargs="?", default=None, help="revision to upgrade to (default: head)")
    add_plan_arguments(parser)


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from syncdb_tui.commands import change_flow
    from syncdb_tui.core.errors import UsageError

    if args.target is not None and args.target.startswith("-"):
        raise UsageError(
            f"migrate goes forward; {args.target!r} is a step back",
            hint=f"use `syncdb downgrade {args.target}` to roll back",
        )
    return change_flow.run(ctx, args, "upgrade", args.target)
