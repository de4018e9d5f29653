"""The Environments pane: one row per configured environment and where it stands.

The screen calls :meth:`EnvironmentList.show_loading`, :meth:`show_status` and
:meth:`show_failure` as workers report; the widget posts
:class:`EnvironmentList.Selected` when the cursor moves to another environment.
Protected environments are drawn in bold red and marked in the ``prot`` column.
Narrower than :data:`COMPACT_BELOW` cells (80x24), the pane switches to a compact
layout — name, prot, current, pending+risk, state, drift — that always keeps the
drift column; long cells end with "…".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable

from syncdb_tui.ui.actions import bindings
from syncdb_tui.ui.severity import severity_style, shorten

if TYPE_CHECKING:
    from syncdb_tui.config import EnvironmentConfig
    from syncdb_tui.core.status import EnvironmentStatus

PROTECTED_STYLE = "bold red"
COLUMNS = (
    ("name", "environment", 12),
    ("protected", "prot", 4),
    ("current", "current", 12),
    ("pending", "pending", 9),
    ("state", "state", 28),
    ("server", "server", 6),
    ("drift", "drift", 8),
    ("database", "database", 24),
)
COMPACT_COLUMNS = (
    ("name", "env", 9),
    ("protected", "prot", 4),
    ("current", "current", 10),
    ("pending", "pending", 9),
    ("state", "state", 22),
    ("drift", "drift", 8),
)
"""The columns that still fit at 80 cells: the server and database go, drift stays."""
COMPACT_BELOW = 110


def _short(revisions: tuple[str, ...]) -> str:
    if not revisions:
        return "base"
    return ", ".join(shorten(rev, 12) for rev in revisions)


def drift_label(drift: object, pending: int = 0) -> Text:
    """The drift cell: ``-`` not computed, ``none``, ``behind`` or ``DRIFT n``.

    Models that differ from a database with pending revisions are what those
    revisions are for ("behind"); the alarm is kept for a difference that no
    pending revision explains.
    """
    if drift is None:
        return Text("-", style="dim")
    if getattr(drift, "is_empty", False):
        return Text("none", style="green")
    if pending:
        return Text("behind", style="yellow")
    counts = [len(getattr(drift, name, ()) or ()) for name in ("new_tables", "modified_tables", "dropped_tables")]
    return Text(f"DRIFT {sum(counts)}" if any(counts) else "DRIFT", style="bold yellow")


class EnvironmentList(DataTable[Text]):
    """Every configured environment with reachability, version, revision, pending count and drift."""

    BINDINGS = bindings("environments")

    @dataclass
    class Selected(Message):
        """The environment ``name`` became the target of every action."""

        environment_list: EnvironmentList
        name: str

        @property
        def control(self) -> EnvironmentList:
            return self.environment_list

    def __init__(self, environments: dict[str, EnvironmentConfig], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, show_cursor=True)
        self._environments = environments
        self.statuses: dict[str, EnvironmentStatus] = {}
        self._cells: dict[str, dict[str, Text]] = {}
        self._compact: bool | None = None

    @property
    def columns_shown(self) -> tuple[tuple[str, str, int], ...]:
        return COMPACT_COLUMNS if self._compact else COLUMNS

    def on_mount(self) -> None:
        self.styles.height = len(self._environments) + 4
        self.styles.max_height = len(self._environments) + 4
        for name, env in self._environments.items():
            style = PROTECTED_STYLE if env.protected else "bold"
            self._cells[name] = {
                "name": Text(name, style=style),
                "protected": Text("yes" if env.protected else "", style=PROTECTED_STYLE),
                "current": Text(""),
                "pending": Text(""),
                "state": Text("loading…", style="dim"),
                "server": Text(""),
                "drift": Text(""),
                "database": Text(env.database or ""),
            }
        self._layout(self.app.size.width < COMPACT_BELOW)

    def on_resize(self) -> None:
        self._layout(self.size.width < COMPACT_BELOW - 4)

    def _layout(self, compact: bool) -> None:
        """(Re)build the columns for the width; the rows keep their cells and the cursor its row."""
        if compact == self._compact:
            return
        self._compact = compact
        selected = self.selected_name
        self.clear(columns=True)
        for key, label, width in self.columns_shown:
            self.add_column(label, key=key, width=width)
        for name, cells in self._cells.items():
            self.add_row(*(self._fit(key, cells[key]) for key, _, _ in self.columns_shown), key=name)
        if selected:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    def _fit(self, column: str, cell: Text) -> Text:
        width = next((w for key, _, w in self.columns_shown if key == column), 0)
        if width and cell.cell_len > width:
            return Text(shorten(cell.plain, width), style=cell.style)
        return cell

    def _set(self, name: str, column: str, cell: Text) -> None:
        old = self._cells[name].get(column)
        if old is not None and (old.plain, old.style, old.spans) == (cell.plain, cell.style, cell.spans):
            return  # unchanged: no repaint (a refresh re-renders the whole table)
        self._cells[name][column] = cell
        if any(key == column for key, _, _ in self.columns_shown):
            self.update_cell(name, column, self._fit(column, cell))

    @property
    def selected_name(self) -> str:
        if not self.row_count:
            return ""
        return str(self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value or "")

    def select(self, name: str) -> None:
        """Move the cursor to ``name`` (posts :class:`Selected`)."""
        if name in self.rows:
            self.move_cursor(row=self.get_row_index(name), animate=False)

    def show_loading(self, name: str) -> None:
        if name in self.rows and name not in self.statuses:
            self._set(name, "state", Text("loading…", style="dim"))

    def show_status(self, status: EnvironmentStatus) -> None:
        """Fill ``status.environment``'s row."""
        name = status.environment
        if name not in self.rows:
            return
        self.statuses[name] = status
        if not status.reachable:
            self._set(name, "state", Text(f"unreachable: {status.error}", style="bold red"))
            for column in ("server", "current", "pending", "drift"):
                self._set(name, column, Text("-", style="dim"))
            self._set(name, "database", Text(status.database))
            return
        pending = len(status.pending)
        if status.unknown:
            state = Text(f"unknown revision {', '.join(status.unknown)}", style="bold red")
        elif pending:
            state = Text(f"reachable · {pending} pending", style="yellow")
        else:
            state = Text("reachable · up to date", style="green")
        self._set(name, "state", state)
        self._set(name, "server", Text(status.server_version))
        self._set(name, "database", Text(status.database))
        self._set(name, "current", Text(_short(status.current), style="bold" if status.current else "dim"))
        risk_style = severity_style(status.risk, no_color=self.app.no_color) if status.risk != "LOW" else ""
        if status.unknown:
            # the scripts do not know where the database stands: pending is unknown, not 0
            self._set(name, "pending", Text("?", style="bold"))
        elif not all(item.risk for item in status.pending):
            # the quick status of the first screen: the count now, the risk once judged
            self._set(name, "pending", Text(f"{pending} …", style="yellow"))
        else:
            self._set(name, "pending", Text(f"{pending} {status.risk}" if pending else "0", style=risk_style))
        self._set(name, "drift", drift_label(status.drift, pending))

    def show_failure(self, name: str, reason: str) -> None:
        """The status could not be read at all (the row says why)."""
        if name in self.rows:
            self.statuses.pop(name, None)
            self._set(name, "state", Text(f"error: {reason}", style="bold red"))

    @on(DataTable.RowHighlighted)
    def _report_selection(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Selected(self, str(event.row_key.value or "")))
