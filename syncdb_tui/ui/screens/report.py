"""A full-screen Markdown viewer: the Database Sync Report, dry-run plans, generated revisions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Header, MarkdownViewer

from syncdb_tui.ui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from textual.app import ComposeResult


class ReportScreen(Screen[None]):
    """Shows ``markdown`` under ``title``; Esc or q goes back."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="syncdb.report.back"),
    ]

    def __init__(self, title: str, markdown: str, subtitle: str = "") -> None:
        super().__init__()
        self.report_title = title
        self.markdown = markdown
        self.subtitle = subtitle

    def compose(self) -> ComposeResult:
        yield Header()
        yield MarkdownViewer(self.markdown, id="report-body", show_table_of_contents=False)
        yield KeyBar()

    def on_mount(self) -> None:
        self.title = self.report_title
        self.sub_title = self.subtitle
        self.query_one("#report-body", MarkdownViewer).focus()
