"""`syncdb migrate [TARGET]`: apply pending revisions (default head)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?", default="head", help="revision to upgrade to (default: head)")
    parser.add_argument("--no-backup", action="store_true", help="skip the automatic backup taken before migrating")


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from syncdb_tui.commands import migrate_flow
    from syncdb_tui.core.errors import UsageError
    from syncdb_tui.core.migrations import plan_upgrade, upgrade

    if args.target.startswith("-"):
        raise UsageError(
            f"migrate goes forward; {args.target!r} is a step back",
            hint=f"use `syncdb downgrade {args.target}` to roll back",
        )

    env = ctx.environment()
    plan = plan_upgrade(ctx.project, env, args.target)
    return migrate_flow.carry_out(
        ctx,
        env,
        plan,
        f"migrate to {args.target}",
        lambda progress: upgrade(ctx.project, env, args.target, progress=progress, plan=plan),
        skip_backup=args.no_backup,
    )
