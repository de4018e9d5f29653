"""Small explorer dialogs: show text, confirm SQL, edit a value, insert a row, pick an export path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.syntax import Syntax
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from syncdb_tui.core.explorer.catalog import TableInfo


class TextModal(ModalScreen[None]):
    """A title and a block of text (SQL or JSON), closed with Escape."""

    BINDINGS = [Binding("escape,q", "close", "Close", id="explorer.text.close")]

    def __init__(self, title: str, text: str, lexer: str = "sql") -> None:
        super().__init__()
        self.title_text, self.text, self.lexer = title, text, lexer

    def compose(self) -> ComposeResult:
        with Vertical(classes="explorer-dialog wide-dialog"):
            yield Label(f"{self.title_text}  (Escape closes)", classes="dialog-title")
            with VerticalScroll(classes="dialog-body", id="text-scroll"):
                yield Static(Syntax(self.text, self.lexer, word_wrap=True, theme="ansi_dark"), id="text-body")

    def on_mount(self) -> None:
        self.query_one("#text-scroll", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmSqlModal(ModalScreen[bool]):
    """Show the exact statement and its bound values; answer whether to run it."""

    BINDINGS = [
        Binding("escape,n", "answer(False)", "Cancel", id="explorer.confirm.no"),
        Binding("y", "answer(True)", "Run it", id="explorer.confirm.yes"),
    ]

    def __init__(self, summary: str, sql: str) -> None:
        super().__init__()
        self.summary, self.sql = summary, sql

    def compose(self) -> ComposeResult:
        with Vertical(classes="explorer-dialog wide-dialog", id="confirm-dialog"):
            yield Label(f"{self.summary}? This SQL will run in one transaction:", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(Syntax(self.sql, "sql", word_wrap=True, theme="ansi_dark"), id="confirm-sql")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Run (y)", variant="warning", id="confirm-yes")
                yield Button("Cancel (n)", id="confirm-no")

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


@dataclass(frozen=True)
class CellValue:
    """The answer of :class:`EditValueModal`: new text, or ``None`` for NULL."""

    value: str | None


class EditValueModal(ModalScreen[CellValue | None]):
    """Ask for a cell's new value."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="explorer.edit.cancel")]

    def __init__(self, label: str, current: str | None) -> None:
        super().__init__()
        self.label, self.current = label, current

    def compose(self) -> ComposeResult:
        with Vertical(classes="explorer-dialog", id="edit-dialog"):
            yield Label(self.label, classes="dialog-title")
            yield Input(value=self.current or "", id="edit-value", select_on_focus=False)
            yield Checkbox("NULL", value=self.current is None, id="edit-null")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Next: review SQL", variant="primary", id="edit-ok")
                yield Button("Cancel", id="edit-cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#edit-ok")
    def _ok(self) -> None:
        if self.query_one("#edit-null", Checkbox).value:
            self.dismiss(CellValue(None))
        else:
            self.dismiss(CellValue(self.query_one("#edit-value", Input).value))

    @on(Input.Changed)
    def _typed(self) -> None:
        self.query_one("#edit-null", Checkbox).value = False

    @on(Button.Pressed, "#edit-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class InsertRowModal(ModalScreen[dict[str, str | None] | None]):
    """One input per column; blank inputs take the column's default."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="explorer.insert.cancel")]

    def __init__(self, info: TableInfo) -> None:
        super().__init__()
        self.info = info

    def compose(self) -> ComposeResult:
        with Vertical(classes="explorer-dialog wide-dialog", id="insert-dialog"):
            yield Label(f"Insert into {self.info.table} (blank = default, NULL = null)", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                for index, column in enumerate(self.info.columns):
                    hint = f"{column.name} ({column.sql_type})"
                    if column.default:
                        hint += f" default {column.default}"
                    yield Label(hint)
                    yield Input(id=f"insert-{index}", classes="insert-value", select_on_focus=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Next: review SQL", variant="primary", id="insert-ok")
                yield Button("Cancel", id="insert-cancel")

    def on_mount(self) -> None:
        self.query_one("#insert-0", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#insert-ok")
    def _ok(self) -> None:
        values: dict[str, str | None] = {}
        for index, column in enumerate(self.info.columns):
            text = self.query_one(f"#insert-{index}", Input).value
            if text == "":
                continue
            values[column.name] = None if text == "NULL" else text
        self.dismiss(values)

    @on(Button.Pressed, "#insert-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportModal(ModalScreen[Path | None]):
    """Ask where to write the CSV export."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="explorer.export.cancel")]

    def __init__(self, default: Path) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="explorer-dialog", id="export-dialog"):
            yield Label("Export the filtered view to CSV", classes="dialog-title")
            yield Input(value=str(self.default), id="export-path", select_on_focus=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", variant="primary", id="export-ok")
                yield Button("Cancel", id="export-cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#export-ok")
    def _ok(self) -> None:
        text = self.query_one("#export-path", Input).value.strip()
        if text:
            self.dismiss(Path(text).expanduser())

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
