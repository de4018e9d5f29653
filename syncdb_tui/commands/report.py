"""`syncdb report`: the Database Sync Report in Markdown (or --json)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio
    import json

    from syncdb_tui.commands.context import _json_default
    from syncdb_tui.core.errors import UsageError
    from syncdb_tui.core.report import build_report, render_markdown

    env = ctx.environment()
    report = asyncio.run(build_report(ctx.project, env))
    text = json.dumps(report.to_json(), indent=2, default=_json_default) + "\n" if ctx.json else render_markdown(report)
    if args.output:
        path = Path(args.output)
        if not path.parent.exists():
            raise UsageError(f"cannot write {path}: the directory {path.parent} does not exist")
        path.write_text(text)
        ctx.note(f"report for {env.name} written to {path}")
    else:
        ctx.write(text)
    return 0
