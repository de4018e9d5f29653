"""`syncdb stamp REV`: set the version table without running migrations."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("revision", help="revision id, head or base")


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from syncdb_tui.core.migrations import stamp
    from syncdb_tui.core.safety import confirmation_reasons

    env = ctx.environment()
    project = ctx.project
    project.resolve_target(args.revision)
    if ctx.dry_run:
        result = stamp(project, env, args.revision, dry_run=True)
        ctx.note(
            f"dry run: would set {env.name}'s version table from {', '.join(result.before) or 'base'} "
            f"to {args.revision}; nothing was changed"
        )
    else:
        reasons = confirmation_reasons(env)
        if reasons:
            ctx.confirm_typed(env.name, f"stamp {args.revision}", reasons)
        result = stamp(project, env, args.revision)
        ctx.note(f"{env.name} stamped: {', '.join(result.before) or 'base'} → {', '.join(result.after) or 'base'}")
    if ctx.json:
        ctx.write_json(result.to_json())
    return 0
