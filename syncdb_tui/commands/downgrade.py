"""`syncdb downgrade TARGET`: roll back to TARGET (-1, a revision, base)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="where to go back to: -1, -2, a revision id, or base")
    parser.add_argument(
        "--no-backup", action="store_true", help="skip the automatic backup taken before changing the schema"
    )


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from syncdb_tui.commands import migrate_flow
    from syncdb_tui.core.migrations import downgrade, plan_downgrade

    env = ctx.environment()
    plan = plan_downgrade(ctx.project, env, args.target)
    return migrate_flow.carry_out(
        ctx,
        env,
        plan,
        f"downgrade to {args.target}",
        lambda progress: downgrade(ctx.project, env, args.target, progress=progress, plan=plan),
        skip_backup=args.no_backup,
    )
