"""`syncdb merge [-m MSG]`: write the merge revision of a history with several heads, judged."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--message", default="", help="the merge revision's message (default: merge HEADS)")
    parser.add_argument("--rev-id", help="revision id to use (default: generated)")


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from syncdb_tui.core.project.merge import merge_heads
    from syncdb_tui.core.risk.judge import judge_offline, unrendered_note

    result = merge_heads(ctx.project, args.message, dry_run=ctx.dry_run, rev_id=args.rev_id)
    if result.dry_run:
        ctx.note(f"dry run: would write a merge revision of {', '.join(result.heads)} ('{result.message}')")
        if ctx.json:
            ctx.write_json(result.to_json())
        return 0
    judged = judge_offline(ctx.project, result.revision)
    note = unrendered_note(judged)
    if ctx.json:
        data = result.to_json()
        data.update(risk=judged.risk, findings=[f.to_json() for f in judged.findings], note=note or None)
        ctx.write_json(data)
        return 0
    ctx.note(f"merge revision {result.revision} of {', '.join(result.heads)} written to {result.path}")
    if note:
        ctx.note(f"risk: not judged ({note})")
    else:
        ctx.note(f"risk: {judged.risk} (judged without live context)")
        for finding in judged.findings:
            ctx.note(f"  {finding.severity.name} {finding.rule}: {finding.message}")
    ctx.note("next: syncdb migrate (applies both branches and the merge)")
    return 0
