"""The Migration timeline: every revision newest first, with this environment's markers.

A line-API ``ScrollView``: only the visible lines are rendered, each from a
precomputed row, so a history of thousands of revisions loads and scrolls
without stalling the loop.  The screen calls :meth:`show_graph` once,
:meth:`show_status` when the selected environment's status changes and
:meth:`set_risk` as previews judge revisions; the widget posts
:class:`MigrationTimeline.RevisionHighlighted` when the cursor moves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from syncdb_tui.ui.actions import bindings
from syncdb_tui.ui.severity import badge, severity_text, shorten
from syncdb_tui.ui.widgets.timeline_graph import layout

if TYPE_CHECKING:
    from textual import events

    from syncdb_tui.core.project.revisions import RevisionGraph, RevisionInfo
    from syncdb_tui.core.status import EnvironmentStatus

MARKERS = {
    "current": ("◉", "bold cyan"),
    "applied": ("✓", "green"),
    "pending": ("○", "yellow"),
    "unknown": ("?", "bold red"),
    "": (" ", ""),
}
WIDTHS = {"graph": 3, "state": 1, "revision": 12, "risk": 6}
FIXED = sum(WIDTHS.values()) + 5
"""Columns before the message: the widths above and the spaces between them."""
LINES_KEPT = 120
"""Rendered rows kept (at least; three screens when taller), the least recently drawn dropped first."""


def column_widths(width: int) -> tuple[int, int]:
    """(message, notes) widths for a line ``width`` cells wide."""
    available = max(20, width - FIXED)
    notes = min(20, available // 3)
    return available - notes - 1, notes


@dataclass
class _Row:
    revision: str
    info: RevisionInfo | None
    """None for a revision the database has but the scripts do not."""


class MigrationTimeline(ScrollView, can_focus=True):
    """Every revision of the history, with applied/pending/unknown markers and risk badges."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        *bindings("timeline"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"timeline--cursor", "timeline--header"}
    DEFAULT_CSS = """
    MigrationTimeline > .timeline--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    MigrationTimeline:blur > .timeline--cursor { background: $block-cursor-blurred-background; }
    MigrationTimeline > .timeline--header { text-style: bold; background: $panel; }
    """

    cursor_row: reactive[int] = reactive(0, always_update=True)

    @dataclass
    class RevisionHighlighted(Message):
        """The cursor is on ``revision`` (``""`` when the history is empty)."""

        timeline: MigrationTimeline
        revision: str

        @property
        def control(self) -> MigrationTimeline:
            return self.timeline

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._graph: RevisionGraph | None = None
        self._status: EnvironmentStatus | None = None
        self._risks: dict[str, str] = {}
        self._glyphs: dict[str, str] = {}
        self._rows: list[_Row] = []
        self._index: dict[str, int] = {}
        self._applied: set[str] = set()
        self._rows_graph: RevisionGraph | None = None
        self._rows_unknown: tuple[str, ...] = ()
        """What :attr:`_rows` were made of (the graph, the database's unknown revisions)."""
        self._looks: list[tuple[str, str]] = []
        """Per row, what its line shows that can change: (state, risk badge)."""
        self._lines: dict[int, Strip] = {}
        """Rendered rows (without the cursor) at :attr:`_lines_width`; a row is dropped when its look changes."""
        self._lines_width = -1
        self._cursor_line: tuple[int, Strip] | None = None
        self._header_line: Strip | None = None
        self._paint: tuple[int, int] | None = None

    # ---------------------------------------------------------------- intent methods

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def selected_revision(self) -> str:
        if 0 <= self.cursor_row < len(self._rows):
            return self._rows[self.cursor_row].revision
        return ""

    def show_graph(self, graph: RevisionGraph) -> None:
        """Show a (new) revision history."""
        self._graph = graph
        self._glyphs = layout(graph.revisions, max_lanes=WIDTHS["graph"])
        self._rebuild()

    def show_status(self, status: EnvironmentStatus | None) -> None:
        """Mark revisions for this environment (``None``: no status known yet)."""
        self._status = status
        self._applied = set(status.applied) if status is not None else set()
        if status is not None:
            for pending in status.pending:
                if not pending.needs_live_reason:
                    self._risks[pending.revision] = badge(len(pending.findings), pending.risk)
        self._rebuild()

    def has_risk(self, revision: str) -> bool:
        return revision in self._risks

    def set_risk(self, revision: str, risk: str, *, only_if_unknown: bool = False) -> None:
        """Show ``risk`` (``HIGH``…``LOW``, or "—" without findings) as the badge of ``revision``."""
        if only_if_unknown and revision in self._risks:
            return
        if self._risks.get(revision) != risk:
            self._risks[revision] = risk
            index = self._index.get(revision)
            if index is not None:
                self._update_looks([index])

    def _state(self, revision: str) -> str:
        status = self._status
        if status is None or not status.reachable:
            return ""
        if revision in status.current:
            return "current"
        if revision in status.unknown:
            return "unknown"
        if revision in self._applied:
            return "applied"
        if status.unknown:
            # the database is at a revision the scripts lack: nothing is known to be pending
            # (the Environments pane says "?" too)
            return ""
        return "pending"

    # ---------------------------------------------------------------- rows

    def _rebuild(self) -> None:
        """Take in a new graph or status: only rows whose line changed are rendered again."""
        keep = self.selected_revision
        unknown = tuple(self._status.unknown) if self._status is not None else ()
        if self._graph is self._rows_graph and unknown == self._rows_unknown:
            self._update_looks(range(len(self._rows)))  # the same rows: a status changes their looks
        else:
            self._rows_graph, self._rows_unknown = self._graph, unknown
            rows = [_Row(rev, None) for rev in unknown]
            if self._graph is not None:
                rows += [_Row(info.revision, info) for info in self._graph.revisions]
            self._rows = rows
            self._index = {row.revision: index for index, row in enumerate(rows)}
            self._looks = [self._look(row) for row in rows]
            self._lines.clear()
            self._cursor_line = None
            # a layout only when the number of lines changes (the reactive ignores an equal size)
            self.virtual_size = Size(self.size.width, len(rows) + 1)
            self.refresh()
        target = self._index.get(keep, self.cursor_row if keep == "" else 0)
        self.cursor_row = max(0, min(target, len(self._rows) - 1))

    def _look(self, row: _Row) -> tuple[str, str]:
        state = "unknown" if row.info is None else self._state(row.revision)
        return state, self._risks.get(row.revision, "")

    def _update_looks(self, indices: Iterable[int]) -> None:
        """Recompute the look of rows ``indices``; drop and repaint (when visible) those that changed."""
        rows, looks, lines = self._rows, self._looks, self._lines
        changed: list[int] = []
        for index in indices:
            look = self._look(rows[index])
            if look != looks[index]:
                looks[index] = look
                lines.pop(index, None)
                changed.append(index)
        if not changed:
            return
        if self._cursor_line is not None and self._cursor_line[0] in changed:
            self._cursor_line = None
        self._refresh_rows(changed)

    def _refresh_rows(self, indices: Iterable[int]) -> None:
        """Repaint the lines of rows ``indices`` that are on screen (and nothing else)."""
        top = int(self.scroll_offset.y)
        height = self.size.height
        shown = [index - top + 1 for index in indices if 1 <= index - top + 1 < height]
        if shown:
            first, last = min(shown), max(shown)
            self.refresh(Region(0, first, max(self.size.width, self.virtual_size.width), last - first + 1))

    def _row_text(self, row: _Row, width: int) -> Text:
        state = "unknown" if row.info is None else self._state(row.revision)
        marker, marker_style = MARKERS[state]
        info = row.info
        notes: list[str] = []
        if state == "current":
            notes.append("current")
        if info is None:
            notes.append("not in the scripts")
        else:
            if info.is_head:
                notes.append("head")
            if info.is_merge:
                notes.append("merge")
            if info.is_branch_point:
                notes.append("branch point")
            notes.extend(f"@{label}" for label in info.branch_labels)
        risk = self._risks.get(row.revision, "")
        message_width, _ = column_widths(width)
        message = info.message if info is not None else "in the database, not in the scripts"
        glyph = self._glyphs.get(row.revision, "?" if info is None else "●")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(glyph.ljust(WIDTHS["graph"])[: WIDTHS["graph"]], style="cyan" if state == "current" else "")
        text.append(" ")
        text.append(marker, style=marker_style)
        text.append(" ")
        revision = shorten(row.revision, WIDTHS["revision"])
        text.append(revision.ljust(WIDTHS["revision"]), style="bold" if state == "current" else "")
        text.append(" ")
        text.append_text(severity_text(risk, no_color=self.app.no_color, width=WIDTHS["risk"]))
        text.append(" ")
        shown = message if len(message) <= message_width else message[: message_width - 1] + "…"
        text.append(shown.ljust(message_width), style="dim" if state == "applied" else "")
        text.append(" ")
        text.append(", ".join(notes), style="bold cyan" if state == "current" else "dim")
        return text

    def _header_text(self, width: int) -> Text:
        message_width, _ = column_widths(width)
        return Text(
            " " * (WIDTHS["graph"] + 3)
            + "revision".ljust(WIDTHS["revision"] + 1)
            + "risk".ljust(WIDTHS["risk"] + 1)
            + "message".ljust(message_width + 1)
            + "notes",
            no_wrap=True,
        )

    # ---------------------------------------------------------------- rendering

    def render_lines(self, crop: Region) -> list[Strip]:
        # what every line of this paint needs, read once (each is a chain of lookups in Textual)
        self._paint = (self.scrollable_content_region.width, int(self.scroll_offset.y))
        try:
            return super().render_lines(crop)
        finally:
            self._paint = None

    def render_line(self, y: int) -> Strip:
        width, top = self._paint or (self.scrollable_content_region.width, int(self.scroll_offset.y))
        if width != self._lines_width:
            self._forget_lines()
            self._lines_width = width
        if y == 0:
            if self._header_line is None:
                style = self.get_component_rich_style("timeline--header")
                self._header_line = self._strip(self._header_text(width), width, style)
            return self._header_line
        index = top + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        if index == self.cursor_row:
            if self._cursor_line is None or self._cursor_line[0] != index:
                base = self.get_component_rich_style("timeline--cursor")
                self._cursor_line = (index, self._strip(self._row_text(self._rows[index], width), width, base))
            return self._cursor_line[1]
        lines = self._lines
        line = lines.pop(index, None)
        if line is None:
            line = self._strip(self._row_text(self._rows[index], width), width, self.rich_style)
            # a few screens of rows: Textual's strips cache what is derived from them and live in
            # reference cycles, so every kept strip makes each full garbage collection longer
            while len(lines) >= max(LINES_KEPT, 3 * self.size.height):
                del lines[next(iter(lines))]
        lines[index] = line  # the most recently drawn last
        return line

    def _strip(self, text: Text, width: int, base: Style) -> Strip:
        segments = list(text.render(self.app.console))
        strip = Strip(Segment.apply_style(segments, base) if base else segments)
        return strip.crop_extend(0, width, base)

    def _forget_lines(self) -> None:
        self._lines.clear()
        self._cursor_line = None
        self._header_line = None

    def notify_style_update(self) -> None:
        # the theme, focus (the blurred cursor) or the CSS changed: the rendered lines are stale
        self._forget_lines()
        super().notify_style_update()

    def watch_cursor_row(self, old: int, new: int) -> None:
        top = self.scroll_offset.y
        self._scroll_to_cursor()
        if self.scroll_offset.y == top:
            self._refresh_rows((old, new))  # only the two lines the cursor left and reached
        else:
            self.refresh()
        self.post_message(self.RevisionHighlighted(self, self.selected_revision))

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._rows) + 1)
        self._forget_lines()
        self.refresh()

    # ---------------------------------------------------------------- keys and mouse

    def action_cursor(self, delta: int) -> None:
        if self._rows:
            self.cursor_row = max(0, min(len(self._rows) - 1, self.cursor_row + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 2))

    def action_jump(self, row: int) -> None:
        if self._rows:
            self.cursor_row = row if row >= 0 else len(self._rows) - 1

    def on_click(self, event: events.Click) -> None:
        index = int(self.scroll_offset.y) + event.y - 1
        if event.y >= 1 and 0 <= index < len(self._rows):
            self.cursor_row = index
