"""The filter builder: column, operator, value → one :class:`Filter` (values always bound)."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from syncdb_tui.core.explorer.query import Filter, Operator


class FilterModal(ModalScreen[Filter | None]):
    """Ask for one filter on the current table."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="explorer.filter.cancel")]

    def __init__(self, columns: Sequence[str], column: str | None = None) -> None:
        super().__init__()
        self.columns = list(columns)
        self.initial_column = column if column in self.columns else self.columns[0]

    def compose(self) -> ComposeResult:
        with Vertical(id="filter-dialog", classes="explorer-dialog"):
            yield Label("Add a filter (the value is sent as a bound parameter)", classes="dialog-title")
            yield Select(
                [(name, name) for name in self.columns],
                value=self.initial_column,
                id="filter-column",
                allow_blank=False,
            )
            yield Select(
                [(op.value, op) for op in Operator], value=Operator.EQ, id="filter-operator", allow_blank=False
            )
            # select_on_focus=False: coming back with shift+tab must not select (and so lose) the typed text
            yield Input(placeholder="value (for in: a, b, c)", id="filter-value", select_on_focus=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", variant="primary", id="filter-apply")
                yield Button("Cancel", id="filter-cancel")

    def on_mount(self) -> None:
        self.query_one("#filter-value", Input).focus()

    @on(Select.Changed, "#filter-operator")
    def _toggle_value(self, event: Select.Changed) -> None:
        operator = event.value
        self.query_one("#filter-value", Input).disabled = isinstance(operator, Operator) and not operator.takes_value

    @on(Input.Submitted, "#filter-value")
    @on(Button.Pressed, "#filter-apply")
    def _apply(self) -> None:
        column = self.query_one("#filter-column", Select).value
        operator = self.query_one("#filter-operator", Select).value
        value = self.query_one("#filter-value", Input).value
        if not isinstance(operator, Operator) or not isinstance(column, str):
            return
        self.dismiss(Filter(column, operator, value if operator.takes_value else None))

    @on(Button.Pressed, "#filter-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
