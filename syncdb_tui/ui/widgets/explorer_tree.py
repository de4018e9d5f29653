"""The explorer's tree of schemas and tables, filterable by typing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from syncdb_tui.core.explorer.catalog import RelationSummary
from syncdb_tui.core.explorer.query import TableRef
from syncdb_tui.ui.severity import shorten

KIND_ICONS = {"table": "▦", "partitioned table": "▤", "view": "◇", "materialized view": "◆", "foreign table": "⇄"}


def human_rows(rows: int | None) -> str:
    if rows is None:
        return "?"
    for limit, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if rows >= limit:
            return f"{rows / limit:.1f}{suffix}"
    return str(rows)


def human_bytes(size: int | None) -> str:
    if size is None:
        return "?"
    from syncdb_tui.core.backups.manifest import human_size

    return human_size(size)


class TableTree(Tree[RelationSummary]):
    """Schemas and their relations with estimated rows and total size."""

    @dataclass
    class TableSelected(Message):
        """The user picked a relation."""

        tree: TableTree
        table: TableRef

        @property
        def control(self) -> TableTree:
            return self.tree

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("schemas", id=id)
        self.show_root = False
        self.guide_depth = 2
        self._relations: list[RelationSummary] = []

    def show(self, relations: Sequence[RelationSummary], filter_text: str = "") -> None:
        """Rebuild the tree with the relations whose name contains ``filter_text``."""
        self._relations = list(relations)
        self.apply_filter(filter_text)

    def apply_filter(self, filter_text: str) -> None:
        wanted = filter_text.strip().lower()
        self.clear()
        schemas: dict[str, object] = {}
        first = None
        for relation in self._relations:
            if wanted and wanted not in str(relation.table).lower():
                continue
            schema = relation.table.schema
            if schema not in schemas:
                schemas[schema] = self.root.add(Text(schema, style="bold"), expand=True)
            label = Text(f"{KIND_ICONS.get(relation.kind, '?')} {relation.table.name}")
            label.append(f"  ~{human_rows(relation.estimated_rows)} · {human_bytes(relation.total_bytes)}", "dim")
            leaf = schemas[schema].add_leaf(label, data=relation)  # type: ignore[attr-defined]
            first = first or leaf
        if first is not None:
            self.call_after_refresh(self.move_cursor, first)

    def select_table(self, table: TableRef) -> None:
        """Move the cursor to ``table`` if it is shown."""
        for node in self._tree_lines_nodes():
            if node.data is not None and node.data.table == table:
                self.call_after_refresh(self.move_cursor, node)
                return

    def open_highlighted(self) -> None:
        """Open the relation under the cursor, else the first one shown (``/`` name, then Enter)."""
        node = self.cursor_node
        if node is None or node.data is None:
            nodes = self._tree_lines_nodes()
            node = nodes[0] if nodes else None
        if node is not None and node.data is not None:
            self.move_cursor(node)
            self.post_message(self.TableSelected(self, node.data.table))

    def render_label(self, node: TreeNode[RelationSummary], base_style: Style, style: Style) -> Text:
        """A label that fits: sizes go first, then the name ends with "…" (never silently cut)."""
        label = super().render_label(node, base_style, style)
        # a leaf sits under its schema: two guide levels in front of it
        available = self.scrollable_content_region.width - 2 * self.guide_depth - 1
        if node.data is None or available <= 0 or label.cell_len <= available:
            return label
        name = f"{KIND_ICONS.get(node.data.kind, '?')} {node.data.table.name}"
        return Text(shorten(name, available), style=base_style + style)

    def _tree_lines_nodes(self) -> list[TreeNode[RelationSummary]]:
        nodes: list[TreeNode[RelationSummary]] = []
        for schema in self.root.children:
            nodes.extend(schema.children)
        return nodes

    @on(Tree.NodeSelected)
    def _relation_picked(self, event: Tree.NodeSelected[RelationSummary]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(self.TableSelected(self, event.node.data.table))
