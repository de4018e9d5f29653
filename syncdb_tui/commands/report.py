"""`syncdb report`: the Database Sync Report in Markdown (or --json)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE (- or none: stdout)")
    parser.add_argument(
        "--pretty", action="store_true", help="indent the --json output (default: one line unless stdout is a terminal)"
    )


def _check_output(path: Path) -> None:
    """Refuse an output path that cannot be written, before any database work."""
    from syncdb_tui.core.errors import UsageError

    if path.is_dir():
        raise UsageError(
            f"cannot write the report to {path}: it is a directory",
            hint=f"name a file, e.g. -o {path / 'sync-report.md'}",
        )
    if not path.parent.is_dir():
        raise UsageError(
            f"cannot write the report to {path}: the directory {path.parent} does not exist",
            hint=f"create it first (mkdir -p {path.parent}) or choose another path",
        )


def _write(path: Path, text: str) -> None:
    from syncdb_tui.core.errors import UsageError

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UsageError(
            f"cannot write the report to {path}: {error.strerror or error}",
            hint="choose a path you can write to with -o",
        ) from None


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio
    import json

    from syncdb_tui.core.errors import UnreachableError
    from syncdb_tui.core.jsontext import dumps_indented, json_default
    from syncdb_tui.core.report import build_report, render_markdown

    path = Path(args.output) if args.output and args.output != "-" else None
    if path is not None:
        _check_output(path)
    env = ctx.environment()
    report = asyncio.run(build_report(ctx.project, env))
    if ctx.json:
        # a file is indented (people open it); stdout is one line unless --pretty or a terminal
        data = report.to_json()
        pretty = path is not None or ctx.pretty
        text = (dumps_indented(data) if pretty else json.dumps(data, default=json_default)) + "\n"
    else:
        text = render_markdown(report)
    if path is not None and ctx.dry_run:
        ctx.write(text)
        ctx.note(f"dry run: the report would be written to {path}; printed here instead")
    elif path is not None:
        _write(path, text)
        ctx.note(f"report for {env.name} written to {path}")
    else:
        ctx.write(text)
    if not report.status.reachable:
        # the report says so too; the exit code tells scripts that the database was not reached
        raise UnreachableError(
            report.status.error,
            hint=getattr(report.status, "error_hint", "")
            or "check the environment's URL and that the server is up, then run syncdb report again",
        )
    return 0
