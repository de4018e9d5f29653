"""What migrate and downgrade share on the command line: show the plan, confirm, run.

The order is fixed: render the SQL and judge its risk; with --dry-run print it
and stop (nothing is written anywhere); otherwise ask for the typed
confirmation where the environment is protected or the risk is HIGH, take the
automatic backup where configured, then run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.core.environments import Environment
    from syncdb_tui.core.events import ProgressCallback
    from syncdb_tui.core.migrations import MigrateResult, PendingRevision


def describe_plan(ctx: CommandContext, plan: MigrateResult, judged: list[PendingRevision]) -> None:
    """Print the plan: SQL on stdout for --dry-run, a summary on stderr otherwise."""
    from syncdb_tui.core.migrations import render_sql
    from syncdb_tui.core.report import lock_text

    verb = "upgrade" if plan.direction == "upgrade" else "downgrade"
    if ctx.json:
        return
    if not plan.revisions:
        return
    destination = ", ".join(plan.after) or "base"
    if plan.target not in plan.after:
        destination += f" ({plan.target})"
    lines = [
        f"{verb} {plan.environment}: {len(plan.revisions)} revision(s) "
        f"from {', '.join(plan.before) or 'base'} to {destination}"
    ]
    for item in judged:
        lines.append(f"  {item.revision} {item.message} — risk {item.risk}")
        for finding in item.findings:
            lines.append(f"    {finding.severity.name} {finding.rule} ({lock_text(finding.lock)}): {finding.message}")
    if ctx.dry_run:
        ctx.write(render_sql(plan.revisions))
        ctx.note("\n".join(lines))
        ctx.note("dry run: nothing was changed")
    else:
        ctx.note("\n".join(lines))


def confirm(ctx: CommandContext, env: Environment, action: str, judged: list[PendingRevision]) -> None:
    from syncdb_tui.core.migrations import worst_risk
    from syncdb_tui.core.safety import confirmation_reasons

    reasons = confirmation_reasons(env, risk_name=worst_risk(judged))
    if reasons:
        ctx.confirm_typed(env.name, action, reasons)


def auto_backup(ctx: CommandContext, env: Environment, *, skip: bool) -> str:
    """The automatic backup before migrating (protected environments by default)."""
    if skip or not env.config.wants_backup_before_migrate:
        return ""
    from syncdb_tui.core.backup import backup_before_migrate

    ctx.note(f"taking a backup of {env.name} before migrating…")
    manifest: Any = asyncio.run(backup_before_migrate(ctx.config, env, progress=ctx.progress_printer()))
    if manifest is None:
        return ""
    # on a terminal the progress line is still open: end it first
    ctx.note(("\n" if ctx.err.isatty() else "") + f"backup written: {manifest.path}")
    return str(manifest.path)


def finish(ctx: CommandContext, result: MigrateResult, judged: list[PendingRevision], backup_path: str) -> None:
    import dataclasses

    from syncdb_tui.core.migrations import worst_risk

    result = dataclasses.replace(result, backup_path=backup_path)
    if ctx.json:
        data = result.to_json()
        data["risk"] = worst_risk(judged, empty="NONE")
        data["revisions_risk"] = [
            {
                "revision": j.revision,
                "risk": j.risk,
                "findings": [finding.to_json() for finding in j.findings],
                "needs_live_database": j.needs_live_reason or None,
            }
            for j in judged
        ]
        ctx.write_json(data)
        return
    if result.dry_run:
        return
    if not result.revisions:
        ctx.note(f"{result.environment} is already at {', '.join(result.before) or 'base'}: nothing to do")
        return
    ctx.note(
        ("\n" if ctx.err.isatty() else "")  # end the open progress line on a terminal
        + f"{result.environment}: {result.direction} done in {result.seconds:.1f} s "
        f"({len(result.revisions)} revision(s)); now at {', '.join(result.after) or 'base'}"
        + (f"; backup {backup_path}" if backup_path else "")
    )


def carry_out(
    ctx: CommandContext,
    env: Environment,
    plan: MigrateResult,
    action: str,
    apply: Callable[[ProgressCallback], MigrateResult],
    *,
    skip_backup: bool,
) -> int:
    """The whole flow after planning: judge, show, stop on --dry-run, confirm, back up, apply."""
    from syncdb_tui.core.migrations import judge_plan

    judged = asyncio.run(judge_plan(ctx.project, env, plan)) if plan.revisions else []
    describe_plan(ctx, plan, judged)
    if ctx.dry_run or not plan.revisions:
        finish(ctx, plan, judged, "")
        return 0
    confirm(ctx, env, action, judged)
    backup_path = auto_backup(ctx, env, skip=skip_backup)
    result = apply(ctx.progress_printer())
    finish(ctx, result, judged, backup_path)
    return 0
