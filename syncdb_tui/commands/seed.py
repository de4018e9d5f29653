"""`syncdb seed [--scale X] [--reset]`: fill an environment with test data (never a protected one)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scale", type=float, default=1.0, help="amount of data (1 = a few thousand rows; 3400 ≈ 10M messages)"
    )
    parser.add_argument("--reset", action="store_true", help="truncate the tables first (asks when they hold data)")
    parser.add_argument("--seed", type=int, default=42, dest="seed_value", help="random seed (same seed, same data)")


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.changes.policy import check_refusal, requirements
    from syncdb_tui.core.errors import UsageError
    from syncdb_tui.core.seed import nonempty_requirements, seed_environment

    if args.scale <= 0:
        raise UsageError(f"--scale must be positive, not {args.scale}", hint="e.g. --scale 0.5 or --scale 100")
    config = ctx.config
    env = ctx.environment()
    check_refusal(requirements(env, "seed"))  # never on a protected environment, whatever the flags
    if ctx.dry_run:
        ctx.note(f"dry run: would seed {env.name} ({env.display_url}) at scale {args.scale}; nothing was changed")
        return 0

    def confirm(question: str) -> bool:
        ctx.satisfy(nonempty_requirements(env, question))
        return True

    result = asyncio.run(
        seed_environment(
            config,
            env,
            scale=args.scale,
            reset=args.reset,
            confirm_nonempty=confirm,
            progress=ctx.progress_printer(),
            seed_value=args.seed_value,
        )
    )
    if result.ledger_problem:
        ctx.note(f"warning: the seed could not be recorded in {env.name}'s ledger: {result.ledger_problem}")
    if ctx.json:
        ctx.write_json(result.to_json())
        return 0
    if result.truncated:
        ctx.note(f"truncated {len(result.truncated)} tables first")
    width = max((len(name) for name in result.tables), default=5)
    lines = [f"{name:<{width}}  {rows:>12,}" for name, rows in result.tables.items()]
    lines.append(f"{'total':<{width}}  {result.total_rows:>12,}")
    ctx.write("\n".join(lines))
    ctx.note(
        f"seeded {env.name} with {result.source}: {result.total_rows:,} rows in {result.seconds:.2f} s "
        f"({result.rows_per_second:,.0f} rows/s)"
    )
    return 0
