"""The explorer's SQL builder: quoted identifiers, bound values, keyset pages.

Who calls what: ``core/explorer.py`` builds every page, count, row and export
query here; ``core/explorer_edit.py`` builds its UPDATE/INSERT/DELETE here.
Nothing in this module touches a connection, so its tests need no server.

Rules that hold for every statement built here:

- identifiers (schema, table, column) are always double-quoted with any ``"``
  doubled, so hostile names are plain data;
- values typed by the user are always bound parameters (``$1``…) sent as
  ``text`` and cast to the column's catalog type, never spliced into SQL;
- a page is a keyset page: ``WHERE (sort key, primary key) > (last row)``
  ``ORDER BY`` the same key ``LIMIT n+1``; ``ctid`` stands in for a missing key.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from syncdb_tui.core.errors import UsageError
from syncdb_tui.core.sqltext import quote_ident, quote_literal

CTID = "ctid"
"""The pseudo-column used as the row key of a table without a primary key."""
CTID_ALIAS = "syncdb$ctid"


@dataclass(frozen=True)
class TableRef:
    """A relation by schema and name."""

    schema: str
    name: str

    @property
    def sql(self) -> str:
        """The quoted, schema-qualified name."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"

    @classmethod
    def parse(cls, text: str, default_schema: str = "public") -> TableRef:
        """``schema.table`` or ``table`` (a name holding a dot needs the schema written out)."""
        if "." in text:
            schema, _, name = text.partition(".")
            return cls(schema, name)
        return cls(default_schema, text)


class Operator(enum.Enum):
    """The filter builder's operators; the value is what the user sees."""

    EQ = "="
    NE = "≠"
    LT = "<"
    GT = ">"
    LE = "≤"
    GE = "≥"
    LIKE = "like"
    ILIKE = "ilike"
    IS_NULL = "is null"
    NOT_NULL = "is not null"
    IN = "in"

    @property
    def takes_value(self) -> bool:
        return self not in (Operator.IS_NULL, Operator.NOT_NULL)

    @classmethod
    def parse(cls, text: str) -> Operator:
        """An operator from its symbol, its ASCII spelling (``!=``, ``<=``, ``>=``) or its name."""
        aliases = {"!=": "≠", "<>": "≠", "<=": "≤", ">=": "≥", "==": "="}
        wanted = aliases.get(text.strip().lower(), text.strip().lower())
        for op in cls:
            if wanted in (op.value, op.name.lower()):
                return op
        raise UsageError(
            f"unknown filter operator {text!r}",
            hint="use one of: " + ", ".join(op.value for op in cls),
        )


_SQL_OPERATOR = {
    Operator.EQ: "=",
    Operator.NE: "<>",
    Operator.LT: "<",
    Operator.GT: ">",
    Operator.LE: "<=",
    Operator.GE: ">=",
}


@dataclass(frozen=True)
class Filter:
    """One condition: ``column operator value`` (value ignored for is [not] null)."""

    column: str
    op: Operator
    value: str | None = None
    """The user's text; for ``in`` a comma-separated list. Always sent as a parameter."""

    def describe(self) -> str:
        if not self.op.takes_value:
            return f"{self.column} {self.op.value}"
        return f"{self.column} {self.op.value} {self.value!r}"


@dataclass(frozen=True)
class Sort:
    """Order of the grid: one column (plus the row key as a tie-breaker)."""

    column: str
    descending: bool = False


@dataclass(frozen=True)
class KeyColumn:
    """One column of the ordering key with what the builder needs to know about it."""

    name: str
    sql_type: str
    nullable: bool = False

    @property
    def expr(self) -> str:
        return CTID if self.name == CTID else quote_ident(self.name)


class Params:
    """Collects bound parameters and hands out ``$n`` placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def cast_text(placeholder: str, sql_type: str) -> str:
    """``placeholder`` sent as text and cast to ``sql_type`` (a catalog type name, never user text)."""
    if sql_type in ("text", "character varying", "unknown"):
        return f"{placeholder}::text"
    return f"CAST({placeholder}::text AS {sql_type})"


def split_in_values(text: str) -> list[str]:
    """The items of an ``in`` value: comma-separated, whitespace trimmed, empty items dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def filter_sql(flt: Filter, sql_type: str, params: Params) -> str:
    """One filter as a boolean SQL expression; its value goes into ``params``."""
    column = quote_ident(flt.column)
    if flt.op is Operator.IS_NULL:
        return f"{column} IS NULL"
    if flt.op is Operator.NOT_NULL:
        return f"{column} IS NOT NULL"
    if flt.value is None:
        raise UsageError(f"the filter on {flt.column} needs a value", hint="type a value, or use is null")
    if flt.op in (Operator.LIKE, Operator.ILIKE):
        keyword = "LIKE" if flt.op is Operator.LIKE else "ILIKE"
        return f"{column}::text {keyword} {params.add(flt.value)}::text"
    if flt.op is Operator.IN:
        items = split_in_values(flt.value)
        if not items:
            raise UsageError(f"the in-filter on {flt.column} has no values", hint="write a, b, c")
        placeholder = params.add(items)
        if sql_type in ("text", "character varying"):
            return f"{column} = ANY({placeholder}::text[])"
        return f"{column} = ANY(ARRAY(SELECT CAST(v AS {sql_type}) FROM unnest({placeholder}::text[]) AS v))"
    return f"{column} {_SQL_OPERATOR[flt.op]} {cast_text(params.add(flt.value), sql_type)}"


def where_sql(filters: Sequence[Filter], types: dict[str, str], params: Params) -> list[str]:
    """The filters as a list of conditions (AND-ed by the caller).

    Raises:
        UsageError: a filter names a column the table does not have.
    """
    conditions = []
    for flt in filters:
        if flt.column not in types:
            raise UsageError(
                f"there is no column {flt.column!r} to filter on",
                hint="pick one of: " + ", ".join(types),
            )
        conditions.append(filter_sql(flt, types[flt.column], params))
    return conditions


def _row(exprs: Sequence[str]) -> str:
    return exprs[0] if len(exprs) == 1 else "(" + ", ".join(exprs) + ")"


def keyset_after(keys: Sequence[KeyColumn], values: Sequence[Any], descending: bool, params: Params) -> str:
    """The condition "strictly after the row with ``values``" in the order of ``keys``.

    Ascending order puts NULLs last and descending puts them first (PostgreSQL's
    defaults, so a plain btree index serves both). Only the first key may be
    nullable (the sort column); the rest is the row key, never NULL.
    """
    comparison = "<" if descending else ">"
    head, head_value = keys[0], values[0]
    if not head.nullable:
        placeholders = [params.add(value) for value in values]
        return f"{_row([key.expr for key in keys])} {comparison} {_row(placeholders)}"
    rest = keys[1:]
    rest_values = values[1:]
    if head_value is None:
        tail = [params.add(value) for value in rest_values]
        within_nulls = f"({head.expr} IS NULL AND {_row([k.expr for k in rest])} {comparison} {_row(tail)})"
        return f"({within_nulls} OR {head.expr} IS NOT NULL)" if descending else within_nulls
    placeholders = [params.add(value) for value in values]
    after = f"{_row([key.expr for key in keys])} {comparison} {_row(placeholders)}"
    return after if descending else f"({after} OR {head.expr} IS NULL)"


def order_sql(keys: Sequence[KeyColumn], descending: bool) -> str:
    direction = " DESC" if descending else ""
    return ", ".join(f"{key.expr}{direction}" for key in keys)


@dataclass(frozen=True)
class PageQuery:
    """A built statement and its bound values."""

    sql: str
    params: tuple[Any, ...] = field(default_factory=tuple)
    reverse: bool = False
    """The rows come back in reverse display order (a previous or last page)."""


def select_list(columns: Sequence[str], keyless: bool) -> str:
    listed = ", ".join(quote_ident(name) for name in columns)
    if keyless:
        listed += f", ctid AS {quote_ident(CTID_ALIAS)}"
    return listed


def page_query(
    table: TableRef,
    columns: Sequence[str],
    types: dict[str, str],
    keys: Sequence[KeyColumn],
    *,
    filters: Sequence[Filter] = (),
    descending: bool = False,
    after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None,
    last: bool = False,
    limit: int = 100,
) -> PageQuery:
    """A keyset page of ``table``: the first one, the one ``after``/``before`` a row's key, or the last.

    ``keys`` is the ordering key (sort column first if any, then the row key);
    ``descending`` is the display order. One row more than ``limit`` is fetched
    so the caller knows whether another page follows.
    """
    params = Params()
    conditions = where_sql(filters, types, params)
    reverse = before is not None or last
    walk_descending = descending != reverse
    boundary = before if before is not None else after
    if boundary is not None:
        conditions.append(keyset_after(keys, boundary, walk_descending, params))
    keyless = any(key.name == CTID for key in keys)
    sql = f"SELECT {select_list(columns, keyless)} FROM {table.sql}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += f" ORDER BY {order_sql(keys, walk_descending)} LIMIT {int(limit) + 1}"
    return PageQuery(sql, tuple(params.values), reverse)


def offset_query(
    table: TableRef, columns: Sequence[str], keys: Sequence[KeyColumn], offset: int, limit: int
) -> PageQuery:
    """The OFFSET page the keyset page replaces (the benchmark's baseline)."""
    keyless = any(key.name == CTID for key in keys)
    sql = (
        f"SELECT {select_list(columns, keyless)} FROM {table.sql} ORDER BY {order_sql(keys, False)} "
        f"LIMIT {int(limit)} OFFSET {int(offset)}"
    )
    return PageQuery(sql)


def filtered_query(
    table: TableRef,
    columns: Sequence[str],
    types: dict[str, str],
    keys: Sequence[KeyColumn],
    filters: Sequence[Filter],
    descending: bool = False,
) -> PageQuery:
    """Every row of the filtered view in display order (for export)."""
    params = Params()
    conditions = where_sql(filters, types, params)
    sql = f"SELECT {select_list(columns, False)} FROM {table.sql}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    if keys:
        sql += f" ORDER BY {order_sql(keys, descending)}"
    return PageQuery(sql, tuple(params.values))


def count_query(table: TableRef, types: dict[str, str], filters: Sequence[Filter]) -> PageQuery:
    """``count(*)`` of the filtered view."""
    params = Params()
    conditions = where_sql(filters, types, params)
    sql = f"SELECT count(*) FROM {table.sql}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    return PageQuery(sql, tuple(params.values))


def key_match(keys: Sequence[KeyColumn], values: Sequence[Any], params: Params) -> str:
    """``(k1, k2) = ($n, $m)`` for one row's key."""
    return " AND ".join(f"{key.expr} = {params.add(value)}" for key, value in zip(keys, values, strict=True))


def row_query(table: TableRef, columns: Sequence[str], keys: Sequence[KeyColumn], values: Sequence[Any]) -> PageQuery:
    """The one row whose key is ``values``."""
    params = Params()
    keyless = any(key.name == CTID for key in keys)
    sql = f"SELECT {select_list(columns, keyless)} FROM {table.sql} WHERE {key_match(keys, values, params)}"
    return PageQuery(sql, tuple(params.values))


def render_params(params: Sequence[Any]) -> str:
    """The bound values as SQL comment lines (``-- $1 = 'x'``), to show next to a statement."""
    lines = []
    for index, value in enumerate(params, start=1):
        if value is None:
            shown = "NULL"
        elif isinstance(value, str):
            shown = quote_literal(value)
        else:
            shown = repr(value)
        lines.append(f"-- ${index} = {shown}")
    return "\n".join(lines)
