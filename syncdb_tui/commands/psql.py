"""`syncdb psql [-- ARGS]`: psql connected to the environment, password via the environment."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "Arguments after -- go to psql, e.g. syncdb psql --env staging -- -c 'SELECT 1'"


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio
    import subprocess
    import sys

    from syncdb_tui.core.errors import OperationError
    from syncdb_tui.core.tools import locate_tool

    env = ctx.environment()
    tool = asyncio.run(locate_tool("psql", env))
    argv = [str(tool.path), *args.passthrough]
    if ctx.dry_run:
        ctx.note(f"dry run: would run {' '.join(argv)} on {env.display_url} (password passed in PGPASSWORD)")
        return 0
    sys.stdout.flush()
    completed = subprocess.run(argv, env=env.conninfo.libpq_env(), check=False)
    if completed.returncode != 0:
        raise OperationError(
            f"psql on {env.name} exited with status {completed.returncode}",
            hint="see psql's message above",
            title="psql failed",
        )
    return 0
