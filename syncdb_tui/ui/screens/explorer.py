"""The table explorer ("studio"): a tree of tables, a keyset-paged grid, structure, filters, edits.

Who calls what: ``ui/app.py`` pushes :class:`ExplorerScreen` (``syncdb studio`` or a
key on the main screen). Every database call is one ``core.explorer*`` call in an
async worker (groups ``session``, ``page``, ``count``, ``export``, ``edit``); the
widgets only render what the workers hand them. Escape cancels a running query.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Input, ProgressBar, Static
from textual.worker import Worker, WorkerState

from syncdb_tui.core.errors import SyncdbError
from syncdb_tui.core.explorer.catalog import RelationSummary, TableInfo
from syncdb_tui.core.explorer.query import Filter, Sort, TableRef
from syncdb_tui.core.explorer.session import (
    Direction,
    ExplorerSession,
    Page,
    ViewState,
    create_statement,
    follow_foreign_key,
    open_session,
    row_as_json,
    sort_plan,
    text_value,
)
from syncdb_tui.core.secrets import redact
from syncdb_tui.ui.actions import bindings, display_keys
from syncdb_tui.ui.screens.explorer_detail import RowDetailModal
from syncdb_tui.ui.screens.explorer_filter import FilterModal
from syncdb_tui.ui.screens.explorer_modals import (
    ConfirmSqlModal,
    EditValueModal,
    ExportModal,
    InsertRowModal,
    TextModal,
)
from syncdb_tui.ui.widgets.explorer_grid import DataGrid
from syncdb_tui.ui.widgets.explorer_structure import StructureView
from syncdb_tui.ui.widgets.explorer_tree import TableTree, human_rows
from syncdb_tui.ui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from syncdb_tui.config import Config
    from syncdb_tui.core.events import JobProgress
    from syncdb_tui.core.explorer.edit import EditPlan


@dataclass(frozen=True)
class PageRequest:
    """How the page on screen was asked for, so it can be fetched again."""

    view: ViewState
    direction: Direction
    anchor: tuple[Any, ...] | None = None
    position: int | None = 0
    """Index of the page's first row in the view, when known."""


class ExplorerCommands(Provider):
    """Every explorer key as an ``explorer: …`` palette command."""

    def _commands(self) -> list[tuple[str, str, str]]:
        return [
            (f"explorer: {binding.description.lower()}", binding.tooltip, binding.action)
            for binding in ExplorerScreen.BINDINGS
            if isinstance(binding, Binding)
        ]

    async def discover(self) -> Hits:
        for name, help_text, action in self._commands():
            yield DiscoveryHit(name, partial(self.screen.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.screen.run_action, action), help=help_text)


LOADING_DELAY = 0.15
"""Seconds a page may take before the info line says it is loading."""


class ExplorerScreen(Screen[None]):
    """Browse, filter, sort, follow and (outside protected environments) edit table data."""

    CSS_PATH = "../explorer.tcss"
    COMMANDS = {ExplorerCommands}
    show_timing = True
    """Show each page's latency in the info line (snapshot tests turn it off)."""

    BINDINGS = bindings("explorer")

    def __init__(
        self, config: Config, env_name: str | None = None, *, table: str | None = None, read_only: bool = False
    ) -> None:
        super().__init__()
        self.config = config
        self.env_name = env_name or config.default_env
        self.initial_table = TableRef.parse(table) if table else None
        self.session: ExplorerSession | None = None
        self.relations: list[RelationSummary] = []
        self.info: TableInfo | None = None
        self.page: Page | None = None
        self.request: PageRequest | None = None
        self.history: list[PageRequest] = []
        self.marked: set[tuple[Any, ...]] = set()
        self.estimate: int | None = None
        self.exact_count: int | None = None
        self.protected = config.environment(self.env_name).protected
        self.dry_run = read_only
        self._notes_text = ""
        """Opened under --dry-run: read-only even where the environment is not protected."""

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        locked = self.protected or self.dry_run
        if self.protected:
            marker = " · READ-ONLY (protected)"
        else:
            marker = " · READ-ONLY (dry run)" if self.dry_run else " · editable"
        status = Text(f" studio · {self.env_name}", style="bold")
        status.append(marker, "bold red" if locked else "green")
        yield Static(status, id="explorer-status", classes="-protected" if locked else "")
        with Horizontal(id="explorer-body"):
            with Vertical(id="explorer-side"):
                yield Input(placeholder="find a table…", id="table-find")
                yield TableTree(id="table-tree")
            with Vertical(id="explorer-main"):
                with ContentSwitcher(initial="grid", id="explorer-switcher"):
                    yield DataGrid(id="grid")
                    yield StructureView(id="structure")
                yield Static("", id="grid-hint")
                yield Static("", id="view-notes")
                yield ProgressBar(id="export-progress", show_eta=False)
                yield Static("connecting…", id="view-info")
        yield KeyBar()

    def on_mount(self) -> None:
        self._open_session()

    # -- workers ----------------------------------------------------------------------------------

    @work(group="session", exclusive=True, exit_on_error=False, description="open the explorer connection")
    async def _open_session(self) -> None:
        self.session = await open_session(self.config, self.env_name, dry_run=self.dry_run)
        await self._load_relations()
        self.query_one(TableTree).focus()
        if self.initial_table is not None:
            self._load_page(PageRequest(ViewState(self.initial_table), "first"), describe=True)
        else:
            self._set_info("pick a table on the left (Enter)")

    async def _load_relations(self) -> None:
        assert self.session is not None
        self.relations = await self.session.relations()
        tree = self.query_one(TableTree)
        tree.show(self.relations, self.query_one("#table-find", Input).value)

    @work(group="session", exclusive=True, exit_on_error=False, description="reload the table list")
    async def _reload_relations(self) -> None:
        await self._load_relations()

    @work(group="page", exclusive=True, exit_on_error=False, description="load a page")
    async def _load_page(self, request: PageRequest, *, describe: bool = False, note: str = "") -> None:
        session = self._session()
        info = self.info
        if describe or info is None or info.table != request.view.table:
            info = await session.describe(request.view.table)
        # "loading…" only when the page is slow to come: a fast page would be painted twice per keypress
        loading = self.set_timer(LOADING_DELAY, partial(self._set_info, f"loading {request.view.table}…"))
        try:
            page = await session.page(info, request.view, request.direction, request.anchor)
        finally:
            loading.stop()
        if not page.rows and request.direction in ("next", "prev") and self.page is not None:
            self.notify("no more rows in that direction", title="end of table")
            self._show_info()
            return
        changed_view = self.request is None or self.request.view != request.view
        self.info, self.page, self.request = info, page, request
        if changed_view:
            self.exact_count = None
            self.marked.clear()
            self.estimate = await session.estimate(info, request.view)
        if request.direction == "last" and request.position is None and page.rows:
            # the last page's place needs the exact count; with it, p from here keeps the row range
            if self.exact_count is None:
                self.exact_count = await session.count_exact(info, request.view)
            request = PageRequest(request.view, "last", request.anchor, max(0, self.exact_count - len(page.rows)))
            self.request = request
        grid = self.query_one(DataGrid)
        shown_info = grid.info
        grid.show(info, page, request.view.sort, self.marked)
        if info is not shown_info:
            self.query_one(StructureView).show(info)
        notes = [note] if note else []
        if info.keyless or request.view.sort is not None:
            notes.append(sort_plan(info, request.view.sort).message)
        notes_text = " · ".join(notes)
        if notes_text != self._notes_text:  # an unchanged line needs no layout pass on every page
            self._notes_text = notes_text
            self.query_one("#view-notes", Static).update(Text(notes_text, style="yellow"))
        self._show_info()
        if describe:
            grid.focus()
            self.query_one(TableTree).select_table(info.table)

    @work(group="count", exclusive=True, exit_on_error=False, description="exact row count")
    async def _count(self, info: TableInfo, view: ViewState) -> None:
        self._set_info("counting… (Escape cancels)")
        self.exact_count = await self._session().count_exact(info, view)
        self._show_info()

    @work(group="export", exclusive=True, exit_on_error=False, description="export to CSV")
    async def _export(self, info: TableInfo, view: ViewState, path: Path) -> None:
        from syncdb_tui.core.explorer.export import export_csv

        bar = self.query_one("#export-progress", ProgressBar)
        bar.add_class("-running")
        bar.update(total=None, progress=0)

        def show(event: JobProgress) -> None:
            bar.update(total=event.total, progress=event.done)

        try:
            result = await export_csv(self._session(), info, view, path, progress=show)
        finally:
            bar.remove_class("-running")
        self.notify(f"{result.rows:,} rows written to {result.path}", title="export finished")

    @work(group="edit", exclusive=True, exit_on_error=False, description="edit a cell")
    async def _edit_cell_flow(self) -> None:
        from syncdb_tui.core.explorer.edit import plan_update

        session, info, grid = self._session(), self._info(), self.query_one(DataGrid)
        session.require_writable("editing")
        index, column, row = grid.current_row_index, grid.current_column, grid.current_row()
        if index is None or column is None or row is None or self.page is None:
            return
        value = row[column]
        answer = await self.app.push_screen_wait(
            EditValueModal(
                f"{info.table}.{column} ({info.column(column).sql_type})", None if value is None else text_value(value)
            )
        )
        if answer is None:
            return
        plan = plan_update(session, info, self.page.row_keys[index], column, answer.value)
        await self._confirm_and_apply(plan)

    @work(group="edit", exclusive=True, exit_on_error=False, description="insert a row")
    async def _insert_flow(self) -> None:
        from syncdb_tui.core.explorer.edit import plan_insert

        session, info = self._session(), self._info()
        session.require_writable("insert")
        values = await self.app.push_screen_wait(InsertRowModal(info))
        if values is None:
            return
        await self._confirm_and_apply(plan_insert(session, info, values))

    @work(group="edit", exclusive=True, exit_on_error=False, description="delete rows")
    async def _delete_flow(self) -> None:
        from syncdb_tui.core.explorer.edit import plan_delete

        session, info, grid = self._session(), self._info(), self.query_one(DataGrid)
        session.require_writable("delete")
        keys = sorted(self.marked, key=str)
        if not keys and grid.current_row_index is not None and self.page is not None:
            keys = [self.page.row_keys[grid.current_row_index]]
        await self._confirm_and_apply(plan_delete(session, info, keys))

    async def _confirm_and_apply(self, plan: EditPlan) -> None:
        from syncdb_tui.core.explorer.edit import apply_edit

        if not await self.app.push_screen_wait(ConfirmSqlModal(plan.summary, plan.shown_sql)):
            self.notify("nothing was changed", title="cancelled")
            return
        result = await apply_edit(self._session(), self._info(), plan)
        self.marked.clear()
        self.notify(f"{plan.summary}: done ({len(result.rows)} row(s))", title=f"{plan.action} committed")
        if self.request is not None:
            self._load_page(self.request, describe=True)

    # -- errors -----------------------------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.CANCELLED and worker.group in ("page", "count"):
            self.notify(f"{worker.description}: cancelled", title="cancelled", severity="warning")
            self._show_info()
        if event.state != WorkerState.ERROR:
            return
        error = worker.error
        if isinstance(error, SyncdbError):
            body = redact(error.message + (f"\n{error.hint}" if error.hint else ""))
            self.notify(body, title=error.title, severity="error", timeout=10, markup=False)
            if error.title == "table missing":
                self._reload_relations()
        else:
            self.notify(
                redact(f"{type(error).__name__}: {error}"),
                title=f"{worker.description} failed",
                severity="error",
                markup=False,
            )
        self._show_info()

    # -- helpers ----------------------------------------------------------------------------------

    def _session(self) -> ExplorerSession:
        if self.session is None:
            raise SyncdbError("the explorer is still connecting", hint="wait a moment", title="not ready")
        return self.session

    def _info(self) -> TableInfo:
        if self.info is None:
            raise SyncdbError("no table is open", hint="pick a table on the left", title="no table")
        return self.info

    def _set_info(self, text: str) -> None:
        # one line of fixed height (explorer.tcss): no layout pass needed
        self.query_one("#view-info", Static).update(Text(text), layout=False)

    def _show_info(self) -> None:
        if self.info is None or self.page is None or self.request is None:
            return
        view, page = self.request.view, self.page
        parts = [str(view.table)]
        if not page.rows:
            parts.append("no rows")
        elif self.request.position is not None:
            parts.append(f"rows {self.request.position + 1:,}-{self.request.position + len(page.rows):,}")
        else:
            parts.append(f"{len(page.rows)} rows" + ("" if page.has_next else " (last page)"))
        if self.exact_count is not None:
            parts.append(f"{self.exact_count:,} rows (exact)")
        else:
            parts.append(f"~{human_rows(self.estimate)} rows (estimate)")
        if view.sort is not None:
            parts.append(f"sort {view.sort.column} {'desc' if view.sort.descending else 'asc'}")
        if view.filters:
            parts.append("where " + " and ".join(flt.describe() for flt in view.filters))
        if self.marked:
            parts.append(f"{len(self.marked)} marked")
        if self.history:
            parts.append("b: back")
        if self.show_timing:
            parts.append(f"{page.elapsed_ms:.1f} ms")
        self._set_info(" · ".join(parts))

    def _go(self, view: ViewState, direction: Direction = "first", note: str = "") -> None:
        self._load_page(PageRequest(view, direction, None, 0 if direction == "first" else None), note=note)

    # -- actions ----------------------------------------------------------------------------------

    @on(DataGrid.Cut)
    def _show_cut_hint(self) -> None:
        """Below the grid, how many columns fit at this width (hidden when all do, or under structure)."""
        hint = self.query_one(DataGrid).hint
        label = self.query_one("#grid-hint", Static)
        label.update(Text(hint, style="italic"))
        label.display = bool(hint) and self.query_one(ContentSwitcher).current == "grid"

    @on(TableTree.TableSelected)
    def _open_table(self, message: TableTree.TableSelected) -> None:
        self.history.clear()
        self._load_page(PageRequest(ViewState(message.table), "first"), describe=True)

    @on(Input.Changed, "#table-find")
    def _filter_tree(self, event: Input.Changed) -> None:
        self.query_one(TableTree).apply_filter(event.value)

    @on(Input.Submitted, "#table-find")
    def _find_done(self) -> None:
        """Enter in the find field opens the highlighted match (the first one) and shows its rows."""
        tree = self.query_one(TableTree)
        tree.focus()
        tree.open_highlighted()

    @on(DataGrid.CellSelected, "#grid")
    def _cell_chosen(self) -> None:
        self.action_row_detail()

    def action_next_page(self) -> None:
        if self.page is None or self.request is None:
            return
        if not self.page.has_next:
            self.notify("this is the last page", title="end of table")
            return
        position = self.request.position
        new_position = None if position is None else position + len(self.page.rows)
        self._load_page(PageRequest(self.request.view, "next", self.page.keys[-1], new_position))

    def action_prev_page(self) -> None:
        if self.page is None or self.request is None:
            return
        if not self.page.has_prev:
            self.notify("this is the first page", title="start of table")
            return
        position = self.request.position
        new_position = None if position is None else max(0, position - self._page_size())
        self._load_page(PageRequest(self.request.view, "prev", self.page.keys[0], new_position))

    def _page_size(self) -> int:
        return self.session.page_size if self.session else self.config.explorer_page_size

    def action_first_page(self) -> None:
        if self.request is not None:
            self._go(self.request.view, "first")

    def action_last_page(self) -> None:
        if self.request is not None:
            self._go(self.request.view, "last")

    def action_sort(self) -> None:
        column = self.query_one(DataGrid).current_column
        if self.request is None or self.info is None or column is None:
            return
        current = self.request.view.sort
        if current is None or current.column != column:
            sort: Sort | None = Sort(column)
        elif not current.descending:
            sort = Sort(column, descending=True)
        else:
            sort = None
        plan = sort_plan(self.info, sort)
        if not plan.indexed and sort is not None:
            self.notify(plan.message, title="sort scans the table", severity="warning")
        self._go(replace(self.request.view, sort=sort))

    def action_add_filter(self) -> None:
        if self.info is None or self.request is None:
            return
        view = self.request.view

        def add(result: Filter | None) -> None:
            if result is not None:
                self._go(replace(view, filters=(*view.filters, result)))

        self.app.push_screen(FilterModal(self.info.column_names, self.query_one(DataGrid).current_column), add)

    def action_clear_filters(self) -> None:
        if self.request is not None and self.request.view.filters:
            self._go(replace(self.request.view, filters=()))

    def action_row_detail(self) -> None:
        row = self.query_one(DataGrid).current_row()
        if row is not None and self.info is not None:
            self.app.push_screen(RowDetailModal(self.info, row))

    def action_follow_fk(self) -> None:
        grid = self.query_one(DataGrid)
        row, column = grid.current_row(), grid.current_column
        if self.info is None or self.request is None or row is None or column is None:
            return
        try:
            fk, target = follow_foreign_key(self.info, column, row)
        except SyncdbError as error:
            self.notify(redact(f"{error.message}\n{error.hint}"), title=error.title, severity="warning", markup=False)
            return
        self.history.append(self.request)
        self._load_page(PageRequest(target, "first"), describe=True, note=f"followed {fk.name} from {self.info.table}")

    def action_back(self) -> None:
        if not self.history:
            self.notify("nothing to go back to", title="back")
            return
        self._load_page(self.history.pop(), describe=True)

    def action_copy_json(self) -> None:
        row = self.query_one(DataGrid).current_row()
        if row is None:
            return
        text = row_as_json(row)
        self.app.copy_to_clipboard(text)
        self.app.push_screen(TextModal("Row as JSON (copied to the clipboard)", text, "json"))

    def action_export(self) -> None:
        if self.info is None or self.request is None:
            return
        info, view = self.info, self.request.view

        def start(path: Path | None) -> None:
            if path is not None:
                self._export(info, view, path)

        default = self.config.root / f"{info.table.schema}.{info.table.name}.csv"
        self.app.push_screen(ExportModal(default), start)

    def action_count(self) -> None:
        if self.info is not None and self.request is not None:
            self._count(self.info, self.request.view)

    def action_toggle_structure(self) -> None:
        switcher = self.query_one(ContentSwitcher)
        switcher.current = "structure" if switcher.current == "grid" else "grid"
        self._show_cut_hint()

    def action_show_ddl(self) -> None:
        if self.info is not None:
            self.app.push_screen(TextModal(f"CREATE statement of {self.info.table}", create_statement(self.info)))

    def action_reload(self) -> None:
        self._reload_relations()
        if self.request is not None:
            self._load_page(self.request, describe=True)

    def action_edit_cell(self) -> None:
        self._edit_cell_flow()

    def action_insert_row(self) -> None:
        self._insert_flow()

    def action_delete_rows(self) -> None:
        self._delete_flow()

    def action_mark_row(self) -> None:
        grid = self.query_one(DataGrid)
        index = grid.current_row_index
        if index is None or self.page is None or self.info is None or self.request is None:
            return
        key = self.page.row_keys[index]
        self.marked.symmetric_difference_update({key})
        grid.show(self.info, self.page, self.request.view.sort, self.marked)
        grid.move_cursor(row=min(index + 1, len(self.page.rows) - 1))
        self._show_info()

    def action_cancel(self) -> None:
        cancelled = [
            worker
            for worker in self.workers
            if worker.node is self
            and worker.group in ("page", "count", "export")
            and worker.state == WorkerState.RUNNING
        ]
        for worker in cancelled:
            worker.cancel()
        if cancelled:
            return
        if self.history:
            self.action_back()
        elif len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    def action_keys(self) -> None:
        lines = [
            f"{display_keys(binding.key):<14} {binding.description:<12} {binding.tooltip}"
            for binding in self.BINDINGS
            if isinstance(binding, Binding)
        ]
        self.app.push_screen(TextModal("Explorer keys", "\n".join(lines), "text"))

    def action_focus_find(self) -> None:
        self.query_one("#table-find", Input).focus()

    def action_focus_tree(self) -> None:
        self.query_one(TableTree).focus()

    async def on_unmount(self) -> None:
        if self.session is not None:
            await self.session.close()
