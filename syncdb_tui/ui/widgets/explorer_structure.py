"""The explorer's structure view: columns, keys, indexes, foreign keys, constraints, triggers."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from syncdb_tui.core.explorer.catalog import TableInfo
from syncdb_tui.ui.widgets.explorer_tree import human_bytes, human_rows


def _table(title: str, *headers: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", expand=True, show_edge=False)
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def render_structure(info: TableInfo) -> Group:
    """The structure of ``info`` as rich renderables."""
    head = Text(f"{info.kind} {info.table}", style="bold")
    head.append(f"  ~{human_rows(info.estimated_rows)} rows · {human_bytes(info.total_bytes)}", "dim")
    parts: list[object] = [head]
    if info.comment:
        parts.append(Text(info.comment, style="italic"))
    if info.keyless and info.is_table:
        parts.append(Text("no primary key: rows are paged in ctid order", style="yellow"))
    columns = _table("Columns", "name", "type", "null", "default", "comment")
    for column in info.columns:
        name = Text(column.name + (" 🔑" if column.name in info.primary_key else ""))
        columns.add_row(name, column.sql_type, "yes" if column.nullable else "no", column.default or "", column.comment)
    parts.append(columns)
    if info.indexes:
        indexes = _table("Indexes", "name", "definition", "size", "valid")
        for index in info.indexes:
            valid = Text("yes") if index.valid else Text("NO", style="bold red")
            indexes.add_row(index.name, index.definition, human_bytes(index.size_bytes), valid)
        parts.append(indexes)
    if info.foreign_keys or info.referenced_by:
        fks = _table("Foreign keys", "name", "direction", "definition")
        for fk in info.foreign_keys:
            fks.add_row(fk.name, f"→ {fk.referenced}", fk.definition)
        for fk in info.referenced_by:
            fks.add_row(fk.name, f"← {fk.table} ({', '.join(fk.columns)})", fk.definition)
        parts.append(fks)
    if info.constraints:
        constraints = _table("Constraints", "name", "kind", "definition")
        for constraint in info.constraints:
            constraints.add_row(constraint.name, constraint.kind, constraint.definition)
        parts.append(constraints)
    if info.triggers:
        triggers = _table("Triggers", "name", "definition", "enabled")
        for trigger in info.triggers:
            triggers.add_row(trigger.name, trigger.definition, "yes" if trigger.enabled else "no")
        parts.append(triggers)
    if info.view_definition:
        parts.append(Text("Definition", style="bold"))
        parts.append(Text(info.view_definition))
    return Group(*parts)  # type: ignore[arg-type]


class StructureView(VerticalScroll):
    """A scrollable rendering of one table's structure."""

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="structure-body")

    def show(self, info: TableInfo) -> None:
        self.query_one("#structure-body", Static).update(render_structure(info))
