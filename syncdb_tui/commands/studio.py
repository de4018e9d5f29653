"""`syncdb studio [--env E] [--table T]`: open the TUI on the table explorer."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table",
        "-t",
        metavar="TABLE",
        help="open this table first (schema.table, or a table of the public schema)",
    )
    parser.epilog = "Protected environments open read-only. Press ? in the explorer for its keys."


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import sys

    from syncdb_tui.core.errors import UsageError

    config = ctx.config
    env_name = config.environment(getattr(args, "env", None)).name
    table = getattr(args, "table", None)
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise UsageError(
            "syncdb studio is a full-screen explorer and needs a terminal",
            hint="run it in a terminal (over SSH: ssh -t), or use `syncdb psql` for scripted queries",
            title="no terminal",
        )
    from syncdb_tui.ui.app import run_app

    return run_app(config, env=env_name, start="explorer", table=table, dry_run=ctx.dry_run)
