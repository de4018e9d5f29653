"""The History modal: the selected environment's ledger, newest change first.

The ledger (``syncdb.ledger`` in the environment's own database) is read by a
worker; the table lists one change per row and the pane under it details the
highlighted one (revisions, backup, error, post-flight problems).  Esc closes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from syncdb_tui.core.errors import SyncdbError

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from syncdb_tui.core.changes.ledger import LedgerEntry
    from syncdb_tui.core.envs.environments import Environment

HISTORY_LIMIT = 200
"""Newest changes shown (`syncdb history --limit N` reaches further)."""

RESULT_STYLES = {"ok": "green", "failed": "bold red", "running": "yellow"}


def result_text(entry: LedgerEntry) -> Text:
    label = "interrupted?" if entry.result == "running" else entry.result
    problems = (entry.postflight or {}).get("problems") or []
    text = Text(label, style=RESULT_STYLES.get(entry.result, ""))
    if problems:
        text.append(" ⚠", style="bold yellow")
    return text


def movement(entry: LedgerEntry) -> str:
    before = ", ".join(entry.from_revisions) or "base"
    after = ", ".join(entry.to_revisions) or "base"
    return f"{before} → {after}" if (entry.from_revisions or entry.to_revisions) else "-"


def detail_text(entry: LedgerEntry) -> Text:
    """Everything the ledger knows about one change, for the pane under the table."""
    from syncdb_tui.core.report import last_change_problems

    text = Text()
    text.append(entry.summary() + "\n", style="bold")
    finished = entry.finished_at.strftime("%Y-%m-%d %H:%M:%S") if entry.finished_at else "not finished"
    text.append(f"finished: {finished}   via: {entry.application_name or '-'}\n", style="dim")
    if entry.plan_id:
        text.append(f"plan: {entry.plan_id}\n", style="dim")
    if entry.revisions:
        ran = []
        for item in entry.revisions:
            mark = "" if item.get("committed", True) else " (not committed)"
            ran.append(f"{item.get('revision', '?')}{mark}")
        text.append("revisions: " + ", ".join(ran) + "\n")
    if entry.backup_path:
        text.append(f"backup: {entry.backup_path}\n")
    if entry.error:
        text.append("error: ", style="bold red")
        text.append(" ".join(entry.error.split()) + "\n")
    for problem in last_change_problems(entry):
        text.append("post-flight: ", style="bold yellow")
        text.append(problem + "\n")
    if entry.postflight is not None and not last_change_problems(entry):
        text.append("post-flight: no INVALID index, no NOT VALID constraint", style="green")
        drift = entry.postflight.get("drift")
        text.append(", no drift at head\n" if drift == [] else "\n", style="green")
    return text


class HistoryScreen(ModalScreen[None]):
    """The ledger of ``env_name``, read through ``environment`` (the resolved environment) in a worker."""

    BINDINGS = [Binding("escape,q", "close", "Close", id="syncdb.history.close")]

    DEFAULT_CSS = """
    #history-dialog {
        width: 110;
        height: 90%;
    }
    #history-table {
        height: 1fr;
        min-height: 5;
    }
    #history-detail-scroll {
        height: 8;
        border-top: solid $primary;
    }
    """

    def __init__(self, env_name: str, environment: Callable[[], Awaitable[Environment]]) -> None:
        super().__init__()
        self.env_name = env_name
        self.environment = environment
        self.entries: list[LedgerEntry] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="history-dialog", classes="dialog"):
            yield Label(f"history of {self.env_name}: changes applied, newest first", classes="dialog-title")
            yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="history-detail-scroll"):
                yield Static(id="history-detail")
            yield Label("↑↓ choose a change · Esc closes · syncdb history --json has it all", classes="dialog-help")

    def on_mount(self) -> None:
        table = self.query_one("#history-table", DataTable)
        table.add_columns("when", "action", "from → to", "result", "by")
        table.loading = True
        table.focus()
        self.load_entries()

    @work(exclusive=True, group="history", exit_on_error=False, description="read the ledger")
    async def load_entries(self) -> None:
        from syncdb_tui.core.changes.ledger import entries_of

        try:
            env = await self.environment()
            entries = await entries_of(env, limit=HISTORY_LIMIT)
        except SyncdbError as error:
            self.show_failure(error)
            return
        self.show_entries(entries)

    def show_entries(self, entries: list[LedgerEntry]) -> None:
        self.entries = entries
        table = self.query_one("#history-table", DataTable)
        table.loading = False
        table.clear()
        for entry in entries:
            table.add_row(
                entry.started_at.strftime("%Y-%m-%d %H:%M"),
                entry.action,
                movement(entry),
                result_text(entry),
                f"{entry.operator}@{entry.host}",
                key=str(entry.id),
            )
        detail = self.query_one("#history-detail", Static)
        if not entries:
            detail.update(
                Text(
                    f"no change recorded yet in the ledger of {self.env_name}: migrate, downgrade, stamp, push, "
                    "seed and restore made through syncdb are recorded here",
                    style="dim",
                )
            )
        else:
            table.move_cursor(row=0)
            detail.update(detail_text(entries[0]))

    def show_failure(self, error: SyncdbError) -> None:
        table = self.query_one("#history-table", DataTable)
        table.loading = False
        text = Text(f"{error.title}: {error.message}", style="bold red")
        if error.hint:
            text.append(f"\n{error.hint}", style="dim")
        self.query_one("#history-detail", Static).update(text)

    @on(DataTable.RowHighlighted, "#history-table")
    def _show_detail(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.entries):
            self.query_one("#history-detail", Static).update(detail_text(self.entries[event.cursor_row]))

    def action_close(self) -> None:
        self.dismiss(None)
