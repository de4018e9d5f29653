"""The explorer's data grid: one keyset page, NULLs shown apart from empty text.

A line-API ``ScrollView`` (like the timeline): a page's cells are turned into
padded strings once when the page arrives, and each visible line is one strip
of a few segments built on demand and cached until the page, the cursor or the
styles change.  A keypress that brings the next page therefore costs the strings
of a hundred rows and the strips of the lines on screen, not a layout pass nor a
rich render of every cell (the ``DataTable`` this replaces spent 80 to 100 ms there).

Layout: a header line fixed at the top; the first column marks rows picked for
deletion (●); every data column is as wide as its widest value on the pages of
the current view (widths only grow while the view stays the same, so paging does
not make columns jump), with one space of padding on each side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from syncdb_tui.core.explorer.catalog import TableInfo
from syncdb_tui.core.explorer.query import Sort
from syncdb_tui.core.explorer.session import Page, display_value

if TYPE_CHECKING:
    from textual import events

NULL_STYLE = "italic #888888"
CELL_LIMIT = 40
MARK_WIDTH = 1
PADDING = 1
_CONTROL = {code: "�" for code in (*range(0x20), 0x7F)}
"""Control characters in data never reach the terminal as such (one replacement glyph each)."""


def shown_value(value: Any) -> tuple[str, bool]:
    """A cell's text as the grid shows it (control characters replaced) and whether it is NULL."""
    text, is_null = display_value(value, CELL_LIMIT)
    return (text, True) if is_null else (text.translate(_CONTROL), False)


def cut_hint(widths: list[int], scroll_x: int, view_width: int, start: int = 0) -> str:
    """The hint "showing 6 of 14 columns — → scrolls" when some columns are out of view, else "".

    ``widths`` are the data columns' widths, the first starting at ``start``; the view shows
    ``view_width`` cells from ``scroll_x``.  A column counts as shown only when it is whole.
    """
    left, right = scroll_x, scroll_x + view_width
    shown = before = after = 0
    x = start
    for width in widths:
        if x >= left and x + width <= right:
            shown += 1
        elif x < left:
            before += 1
        else:
            after += 1
        x += width
    if not widths or shown == len(widths) or view_width <= 0:
        return ""
    keys = "← →" if before and after else ("←" if before else "→")
    return f"showing {shown} of {len(widths)} columns — {keys} scrolls"


def window(segments: list[Segment], left: int, width: int, fill: Style) -> list[Segment]:
    """The cells ``left`` to ``left + width`` of a line of ``segments``, padded with ``fill``."""
    right = left + width
    shown: list[Segment] = []
    x = 0
    for segment in segments:
        length = segment.cell_length
        if x + length <= left:
            x += length
            continue
        if x >= right:
            break
        if x < left or x + length > right:
            part = segment.split_cells(left - x)[1] if x < left else segment
            start = max(x, left)
            end = min(x + length, right)
            if part.cell_length > end - start:
                part = part.split_cells(end - start)[0]
            shown.append(part)
        else:
            shown.append(segment)
        x += length
    if x < right:
        shown.append(Segment(" " * (right - max(x, left)), fill))
    return shown


@dataclass(frozen=True)
class _Styles:
    """The rich styles of one render pass (looked up once, not per line)."""

    base: Style
    even: Style
    header: Style
    cursor: Style
    null: Style
    mark: Style


class DataGrid(ScrollView, can_focus=True):
    """A page of rows; the first column marks rows picked for deletion."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "move(-1, 0)", "Cursor up", show=False),
        Binding("down", "move(1, 0)", "Cursor down", show=False),
        Binding("left", "move(0, -1)", "Cursor left", show=False),
        Binding("right", "move(0, 1)", "Cursor right", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("ctrl+home", "row_edge(0)", "Top", show=False),
        Binding("ctrl+end", "row_edge(-1)", "Bottom", show=False),
        Binding("home", "column_edge(0)", "First column", show=False),
        Binding("end", "column_edge(-1)", "Last column", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "datagrid--header",
        "datagrid--cursor",
        "datagrid--even-row",
    }
    DEFAULT_CSS = """
    DataGrid {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .datagrid--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .datagrid--header { background-tint: $foreground 5%; }
        }
        &:dark > .datagrid--even-row { background: $surface-darken-1 40%; }
        & > .datagrid--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .datagrid--header { background: ansi_bright_blue; color: ansi_default; }
        & > .datagrid--even-row { background: $surface-lighten-1 50%; }
        & > .datagrid--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    class Cut(Message):
        """The columns in view changed: ``hint`` says how many are shown ("" when all of them)."""

        def __init__(self, hint: str) -> None:
            super().__init__()
            self.hint = hint

    class CellSelected(Message):
        """Enter (or a click on the cell under the cursor) chose the cell at ``coordinate``."""

        def __init__(self, grid: DataGrid, coordinate: Coordinate) -> None:
            super().__init__()
            self.grid = grid
            self.coordinate = coordinate

        @property
        def control(self) -> DataGrid:
            return self.grid

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.page: Page | None = None
        self.info: TableInfo | None = None
        self.hint = ""
        self._cursor = Coordinate(0, 0)
        self._keys: list[str] = []
        """``__mark`` then the table's column names: the grid's columns, in order."""
        self._labels: list[Text] = []
        self._widths: list[int] = []
        """Each grid column's content width (padding not included)."""
        self._cells: list[list[tuple[str, bool]]] = []
        """Each row's cells: (text, is NULL), the mark column first."""
        self._lines: dict[tuple[int, int, int, int], Strip] = {}
        """Shown strips by (row, cursor column or -1, first cell, width); the header is row -1."""
        self._styles: _Styles | None = None

    # ---------------------------------------------------------------- the page

    def show(self, info: TableInfo, page: Page, sort: Sort | None, marked: set[tuple[Any, ...]]) -> None:
        """Replace the grid with ``page``, keeping the cursor where it was when it fits."""
        row, column = self._cursor
        self.info, self.page = info, page
        fk_columns = {name for fk in info.foreign_keys for name in fk.columns}
        labels = [Text(" ")]
        for column_info in info.columns:
            label = Text(column_info.name, style="bold")
            if sort is not None and sort.column == column_info.name:
                label.append(" ▼" if sort.descending else " ▲", "bold")
            if column_info.name in fk_columns:
                label.append(" →", "dim")
            labels.append(label)
        keys = ["__mark", *(column_info.name for column_info in info.columns)]
        if keys == self._keys and [label.plain for label in labels] == [label.plain for label in self._labels]:
            # the next page of the same view: widths only grow, so that paging does not make columns jump
            widths = list(self._widths)
        else:
            widths = [MARK_WIDTH, *(label.cell_len for label in labels[1:])]
        cells: list[list[tuple[str, bool]]] = []
        for index, values in enumerate(page.rows):
            line = [("●" if page.row_keys[index] in marked else " ", False)]
            for position, value in enumerate(values, 1):
                text, is_null = shown_value(value)
                length = cell_len(text)
                if length > widths[position]:
                    widths[position] = length
                line.append((text, is_null))
            cells.append(line)
        self._keys, self._labels, self._widths, self._cells = keys, labels, widths, cells
        self._lines.clear()
        size = Size(self._total_width(), len(cells) + 1)
        if size != self.virtual_size:
            self.virtual_size = size
        self._cursor = Coordinate(max(0, min(row, len(cells) - 1)), max(1, min(column, len(info.columns))))
        self._scroll_cursor_into_view()
        self.refresh()
        self._check_cut()

    def _total_width(self) -> int:
        return self._edges()[-1] if self._widths else 0

    def _edges(self) -> list[int]:
        """Where each grid column ends (the first cell after it)."""
        edges, x = [], 0
        for width in self._widths:
            x += width + 2 * PADDING
            edges.append(x)
        return edges

    def _column_x(self, column: int) -> tuple[int, int]:
        """(first cell, width with padding) of grid column ``column``."""
        x = self._edges()[column - 1] if column else 0
        return x, self._widths[column] + 2 * PADDING

    # ---------------------------------------------------------------- what tests and the screen read

    @property
    def row_count(self) -> int:
        return len(self._cells)

    @property
    def cursor_coordinate(self) -> Coordinate:
        return self._cursor

    @property
    def cursor_row(self) -> int:
        return self._cursor.row

    @property
    def cursor_column(self) -> int:
        return self._cursor.column

    def get_cell_at(self, coordinate: Coordinate) -> Text:
        """The cell at (row, grid column) as shown; column 0 marks rows, 1 is the first table column."""
        text, is_null = self._cells[coordinate.row][coordinate.column]
        return Text(text, style=NULL_STYLE) if is_null else Text(text)

    @property
    def current_row_index(self) -> int | None:
        if self.page is None or not self.page.rows:
            return None
        return min(self._cursor.row, len(self.page.rows) - 1)

    @property
    def current_column(self) -> str | None:
        if self.info is None or self._cursor.column < 1:
            return None
        return self.info.columns[self._cursor.column - 1].name

    def current_row(self) -> dict[str, Any] | None:
        index = self.current_row_index
        if index is None or self.page is None:
            return None
        return dict(zip(self.page.columns, self.page.rows[index], strict=True))

    # ---------------------------------------------------------------- the cursor

    def move_cursor(self, *, row: int | None = None, column: int | None = None) -> None:
        """Put the cursor on (``row``, grid ``column``) — column 0 is the mark column — within bounds."""
        if not self._cells:
            return
        new_row = self._cursor.row if row is None else row
        new_column = self._cursor.column if column is None else column
        new_row = max(0, min(new_row, len(self._cells) - 1))
        new_column = max(1 if len(self._keys) > 1 else 0, min(new_column, len(self._keys) - 1))
        old = self._cursor
        if (new_row, new_column) == (old.row, old.column):
            return
        self._cursor = Coordinate(new_row, new_column)
        self._lines = {key: strip for key, strip in self._lines.items() if key[0] not in (old.row, new_row)}
        self._scroll_cursor_into_view()
        self.refresh()

    def _scroll_cursor_into_view(self) -> None:
        if not self._cells:
            return
        region = self.scrollable_content_region
        visible = max(1, region.height - 1)
        top = round(self.scroll_y)
        row = self._cursor.row
        y = top
        if row < top:
            y = row
        elif row >= top + visible:
            y = row - visible + 1
        x0, width = self._column_x(self._cursor.column)
        if self._cursor.column <= 1:  # the first table column brings the mark column into view too
            x0, width = 0, x0 + width
        left = round(self.scroll_x)
        x = left
        if x0 < left:
            x = x0
        elif x0 + width > left + region.width:
            x = min(x0, x0 + width - region.width)
        if (x, y) != (left, top):
            self.scroll_to(x=x, y=y, animate=False, force=True, immediate=True)

    def action_move(self, rows: int, columns: int) -> None:
        self.move_cursor(row=self._cursor.row + rows, column=self._cursor.column + columns)

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.scrollable_content_region.height - 2), 0)

    def action_row_edge(self, row: int) -> None:
        self.move_cursor(row=row if row >= 0 else len(self._cells) - 1)

    def action_column_edge(self, column: int) -> None:
        self.move_cursor(column=column if column >= 0 else len(self._keys) - 1)

    def action_select_cursor(self) -> None:
        if self._cells:
            self.post_message(self.CellSelected(self, self._cursor))

    def on_click(self, event: events.Click) -> None:
        if event.y < 1 or not self._cells:
            return
        row = round(self.scroll_y) + event.y - 1
        x = round(self.scroll_x) + event.x
        column = next((index for index, edge in enumerate(self._edges()) if x < edge), None)
        if column is None:
            return
        if row >= len(self._cells) or column == 0:
            return
        if (row, column) == (self._cursor.row, self._cursor.column):
            self.action_select_cursor()
        else:
            self.move_cursor(row=row, column=column)

    # ---------------------------------------------------------------- the hint below the grid

    def on_mount(self) -> None:
        self.watch(self, "scroll_x", self._scrolled_x, init=False)

    def _scrolled_x(self) -> None:
        self._lines.clear()  # the strips cached are of the cells in view
        self._check_cut()

    def on_resize(self, _: events.Resize) -> None:
        self._lines.clear()
        self._check_cut()

    def _check_cut(self) -> None:
        """Post :class:`Cut` when the hint changes."""
        if self.info is None or not self._widths:
            hint = ""
        else:
            widths = [width + 2 * PADDING for width in self._widths]
            # the first column marks rows for deletion: not a table column, but it takes room
            hint = cut_hint(widths[1:], round(self.scroll_x), self.scrollable_content_region.width, start=widths[0])
        if hint != self.hint:
            self.hint = hint
            self.post_message(self.Cut(hint))

    # ---------------------------------------------------------------- rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._lines.clear()

    def on_focus(self) -> None:
        self.notify_style_update()

    def on_blur(self) -> None:
        self.notify_style_update()

    def _current_styles(self) -> _Styles:
        if self._styles is None:
            base = self.rich_style
            self._styles = _Styles(
                base=base,
                even=base + self.get_component_rich_style("datagrid--even-row"),
                header=base + self.get_component_rich_style("datagrid--header"),
                cursor=base + self.get_component_rich_style("datagrid--cursor"),
                null=Style.parse(NULL_STYLE),
                mark=Style.parse("bold red"),
            )
        return self._styles

    def _segments(self, row: int, cursor_column: int) -> list[Segment]:
        """The whole width of data row ``row`` (``-1``: the header) as segments."""
        styles = self._current_styles()
        pad = " " * PADDING
        segments: list[Segment] = []
        if row < 0:
            for label, width in zip(self._labels, self._widths, strict=True):
                segments.append(Segment(pad, styles.header))
                for part in label.render(self.app.console):
                    segments.append(Segment(part.text, styles.header + part.style if part.style else styles.header))
                segments.append(Segment(" " * (width - label.cell_len) + pad, styles.header))
            return segments
        line_style = styles.even if row % 2 == 0 else styles.base
        for column, ((text, is_null), width) in enumerate(zip(self._cells[row], self._widths, strict=True)):
            if column == cursor_column:
                style = styles.cursor
            elif is_null:
                style = line_style + styles.null
            elif column == 0 and text != " ":
                style = line_style + styles.mark
            else:
                style = line_style
            segments.append(Segment(pad + set_cell_size(text, width) + pad, style))
        return segments

    def _line(self, row: int, left: int, width: int) -> Strip:
        """Cells ``left`` to ``left + width`` of data row ``row`` (``-1``: the header), one strip, cached."""
        cursor_column = self._cursor.column if row == self._cursor.row else -1
        key = (row, cursor_column, left, width)
        strip = self._lines.get(key)
        if strip is None:
            styles = self._current_styles()
            fill = styles.header if row < 0 else styles.base
            strip = Strip(window(self._segments(row, cursor_column), left, width, fill), width)
            self._lines[key] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        left = round(self.scroll_x)
        if y == 0:
            if not self._widths:
                return Strip.blank(width, self.rich_style)
            return self._line(-1, left, width)
        row = round(self.scroll_y) + y - 1
        if row >= len(self._cells):
            return Strip.blank(width, self.rich_style)
        return self._line(row, left, width)
