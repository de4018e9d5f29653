"""`syncdb stamp REV`: set the version table without running migrations (through the change pipeline)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from syncdb_tui.commands.change_flow import add_plan_arguments

    parser.add_argument("revision", nargs="?", default=None, help="revision id, head or base")
    add_plan_arguments(parser, backup=False)


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from syncdb_tui.commands import change_flow
    from syncdb_tui.core.errors import UsageError

    if args.revision is None and not args.plan_file:
        raise UsageError("stamp needs a revision", hint="name the revision the schema matches (an id, head or base)")
    return change_flow.run(ctx, args, "stamp", args.revision)
