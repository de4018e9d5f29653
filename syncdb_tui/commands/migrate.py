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
    import asyncio

    from syncdb_tui.commands import migrate_flow
    from syncdb_tui.core.errors import UsageError
    from syncdb_tui.core.migrations import judge_plan, plan_upgrade, upgrade

    if args.target.startswith("-"):
        raise UsageError(
            f"migrate goes forward; {args.target!r} is a step back",
            hint=f"use `syncdb downgrade {args.target}` to roll back",
        )

    env = ctx.environment()
    project = ctx.project
    plan = plan_upgrade(project, env, args.target)
    judged = asyncio.run(judge_plan(project, env, plan)) if plan.revisions else []
    migrate_flow.describe_plan(ctx, plan, judged)
    if ctx.dry_run or not plan.revisions:
        migrate_flow.finish(ctx, plan, judged, "")
        return 0
    migrate_flow.confirm(ctx, env, f"migrate to {args.target}", judged)
    backup_path = migrate_flow.auto_backup(ctx, env, skip=args.no_backup)
    result = upgrade(project, env, args.target, progress=ctx.progress_printer())
    migrate_flow.finish(ctx, result, judged, backup_path)
    return 0
