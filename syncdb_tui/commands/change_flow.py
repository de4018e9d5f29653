"""migrate, downgrade and stamp on the command line: render the plan, ask what the policy asks, show the outcome.

Everything that decides lives in ``core.changes`` (plan, policy, executor); this
module only prints and asks.  ``--json`` always prints one result object, on
failure too (``"ok": false`` with the failing revision, ``now_at`` and the error).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import OperationError, SyncdbError, UsageError

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.core.changes.executor import Outcome
    from syncdb_tui.core.changes.plan import Plan
    from syncdb_tui.core.envs.environments import Environment


def add_plan_arguments(parser: argparse.ArgumentParser, *, backup: bool = True) -> None:
    """The options migrate, downgrade and stamp share."""
    if backup:
        parser.add_argument(
            "--no-backup", action="store_true", help="skip the automatic backup taken before changing the schema"
        )
    parser.add_argument(
        "--save-plan",
        metavar="FILE",
        help="write the plan (revisions, file hashes, SQL, findings) to FILE and change nothing (implies --dry-run)",
    )
    parser.add_argument(
        "--plan",
        metavar="FILE",
        dest="plan_file",
        help="apply exactly the plan saved in FILE; refused if the database or the scripts moved since",
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="print the live lock queue and DDL progress while the change runs, one line per change of state",
    )
    parser.add_argument(
        "--ack",
        metavar="RULE[,RULE]",
        action="append",
        default=[],
        help="acknowledge these HIGH findings on a protected environment (--force acknowledges all)",
    )


def acks(args: argparse.Namespace) -> list[str]:
    return [item.strip() for value in getattr(args, "ack", []) or [] for item in value.split(",") if item.strip()]


def run(ctx: CommandContext, args: argparse.Namespace, action: str, target: str | None) -> int:
    """The whole command: plan (or load), show, dry-run/save, ask, execute, report."""
    env: Environment | None = None
    plan: Plan | None = None
    try:
        env, plan = _plan(ctx, args, action, target)
        return _carry_out(ctx, args, env, plan)
    except SyncdbError as error:
        if ctx.json and not isinstance(error, _ReportedFailure):
            ctx.write_json(_failure_json(ctx, action, env, plan, error))
        raise


class _ReportedFailure(OperationError):
    """A failed outcome already reported (with --json, its result object is on stdout: print no second one)."""


def _plan(ctx: CommandContext, args: argparse.Namespace, action: str, target: str | None) -> tuple[Environment, Plan]:
    from syncdb_tui.core.changes.plan import load_plan, make_plan

    plan_file = getattr(args, "plan_file", None)
    if plan_file:
        if getattr(args, "save_plan", None):
            raise UsageError("--plan applies a saved plan and --save-plan writes one: pass only one of them")
        plan = load_plan(Path(plan_file))
        if plan.action != action:
            raise UsageError(
                f"{plan_file} is a {plan.action} plan, not a {action} plan",
                hint=f"apply it with syncdb {_verb(plan)} --plan {plan_file}",
            )
        if target is not None and target != plan.target:
            raise UsageError(
                f"the plan goes to {plan.target}, and the command names {target}",
                hint="a plan is applied as saved: drop the target, or make a new plan",
            )
        chosen = getattr(ctx.args, "env", None)
        if chosen is not None and chosen != plan.environment:
            env = ctx.environment()
            if env.name != plan.environment:
                raise UsageError(
                    f"the plan {plan_file} is for {plan.environment}, not {env.name}",
                    hint=f"apply it with --env {plan.environment}, or make a new plan for {env.name}",
                )
        env = ctx.environment(plan.environment)
        return env, plan
    env = ctx.environment()
    no_backup = bool(getattr(args, "no_backup", False))
    plan = make_plan(
        ctx.project,
        env,
        action,
        target or "head",
        past_irreversible=ctx.force,
        backup=False if no_backup else None,
    )
    return env, plan


def _requirements(args: argparse.Namespace, env: Environment, plan: Plan) -> Any:
    from syncdb_tui.core.changes.policy import requirements

    no_backup = bool(getattr(args, "no_backup", False))
    return requirements(env, plan.action, risk=plan.risk, findings=plan.findings(), backup=False if no_backup else None)


def _carry_out(ctx: CommandContext, args: argparse.Namespace, env: Environment, plan: Plan) -> int:
    from syncdb_tui.core.changes.executor import dry_run_outcome, execute
    from syncdb_tui.core.changes.plan import save_plan

    req = _requirements(args, env, plan)
    save_to = getattr(args, "save_plan", None)
    dry_run = ctx.dry_run or bool(save_to)
    if not ctx.json and (not plan.is_empty or plan.stopped_at):  # an empty stopped plan still says why
        if dry_run and plan.revisions:
            ctx.write(plan.sql_script())
        ctx.note("\n".join(plan.describe()))
        from syncdb_tui.core.changes.rehearse import rehearsal_of

        rehearsal = rehearsal_of(ctx.project, plan)
        if rehearsal is not None:
            ctx.note(f"  {rehearsal.headline()}")
        if req.asks_anything:
            ctx.note(
                "  needs: " + "; ".join(req.reasons) + (" (typed confirmation or --force)" if req.typed_name else "")
            )
    if dry_run:
        if save_to:
            save_plan(plan, Path(save_to))
            ctx.note(f"plan {plan.id} saved to {save_to}; apply it with: syncdb {_verb(plan)} --plan {save_to}")
        if ctx.json:
            data = dry_run_outcome(plan).to_json()
            data["requirements"] = req.to_json()
            data["plan"] = plan.to_json()
            ctx.write_json(data)
        if not plan.is_empty:
            ctx.note(f"dry run: {plan.describe()[0]}; nothing was changed")
        else:
            ctx.note(f"{env.name} is already at {', '.join(plan.before) or 'base'}: nothing to do")
        return 0
    if plan.is_empty:
        outcome = execute(ctx.project, env, plan, postflight=False) if getattr(args, "plan_file", None) else None
        if ctx.json:
            ctx.write_json((outcome or dry_run_outcome(plan)).to_json() | {"dry_run": False})
        else:
            ctx.note(f"{env.name} is already at {', '.join(plan.before) or 'base'}: nothing to do")
        return 0
    ctx.satisfy(req, acked=acks(args))
    printer = ctx.progress_printer(log=bool(getattr(args, "watch", False)))
    outcome = execute(ctx.project, env, plan, backup=req.backup, progress=printer)
    _report(ctx, outcome)
    if not outcome.ok:
        error = outcome.error_object()
        raise _ReportedFailure(error.message, hint=error.hint, title=error.title)
    return 0


def _verb(plan: Plan) -> str:
    return "migrate" if plan.action == "upgrade" else plan.action


def _report(ctx: CommandContext, outcome: Outcome) -> None:
    if ctx.json:
        ctx.write_json(outcome.to_json())
        return
    if ctx.err.isatty():
        ctx.err.write("\n")  # end the open progress line
    for abort in outcome.aborts:
        ctx.note(f"lock-queue guard: {abort}; retried")
    if outcome.ok:
        ctx.note(outcome.summary())
    if outcome.postflight is not None:
        for problem in outcome.postflight.problems():
            ctx.note(f"post-flight: {problem}")


def _failure_json(
    ctx: CommandContext, action: str, env: Environment | None, plan: Plan | None, error: SyncdbError
) -> dict[str, Any]:
    from syncdb_tui.core.secrets import redact

    now_at: list[str] | None = None
    if env is not None:
        try:
            import asyncio

            from syncdb_tui.core.project.versions import read_current

            now_at = list(asyncio.run(read_current(env)))
        except Exception:
            now_at = None
    return {
        "ok": False,
        "action": plan.action if plan is not None else action,
        "environment": env.name if env is not None else getattr(ctx.args, "env", None),
        "plan_id": plan.id if plan is not None else None,
        "before": list(plan.before) if plan is not None else None,
        "now_at": now_at,
        "committed": [],
        "failed_revision": None,
        "error": redact(error.message),
        "hint": redact(error.hint) or None,
        "title": error.title,
        "exit_code": error.exit_code,
    }
