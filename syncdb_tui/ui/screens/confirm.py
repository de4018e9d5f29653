"""The one confirmation before every change: the plan, then Enter (or the typed name where the policy asks).

``typed=True`` (a protected or HIGH-risk target) asks for the environment's name typed
back; ``typed=False`` shows the same plan and runs on Enter.  The answer is ``True``
(go on), ``False`` (another name typed: refused) or ``None`` (Esc: cancelled quietly).
``s`` shows or hides the plan's SQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from syncdb_tui.ui.severity import severity_text

if TYPE_CHECKING:
    from textual.app import ComposeResult


class ConfirmScreen(ModalScreen[bool | None]):
    """Shows what will change; True on Enter (or on the exact name typed), None on Esc."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="syncdb.confirm.cancel"),
        Binding("enter", "run", "Run", id="syncdb.confirm.run", show=False),
        Binding("ctrl+t", "toggle_sql", "SQL", id="syncdb.confirm.sql"),
    ]

    def __init__(
        self,
        env_name: str,
        action: str,
        reasons: list[str],
        details: str = "",
        *,
        typed: bool = True,
        sql: str = "",
        risk: str = "",
    ) -> None:
        super().__init__()
        self.env_name = env_name
        self.action = action
        self.reasons = reasons
        self.details = details
        self.typed = typed
        self.sql = sql
        self.risk = risk

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog" + ("" if self.typed else " -plan")):
            title = Text(f"{self.action} on {self.env_name}")
            if self.risk:
                title.append("  risk ")
                title.append_text(severity_text(self.risk, no_color=self.app.no_color, width=0))
            yield Label(title, id="confirm-title", classes="dialog-title")
            if self.reasons:
                yield Static("\n".join(f"• {reason}" for reason in self.reasons), id="confirm-reasons", markup=False)
            if self.details or self.sql:
                with VerticalScroll(id="confirm-details"):
                    yield Static(self.details, markup=False)
                    if self.sql:
                        yield Static(self._sql_renderable(), id="confirm-sql", classes="-hidden")
            sql_hint = " ctrl+t shows the SQL." if self.sql else ""
            if self.typed:
                yield Label(f"Type the environment's name ({self.env_name}) and press Enter; Esc cancels.{sql_hint}")
                yield Input(placeholder=self.env_name, id="confirm-input")
            else:
                yield Label(f"Enter runs it; Esc cancels.{sql_hint}", id="confirm-run-hint")

    def _sql_renderable(self) -> Syntax:
        theme = "monokai" if self.app.current_theme.dark else "default"
        return Syntax(self.sql.rstrip(), "sql", theme=theme, word_wrap=True, background_color="default")

    def on_mount(self) -> None:
        # the plan above scrolls (PageUp/PageDown), but typing goes to the name
        if self.typed:
            self.query_one("#confirm-input", Input).focus()
        else:
            self.query_one("#confirm-details", VerticalScroll).focus()

    @on(Input.Submitted)
    def _answer(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() == self.env_name)

    def action_run(self) -> None:
        if not self.typed:
            self.dismiss(True)

    def action_toggle_sql(self) -> None:
        if self.sql:
            sql = self.query_one("#confirm-sql", Static)
            sql.toggle_class("-hidden")
            if not sql.has_class("-hidden"):
                self.call_after_refresh(self.query_one("#confirm-details", VerticalScroll).scroll_to_widget, sql)

    def action_cancel(self) -> None:
        self.dismiss(None)
