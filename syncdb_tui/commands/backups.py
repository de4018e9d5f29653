"""`syncdb backups`: list backups with their manifests; --verify checks them (--deep restores them);
--previous lists the databases restores kept beside the environment's; --prune applies retention."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.core.backups.manifest import BackupEntry
    from syncdb_tui.core.backups.swap import KeptDatabase
    from syncdb_tui.core.backups.verify import VerifyResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verify", action="store_true", help="check size, SHA-256 and that pg_restore can read each")
    parser.add_argument(
        "--deep", action="store_true", help="with --verify: restore each into a scratch database and compare row counts"
    )
    parser.add_argument(
        "--previous", action="store_true", help="list the previous databases restores kept beside the environment's"
    )
    parser.add_argument("--prune", action="store_true", help="remove old backups and kept previous databases")
    parser.add_argument("--keep", type=int, metavar="N", help="with --prune: keep the newest N per environment")
    parser.add_argument(
        "--older-than", type=float, metavar="DAYS", help="with --prune: remove only what is older than DAYS"
    )


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.backups.backup import list_backups
    from syncdb_tui.core.backups.verify import verify_backup
    from syncdb_tui.core.errors import CheckFailed, UsageError

    if args.deep and not args.verify:
        raise UsageError("--deep only makes sense with --verify", hint="run syncdb backups --verify --deep")
    if (args.keep is not None or args.older_than is not None) and not args.prune:
        raise UsageError("--keep and --older-than only make sense with --prune", hint="syncdb backups --prune --keep 5")
    if args.prune:
        return _prune(args, ctx)
    if args.previous:
        return _list_previous(ctx)
    config = ctx.config
    entries = asyncio.run(list_backups(config))
    env = ctx.environment() if args.deep else None
    if env is not None:
        if ctx.dry_run:
            ctx.note(
                f"dry run: --deep would restore each of {len(entries)} backup(s) into a scratch database on "
                f"{env.name}'s server ({env.display_url}), compare row counts and drop it; checking size, "
                "sha256 and readability only"
            )
            env = None
        else:
            from syncdb_tui.core.changes.policy import requirements

            req = requirements(env, "verify")
            if req.asks_anything:
                ctx.note(
                    f"a deep verify restores every backup into a scratch database on {env.name}'s server "
                    "and drops it again"
                )
            ctx.satisfy(req)

    async def verify_all() -> list[VerifyResult]:
        return [await verify_backup(entry, deep=env is not None, env=env) for entry in entries]

    results = asyncio.run(verify_all()) if args.verify else []
    if ctx.json:
        data = []
        for index, entry in enumerate(entries):
            item = entry.to_json()
            if results:
                item["verify"] = results[index].to_json()
            data.append(item)
        ctx.write_json(data)
    else:
        _print_table(ctx, entries, results)
        if not args.verify:
            _print_previous(ctx)
    failed = [r for r in results if not r.ok]
    if failed:
        names = ", ".join(r.path.name for r in failed)
        raise CheckFailed(
            f"{len(failed)} of {len(results)} backup(s) failed verification: {names}",
            hint="do not restore them; take a new backup",
            title="backup verification failed",
        )
    return 0


def _print_table(ctx: CommandContext, entries: list[BackupEntry], results: list[VerifyResult]) -> None:
    from syncdb_tui.core.backups.manifest import human_size, verified_note

    if not entries:
        ctx.note(f"no backups in {ctx.config.backup_dir}")
        return
    lines = [
        f"{'created (UTC)':<20} {'env':<10} {'kind':<7} {'format':<10} {'size':>10} "
        f"{'revision':<14} {'status':<12} path"
    ]
    for index, entry in enumerate(entries):
        manifest = entry.manifest
        status = entry.status
        if results:
            result = results[index]
            status = "verified" if result.ok else "FAILED"
        elif entry.good and verified_note(entry):
            status = "verified"
        if manifest is None:
            lines.append(f"{'?':<20} {'?':<10} {'?':<7} {'?':<10} {'?':>10} {'?':<14} {status:<12} {entry.path}")
            continue
        revision = ",".join(manifest.alembic_revisions) or "-"
        lines.append(
            f"{manifest.created_at[:19].replace('T', ' '):<20} {manifest.environment:<10} {manifest.kind:<7} "
            f"{manifest.format:<10} {human_size(manifest.size):>10} {revision[:14]:<14} {status:<12} {entry.path}"
        )
        if results and not results[index].ok:
            for problem in results[index].problems:
                lines.append(f"    {problem}")
        elif not entry.good:
            lines.append(f"    {entry.problem}")
    ctx.write("\n".join(lines))


def _kept(ctx: CommandContext) -> list[KeptDatabase]:
    import asyncio

    from syncdb_tui.core.backups.swap import list_kept

    return asyncio.run(list_kept(ctx.environment()))


def _list_previous(ctx: CommandContext) -> int:
    kept = _kept(ctx)
    if ctx.json:
        ctx.write_json([item.to_json() for item in kept])
    elif not kept:
        ctx.note("no previous databases or restore copies beside the environment's database")
    else:
        ctx.write(_kept_lines(kept))
    return 0


def _kept_lines(kept: list[KeptDatabase]) -> str:
    from syncdb_tui.core.backups.manifest import human_size

    lines = [f"{'kept (UTC)':<20} {'kind':<9} {'size':>10}  database"]
    for item in kept:
        kind = "STALE copy" if item.stale else item.kind
        lines.append(f"{item.created_at[:19].replace('T', ' '):<20} {kind:<9} {human_size(item.size):>10}  {item.name}")
    return "\n".join(lines)


def _print_previous(ctx: CommandContext) -> None:
    """The kept previous databases under the backups (best effort: a server that cannot be reached is a note)."""
    from syncdb_tui.core.errors import SyncdbError

    try:
        kept = _kept(ctx)
    except SyncdbError as error:
        ctx.note(f"(previous databases not listed: {error.message})")
        return
    if kept:
        ctx.write("\nprevious databases kept by restores (drop with syncdb restore --drop-previous NAME):")
        ctx.write(_kept_lines(kept))


def _prune(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.backups.manifest import human_size
    from syncdb_tui.core.backups.prune import plan_prune, prune
    from syncdb_tui.core.changes.policy import requirements

    env = ctx.environment()
    plan = asyncio.run(plan_prune(ctx.config, env, keep=args.keep, older_than_days=args.older_than))
    lines = [
        f"{'remove' if not ctx.dry_run else 'would remove'} {item.kind} {item.name} "
        f"({human_size(item.size)}, {item.created_at[:10]}): {item.reason}"
        for item in plan.remove
    ]
    lines += [f"keep {item.name}: {item.reason}" for item in plan.kept_on_purpose]
    if ctx.dry_run:
        if ctx.json:
            ctx.write_json(plan.to_json())
        else:
            ctx.write("\n".join(lines) or "nothing to prune")
        return 0
    if plan.drops_databases:
        databases = [item.name for item in plan.remove if item.kind != "backup"]
        ctx.satisfy(requirements(env, "drop-previous", extra_reasons=[f"drops {', '.join(databases)} for good"]))
    result = asyncio.run(prune(plan, env))
    if ctx.json:
        ctx.write_json(result.to_json())
    else:
        ctx.write("\n".join(lines) or "nothing to prune")
    if result.problems:
        from syncdb_tui.core.errors import OperationError

        raise OperationError(
            f"{len(result.problems)} item(s) could not be removed: " + "; ".join(result.problems),
            hint="check the files' permissions and the sessions on those databases, then prune again",
            title="prune incomplete",
        )
    return 0
