"""`syncdb stamp REV`: set the version table without running migrations."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.core.revisions import Project


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("revision", help="revision id, head or base")


def _resolved(project: Project, target: str) -> tuple[str, ...]:
    """The revision ids ``target`` (head, heads, base, an id or a prefix) stands for."""
    from syncdb_tui.core.revisions import ALEMBIC_LOCK

    if target == "base":
        return ()
    if target in ("head", "heads"):
        return tuple(project.graph().heads)
    script = project.script()
    with ALEMBIC_LOCK:
        found = script.get_revisions(target)
    return tuple(sorted(rev.revision for rev in found if rev is not None))


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import dataclasses

    from syncdb_tui.core.errors import UsageError
    from syncdb_tui.core.migrations import stamp
    from syncdb_tui.core.safety import confirmation_reasons

    if args.revision[:1] in ("-", "+"):
        raise UsageError(
            f"stamp needs an absolute revision, not the relative {args.revision!r}",
            hint="name the revision the schema matches (an id, head or base); `syncdb status` lists them",
        )
    project = ctx.project
    project.resolve_target(args.revision)
    env = ctx.environment()
    if ctx.dry_run:
        result = stamp(project, env, args.revision, dry_run=True)
        result = dataclasses.replace(result, after=_resolved(project, args.revision))
        ctx.note(
            f"dry run: would set {env.name}'s version table from {', '.join(result.before) or 'base'} "
            f"to {', '.join(result.after) or 'base'}; nothing was changed"
        )
    else:
        reasons = confirmation_reasons(env)
        if reasons:
            ctx.confirm_typed(env.name, f"stamp {args.revision}", reasons)
        result = stamp(project, env, args.revision)
        ctx.note(f"{env.name} stamped: {', '.join(result.before) or 'base'} → {', '.join(result.after) or 'base'}")
    if ctx.json:
        ctx.write_json(result.to_json())
    return 0
