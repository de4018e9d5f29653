"""`syncdb backups`: list backups with their manifests; --verify checks them (--deep restores them)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.core.backups.manifest import BackupEntry
    from syncdb_tui.core.backups.verify import VerifyResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verify", action="store_true", help="check size, SHA-256 and that pg_restore can read each")
    parser.add_argument(
        "--deep", action="store_true", help="with --verify: restore each into a scratch database and compare row counts"
    )


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.backups.backup import list_backups
    from syncdb_tui.core.backups.verify import verify_backup
    from syncdb_tui.core.errors import CheckFailed, UsageError

    if args.deep and not args.verify:
        raise UsageError("--deep only makes sense with --verify", hint="run syncdb backups --verify --deep")
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
    from syncdb_tui.core.backups.manifest import human_size

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
