"""`syncdb push`: dev only — apply the models' schema directly, without a revision."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options of its own: --env, --dry-run, --force and --json are global."""


def _finding_line(finding: Any) -> str:
    severity = getattr(getattr(finding, "severity", None), "name", "")
    rule = getattr(finding, "rule", "")
    message = getattr(finding, "message", str(finding))
    mitigation = getattr(finding, "mitigation", "")
    line = f"  {severity or '?'} {rule}: {message}"
    return line + (f"\n      safer: {mitigation}" if mitigation else "")


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.changes.policy import check_refusal, requirements
    from syncdb_tui.core.changes.recorded import push, push_requirements
    from syncdb_tui.core.schema.push import PUSHED_HINT, plan_push

    config = ctx.config
    env = ctx.environment()
    check_refusal(requirements(env, "push"))  # refused on a protected environment, whatever the flags
    plan = asyncio.run(plan_push(config, env))
    if plan.is_empty:
        if ctx.json:
            ctx.write_json({**plan.to_json(), "applied": False, "dry_run": ctx.dry_run})
        ctx.note(f"nothing to push: {env.name}'s schema already matches the models")
        return 0
    if ctx.json:
        if ctx.dry_run:
            ctx.write_json({**plan.to_json(), "applied": False, "dry_run": True})
            return 0
    else:
        ctx.write(plan.sql.rstrip())
    ctx.note(f"push to {env.name}: {len(plan.statements)} statements, risk {plan.risk}")
    if plan.risk == "UNKNOWN":
        ctx.note("  (the risk engine is not available; review the SQL yourself)")
    for finding in plan.findings:
        ctx.note(_finding_line(finding))
    for reason in plan.destructive:
        ctx.note(f"  destructive: {reason}")
    if ctx.dry_run:
        ctx.note("dry run: nothing was changed")
        return 0
    ctx.satisfy(push_requirements(env, plan))
    result = asyncio.run(push(config, env, plan=plan, allow_destructive=True, progress=ctx.progress_printer()))
    if ctx.json:
        ctx.write_json({**result.to_json(), "dry_run": False})
    if result.ledger_problem:
        ctx.note(f"warning: the push could not be recorded in {env.name}'s ledger: {result.ledger_problem}")
    ctx.note(f"pushed {len(plan.statements)} statements to {env.name} in {result.seconds:.2f} s")
    ctx.note(f"{env.name} is now ahead of its migrations: {PUSHED_HINT}")
    return 0
