"""Pilot and snapshot tests of the table explorer screen (issue 6), on a real PostgreSQL."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from rich.console import Console
from textual.app import App
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Input, Select, Static

from syncdb_tui.config import Config
from syncdb_tui.core.explorer.query import Operator
from syncdb_tui.ui.screens.explorer import ExplorerScreen
from syncdb_tui.ui.screens.explorer_detail import RowDetailModal
from syncdb_tui.ui.screens.explorer_filter import FilterModal
from syncdb_tui.ui.screens.explorer_modals import (
    ConfirmSqlModal,
    EditValueModal,
    ExportModal,
    InsertRowModal,
    TextModal,
)
from syncdb_tui.ui.widgets.explorer_grid import DataGrid, cut_hint, window
from syncdb_tui.ui.widgets.explorer_structure import render_structure
from syncdb_tui.ui.widgets.explorer_tree import TableTree

S = TypeVar("S", bound=Screen[Any])


class ExplorerApp(App[None]):
    """A test-only app that opens the explorer (the real one is ui/app.py)."""

    def __init__(self, config: Config, env: str = "dev", table: str | None = None) -> None:
        super().__init__()
        self.config, self.env, self.table = config, env, table

    def on_mount(self) -> None:
        self.push_screen(ExplorerScreen(self.config, self.env, table=self.table))


@pytest.fixture
def config(tmp_path: Path, shop_url: str, make_explorer_config: Callable[..., Config]) -> Config:
    return make_explorer_config(tmp_path, shop_url, explorer_page_size=20)


async def settle(pilot: Pilot[Any]) -> None:
    """Let every worker finish and the screen repaint."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_for_screen(pilot: Pilot[Any], kind: type[S]) -> S:
    """Pause until a screen of ``kind`` is on top (a worker waiting on a modal never completes)."""
    for _ in range(200):
        if isinstance(pilot.app.screen, kind):
            return pilot.app.screen
        await pilot.pause(0.01)
    raise AssertionError(f"{kind.__name__} never appeared; top screen is {pilot.app.screen!r}")


def explorer(pilot: Pilot[Any]) -> ExplorerScreen:
    for screen in pilot.app.screen_stack:
        if isinstance(screen, ExplorerScreen):
            return screen
    raise AssertionError("no explorer screen")


def grid_ids(pilot: Pilot[Any]) -> list[Any]:
    page = explorer(pilot).query_one(DataGrid).page
    assert page is not None
    return [row[0] for row in page.rows]


def info_line(pilot: Pilot[Any]) -> str:
    return str(explorer(pilot).query_one("#view-info", Static).render())


def notes(pilot: Pilot[Any]) -> list[str]:
    return [f"{n.title}: {n.message}" for n in pilot.app._notifications]


async def test_browse_the_tree_filter_it_and_open_a_table(config: Config) -> None:
    app = ExplorerApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        tree = explorer(pilot).query_one(TableTree)
        labels = [str(node.label) for schema in tree.root.children for node in schema.children]
        assert any(label.startswith("▦ customers  ~250") for label in labels)
        assert any("◇ pro_customers" in label for label in labels)
        await pilot.press("slash", *"ord")
        labels = [str(node.label) for schema in tree.root.children for node in schema.children]
        assert len(labels) == 1 and labels[0].startswith("▦ orders")
        # issue 14: / then Enter filters the list and opens the match
        await pilot.press("enter")
        await settle(pilot)
        assert grid_ids(pilot) == list(range(1, 21))
        assert info_line(pilot).startswith("public.orders · rows 1-20 · ~40 rows")
        await pilot.press("s")
        assert explorer(pilot).query_one("#explorer-switcher", ContentSwitcher).current == "structure"
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(render_structure(explorer(pilot).info))  # type: ignore[arg-type]
        structure = console.export_text()
        assert "orders_customer_id_fkey" in structure and "→ public.customers" in structure


async def test_page_forward_backward_first_and_last(config: Config) -> None:
    app = ExplorerApp(config, table="customers")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert grid_ids(pilot) == list(range(1, 21))
        await pilot.press("n", "n")
        await settle(pilot)
        assert grid_ids(pilot) == list(range(41, 61))
        assert "rows 41-60" in info_line(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert grid_ids(pilot) == list(range(21, 41))
        await pilot.press("G")
        await settle(pilot)
        assert grid_ids(pilot) == list(range(231, 251))
        await pilot.press("n")
        await settle(pilot)
        assert "end of table: this is the last page" in notes(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert grid_ids(pilot) == list(range(211, 231))
        await pilot.press("g")
        await settle(pilot)
        assert grid_ids(pilot) == list(range(1, 21))


async def test_sort_by_a_column_with_and_without_an_index(config: Config) -> None:
    app = ExplorerApp(config, table="customers")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("right", "o")  # name: indexed
        await settle(pilot)
        screen = explorer(pilot)
        assert screen.request is not None and screen.request.view.sort is not None
        assert grid_ids(pilot)[:2] == [2, 1]  # customer 2's name is the empty string
        assert "uses the index customers_name_idx" in str(screen.query_one("#view-notes", Static).render())
        await pilot.press("o")
        await settle(pilot)
        assert grid_ids(pilot)[:2] == [250, 249]
        await pilot.press("right", "right", "o")  # tier: no index
        await settle(pilot)
        assert any("sort scans the table" in note for note in notes(pilot))
        assert grid_ids(pilot)[:3] == [1, 4, 7]


async def test_filter_builder_binds_values(config: Config) -> None:
    app = ExplorerApp(config, table="customers")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("right", "f")
        modal = await wait_for_screen(pilot, FilterModal)
        assert modal.query_one("#filter-column", Select).value == "name"
        modal.query_one("#filter-operator", Select).value = Operator.LIKE
        await pilot.press(*"customer 001%", "enter")
        await settle(pilot)
        assert grid_ids(pilot) == list(range(10, 20))
        assert "where name like 'customer 001%'" in info_line(pilot)
        await pilot.press("f")
        modal = await wait_for_screen(pilot, FilterModal)
        await pilot.press(*"x'; DROP TABLE customers; --", "enter")
        await settle(pilot)
        assert grid_ids(pilot) == []
        await pilot.press("F")
        await settle(pilot)
        assert grid_ids(pilot) == list(range(1, 21))


async def test_filter_value_survives_tab_to_the_buttons_and_back(config: Config) -> None:
    app = ExplorerApp(config, table="customers")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("right", "f")
        modal = await wait_for_screen(pilot, FilterModal)
        modal.query_one("#filter-operator", Select).value = Operator.LIKE
        value = modal.query_one("#filter-value", Input)
        await pilot.press(*"customer 001", "tab")
        assert app.focused is not None and app.focused.id == "filter-apply"
        assert value.value == "customer 001"
        await pilot.press("shift+tab", "%")  # back in the field, typing adds to the text (nothing selected)
        assert app.focused is value and value.value == "customer 001%"
        await pilot.press("tab", "enter")  # Apply from the button uses the kept text
        await settle(pilot)
        assert grid_ids(pilot) == list(range(10, 20))
        assert "where name like 'customer 001%'" in info_line(pilot)


async def test_follow_a_foreign_key_and_come_back(config: Config) -> None:
    app = ExplorerApp(config, table="orders")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "right", "k")  # order 2 → customer 3
        await settle(pilot)
        screen = explorer(pilot)
        assert screen.info is not None and str(screen.info.table) == "public.customers", notes(pilot)
        assert grid_ids(pilot) == [3]
        assert "followed orders_customer_id_fkey" in str(screen.query_one("#view-notes", Static).render())
        await pilot.press("b")
        await settle(pilot)
        assert str(screen.info.table) == "public.orders" and grid_ids(pilot)[:2] == [1, 2]


async def test_row_detail_shows_whole_values_and_copy_json(config: Config) -> None:
    app = ExplorerApp(config, table="customers")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        modal = await wait_for_screen(pilot, RowDetailModal)
        values = [str(widget.render()) for widget in modal.query(".detail-value")]
        assert '"seats": 3' in values[4] and values[4].count("long text") == 30  # jsonb pretty-printed, whole
        assert values[5].startswith("\\xabab") and len(values[5]) == 2 + 400  # bytea whole
        await pilot.press("escape")
        await pilot.press("y")
        shown = await wait_for_screen(pilot, TextModal)
        assert '"name": "gold"' in shown.text
        assert json.loads(app.clipboard)["profile"]["plan"]["name"] == "gold"


async def test_grid_shows_null_apart_from_empty_text_and_truncates(config: Config) -> None:
    app = ExplorerApp(config, table="customers")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        grid = explorer(pilot).query_one(DataGrid)
        empty_name = grid.get_cell_at(Coordinate(1, 2))
        null_tier = grid.get_cell_at(Coordinate(2, 4))
        assert str(empty_name) == "" and str(null_tier) == "NULL" and "italic" in str(null_tier.style)
        profile = str(grid.get_cell_at(Coordinate(0, 5)))
        assert profile.endswith("…") and len(profile) == 40


async def test_grid_keys_clicks_and_control_characters(
    config: Config, shop_url: str, psql_exec: Callable[[str, str], str]
) -> None:
    # a value with a terminal escape sequence must not reach the terminal as one
    psql_exec(shop_url, "UPDATE customers SET name = E'evil\\x1b[2Jname' WHERE id = 1;")
    app = ExplorerApp(config, table="customers")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        grid = explorer(pilot).query_one(DataGrid)
        header = grid.render_line(0).text
        assert header.split()[:3] == ["id", "name", "email"]
        first = grid.render_line(1).text
        assert "evil�[2Jname" in first and "\x1b" not in first
        assert grid.cursor_coordinate == Coordinate(0, 1)  # the first table column, not the mark
        await pilot.press("end")
        assert grid.current_column == grid.info.columns[-1].name  # type: ignore[union-attr]
        await pilot.press("home", "ctrl+end")
        assert grid.cursor_coordinate == Coordinate(19, 1)
        await pilot.press("ctrl+home", "down", "right")
        assert (grid.current_row_index, grid.current_column) == (1, "name")
        # a click moves the cursor; a click on the cell under the cursor opens the row
        await pilot.click(DataGrid, offset=(6, 3))
        assert grid.cursor_coordinate == Coordinate(2, 1)
        await pilot.click(DataGrid, offset=(6, 3))
        modal = await wait_for_screen(pilot, RowDetailModal)
        assert modal is pilot.app.screen


def test_window_cuts_lines_by_cells_wide_characters_included() -> None:
    from rich.segment import Segment
    from rich.style import Style

    bold, fill = Style(bold=True), Style(italic=True)
    line = [Segment(" id ", bold), Segment(" 名前 ", None), Segment(" x ")]  # cells: 4 + 6 + 3
    assert "".join(s.text for s in window(line, 0, 13, fill)) == " id  名前  x "
    shown = window(line, 2, 6, fill)
    assert "".join(s.text for s in shown) == "d  名 "  # 前 cut in half: a space in its place
    assert sum(s.cell_length for s in shown) == 6 and shown[0].style == bold
    assert "".join(s.text for s in window(line, 5, 2, fill)) == "名"  # a whole wide character
    assert sum(s.cell_length for s in window(line, 6, 2, fill)) == 2  # half of one: a space each side
    tail = window(line, 10, 6, fill)
    assert "".join(s.text for s in tail) == " x    " and tail[-1].style == fill


def test_cut_hint_counts_whole_columns_in_view() -> None:
    assert cut_hint([10, 10, 10], 0, 30) == ""
    assert cut_hint([10, 10, 10], 0, 25) == "showing 2 of 3 columns — → scrolls"
    assert cut_hint([10, 10, 10], 10, 20) == "showing 2 of 3 columns — ← scrolls"
    assert cut_hint([10, 10, 10, 10], 10, 20, start=1) == "showing 1 of 4 columns — ← → scrolls"


async def test_hint_line_when_the_grid_is_cut(config: Config) -> None:
    app = ExplorerApp(config, table="customers")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = explorer(pilot)
        hint = screen.query_one("#grid-hint", Static)
        grid = screen.query_one(DataGrid)
        total = len(grid.info.columns) if grid.info else 0
        assert hint.display and f" of {total} columns — → scrolls" in str(hint.render())
        for _ in range(total):
            await pilot.press("right")
        await settle(pilot)
        assert "← scrolls" in str(hint.render())  # at the last column: only left is left
        await pilot.press("s")  # structure view: no grid, no hint
        await settle(pilot)
        assert not hint.display
        await pilot.press("s")
        await settle(pilot)
        assert hint.display
    wide = ExplorerApp(config, table="orders")
    async with wide.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        hint = explorer(pilot).query_one("#grid-hint", Static)
        assert not hint.display and str(hint.render()) == ""  # every column fits: no hint


async def test_edit_a_cell_on_dev_after_confirming_the_sql(
    config: Config,
    shop_url: str,
    psql_exec: Callable[[str, str], str],
) -> None:
    app = ExplorerApp(config, table="customers")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "right", "u")
        modal = await wait_for_screen(pilot, EditValueModal)
        modal.query_one("#edit-value", Input).value = "Renamed"
        await pilot.press("enter")
        confirm = await wait_for_screen(pilot, ConfirmSqlModal)
        assert 'UPDATE "public"."customers" SET "name" = $1::text WHERE "id" = $2' in confirm.sql
        assert "-- $1 = 'Renamed'" in confirm.sql
        await pilot.press("y")
        await settle(pilot)
        assert psql_exec(shop_url, "SELECT name FROM customers WHERE id = 2").strip() == "Renamed"
        assert explorer(pilot).page.rows[1][1] == "Renamed"  # type: ignore[union-attr]
        await pilot.press("x", "x", "delete")  # mark rows 2 and 3, delete them
        confirm = await wait_for_screen(pilot, ConfirmSqlModal)
        assert "delete 2 row(s)" in confirm.summary
        await pilot.press("y")
        await settle(pilot)
        assert any(note.startswith("constraint violated: foreign key orders_customer_id_fkey") for note in notes(pilot))
        assert grid_ids(pilot)[:3] == [1, 2, 3]  # nothing changed, grid consistent
        screen = explorer(pilot)
        screen.marked.clear()
        screen.query_one(DataGrid).move_cursor(row=0)
        await pilot.press("delete")
        confirm = await wait_for_screen(pilot, ConfirmSqlModal)
        assert 'DELETE FROM "public"."customers" WHERE ("id" = $1) RETURNING *' in confirm.sql
        await pilot.press("y")
        await settle(pilot)
        assert grid_ids(pilot)[:3] == [2, 3, 4]


async def test_insert_a_row_on_dev(config: Config, shop_url: str, psql_exec: Callable[[str, str], str]) -> None:
    app = ExplorerApp(config, table="customers")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        modal = await wait_for_screen(pilot, InsertRowModal)
        modal.query_one("#insert-0", Input).value = "999"
        modal.query_one("#insert-1", Input).value = "Zed"
        modal.query_one("#insert-3", Input).value = "NULL"
        await pilot.press("enter")
        confirm = await wait_for_screen(pilot, ConfirmSqlModal)
        assert 'INSERT INTO "public"."customers" ("id", "name", "tier") VALUES' in confirm.sql
        await pilot.press("y")
        await settle(pilot)
        assert psql_exec(shop_url, "SELECT name, tier IS NULL FROM customers WHERE id = 999").strip() == "Zed|t"
        await pilot.press("G")
        await settle(pilot)
        assert grid_ids(pilot)[-1] == 999


async def test_protected_environment_is_read_only_with_a_visible_marker(
    config: Config,
    shop_url: str,
    psql_exec: Callable[[str, str], str],
) -> None:
    app = ExplorerApp(config, env="prod", table="customers")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "READ-ONLY" in str(explorer(pilot).query_one("#explorer-status", Static).render())
        for key in ("u", "i", "delete"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, ExplorerScreen)
        assert sum("read-only environment" in note for note in notes(pilot)) == 3
        assert psql_exec(shop_url, "SELECT count(*) FROM customers").strip() == "250"


async def test_export_and_exact_count(config: Config, tmp_path: Path) -> None:
    app = ExplorerApp(config, table="orders")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert "40 rows (exact)" in info_line(pilot)
        await pilot.press("e")
        modal = await wait_for_screen(pilot, ExportModal)
        target = tmp_path / "exports" / "orders.csv"
        modal.query_one("#export-path", Input).value = str(target)
        await pilot.press("enter")
        await settle(pilot)
        assert len(target.read_text().splitlines()) == 41
        assert any("40 rows written" in note for note in notes(pilot))


async def test_a_dropped_table_gives_a_message_and_the_explorer_recovers(
    config: Config,
    shop_url: str,
    psql_exec: Callable[[str, str], str],
) -> None:
    app = ExplorerApp(config, table="logs")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        psql_exec(shop_url, "DROP TABLE logs")
        await pilot.press("n")
        await settle(pilot)
        assert any(note.startswith("table missing") for note in notes(pilot))
        tree = explorer(pilot).query_one(TableTree)
        labels = [str(node.label) for schema in tree.root.children for node in schema.children]
        assert not any("logs" in label for label in labels)
        await pilot.press("t", "enter")
        await settle(pilot)
        assert grid_ids(pilot)[:2] == [1, 2]


def test_explorer_screen_snapshot(config: Config, snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The explorer on a table: tree, grid, info line, footer."""
    monkeypatch.setattr(ExplorerScreen, "show_timing", False)
    monkeypatch.setattr("syncdb_tui.ui.widgets.explorer_tree.human_bytes", lambda size: "n kB")

    async def ready(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    assert snap_compare(ExplorerApp(config, table="customers"), terminal_size=(120, 40), run_before=ready)


def test_explorer_screen_snapshot_small_protected(
    config: Config, snap_compare: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The explorer at 80x24 on a protected environment: the READ-ONLY marker, sorted by name."""
    monkeypatch.setattr(ExplorerScreen, "show_timing", False)
    monkeypatch.setattr("syncdb_tui.ui.widgets.explorer_tree.human_bytes", lambda size: "n kB")

    async def ready(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("right", "o")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(ExplorerApp(config, env="prod", table="customers"), terminal_size=(80, 24), run_before=ready)


async def test_escape_cancels_a_slow_query_and_the_explorer_goes_on(
    config: Config, shop_url: str, psql_exec: Callable[[str, str], str]
) -> None:
    psql_exec(shop_url, "CREATE VIEW slow AS SELECT g AS id FROM generate_series(1, 5) g, pg_sleep(30) s")
    app = ExplorerApp(config, table="slow")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await wait_for_screen(pilot, ExplorerScreen)
        for _ in range(500):
            if any(w.group == "page" and w.is_running for w in app.workers):
                break
            await pilot.pause(0.01)
        await pilot.press("escape")
        await settle(pilot)
        assert "cancelled: load a page: cancelled" in notes(pilot)
        await pilot.press("t", "enter")  # customers, the first table of the list
        await settle(pilot)
        assert screen.info is not None and str(screen.info.table) == "public.customers", notes(pilot)
        assert grid_ids(pilot)[:2] == [1, 2]


class TestExplorerDialogSnapshots:
    """The explorer's dialogs at 80x24."""

    @pytest.fixture(autouse=True)
    def _pin(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(ExplorerScreen, "show_timing", False)
        monkeypatch.setattr("syncdb_tui.ui.widgets.explorer_tree.human_bytes", lambda size: "n kB")

    def test_row_detail(self, config: Config, snap_compare: Any) -> None:
        """Row detail of customer 1: jsonb pretty-printed, bytea whole, NULL marked."""

        async def ready(pilot: Pilot[Any]) -> None:
            await settle(pilot)
            await pilot.press("enter")
            await wait_for_screen(pilot, RowDetailModal)

        assert snap_compare(ExplorerApp(config, table="customers"), terminal_size=(80, 24), run_before=ready)

    def test_filter_builder(self, config: Config, snap_compare: Any) -> None:
        """The filter builder on the name column with a value typed."""

        async def ready(pilot: Pilot[Any]) -> None:
            await settle(pilot)
            await pilot.press("right", "f")
            await wait_for_screen(pilot, FilterModal)
            await pilot.press(*"customer 00%")

        assert snap_compare(ExplorerApp(config, table="customers"), terminal_size=(80, 24), run_before=ready)

    def test_confirm_sql(self, config: Config, snap_compare: Any) -> None:
        """The exact UPDATE and its bound values before it runs."""

        async def ready(pilot: Pilot[Any]) -> None:
            await settle(pilot)
            await pilot.press("right", "u")
            modal = await wait_for_screen(pilot, EditValueModal)
            modal.query_one("#edit-value", Input).value = "O'Brien"
            await pilot.press("enter")
            await wait_for_screen(pilot, ConfirmSqlModal)

        assert snap_compare(ExplorerApp(config, table="customers"), terminal_size=(80, 24), run_before=ready)
