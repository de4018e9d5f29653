"""The restore modal: pick a backup by its manifest, then the target."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, RadioButton, RadioSet

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from syncdb_tui.core.backups.manifest import BackupEntry


@dataclass(frozen=True)
class RestoreChoice:
    """What the operator picked."""

    backup: Path
    target_db: str | None
    """A new database on the environment's server, or None for the environment's own database."""
    clean: bool


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


class RestoreScreen(ModalScreen[RestoreChoice | None]):
    """Lists backups (environment, time, size, revision, verified) and asks where to restore."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="syncdb.restore.cancel"),
        Binding("ctrl+s", "start", "Restore", id="syncdb.restore.start"),
    ]

    def __init__(self, env_name: str, database: str, entries: list[BackupEntry], dry_run: bool = False) -> None:
        super().__init__()
        self.env_name = env_name
        self.database = database
        self.entries = entries
        self.dry_run = dry_run

    def compose(self) -> ComposeResult:
        with Vertical(id="restore-dialog", classes="dialog"):
            yield Label(
                f"restore a backup on {self.env_name}'s server" + (" (dry run)" if self.dry_run else ""),
                classes="dialog-title",
            )
            table: DataTable[Text] = DataTable(id="restore-backups", cursor_type="row", zebra_stripes=False)
            yield table
            yield Label("target")
            with RadioSet(id="restore-target"):
                yield RadioButton("a new database (named below)", value=True)
                yield RadioButton(f"the environment's database {self.database} (replaces its objects)")
            yield Input(value=f"{self.database}_restored", id="restore-database")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Restore" if not self.dry_run else "Show plan", variant="primary", id="restore-start")
                yield Button("Cancel", id="restore-cancel")

    def on_mount(self) -> None:
        table = self.query_one("#restore-backups", DataTable)
        for key, label, width in (
            ("time", "time", 19),
            ("env", "env", 9),
            ("kind", "kind", 14),
            ("size", "size", 9),
            ("revision", "revision", 12),
            ("verified", "verified", 13),
            ("name", "file", 30),
        ):
            table.add_column(label, key=key, width=width)
        for entry in self.entries:
            manifest = entry.manifest
            status = Text("ok", style="green") if entry.good else Text(entry.status, style="bold red")
            table.add_row(
                Text(manifest.created_at[:19].replace("T", " ") if manifest else "?"),
                Text(manifest.environment if manifest else "?"),
                Text(f"{manifest.kind}/{manifest.format}" if manifest else "?"),
                Text(human_size(manifest.size) if manifest else "?"),
                Text(", ".join(rev[:12] for rev in manifest.alembic_revisions) or "base" if manifest else "?"),
                status,
                Text(entry.path.name),
                key=str(entry.path),
            )
        if not self.entries:
            self.notify("there are no backups yet; take one with b", severity="warning")
        table.focus()

    def choice(self) -> RestoreChoice | None:
        table = self.query_one("#restore-backups", DataTable)
        if not table.row_count:
            return None
        path = Path(str(table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value))
        into_env = self.query_one("#restore-target", RadioSet).pressed_index == 1
        name = self.query_one("#restore-database", Input).value.strip()
        return RestoreChoice(backup=path, target_db=None if into_env else name, clean=into_env)

    @on(Button.Pressed, "#restore-start")
    @on(Input.Submitted)
    def action_start(self) -> None:
        choice = self.choice()
        if choice is None:
            self.notify("choose a backup first", severity="warning")
            return
        if choice.target_db == "":
            self.notify("name the new database", severity="warning")
            return
        self.dismiss(choice)

    @on(DataTable.RowSelected)
    def _next_field(self) -> None:
        self.query_one("#restore-target", RadioSet).focus()

    @on(Button.Pressed, "#restore-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
