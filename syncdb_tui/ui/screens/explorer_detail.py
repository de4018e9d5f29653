"""The row-detail view: every column of one row, whole (jsonb pretty-printed)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from syncdb_tui.core.explorer.catalog import TableInfo
from syncdb_tui.core.explorer.session import pretty_value


class RowDetailModal(ModalScreen[None]):
    """One row shown whole."""

    BINDINGS = [
        Binding("escape,q", "dismiss_detail", "Close", id="explorer.detail.close"),
    ]

    def __init__(self, info: TableInfo, row: dict[str, Any]) -> None:
        super().__init__()
        self.info = info
        self.row = row

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-dialog", classes="explorer-dialog"):
            yield Label(f"Row of {self.info.table}  (↑↓ scroll · Escape closes)", classes="dialog-title")
            with VerticalScroll(id="detail-body"):
                for column in self.info.columns:
                    value = self.row.get(column.name)
                    header = Text(column.name, style="bold")
                    header.append(f"  {column.sql_type}", "dim")
                    yield Static(header, classes="detail-name")
                    body = Text(pretty_value(value), style="italic #888888" if value is None else "")
                    yield Static(body, classes="detail-value", markup=False)

    def on_mount(self) -> None:
        self.query_one("#detail-body", VerticalScroll).focus()

    def action_dismiss_detail(self) -> None:
        self.dismiss(None)
