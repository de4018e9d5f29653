"""`syncdb check`: CI gate; exit 1 when anything is not ready to ship."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

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
        "--allow-pending",
        action="store_true",
        help="pending revisions alone do not fail the check (their risk still does)",
    )


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.check import check

    env = ctx.environment()
    result = asyncio.run(check(ctx.project, env, max_risk=args.max_risk, allow_pending=args.allow_pending))
    if ctx.json:
        ctx.write_json(result.to_json())
    else:
        for note in result.notes:
            ctx.note(f"note: {note}")
        if result.ok:
            ctx.write(f"check passed: {env.name} is up to date, one head, risk within {args.max_risk}")
        else:
            ctx.write(f"check failed for {env.name}:")
            for problem in result.problems:
                ctx.write(f"- {problem}")
    return 0 if result.ok else 1
