"""The syncdb Textual app: themes, CSS, global keys and the first screen; flows live in screens."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand

from syncdb_tui.ui.actions import bindings
from syncdb_tui.ui.commands import SyncdbCommands

if TYPE_CHECKING:
    from textual.screen import Screen

    from syncdb_tui.config import Config

DEFAULT_THEME = "textual-dark"


class SyncdbApp(App[int]):
    """Environments, migrations, risk, backups and jobs of one project, from the keyboard."""

    CSS_PATH = "app.tcss"
    BINDINGS = bindings("app")
    COMMANDS = App.COMMANDS | {SyncdbCommands}
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        config: Config,
        env: str | None = None,
        *,
        start: str = "main",
        table: str | None = None,
        dry_run: bool = False,
    ) -> None:
        super().__init__()
        self.config = config
        self.start_env = config.environment(env).name
        self.start = start
        self.start_table = table
        self.start_dry_run = dry_run
        """``syncdb --dry-run``: the app starts in dry-run mode and the explorer is read-only."""

    def on_mount(self) -> None:
        from syncdb_tui.ui.screens.main import MainScreen

        wanted = self.config.theme or DEFAULT_THEME
        self.theme = wanted if wanted in self.available_themes else DEFAULT_THEME
        self.title = self.config.root.name
        self.push_screen(MainScreen(self.config, self.start_env, dry_run=self.start_dry_run))
        if self.start == "explorer":
            self.open_explorer(self.start_env, self.start_table)

    def open_explorer(self, env_name: str, table: str | None = None) -> None:
        try:
            from syncdb_tui.ui.screens.explorer import ExplorerScreen
        except ImportError:
            self.notify("the table explorer is not available in this build", severity="warning")
            return
        kwargs: dict[str, Any] = {"table": table} if table else {}
        if self.start_dry_run:
            kwargs["read_only"] = True
        self.push_screen(ExplorerScreen(self.config, env_name, **kwargs))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's own palette entries, named like syncdb's; its Keys and Quit duplicate help and quit."""
        names = {
            "Theme": "view: change theme",
            "Maximize": "view: maximize the focused pane",
            "Minimize": "view: restore the maximized pane",
            "Screenshot": "app: save a screenshot (SVG)",
        }
        for command in super().get_system_commands(screen):
            if command.title in names:
                yield command._replace(title=names[command.title])

    def action_help(self) -> None:
        from syncdb_tui.ui.screens.help import HelpScreen
        from syncdb_tui.ui.screens.main import MainScreen

        if isinstance(self.screen, HelpScreen):
            return
        pane = self.screen.focused_pane if isinstance(self.screen, MainScreen) else None
        self.push_screen(HelpScreen(pane))


def run_app(
    config: Config,
    env: str | None = None,
    *,
    start: str = "main",
    table: str | None = None,
    dry_run: bool = False,
) -> int:
    """Run the full-screen app until the user quits; returns the exit code (0).

    ``start="explorer"`` opens the table explorer, on ``table`` when given; ``dry_run``
    starts in dry-run mode (every action shows what it would do; the explorer is read-only).
    """
    SyncdbApp(config, env, start=start, table=table, dry_run=dry_run).run()
    return 0
