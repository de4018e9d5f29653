"""The one typed-name confirmation for every change to a protected (or HIGH-risk) target."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

if TYPE_CHECKING:
    from textual.app import ComposeResult


class ConfirmScreen(ModalScreen[bool]):
    """Asks for ``env_name`` typed back; dismisses True only when it matches exactly."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="syncdb.confirm.cancel")]

    def __init__(self, env_name: str, action: str, reasons: list[str], details: str = "") -> None:
        super().__init__()
        self.env_name = env_name
        self.action = action
        self.reasons = reasons
        self.details = details

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Label(f"{self.action} on {self.env_name}", id="confirm-title", classes="dialog-title")
            yield Static("\n".join(f"• {reason}" for reason in self.reasons), id="confirm-reasons")
            if self.details:
                with VerticalScroll(id="confirm-details"):
                    yield Static(self.details, markup=False)
            yield Label(f"Type the environment's name ({self.env_name}) and press Enter; Esc cancels.")
            yield Input(placeholder=self.env_name, id="confirm-input")

    def on_mount(self) -> None:
        # the plan above scrolls (PageUp/PageDown), but typing goes to the name
        self.query_one("#confirm-input", Input).focus()

    @on(Input.Submitted)
    def _answer(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() == self.env_name)

    def action_cancel(self) -> None:
        self.dismiss(False)
