"""The restore modal: pick a backup by its manifest, then the target.

Under the list, a line says what the highlighted backup would do to the environment: where
it came from (another environment is named), the revision it leaves, and where the
environment is now.  Restoring over the environment rebuilds it beside and swaps it in; the
current database is kept (the flow shows its name afterwards).
"""

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
from textual.widgets import Button, DataTable, Input, Label, RadioSet

from syncdb_tui.ui.widgets.choice import Choice

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
    """The CLI's size format (decimal units), so a backup reads the same size everywhere."""
    from syncdb_tui.core.backups.manifest import human_size as decimal_size

    return decimal_size(size)


class RestoreScreen(ModalScreen[RestoreChoice | None]):
    """Lists backups (environment, time, size, revision, verified) and asks where to restore."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="syncdb.restore.cancel"),
        Binding("ctrl+s", "start", "Restore", id="syncdb.restore.start"),
    ]

    def __init__(
        self,
        env_name: str,
        database: str,
        entries: list[BackupEntry],
        dry_run: bool = False,
        current_revisions: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.env_name = env_name
        self.database = database
        self.entries = entries
        self.dry_run = dry_run
        self.current_revisions = current_revisions

    def compose(self) -> ComposeResult:
        with Vertical(id="restore-dialog", classes="dialog"):
            yield Label(
                f"restore a backup on {self.env_name}'s server" + (" (dry run)" if self.dry_run else ""),
                classes="dialog-title",
            )
            table: DataTable[Text] = DataTable(id="restore-backups", cursor_type="row", zebra_stripes=False)
            yield table
            yield Label("", id="restore-note")
            yield Label("target")
            with RadioSet(id="restore-target"):
                yield Choice("a new database (named below)", value=True)
                yield Choice(f"the environment's database {self.database} (rebuilt beside, swapped in; old one kept)")
            yield Input(value=f"{self.database}_restored", id="restore-database")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Restore" if not self.dry_run else "Show plan", variant="primary", id="restore-start")
                yield Button("Cancel", id="restore-cancel")

    def on_mount(self) -> None:
        table = self.query_one("#restore-backups", DataTable)
        # file (its end: the time and suffix tell backups apart) and verified first: they fit at 80x24
        for key, label, width in (
            ("name", "file", 22),
            ("verified", "verified", 9),
            ("time", "time", 16),
            ("revision", "revision", 10),
            ("env", "env", 8),
            ("size", "size", 9),
            ("kind", "kind", 14),
        ):
            table.add_column(label, key=key, width=width)
        for entry in self.entries:
            manifest = entry.manifest
            status = Text("ok", style="green") if entry.good else Text(entry.status, style="bold red")
            name = entry.path.name
            table.add_row(
                Text(name if len(name) <= 22 else "…" + name[-21:]),
                status,
                Text(manifest.created_at[:16].replace("T", " ") if manifest else "?"),
                Text(", ".join(rev[:10] for rev in manifest.alembic_revisions) or "base" if manifest else "?"),
                Text(manifest.environment if manifest else "?"),
                Text(human_size(manifest.size) if manifest else "?"),
                Text(f"{manifest.kind}/{manifest.format}" if manifest else "?"),
                key=str(entry.path),
            )
        if not self.entries:
            self.notify("there are no backups yet; take one with b", severity="warning")
        self._describe(0)
        table.focus()

    @on(DataTable.RowHighlighted)
    def _show_row(self, event: DataTable.RowHighlighted) -> None:
        self._describe(event.cursor_row)

    def _describe(self, row: int) -> None:
        """What the backup in ``row`` would leave the environment at, and where it came from."""
        now = ", ".join(self.current_revisions) or "no revision"
        note = f"{self.env_name} is at {now}"
        if 0 <= row < len(self.entries) and self.entries[row].manifest is not None:
            manifest = self.entries[row].manifest
            assert manifest is not None
            leaves = ", ".join(manifest.alembic_revisions) or "no revision"
            note += f"; this backup would leave it at {leaves}"
            if manifest.environment != self.env_name:
                note += f" (a backup of ANOTHER environment: {manifest.environment})"
        self.query_one("#restore-note", Label).update(note)

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
