"""The help screen: every key from the actions registry, and what the focused pane shows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from syncdb_tui.ui.actions import ACTIONS, PANES, display_keys

if TYPE_CHECKING:
    from textual.app import ComposeResult

PANE_HELP: dict[str, str] = {
    "environments": "Every configured environment: protected ones in red, whether it is reachable (and why not), "
    "server version, current revision, pending count with the worst risk, drift between models and database. "
    "The highlighted row is the target of every action.",
    "timeline": "Every revision, newest first: ◉ current, ✓ applied, ○ pending, ? in the database but not in the "
    "scripts. The graph column draws branches (┘ where a branch point gathers them, ┐ where a merge ◆ opens them); "
    "notes name heads, merges and @branch labels; the risk badge comes from the SQL each revision runs.",
    "sql": "The offline SQL of the highlighted revision (u switches upgrade/downgrade), or of everything pending "
    "(a). Revisions whose code needs a live database say so instead.",
    "risk": "Findings of the highlighted revision (or all pending), with the lock each takes and a safer way. "
    "Under them the operator's checklist: tick with space. Migrating a protected environment with a HIGH "
    "finding needs each HIGH item ticked first.",
    "jobs": "Running and recent jobs with progress, elapsed time and result; c cancels the highlighted one "
    "(a migration in progress finishes its current revision).",
}

SCOPE_TITLES = {
    "app": "Everywhere",
    "main": "Main screen (act on the selected environment)",
    "explorer": "Table explorer (t)",
}


def help_renderable(focused_pane: str | None = None) -> Group:
    """The help text: the focused pane first, then every binding by scope."""
    parts: list[Table | Text] = []
    if focused_pane in PANE_HELP:
        parts += [
            Text(f"{PANES[focused_pane]} (focused)", style="bold underline"),
            Text(PANE_HELP[focused_pane]),
            Text(""),
        ]
    for scope in ("app", "main", *PANES, "explorer"):
        specs = [spec for spec in ACTIONS if spec.scope == scope]
        if not specs:
            continue
        table = Table(box=None, show_header=False, pad_edge=False, expand=True)
        table.add_column("key", style="bold cyan", width=14, no_wrap=True)
        table.add_column("what", ratio=1)
        table.add_column("palette", style="dim", width=34)
        for spec in specs:
            table.add_row(display_keys(spec.key), spec.tooltip, spec.palette)
        parts += [Text(SCOPE_TITLES.get(scope, f"{PANES.get(scope, scope)} pane"), style="bold"), table, Text("")]
    parts.append(
        Text(
            "ctrl+p opens the command palette (every action above, by name; also themes). "
            "Modals: Enter confirms, Esc cancels.",
            style="dim",
        )
    )
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    """Every binding, generated from ``ui/actions.py``."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close", id="syncdb.help.close")]

    def __init__(self, focused_pane: str | None = None) -> None:
        super().__init__()
        self.focused_pane = focused_pane

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog", classes="dialog"):
            yield Static(Text("syncdb — keys", style="bold"), classes="dialog-title")
            yield Static(help_renderable(self.focused_pane), id="help-body")

    def action_close(self) -> None:
        self.dismiss(None)
