"""`syncdb status`: where one environment stands (text, or --json)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-drift", action="store_true", help="skip comparing the models with the database (faster)")
    parser.add_argument(
        "--pretty", action="store_true", help="indent the --json output (default: one line unless stdout is a terminal)"
    )
    parser.add_argument(
        "--no-fingerprint",
        action="store_true",
        help="skip comparing the live schema's fingerprint with the one its revision should give (the first "
        "comparison builds the expected schema on a scratch database; later ones use the cache)",
    )


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.errors import UnreachableError
    from syncdb_tui.core.report import render_status
    from syncdb_tui.core.status import status

    env = ctx.environment()
    with_drift = bool(ctx.config.target_metadata) and not args.no_drift
    result = asyncio.run(
        status(ctx.project, env, with_drift=with_drift, with_fingerprint=not args.no_fingerprint and not ctx.dry_run)
    )
    if ctx.json:
        ctx.write_json(result.to_json())
    else:
        ctx.write(render_status(result, env.display_url))
    if not result.reachable:
        raise UnreachableError(
            result.error,
            hint=getattr(result, "error_hint", "") or "check the environment's URL and that the server is up",
        )
    return 0
