"""`syncdb studio [--env E] [--table T]`: open the TUI on the table explorer."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.app import App

    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table",
        "-t",
        metavar="TABLE",
        help="open this table first (schema.table, or a table of the public schema)",
    )
    parser.epilog = "Protected environments open read-only. Press ? in the explorer for its keys."


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import inspect
    import sys

    from syncdb_tui.core.errors import UsageError

    config = ctx.config
    env_name = config.environment(getattr(args, "env", None)).name
    table = getattr(args, "table", None)
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        raise UsageError(
            "syncdb studio is a full-screen explorer and needs a terminal",
            hint="run it in a terminal (over SSH: ssh -t), or use `syncdb psql` for scripted queries",
            title="no terminal",
        )
    from syncdb_tui.ui.app import run_app

    if table is None or "table" in inspect.signature(run_app).parameters:
        kwargs = {"table": table} if table else {}
        return run_app(config, env=env_name, start="explorer", **kwargs)
    make_app(config, env_name, table).run()
    return 0


def make_app(config: Config, env_name: str, table: str) -> App[int]:
    """The app opened on the explorer with ``table`` preselected (while ``run_app`` takes no table)."""
    import inspect
    from pathlib import Path

    from syncdb_tui.ui.app import SyncdbApp

    here = Path(inspect.getfile(SyncdbApp)).parent

    class StudioApp(SyncdbApp):
        CSS_PATH = str(here / str(SyncdbApp.CSS_PATH))  # relative paths resolve beside the class

        def on_ready(self) -> None:
            self.open_explorer(self.start_env, table)

    return StudioApp(config, env_name, start="main")
