"""The explorer's data grid: one keyset page, NULLs shown apart from empty text."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from syncdb_tui.core.explorer.catalog import TableInfo
from syncdb_tui.core.explorer.query import Sort
from syncdb_tui.core.explorer.session import Page, display_value

NULL_STYLE = "italic #888888"
CELL_LIMIT = 40


def cell(value: Any) -> Text:
    text, is_null = display_value(value, CELL_LIMIT)
    return Text(text, style=NULL_STYLE) if is_null else Text(text)


class DataGrid(DataTable[Text]):
    """A page of rows; the first column marks rows picked for deletion."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="cell", zebra_stripes=True)
        self.page: Page | None = None
        self.info: TableInfo | None = None

    def show(self, info: TableInfo, page: Page, sort: Sort | None, marked: set[tuple[Any, ...]]) -> None:
        """Replace the grid with ``page``, keeping the cursor where it was when it fits."""
        row, column = self.cursor_coordinate
        self.info, self.page = info, page
        self.clear(columns=True)
        self.add_column(Text(" "), key="__mark", width=1)
        fk_columns = {name for fk in info.foreign_keys for name in fk.columns}
        for column_info in info.columns:
            label = Text(column_info.name, style="bold")
            if sort is not None and sort.column == column_info.name:
                label.append(" ▼" if sort.descending else " ▲", "bold")
            if column_info.name in fk_columns:
                label.append(" →", "dim")
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
