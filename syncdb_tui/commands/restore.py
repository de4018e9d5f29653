"""`syncdb restore [BACKUP]`: restore into a new database or, with --clean, over the environment's.

Without BACKUP it lists the environment's backups (and lets a terminal pick one);
``--drop-previous NAME`` drops a database an earlier restore kept.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.core.backups.restore_plan import RestorePlan
    from syncdb_tui.core.changes.policy import Requirements
    from syncdb_tui.core.envs.environments import Environment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "backup",
        metavar="BACKUP",
        nargs="?",
        help="a backup file/directory, or its name in backup_dir (none: list them)",
    )
    parser.add_argument("--target-db", metavar="NAME", help="create database NAME on the server and restore into it")
    parser.add_argument("--clean", action="store_true", help="replace existing objects (asks for a typed confirmation)")
    parser.add_argument(
        "--no-safety-backup",
        action="store_true",
        help="do not back up a protected environment before restoring over it",
    )
    parser.add_argument(
        "--jobs", "-j", type=int, default=None, metavar="N", help="parallel pg_restore workers (default: cores, max 4)"
    )
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="restore into the database itself in one transaction instead of rebuilding beside it and swapping",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for other sessions before the swap",
    )
    parser.add_argument(
        "--terminate", action="store_true", help="end the sessions still connected when it is time to swap"
    )
    parser.add_argument(
        "--drop-previous", metavar="NAME", help="drop a previous database kept by an earlier restore (or a stale copy)"
    )


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.commands.backup import progress_display
    from syncdb_tui.core.backups.restore import plan_restore
    from syncdb_tui.core.changes.recorded import restore, restore_requirements
    from syncdb_tui.core.errors import RefusedError

    config = ctx.config
    env = ctx.environment()
    if args.drop_previous:
        return _drop_previous(args.drop_previous, env, ctx)
    if args.backup is None:
        args.backup = _pick_backup(env, ctx)
        if args.backup is None:
            return 0
    kwargs = {
        "env": env,
        "target_db": args.target_db,
        "clean": args.clean,
        "safety_backup": not args.no_safety_backup,
        "jobs": args.jobs,
        "in_place": args.in_place,
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
        ctx.note(_describe_plan(plan, req))
    ctx.satisfy(req)
    if plan.safety_backup and not ctx.json:
        ctx.note(f"taking a safety backup of {env.name} first")
    with progress_display(ctx, f"restore into {plan.database}") as progress:
        result = asyncio.run(
            restore(config, args.backup, progress=progress, wait_seconds=args.wait, terminate=args.terminate, **kwargs)
        )
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
    for session in result.terminated:
        ctx.note(f"terminated {session.describe()}")
    if result.previous_database:
        ctx.note(
            f"the previous {result.database} is kept as {result.previous_database} "
            f"(drop it with: syncdb restore --env {env.name} --drop-previous {result.previous_database})"
        )
    if result.ledger_problem:
        ctx.note(f"warning: the restore could not be recorded in {result.database}'s ledger: {result.ledger_problem}")
    ctx.write(result.database)
    return 0


def _describe_plan(plan: RestorePlan, req: Requirements) -> str:
    manifest = plan.manifest
    revisions = ", ".join(manifest.alembic_revisions) or "none"
    cross = (
        f"  (ANOTHER environment than {plan.environment})"
        if plan.cross_environment and not plan.create_database
        else ""
    )
    lines = [
        f"would restore {plan.backup}",
        f"  backup of:   {manifest.environment} ({manifest.database}){cross}",
        f"  backup:      {manifest.kind} {manifest.format} taken {manifest.created_at}, revision {revisions}",
        f"  into:        {plan.database} on {plan.environment}'s server"
        + (" (created by syncdb)" if plan.create_database else ""),
    ]
    if not plan.create_database:
        lines.append(f"  now at:      {', '.join(plan.current_revisions) or 'no revision'}")
        lines.append(f"  leaves at:   {revisions if manifest.includes_data else 'the revision the data says'}")
    lines += [
        f"  how:         {plan.describe_mode()}",
        f"  with:        {plan.tool.describe()}",
        f"  command:     {plan.command}",
    ]
    if plan.sessions:
        shown = "; ".join(session.describe() for session in plan.sessions[:5])
        lines.append(
            f"  sessions:    {len(plan.sessions)} connected ({shown}): waited for before the swap (--terminate)"
        )
    if plan.would_drop:
        shown = ", ".join(plan.would_drop[:10]) + (
            f" and {len(plan.would_drop) - 10} more" if len(plan.would_drop) > 10 else ""
        )
        kept = f" (kept in {plan.previous_database})" if plan.previous_database else ""
        lines.append(f"  would drop:  {shown}{kept}")
    if plan.safety_backup:
        lines.append(f"  first:       a safety backup of {plan.environment}")
    if req.typed_name:
        lines.append(f"  confirm:     {'; '.join(req.reasons)} (typed confirmation or --force)")
    if plan.refusal:
        lines.append(f"  REFUSED:     {plan.refusal}")
    return "\n".join(lines)


def _pick_backup(env: Environment, ctx: CommandContext) -> str | None:
    """List ``env``'s backups (newest first); on a terminal, ask which one to restore."""
    import asyncio

    from syncdb_tui.core.backups.backup import backups_of
    from syncdb_tui.core.backups.manifest import human_size, verified_note
    from syncdb_tui.core.errors import UsageError

    entries, own = asyncio.run(backups_of(ctx.config, env.name))
    if ctx.json:
        ctx.write_json([entry.to_json() | {"verified": verified_note(entry)} for entry in entries])
        return None
    if not entries:
        ctx.note(f"no backups in {ctx.config.backup_dir}; take one with: syncdb backup --env {env.name}")
        return None
    if not own:
        ctx.note(f"no backups of {env.name}; these are the other environments' backups:")
    lines = [
        f"{'#':>3}  {'created (UTC)':<19}  {'env':<10} {'kind':<7} {'size':>9}  {'revision':<14} {'verified':<16} file"
    ]
    for number, entry in enumerate(entries, 1):
        manifest = entry.manifest
        assert manifest is not None
        verified = verified_note(entry) or ("not yet" if entry.good else entry.status)
        revision = ",".join(manifest.alembic_revisions) or "-"
        lines.append(
            f"{number:>3}  {manifest.created_at[:19].replace('T', ' '):<19}  {manifest.environment:<10} "
            f"{manifest.kind:<7} {human_size(manifest.size):>9}  {revision[:14]:<14} "
            f"{verified:<16} {entry.path.name}"
        )
    ctx.write("\n".join(lines))
    if not ctx.interactive:
        ctx.note("name one of them: syncdb restore BACKUP (nothing was restored)")
        return None
    ctx.err.write("Restore which backup? (number, Enter to cancel): ")
    ctx.err.flush()
    answer = ctx.stdin.readline().strip()
    if not answer:
        ctx.note("nothing was restored")
        return None
    if not answer.isdigit() or not 1 <= int(answer) <= len(entries):
        raise UsageError(f"{answer!r} is not one of the numbers 1 to {len(entries)}", hint="run syncdb restore again")
    return str(entries[int(answer) - 1].path)


def _drop_previous(name: str, env: Environment, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.backups.manifest import human_size
    from syncdb_tui.core.backups.swap import drop_kept
    from syncdb_tui.core.changes.policy import requirements

    req = requirements(env, "drop-previous", extra_reasons=[f"drops the database {name} for good"])
    if ctx.dry_run:
        ctx.note(f"dry run: would drop {name} on {env.name}'s server")
        return 0
    ctx.satisfy(req)
    dropped = asyncio.run(drop_kept(env, name))
    ctx.note(f"dropped {dropped.name} ({dropped.kind} of {dropped.base}, {human_size(dropped.size)})")
    return 0
