"""`syncdb cache clear|status`: the revision cache under ``.syncdb/cache``.

The cache keeps what syncdb derives from the revision files alone — the graph, each
revision's offline SQL, the tables it touches, its findings — keyed by the files' hashes
(and env.py's, alembic.ini's, the Alembic and SQLAlchemy versions), plus the expected
schema fingerprints. It is invalidated by itself when any of those change; ``clear`` is
for when you want to be sure (or to reclaim the space). Nothing here needs a database.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext

HELP = (
    "clear: remove the revision cache (.syncdb/cache: graph, offline SQL, findings, schema fingerprints; "
    "rebuilt by the next command that needs it); status: where it is and what it holds"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "The revision cache: the revision graph, each revision's offline SQL and findings, keyed by the hashes "
        "of the revision files, env.py and the Alembic/SQLAlchemy versions (any change misses by itself)."
    )
    parser.add_argument("action", choices=("clear", "status"), help=HELP)


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from syncdb_tui.core.project.cache import cache_info, clear

    project = ctx.project
    info = cache_info(project)
    if args.action == "status":
        if ctx.json:
            ctx.write_json(info.to_json())
        else:
            ctx.write(info.describe())
        return 0
    if ctx.dry_run:
        data = {**info.to_json(), "removed": False, "dry_run": True}
        if ctx.json:
            ctx.write_json(data)
        else:
            ctx.write(
                f"dry run: would remove {info.directory} ({info.size_text})"
                if info.exists
                else f"dry run: no cache at {info.directory}; nothing to remove"
            )
        return 0
    removed = clear(project)
    if ctx.json:
        ctx.write_json({**info.to_json(), "removed": removed})
    elif removed:
        ctx.write(f"removed the revision cache {info.directory} ({info.size_text})")
    else:
        ctx.write(f"no cache at {info.directory}; nothing to remove")
    return 0
