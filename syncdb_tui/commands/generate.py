"""`syncdb generate -m MSG`: autogenerate a revision from the models."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--message", required=True, help="what the change does")
    parser.add_argument("--rev-id", help="revision id to use (default: generated)")
    parser.add_argument(
        "--safe",
        action="store_true",
        help="write risky operations as safe multi-revision sequences (index CONCURRENTLY, foreign key and "
        "NOT NULL as NOT VALID + VALIDATE, a NOT NULL column in four steps with a batched backfill, a rename "
        "declared with info={'renamed_from': ...} as expand/contract), each judged",
    )


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from syncdb_tui.core.project.generate import generate

    if args.rev_id is not None:
        _check_rev_id(ctx, args.rev_id)
    env = ctx.environment()
    if args.safe:
        return _run_safe(args, ctx, env)
    result = generate(ctx.project, env, args.message, dry_run=ctx.dry_run, rev_id=args.rev_id)
    if ctx.json:
        ctx.write_json(
            {
                "revision": result.revision,
                "message": result.message,
                "path": result.path or None,
                "empty": result.empty,
                "dry_run": result.dry_run,
                "source": result.source,
            }
        )
        return 0
    if result.dry_run:
        ctx.write(result.source)
        ctx.note("dry run: no file was written")
    else:
        ctx.note(f"revision {result.revision} written to {result.path}")
        _show_risk(ctx, result.revision)
    if result.empty:
        ctx.note("note: the models match the database; the revision is empty")
    return 0


def _run_safe(args: argparse.Namespace, ctx: CommandContext, env: Any) -> int:
    from syncdb_tui.core.errors import UsageError
    from syncdb_tui.core.project.safe_patterns import generate_safe

    if args.rev_id is not None:
        raise UsageError("--safe writes several revisions: it takes no --rev-id")
    written = generate_safe(ctx.project, env, args.message, dry_run=ctx.dry_run)
    if ctx.json:
        ctx.write_json([{"revision": w.revision, "message": w.message, "path": w.path or None} for w in written])
        return 0
    for item in written:
        where = item.path or "(dry run: not written)"
        ctx.note(f"revision {item.revision} {item.message}: {where}")
        if item.path:
            _show_risk(ctx, item.revision)
    return 0


def _check_rev_id(ctx: CommandContext, rev_id: str) -> None:
    """Refuse a --rev-id that is empty, not a plain word, or already used by a revision."""
    import re

    from syncdb_tui.core.errors import UsageError

    if not re.fullmatch(r"[A-Za-z0-9_]+", rev_id):
        raise UsageError(
            f"--rev-id {rev_id!r} is not a usable revision id",
            hint="use letters, digits and underscores only, e.g. --rev-id 0009",
        )
    if rev_id in ctx.project.graph().by_id:
        raise UsageError(
            f"--rev-id {rev_id} is already the id of a revision in {ctx.project.script_location}",
            hint="pick an unused id (or leave --rev-id out for a generated one)",
        )


def _show_risk(ctx: CommandContext, revision: str) -> None:
    """Print the new revision's risk, judged from its offline SQL."""
    from syncdb_tui.core.project.revisions import Project
    from syncdb_tui.core.risk.judge import judge_offline, unrendered_note
    from syncdb_tui.core.risk.locks import lock_text

    project = Project.from_config(ctx.config)
    judged = judge_offline(project, revision)
    note = unrendered_note(judged)
    if note:
        ctx.note(f"risk: not judged ({note})")
        return
    ctx.note(f"risk: {judged.risk} (judged without live context)")
    for finding in judged.findings:
        ctx.note(f"  {finding.severity.name} {finding.rule} ({lock_text(finding.lock)}): {finding.message}")
