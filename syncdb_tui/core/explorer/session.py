"""The table explorer's engine: one read-only session per environment, keyset pages.

Who calls what: ``ui/screens/explorer.py`` opens an :class:`ExplorerSession`
with :func:`open_session` in a worker and calls its methods from workers;
``core/explorer_edit.py`` and ``core/explorer_export.py`` borrow its
connections; ``benchmarks/bench_explorer.py`` times :meth:`ExplorerSession.page`.

The session's connection runs with ``statement_timeout`` (``[explorer]
statement_timeout``) and ``default_transaction_read_only = on``; only an edit
transaction switches itself to READ WRITE, and never on a protected
environment. Driver errors are translated here into :class:`SyncdbError`\\ s;
a lost connection is reopened on the next call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from syncdb_tui.core.errors import OperationError, RefusedError, SyncdbError, UnreachableError, UsageError
from syncdb_tui.core.explorer.catalog import (
    ForeignKey,
    RelationSummary,
    TableInfo,
    create_statement,
    describe,
    list_relations,
)
from syncdb_tui.core.explorer.query import (
    CTID,
    CTID_ALIAS,
    Filter,
    KeyColumn,
    Operator,
    PageQuery,
    Sort,
    TableRef,
    count_query,
    filtered_query,
    page_query,
    row_query,
)
from syncdb_tui.core.jsontext import json_default

if TYPE_CHECKING:
    import asyncpg

    from syncdb_tui.config import Config
    from syncdb_tui.core.envs.environments import Environment

__all__ = [
    "ExplorerSession",
    "Filter",
    "Operator",
    "Page",
    "Sort",
    "SortPlan",
    "TableRef",
    "ViewState",
    "create_statement",
    "display_value",
    "open_session",
    "row_as_json",
]

Direction = Literal["first", "next", "prev", "last"]


@dataclass(frozen=True)
class ViewState:
    """What the grid shows: a table, an optional sort, and filters."""

    table: TableRef
    sort: Sort | None = None
    filters: tuple[Filter, ...] = ()


@dataclass(frozen=True)
class SortPlan:
    """How a sort will be served."""

    indexed: bool
    message: str
    """A note for the user: which index serves it, or a warning that it scans."""


@dataclass(frozen=True)
class Page:
    """One page of rows in display order."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    keys: tuple[tuple[Any, ...], ...]
    """The ordering key of each row (sort column first, then the row key)."""
    row_keys: tuple[tuple[Any, ...], ...]
    """The row key (primary key or ctid) of each row."""
    has_next: bool
    has_prev: bool
    sql: str = ""
    elapsed_ms: float = 0.0

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class TableView:
    """An opened table: its structure, its first page and the notes to show."""

    info: TableInfo
    page: Page
    notes: tuple[str, ...] = field(default_factory=tuple)


def ordering_keys(info: TableInfo, sort: Sort | None) -> tuple[KeyColumn, ...]:
    """The keyset key: the sort column (if any and not the key itself) then the row key."""
    row_key = info.row_key
    if sort is None or (len(row_key) == 1 and row_key[0].name == sort.column):
        return row_key
    column = info.column(sort.column)
    return (KeyColumn(column.name, column.sql_type, column.nullable), *row_key)


def sort_plan(info: TableInfo, sort: Sort | None) -> SortPlan:
    """Whether an index serves ``sort``, with the words to tell the user."""
    if sort is None:
        if info.keyless and not info.has_ctid:
            return SortPlan(False, f"{info.table} is a {info.kind} without a key: pages are read with OFFSET")
        if info.keyless:
            return SortPlan(False, f"{info.table} has no primary key: rows are paged in physical (ctid) order")
        return SortPlan(True, f"ordered by the primary key ({', '.join(info.primary_key)})")
    info.column(sort.column)
    index = info.index_for(sort.column)
    if index is not None:
        return SortPlan(True, f"sort by {sort.column} uses the index {index.name}")
    rows = f"~{info.estimated_rows:,} rows" if info.estimated_rows is not None else "every row"
    return SortPlan(
        False,
        f"no index starts with {sort.column}: sorting scans and sorts {rows} of {info.table} "
        "(cancel with Escape if it takes too long)",
    )


class ExplorerSession:
    """A read-only (unless editing) connection to one environment for the explorer."""

    def __init__(
        self, env: Environment, *, statement_timeout: float = 10.0, page_size: int = 100, dry_run: bool = False
    ) -> None:
        self.env = env
        self.dry_run = dry_run
        """Opened under ``--dry-run``: nothing may change, so editing is refused as on protected envs."""
        self.statement_timeout = statement_timeout
        self.page_size = page_size
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self.prefetch = False
        """Fetch the page after a cheap "first"/"next" page in the background, for the next keypress.

        Off by default: a page served from the prefetch may be up to ``PREFETCH_TTL`` old, so a
        change made meanwhile by another session (even a dropped table) shows only on the page after."""
        self._ahead: _Ahead | None = None
        self._uses = 0
        """Bumped by every use of the connection but a prefetch: a prefetched page older than any of them is stale."""

    @property
    def read_only(self) -> bool:
        """Protected environments (and any under --dry-run) are read-only in the explorer."""
        return self.env.protected or self.dry_run

    @property
    def server_settings(self) -> dict[str, str]:
        return {
            "statement_timeout": str(int(self.statement_timeout * 1000)),
            "default_transaction_read_only": "on",
            "application_name": "syncdb studio",
        }

    async def new_connection(self) -> asyncpg.Connection:
        """A fresh connection with the explorer's settings (the caller closes it)."""
        from syncdb_tui.core.envs.environments import connect

        conn = await connect(self.env, server_settings=self.server_settings)
        await _install_codecs(conn)
        return conn

    async def close(self) -> None:
        self._drop_ahead()
        if self._conn is not None and not self._conn.is_closed():
            try:
                await asyncio.wait_for(self._conn.close(), timeout=2)
            except Exception:  # closing a broken connection must not fail the caller
                self._conn.terminate()
        self._conn = None

    @asynccontextmanager
    async def connection(
        self, table: TableRef | None = None, *, _prefetch: bool = False
    ) -> AsyncIterator[asyncpg.Connection]:
        """The session's connection (reopened if it was lost), one user at a time, errors translated."""
        if not _prefetch:
            self._uses += 1
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = await self.new_connection()
            try:
                with translate_errors(self, table):
                    yield self._conn
            except UnreachableError:
                self._conn = None
                raise

    async def relations(self) -> list[RelationSummary]:
        """The tree's entries: every table, view and materialized view with estimates."""
        async with self.connection() as conn:
            return await list_relations(conn)

    async def describe(self, table: TableRef) -> TableInfo:
        async with self.connection(table) as conn:
            return await describe(conn, table)

    async def open_table(self, view: ViewState) -> TableView:
        """Structure plus first page of ``view.table`` (the benchmark's "open")."""
        info = await self.describe(view.table)
        page = await self.page(info, view, "first")
        notes = [sort_plan(info, view.sort).message] if info.keyless or view.sort else []
        return TableView(info, page, tuple(notes))

    async def page(
        self, info: TableInfo, view: ViewState, direction: Direction, anchor: Sequence[Any] | None = None
    ) -> Page:
        """The first/last page, or the page after/before the row whose ordering key is ``anchor``.

        With :attr:`prefetch` on, after a cheap "first" or "next" page the following one is
        fetched in the background: paging forward is then served from memory.
        A prefetched page is used only for exactly that request, when nothing else
        has used the connection since it was fetched and it is under two seconds old.

        Raises:
            UsageError: a filter value does not fit its column's type.
            OperationError: the table was dropped or changed, or the statement timed out.
            UnreachableError: the connection was lost (the next call reconnects).
        """
        found = await self._take_ahead(info, view, direction, anchor)
        page = found if found is not None else await self._fetch_page(info, view, direction, anchor)
        if (
            self.prefetch
            and direction in ("first", "next")
            and page.has_next
            and page.keys
            and info.has_ctid
            and page.elapsed_ms <= PREFETCH_BELOW_MS
        ):
            self._start_ahead(info, view, page.keys[-1])
        return page

    async def _take_ahead(
        self, info: TableInfo, view: ViewState, direction: Direction, anchor: Sequence[Any] | None
    ) -> Page | None:
        """The prefetched page if it answers exactly this request and is still fresh, else ``None``."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        fresh = (
            direction == "next"
            and anchor is not None
            and ahead.info is info
            and ahead.view == view
            and ahead.uses == self._uses
            and time.monotonic() - ahead.started < PREFETCH_TTL
        )
        try:
            fresh = fresh and tuple(anchor or ()) == ahead.anchor
        except Exception:  # values that cannot be compared: not the same request
            fresh = False
        if not fresh:
            if not ahead.task.done():
                ahead.task.cancel()
            return None
        try:
            page = await asyncio.shield(ahead.task)
        except asyncio.CancelledError:
            if ahead.task.cancelled():
                return None
            raise
        except Exception:  # the prefetch failed: fetch again, so the error comes from the real request
            return None
        return page if ahead.uses == self._uses else None

    def _start_ahead(self, info: TableInfo, view: ViewState, anchor: tuple[Any, ...]) -> None:
        async def fetch() -> Page:
            return await self._fetch_page(info, view, "next", anchor, prefetch=True)

        task = asyncio.ensure_future(fetch())
        task.add_done_callback(_ignore_result)
        self._ahead = _Ahead(info, view, tuple(anchor), self._uses, time.monotonic(), task)

    def _drop_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and not ahead.task.done():
            ahead.task.cancel()

    async def _fetch_page(
        self,
        info: TableInfo,
        view: ViewState,
        direction: Direction,
        anchor: Sequence[Any] | None,
        *,
        prefetch: bool = False,
    ) -> Page:
        if not info.has_ctid:
            return await self._offset_page(info, view, direction, anchor)
        keys = ordering_keys(info, view.sort)
        descending = bool(view.sort and view.sort.descending)
        query = page_query(
            info.table,
            info.column_names,
            info.types,
            keys,
            filters=view.filters,
            descending=descending,
            after=anchor if direction == "next" else None,
            before=anchor if direction == "prev" else None,
            last=direction == "last",
            limit=self.page_size,
        )
        started = time.perf_counter()
        async with self.connection(info.table, _prefetch=prefetch) as conn:
            records = await conn.fetch(query.sql, *query.params)
        elapsed = (time.perf_counter() - started) * 1000
        more = len(records) > self.page_size
        records = records[: self.page_size]
        if query.reverse:
            records = records[::-1]
        has_next = more if direction in ("first", "next") else direction == "prev"
        has_prev = more if direction in ("prev", "last") else direction == "next"
        width = len(info.columns)
        row_key_names = [CTID_ALIAS if key.name == CTID else key.name for key in info.row_key]
        key_names = [CTID_ALIAS if key.name == CTID else key.name for key in keys]
        return Page(
            columns=info.column_names,
            rows=tuple(tuple(record.values())[:width] for record in records),
            keys=tuple(tuple(record[name] for name in key_names) for record in records),
            row_keys=tuple(tuple(record[name] for name in row_key_names) for record in records),
            has_next=has_next,
            has_prev=has_prev,
            sql=query.sql,
            elapsed_ms=elapsed,
        )

    async def _offset_page(
        self, info: TableInfo, view: ViewState, direction: Direction, anchor: Sequence[Any] | None
    ) -> Page:
        """A page by OFFSET, for relations with neither a primary key nor a usable ctid (views)."""
        size = self.page_size
        if direction == "next" and anchor is not None:
            offset = int(anchor[0]) + 1
        elif direction == "prev" and anchor is not None:
            offset = max(0, int(anchor[0]) - size)
            size = int(anchor[0]) - offset
        elif direction == "last":
            offset = max(0, await self.count_exact(info, view) - size)
        else:
            offset = 0
        keys = ordering_keys(info, view.sort) if view.sort else ()
        descending = bool(view.sort and view.sort.descending)
        query = filtered_query(info.table, info.column_names, info.types, keys, view.filters, descending)
        sql = f"{query.sql} LIMIT {size + 1} OFFSET {offset}"
        started = time.perf_counter()
        async with self.connection(info.table) as conn:
            records = await conn.fetch(sql, *query.params)
        elapsed = (time.perf_counter() - started) * 1000
        more = len(records) > size or direction == "prev"
        records = records[:size]
        positions = tuple((offset + index,) for index in range(len(records)))
        return Page(
            columns=info.column_names,
            rows=tuple(tuple(record.values()) for record in records),
            keys=positions,
            row_keys=positions,
            has_next=more,
            has_prev=offset > 0,
            sql=sql,
            elapsed_ms=elapsed,
        )

    async def estimate(self, info: TableInfo, view: ViewState) -> int | None:
        """The planner's row estimate of the filtered view (``reltuples`` when unfiltered)."""
        if not view.filters:
            return info.estimated_rows
        query = filtered_query(info.table, info.column_names, info.types, info.row_key, view.filters)
        async with self.connection(info.table) as conn:
            plan = await conn.fetchval("EXPLAIN (FORMAT JSON) " + query.sql, *query.params)
        document = json.loads(plan) if isinstance(plan, str) else plan
        return int(document[0]["Plan"]["Plan Rows"])

    async def count_exact(self, info: TableInfo, view: ViewState) -> int:
        """``count(*)`` of the filtered view on its own connection; cancelling the task cancels the query."""
        query = count_query(info.table, info.types, view.filters)
        conn = await self.new_connection()
        try:
            with translate_errors(self, info.table):
                return int(await conn.fetchval(query.sql, *query.params))
        except asyncio.CancelledError:
            await self.cancel_backend(conn)
            raise
        finally:
            await _close_quietly(conn)

    async def fetch_row(self, info: TableInfo, row_key: Sequence[Any]) -> dict[str, Any] | None:
        """The current values of one row (``None`` if it is gone)."""
        query: PageQuery = row_query(info.table, info.column_names, info.row_key, row_key)
        async with self.connection(info.table) as conn:
            record = await conn.fetchrow(query.sql, *query.params)
        if record is None:
            return None
        return {name: record[name] for name in info.column_names}

    async def cancel_backend(self, conn: asyncpg.Connection) -> None:
        """Stop the query running on ``conn`` on the server (closing the socket alone would not)."""
        from syncdb_tui.core.envs.environments import connect

        try:
            helper = await connect(self.env, server_settings={"application_name": "syncdb studio cancel"})
            try:
                await helper.execute("SELECT pg_cancel_backend($1)", conn.get_server_pid())
            finally:
                await _close_quietly(helper)
        except Exception:  # the query ends with its connection or its statement_timeout anyway
            return

    def require_writable(self, action: str) -> None:
        """Raises RefusedError on a protected environment."""
        if self.dry_run and not self.env.protected:
            raise RefusedError(
                f"{action} refused: syncdb was started with --dry-run, so the explorer changes nothing",
                hint="start syncdb without --dry-run to edit data on a non-protected environment",
                title="dry run",
            )
        if self.read_only:
            raise RefusedError(
                f"{action} refused: {self.env.name} is a protected environment, and the explorer is read-only there",
                hint="edit data through a reviewed migration, or open a non-protected environment",
                title="read-only environment",
            )


PREFETCH_BELOW_MS = 50.0
"""Only a page that took less than this is followed by a prefetch (a slow one would hold the connection)."""
PREFETCH_TTL = 2.0
"""Seconds a prefetched page may be served after it was fetched."""


@dataclass(frozen=True)
class _Ahead:
    """A page being fetched in the background: the request it answers and the task fetching it."""

    info: TableInfo
    view: ViewState
    anchor: tuple[Any, ...]
    uses: int
    started: float
    task: asyncio.Future[Page]


def _ignore_result(task: asyncio.Future[Page]) -> None:
    """Retrieve a prefetch's outcome so an unused failure is not reported as never retrieved."""
    if not task.cancelled():
        task.exception()


def follow_foreign_key(info: TableInfo, column: str, row: dict[str, Any]) -> tuple[ForeignKey, ViewState]:
    """The view of the row that ``row[column]`` references.

    Raises:
        UsageError: the column takes part in no foreign key, or its value is NULL.
    """
    fk = info.foreign_key_for(column)
    if fk is None:
        raise UsageError(
            f"{info.table}.{column} is not part of a foreign key",
            hint="move to a column shown with → in the structure view",
            title="no foreign key",
        )
    filters = []
    for source, target in zip(fk.columns, fk.referenced_columns, strict=True):
        value = row.get(source)
        if value is None:
            raise UsageError(
                f"{info.table}.{source} is NULL in this row: it references nothing",
                hint="pick a row whose value is set",
                title="nothing to follow",
            )
        filters.append(Filter(target, Operator.EQ, text_value(value)))
    return fk, ViewState(fk.referenced, None, tuple(filters))


async def open_session(config: Config, env_name: str | None, *, dry_run: bool = False) -> ExplorerSession:
    """Resolve ``env_name`` (starting an embedded server if needed) and connect.

    Raises:
        ConfigError: unknown environment.
        UnreachableError: the server cannot be reached.
    """
    from syncdb_tui.core.envs.environments import resolve_async

    env = await resolve_async(config, env_name)
    session = ExplorerSession(
        env,
        statement_timeout=config.explorer_statement_timeout,
        page_size=config.explorer_page_size,
        dry_run=dry_run,
    )
    async with session.connection():
        pass
    return session


# -- values ------------------------------------------------------------------------------------


def text_value(value: Any) -> str:
    """A value as the text PostgreSQL would accept back as input."""
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def display_value(value: Any, limit: int = 60) -> tuple[str, bool]:
    """A cell's text for the grid (one line, at most ``limit`` characters) and whether it is NULL."""
    if value is None:
        return "NULL", True
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        text = "\\x" + data[: max(1, limit // 2)].hex()
        if len(data) > limit // 2:
            return text[:limit] + f"… ({len(data):,} bytes)", False
        return text, False
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = text_value(value)
    text = text.replace("\r", "").replace("\n", "⏎").replace("\t", " ")
    if len(text) > limit:
        return text[: limit - 1] + "…", False
    return text, False


def row_as_json(row: dict[str, Any], *, indent: int | None = 2) -> str:
    """One row as JSON (jsonb values nested, not quoted; bytea as ``\\x`` hex)."""
    return json.dumps(row, indent=indent, ensure_ascii=False, default=json_default)


def pretty_value(value: Any) -> str:
    """A whole value for the row-detail view (jsonb pretty-printed)."""
    if value is None:
        return "NULL"
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2, ensure_ascii=False, default=json_default)
    return text_value(value)


# -- connection helpers and error translation ----------------------------------------------------


async def _install_codecs(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _close_quietly(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), timeout=2)
    except Exception:  # a broken connection cannot be closed politely
        conn.terminate()


class translate_errors:
    """Turn asyncpg and socket errors into :class:`SyncdbError`\\ s that name the table and the cure."""

    def __init__(self, session: ExplorerSession, table: TableRef | None) -> None:
        self.session = session
        self.table = table

    def __enter__(self) -> translate_errors:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: Any) -> None:
        if error is None or isinstance(error, SyncdbError | asyncio.CancelledError):
            return
        translated = translate_error(self.session, self.table, error)
        if translated is not None:
            raise translated from error


def translate_error(session: ExplorerSession, table: TableRef | None, error: BaseException) -> SyncdbError | None:
    """The :class:`SyncdbError` for a driver error, or ``None`` to let it through."""
    import asyncpg

    from syncdb_tui.core.secrets import redact

    env = session.env.name
    where = f" on {table}" if table else ""
    text = redact(str(error))
    if isinstance(error, asyncpg.IntegrityConstraintViolationError):
        return None  # core/explorer_edit.py names the constraint
    if isinstance(error, asyncpg.QueryCanceledError):
        if "statement timeout" in text:
            return OperationError(
                f"the query{where} ran longer than the explorer's statement_timeout of "
                f"{session.statement_timeout:g} s on {env}, and the server stopped it",
                hint="filter or sort on an indexed column, or raise [explorer] statement_timeout in syncdb.toml",
                title="statement timeout",
            )
        return OperationError(f"the query{where} was cancelled", title="cancelled")
    if isinstance(error, asyncpg.UndefinedTableError):
        return OperationError(
            f"the table{where or ''} does not exist any more on {env} (dropped or renamed): {text}",
            hint="reload the list of tables (r)",
            title="table missing",
        )
    if isinstance(error, asyncpg.UndefinedColumnError):
        return OperationError(
            f"the table{where} changed while it was open: {text}",
            hint="reload the table (r) to see its current columns",
            title="table changed",
        )
    if isinstance(error, asyncpg.UndefinedFunctionError):
        return UsageError(
            f"PostgreSQL cannot compare or sort these values{where}: {text}",
            hint="sort or filter on another column (json, xml and point values have no ordering)",
            title="cannot compare",
        )
    if isinstance(error, asyncpg.DataError):
        return UsageError(
            f"a value does not fit its column{where}: {text}",
            hint="fix the value (numbers, dates and uuids must be written as PostgreSQL reads them)",
            title="invalid value",
        )
    if isinstance(error, asyncpg.ReadOnlySQLTransactionError):
        return RefusedError(
            f"the explorer's connection to {env} is read-only: {text}",
            hint="editing works only on non-protected environments",
            title="read-only",
        )
    if isinstance(error, asyncpg.InsufficientPrivilegeError):
        return OperationError(
            f"permission denied{where} on {env}: {text}",
            hint="ask for SELECT (or the needed) privilege, or use a role that has it",
            title="permission denied",
        )
    if isinstance(
        error,
        asyncpg.ConnectionDoesNotExistError
        | asyncpg.InterfaceError
        | asyncpg.AdminShutdownError
        | asyncpg.CannotConnectNowError
        | ConnectionError
        | OSError,
    ):
        return UnreachableError(
            f"the connection to {env} was lost ({text or type(error).__name__})",
            hint="the explorer reconnects on the next action; press r to reload",
            title="connection lost",
        )
    if isinstance(error, asyncpg.PostgresError):
        return OperationError(f"the query{where} failed on {env}: {text}", title="query failed")
    return None


def with_filters(view: ViewState, filters: Sequence[Filter]) -> ViewState:
    return replace(view, filters=tuple(filters))
