"""`syncdb rehearse [TARGET]`: run the plan on a scratch copy; report locks taken and times (--json)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", nargs="?", default=None, help="revision to upgrade to (default: head)")
    parser.add_argument(
        "--downgrade", metavar="TARGET", help="rehearse a downgrade to TARGET (-1, a revision, base) instead"
    )
    parser.add_argument("--plan", metavar="FILE", dest="plan_file", help="rehearse exactly the plan saved in FILE")
    parser.add_argument(
        "--from-backup",
        metavar="FILE",
        help="make the copy by restoring this backup (default: a template copy, or for a protected "
        "environment the newest good full backup)",
    )


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from syncdb_tui.core.changes.plan import load_plan, make_plan
    from syncdb_tui.core.changes.rehearse import rehearse
    from syncdb_tui.core.errors import UsageError

    if args.plan_file and (args.target or args.downgrade):
        raise UsageError("--plan rehearses a saved plan: give no target with it")
    if args.target and args.downgrade:
        raise UsageError("give either a TARGET to migrate to or --downgrade TARGET, not both")
    if args.plan_file:
        plan = load_plan(Path(args.plan_file))
        env = ctx.environment(plan.environment)
    else:
        env = ctx.environment()
        action, target = ("downgrade", args.downgrade) if args.downgrade else ("upgrade", args.target or "head")
        plan = make_plan(ctx.project, env, action, target, past_irreversible=ctx.force)
    if not plan.revisions:
        ctx.note(f"{env.name} is already at {', '.join(plan.before) or 'base'}: nothing to rehearse")
        if ctx.json:
            ctx.write_json({"plan_id": plan.id, "environment": env.name, "rehearsed": False})
        return 0
    if not ctx.json:
        ctx.note("\n".join(plan.describe()))
    if ctx.dry_run:
        how = (
            f"a restore of {args.from_backup}"
            if args.from_backup
            else ("a restore of its newest good full backup" if env.protected else f"a template copy of {env.database}")
        )
        ctx.note(f"dry run: would rehearse plan {plan.id} on {how} and drop the copy; nothing was changed")
        return 0
    result = rehearse(
        ctx.project,
        env,
        plan,
        from_backup=Path(args.from_backup) if args.from_backup else None,
        progress=ctx.progress_printer(),
    )
    if ctx.json:
        ctx.write_json(result.to_json())
    else:
        if ctx.err.isatty():
            ctx.err.write("\n")
        ctx.note("\n".join(result.lines()))
        ctx.note(f"the live database {env.database} was not changed; the copy was dropped")
    return 0 if result.ok else 5
