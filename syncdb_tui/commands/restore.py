"""`syncdb restore BACKUP`: restore into a new database or, with --clean, over the environment's."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.core.backups.restore_plan import RestorePlan
    from syncdb_tui.core.changes.policy import Requirements


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backup", metavar="BACKUP", help="a backup file/directory, or its name in backup_dir")
    parser.add_argument("--target-db", metavar="NAME", help="create database NAME on the server and restore into it")
    parser.add_argument("--clean", action="store_true", help="replace existing objects (asks for a typed confirmation)")
    parser.add_argument(
        "--no-safety-backup",
        action="store_true",
        help="do not back up a protected environment before restoring over it",
    )
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="parallel pg_restore workers")


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.commands.backup import progress_display
    from syncdb_tui.core.backups.restore import plan_restore
    from syncdb_tui.core.changes.recorded import restore, restore_requirements
    from syncdb_tui.core.errors import RefusedError

    config = ctx.config
    env = ctx.environment()
    kwargs = {
        "env": env,
        "target_db": args.target_db,
        "clean": args.clean,
        "safety_backup": not args.no_safety_backup,
        "jobs": args.jobs,
    }
    plan = asyncio.run(plan_restore(config, args.backup, **kwargs))
    req = restore_requirements(env, plan)
    if ctx.dry_run:
        if ctx.json:
            ctx.write_json({**plan.to_json(), "requirements": req.to_json()})
        else:
            ctx.write(_describe_plan(plan, req))
        return 0
    if plan.refusal:
        raise RefusedError(
            plan.refusal,
            hint="restore into a new database with --target-db NAME, or pass --clean to replace what is there",
            title="restore refused",
        )
    if req.asks_anything:
        ctx.note(f"restore {plan.backup.name} into {plan.database} on {env.name}'s server")
    ctx.satisfy(req)
    if plan.safety_backup and not ctx.json:
        ctx.note(f"taking a safety backup of {env.name} first")
    with progress_display(ctx, f"restore into {plan.database}") as progress:
        result = asyncio.run(restore(config, args.backup, progress=progress, **kwargs))
    if ctx.json:
        ctx.write_json(result.to_json())
        return 0
    if result.safety_backup:
        ctx.note(f"safety backup of what was there: {result.safety_backup}")
    rows = sum(t.actual or 0 for t in result.tables)
    ctx.note(
        f"restored {result.backup.name} into {result.database}"
        + (" (new database)" if result.created_database else "")
        + f": {len(result.tables)} tables, {rows} rows, counts match the manifest; "
        + f"alembic revision {', '.join(result.alembic_revisions) or 'none'}; {result.duration_seconds:.1f} s"
    )
    if result.ledger_problem:
        ctx.note(f"warning: the restore could not be recorded in {result.database}'s ledger: {result.ledger_problem}")
    ctx.write(result.database)
    return 0


def _describe_plan(plan: RestorePlan, req: Requirements) -> str:
    manifest = plan.manifest
    lines = [
        f"would restore {plan.backup}",
        f"  backup:      {manifest.kind} {manifest.format} of {manifest.environment} ({manifest.database}) "
        f"taken {manifest.created_at}, revision {', '.join(manifest.alembic_revisions) or 'none'}",
        f"  into:        {plan.database} on {plan.environment}'s server"
        + (" (created by syncdb)" if plan.create_database else ""),
        f"  with:        {plan.tool.describe()}",
        f"  command:     {plan.command}",
    ]
    if plan.would_drop:
        shown = ", ".join(plan.would_drop[:10]) + (
            f" and {len(plan.would_drop) - 10} more" if len(plan.would_drop) > 10 else ""
        )
        lines.append(f"  would drop:  {shown}")
    if plan.safety_backup:
        lines.append(f"  first:       a safety backup of {plan.environment}")
    if req.typed_name:
        lines.append(f"  confirm:     {'; '.join(req.reasons)} (typed confirmation or --force)")
    if plan.refusal:
        lines.append(f"  REFUSED:     {plan.refusal}")
    return "\n".join(lines)
