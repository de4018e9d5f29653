"""`syncdb init`: write a syncdb config (and, in a new project, the Alembic script directory)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default=".", help="the project's directory (default: here)")
    parser.add_argument(
        "--template",
        choices=["async", "sync"],
        default="async",
        help="new project: env.py with an async engine (asyncpg, default) or a sync one (psycopg2)",
    )
    parser.add_argument(
        "--metadata", metavar="MODULE:ATTR", help="the models' MetaData, e.g. myapp.models:Base.metadata"
    )
    parser.add_argument(
        "--env-url",
        action="append",
        default=[],
        metavar="NAME=URL",
        help='an environment (repeatable; NAME! marks it protected): dev=embedded, "prod!=${PROD_URL}" '
        "(default: dev on the embedded PostgreSQL)",
    )
    parser.add_argument("--scripts", default="migrations", help="new project: the script directory (migrations)")
    parser.add_argument(
        "--pyproject", action="store_true", help="write [tool.syncdb] into pyproject.toml instead of syncdb.toml"
    )


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from syncdb_tui.core.project.init import plan_init, write_init

    root = Path(args.path).expanduser().resolve()
    if not root.is_dir():
        from syncdb_tui.core.errors import UsageError

        raise UsageError(f"{root} is not a directory", hint="create it first, or run syncdb init inside it")
    metadata = args.metadata
    if metadata is None and not (root / "alembic.ini").exists() and ctx.interactive and not ctx.json:
        ctx.err.write("Your models' MetaData as module:attribute (e.g. myapp.models:Base.metadata; Enter to skip): ")
        ctx.err.flush()
        metadata = ctx.stdin.readline().strip() or None
    plan = plan_init(
        root,
        template=args.template,
        metadata=metadata,
        env_urls=args.env_url,
        directory=args.scripts,
        in_pyproject=args.pyproject,
    )
    if plan.already:
        ctx.note(f"nothing to do: {plan.config_path} already configures syncdb (syncdb init never overwrites it)")
        if ctx.json:
            ctx.write_json({"written": [], "already": str(plan.config_path), "findings": list(plan.findings)})
        return 0
    if plan.adopting:
        ctx.note("adopting the existing Alembic project; found:")
        for finding in plan.findings:
            ctx.note(f"  - {finding}")
    if ctx.dry_run:
        ctx.note("dry run: would write " + ", ".join(str(path) for path in [*plan.files, plan.config_path]))
        ctx.write(plan.config_text)
        return 0
    result = write_init(plan)
    if ctx.json:
        ctx.write_json(
            {
                "adopted": plan.adopting,
                "written": [str(path) for path in result.written],
                "kept": [str(path) for path in result.kept],
                "findings": list(plan.findings),
            }
        )
        return 0
    for path in result.written:
        ctx.note(f"wrote {path}")
    for path in result.kept:
        ctx.note(f"kept {path} (it exists; syncdb init never overwrites)")
    if "\ntarget_metadata = " not in plan.config_text and not any(
        "target_metadata: env.py sets it" in finding for finding in plan.findings
    ):
        ctx.note("next: name your models (target_metadata in env.py or the syncdb config), then syncdb generate")
    else:
        ctx.note("next: syncdb status, then syncdb generate -m '...' and syncdb migrate")
    return 0
