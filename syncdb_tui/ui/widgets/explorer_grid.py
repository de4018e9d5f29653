"""The explorer's data grid: one keyset page, NULLs shown apart from empty text."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable

from syncdb_tui.core.explorer.catalog import TableInfo
from syncdb_tui.core.explorer.query import Sort
from syncdb_tui.core.explorer.session import Page, display_value

NULL_STYLE = "italic #888888"
CELL_LIMIT = 40


def cell(value: Any) -> Text:
    text, is_null = display_value(value, CELL_LIMIT)
    return Text(text, style=NULL_STYLE) if is_null else Text(text)


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


class DataGrid(DataTable[Text]):
    """A page of rows; the first column marks rows picked for deletion."""

    class Cut(Message):
        """The columns in view changed: ``hint`` says how many are shown ("" when all of them)."""

        def __init__(self, hint: str) -> None:
            super().__init__()
            self.hint = hint

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="cell", zebra_stripes=True)
        self.page: Page | None = None
        self.info: TableInfo | None = None
        self.hint = ""

    def on_mount(self) -> None:
        self.watch(self, "virtual_size", self._check_cut, init=False)
        self.watch(self, "scroll_x", self._check_cut, init=False)

    def on_resize(self, _: events.Resize) -> None:
        self._check_cut()

    def _check_cut(self) -> None:
        """Post :class:`Cut` when the hint changes (widths are known after the grid's idle update)."""
        if self.info is None:
            hint = ""
        else:
            widths = [column.get_render_width(self) for column in self.columns.values()]
            # the first column marks rows for deletion: not a table column, but it takes room
            hint = cut_hint(
                widths[1:], round(self.scroll_x), self.scrollable_content_region.width, start=sum(widths[:1])
            )
        if hint != self.hint:
            self.hint = hint
            self.post_message(self.Cut(hint))

    def show(self, info: TableInfo, page: Page, sort: Sort | None, marked: set[tuple[Any, ...]]) -> None:
        """Replace the grid with ``page``, keeping the cursor where it was when it fits."""
        row, column = self.cursor_coordinate
        self.info, self.page = info, page
        fk_columns = {name for fk in info.foreign_keys for name in fk.columns}
        labels = []
        for column_info in info.columns:
            label = Text(column_info.name, style="bold")
            if sort is not None and sort.column == column_info.name:
                label.append(" ▼" if sort.descending else " ▲", "bold")
            if column_info.name in fk_columns:
                label.append(" →", "dim")
            labels.append(label)
        keys = ["__mark", *(column_info.name for column_info in info.columns)]
        same_columns = [str(key.value) for key in self.columns] == keys and [
            column.label for column in list(self.columns.values())[1:]
        ] == labels
        if same_columns:
            # the next page of the same view: keep the columns (and their widths, which only grow), so
            # that a keypress re-renders the rows and nothing is laid out again
            self.clear()
        else:
            self.clear(columns=True)
            self.add_column(Text(" "), key="__mark", width=1)
            for column_info, label in zip(info.columns, labels, strict=True):
                self.add_column(label, key=column_info.name)
        for index, values in enumerate(page.rows):
            mark = Text("●", style="bold red") if page.row_keys[index] in marked else Text(" ")
            self.add_row(mark, *(cell(value) for value in values), key=str(index))
        if page.rows:
            self.move_cursor(row=min(row, len(page.rows) - 1), column=max(1, min(column, len(info.columns))))

    @property
    def current_row_index(self) -> int | None:
        if self.page is None or not self.page.rows:
            return None
        return min(self.cursor_row, len(self.page.rows) - 1)

    @property
    def current_column(self) -> str | None:
        if self.info is None or self.cursor_column < 1:
            return None
        return self.info.columns[self.cursor_column - 1].name

    def current_row(self) -> dict[str, Any] | None:
        index = self.current_row_index
        if index is None or self.page is None:
            return None
        return dict(zip(self.page.columns, self.page.rows[index], strict=True))
