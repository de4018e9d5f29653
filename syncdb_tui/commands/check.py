"""`syncdb check`: CI gate; exit 1 when anything is not ready to ship."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-risk",
        default="MEDIUM",
        type=str.upper,
        choices=["LOW", "MEDIUM", "HIGH"],
        help="highest pending risk that passes (default MEDIUM: HIGH fails)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json", "sarif", "github"),
        default=None,
        help="text (default), json (same as --json), sarif (SARIF 2.1.0: the pending revisions' findings and "
        "every problem) or github (workflow annotations)",
    )
    parser.add_argument(
        "--allow-pending",
        action="store_true",
        help="pending revisions alone do not fail the check (their risk still does)",
    )
    parser.add_argument(
        "--no-models",
        action="store_true",
        help="a project without models (no target_metadata anywhere) passes; only migrations are checked",
    )


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.check import check
    from syncdb_tui.core.errors import UnreachableError

    env = ctx.environment()
    result = asyncio.run(
        check(
            ctx.project,
            env,
            max_risk=args.max_risk,
            allow_pending=args.allow_pending,
            check_models=not ctx.dry_run,
            require_models=not args.no_models,
        )
    )
    status = result.status
    fmt = args.format or ("json" if ctx.json else "text")
    if fmt in ("sarif", "github"):
        _write_ci(ctx, result, fmt)
    elif fmt == "json":
        ctx.write_json(result.to_json())
    else:
        for note in result.notes:
            ctx.note(f"note: {note}")
        if result.ok:
            ctx.write(f"check passed: {env.name} {_passed_summary(status, args.max_risk)}")
        else:
            ctx.write(f"check failed for {env.name}:")
            for problem in result.problems:
                ctx.write(f"- {problem}")
    if status is not None and not status.reachable:
        # not a verdict on the schema: the gate could not look (exit 4, not 1)
        raise UnreachableError(
            status.error,
            hint=getattr(status, "error_hint", "")
            or "check the environment's URL and that the server is up, then run syncdb check again",
        )
    return 0 if result.ok else 1


def _write_ci(ctx: CommandContext, result: object, fmt: str) -> None:
    """The check's findings and problems as SARIF or GitHub annotations (pointing into the revision files)."""
    from syncdb_tui import __version__
    from syncdb_tui.core.risk import verdicts

    status = getattr(result, "status", None)
    pending = list(getattr(status, "pending", ()) or ())
    paths: dict[str, str] = {}
    if pending:
        graph = ctx.project.graph()
        paths = {rev: info.path for rev, info in graph.by_id.items()}
    located = [
        item
        for p in pending
        for item in verdicts.locate(
            [*p.findings, *getattr(p, "suppressed", ())], path=paths.get(p.revision, ""), revision=p.revision
        )
    ]
    problems = list(getattr(result, "problems", ()))
    if fmt == "sarif":
        ctx.write_json(verdicts.sarif(located, problems=problems, tool_version=__version__))
    else:
        ctx.write("\n".join(verdicts.github_lines(located, problems=problems)))
    for note in getattr(result, "notes", ()):
        ctx.note(f"note: {note}")


def _passed_summary(status: object, max_risk: str) -> str:
    pending = len(getattr(status, "pending", ()) or ())
    if pending:
        state = f"has {pending} pending revision(s) (allowed by --allow-pending)"
    else:
        state = "is up to date"
    return f"{state}, one head, no unknown revision, risk within {max_risk}"
