"""`syncdb diff --env A --against B`: compare two environments' live schemas and revisions."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--against", required=True, metavar="ENV", help="the environment to compare with")


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.envs.environments import resolve
    from syncdb_tui.core.schema.diff import diff_environments

    env = ctx.environment()
    other = resolve(ctx.config, args.against)
    if other.name == env.name:
        ctx.note(f"note: comparing {env.name} with itself")
    result = asyncio.run(diff_environments(env, other))
    if ctx.json:
        ctx.write_json(result.to_json())
        return 0
    header = f"{env.name} ({env.display_url}) vs {other.name} ({other.display_url})"
    if result.is_identical:
        ctx.write(f"{header}: identical")
        return 0
    ctx.write("\n".join([header, *result.lines()]))
    return 0
