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
    import asyncio

    from syncdb_tui.commands import migrate_flow
    from syncdb_tui.core.migrations import downgrade, judge_plan, plan_downgrade

    env = ctx.environment()
    project = ctx.project
    plan = plan_downgrade(project, env, args.target)
    judged = asyncio.run(judge_plan(project, env, plan)) if plan.revisions else []
    migrate_flow.describe_plan(ctx, plan, judged)
    if ctx.dry_run or not plan.revisions:
        migrate_flow.finish(ctx, plan, judged, "")
        return 0
    migrate_flow.confirm(ctx, env, f"downgrade to {args.target}", judged)
    backup_path = migrate_flow.auto_backup(ctx, env, skip=args.no_backup)
    result = downgrade(project, env, args.target, progress=ctx.progress_printer())
    migrate_flow.finish(ctx, result, judged, backup_path)
    return 0
