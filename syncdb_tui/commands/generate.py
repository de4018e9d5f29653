"""`syncdb generate -m MSG`: autogenerate a revision from the models."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--message", required=True, help="what the change does")
    parser.add_argument("--rev-id", help="revision id to use (default: generated)")


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from syncdb_tui.core.migrations import generate

    env = ctx.environment()
    result = generate(ctx.project, env, args.message, dry_run=ctx.dry_run, rev_id=args.rev_id)
    if ctx.json:
        ctx.write_json(
            {
                "revision": result.revision,
                "message": result.message,
                "path": result.path or None,
                "empty": result.empty,
                "dry_run": result.dry_run,
                "source": result.source,
            }
        )
        return 0
    if result.dry_run:
        ctx.write(result.source)
        ctx.note("dry run: no file was written")
    else:
        ctx.note(f"revision {result.revision} written to {result.path}")
    if result.empty:
        ctx.note("note: the models match the database; the revision is empty")
    return 0
