"""The Environments pane: one row per configured environment and where it stands.

The screen calls :meth:`EnvironmentList.show_loading`, :meth:`show_status` and
:meth:`show_failure` as workers report; the widget posts
:class:`EnvironmentList.Selected` when the cursor moves to another environment.
Protected environments are drawn in bold red and marked in the ``prot`` column.
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


def _short(revisions: tuple[str, ...]) -> str:
    if not revisions:
        return "base"
    return ", ".join(rev[:12] for rev in revisions)


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

    def on_mount(self) -> None:
        self.styles.height = len(self._environments) + 4
        self.styles.max_height = len(self._environments) + 4
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)
        for name, env in self._environments.items():
            style = PROTECTED_STYLE if env.protected else "bold"
            self.add_row(
                Text(name, style=style),
                Text("yes" if env.protected else "", style=PROTECTED_STYLE),
                Text("loading…", style="dim"),
                Text(""),
                Text(env.database or ""),
                Text(""),
                Text(""),
                Text(""),
                key=name,
            )

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
            self.update_cell(name, "state", Text("loading…", style="dim"))

    def show_status(self, status: EnvironmentStatus) -> None:
        """Fill ``status.environment``'s row."""
        name = status.environment
        if name not in self.rows:
            return
        self.statuses[name] = status
        if not status.reachable:
            self.update_cell(name, "state", Text(f"unreachable: {status.error}", style="bold red"))
            for column in ("server", "current", "pending", "drift"):
                self.update_cell(name, column, Text("-", style="dim"))
            self.update_cell(name, "database", Text(status.database))
            return
        pending = len(status.pending)
        if status.unknown:
            state = Text("unknown revision", style="bold red")
        elif pending:
            state = Text(f"reachable · {pending} pending", style="yellow")
        else:
            state = Text("reachable · up to date", style="green")
        self.update_cell(name, "state", state)
        self.update_cell(name, "server", Text(status.server_version))
        self.update_cell(name, "database", Text(status.database))
        self.update_cell(name, "current", Text(_short(status.current), style="bold" if status.current else "dim"))
        risk_style = {"HIGH": "bold red", "MEDIUM": "yellow"}.get(status.risk, "")
        self.update_cell(name, "pending", Text(f"{pending} {status.risk}" if pending else "0", style=risk_style))
        self.update_cell(name, "drift", drift_label(status.drift, pending))

    def show_failure(self, name: str, reason: str) -> None:
        """The status could not be read at all (the row says why)."""
        if name in self.rows:
            self.statuses.pop(name, None)
            self.update_cell(name, "state", Text(f"error: {reason}", style="bold red"))

    @on(DataTable.RowHighlighted)
    def _report_selection(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Selected(self, str(event.row_key.value or "")))
