"""A modal for errors that must be read (a failed migration, a failed restore)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

if TYPE_CHECKING:
    from textual.app import ComposeResult


class ErrorScreen(ModalScreen[None]):
    """Title, message and hint of a ``SyncdbError``, as the CLI prints them."""

    BINDINGS = [Binding("escape,enter", "close", "Close", id="syncdb.error.close")]

    def __init__(self, title: str, message: str, hint: str = "") -> None:
        super().__init__()
        self.error_title = title
        self.message = message
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog", classes="dialog -error"):
            yield Label(f"error: {self.error_title}", classes="dialog-title")
            with VerticalScroll(id="error-body"):
                yield Static(self.message, id="error-message", markup=False)
                if self.hint:
                    yield Static(f"hint: {self.hint}", id="error-hint", markup=False)
            yield Button("Close", id="error-close", variant="error")

    def on_button_pressed(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
