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
    import shlex
    import sys

    from syncdb_tui.core.envs.tools import locate_tool
    from syncdb_tui.core.errors import OperationError

    env = ctx.environment()
    tool = asyncio.run(locate_tool("psql", env))
    argv = [str(tool.path), *args.passthrough]
    if ctx.dry_run:
        has_password = bool(env.conninfo.libpq_env().get("PGPASSWORD"))
        how = "password passed in its environment, never on its command line" if has_password else "no password set"
        ctx.note(f"dry run: would run {shlex.join(argv)} on {env.display_url} ({how})")
        return 0
    sys.stdout.flush()
    returncode = _run_psql(argv, env.conninfo.libpq_env())
    if returncode != 0:
        raise OperationError(
            f"psql on {env.name} exited with status {returncode}",
            hint="see psql's message above",
            title="psql failed",
        )
    return 0


def _run_psql(argv: list[str], environ: dict[str, str]) -> int:
    """Run psql in the foreground; Ctrl+C belongs to psql (it cancels the running query).

    ``subprocess.run`` would kill psql on the first Ctrl+C (KeyboardInterrupt in the
    parent), ending an interactive session when the user only meant to cancel a query.
    """
    import subprocess

    process = subprocess.Popen(argv, env=environ)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue
