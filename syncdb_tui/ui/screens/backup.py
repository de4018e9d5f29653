"""The backup modal: kind, tables, format and destination of a new backup."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioSet

from syncdb_tui.core.backups.backup import BackupOptions
from syncdb_tui.ui.widgets.choice import Choice

if TYPE_CHECKING:
    from textual.app import ComposeResult

KINDS = (("full", "full (schema + data)"), ("schema", "schema only"), ("data", "data only"))
FORMATS = (
    ("auto", "auto (parallel if big)"),
    ("custom", "custom (pg_restore)"),
    ("plain", "plain SQL"),
    ("directory", "directory"),
)


def _radio_value(radio_set: RadioSet, choices: tuple[tuple[str, str], ...]) -> str:
    index = radio_set.pressed_index
    return choices[index][0] if 0 <= index < len(choices) else choices[0][0]


class BackupScreen(ModalScreen[BackupOptions | None]):
    """Dismisses with the :class:`BackupOptions` chosen, or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="syncdb.backup.cancel"),
        Binding("ctrl+s", "start", "Start backup", id="syncdb.backup.start"),
    ]

    def __init__(self, env_name: str, backup_dir: Path, default_format: str = "auto", dry_run: bool = False) -> None:
        super().__init__()
        self.env_name = env_name
        self.backup_dir = backup_dir
        self.default_format = default_format
        self.dry_run = dry_run

    def compose(self) -> ComposeResult:
        with Vertical(id="backup-dialog", classes="dialog"):
            yield Label(
                f"back up {self.env_name}" + (" (dry run: show the plan)" if self.dry_run else ""),
                classes="dialog-title",
            )
            with Horizontal(classes="dialog-row"):
                with Vertical():
                    yield Label("kind")
                    with RadioSet(id="backup-kind"):
                        for index, (_, label) in enumerate(KINDS):
                            yield Choice(label, value=index == 0)
                with Vertical():
                    yield Label("format")
                    with RadioSet(id="backup-format"):
                        for value, label in FORMATS:
                            yield Choice(label, value=value == self.default_format)
            yield Label("tables (comma-separated; empty = all)")
            yield Input(placeholder="public.users, conversations", id="backup-tables")
            yield Label(f"destination (empty = {self.backup_dir}/backup_{self.env_name}_<time>)")
            yield Input(placeholder=str(self.backup_dir), id="backup-destination")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Start backup" if not self.dry_run else "Show plan", variant="primary", id="backup-start")
                yield Button("Cancel", id="backup-cancel")

    def options(self) -> BackupOptions:
        """The options as the form stands."""
        tables = tuple(
            name.strip() for name in self.query_one("#backup-tables", Input).value.split(",") if name.strip()
        )
        destination = self.query_one("#backup-destination", Input).value.strip()
        return BackupOptions(
            kind=_radio_value(self.query_one("#backup-kind", RadioSet), KINDS),
            tables=tables,
            fmt=_radio_value(self.query_one("#backup-format", RadioSet), FORMATS),
            output=Path(destination) if destination else None,
        )

    @on(Button.Pressed, "#backup-start")
    @on(Input.Submitted)
    def action_start(self) -> None:
        self.dismiss(self.options())

    @on(Button.Pressed, "#backup-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
