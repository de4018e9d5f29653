"""The explorer's query builder: quoting, bound values, keyset conditions (issue 6).

The first tests need no server; the last ones send hostile names and injection
attempts to the real PostgreSQL and check they come back as plain data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncdb_tui.core.errors import UsageError
from syncdb_tui.core.explorer.query import (
    Filter,
    KeyColumn,
    Operator,
    Params,
    TableRef,
    filter_sql,
    keyset_after,
    page_query,
    quote_ident,
    render_params,
)

INJECTIONS = [
    "x'; DROP TABLE customers; --",
    "Robert'); DROP TABLE orders;--",
    "1 OR 1=1",
    "$1",
    "' OR ''='",
    "\\'; SELECT pg_sleep(5); --",
    'q"1',
]


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("users", '"users"'),
        ('we"ird', '"we""ird"'),
        ('"', '""""'),
        ("a b", '"a b"'),
        ("select", '"select"'),
        ("ünï", '"ünï"'),
        ('x"; DROP TABLE t; --', '"x""; DROP TABLE t; --"'),
    ],
)
def test_quote_ident_always_quotes_and_doubles_quotes(name: str, quoted: str) -> None:
    assert quote_ident(name) == quoted


def test_quote_ident_refuses_empty_and_nul() -> None:
    with pytest.raises(UsageError):
        quote_ident("")
    with pytest.raises(UsageError):
        quote_ident("a\x00b")


def test_table_ref_is_schema_qualified_and_quoted() -> None:
    assert TableRef("my schema", 'ta"ble').sql == '"my schema"."ta""ble"'
    assert TableRef.parse("orders") == TableRef("public", "orders")
    assert TableRef.parse("sales.orders") == TableRef("sales", "orders")


@pytest.mark.parametrize("value", INJECTIONS)
def test_filter_values_are_parameters_never_sql(value: str) -> None:
    for op in (Operator.EQ, Operator.NE, Operator.LT, Operator.GE, Operator.LIKE, Operator.ILIKE, Operator.IN):
        params = Params()
        sql = filter_sql(Filter("name", op, value), "text", params)
        assert value not in sql.replace("$1", ""), sql
        assert "$1" in sql
        if op is Operator.IN:
            assert params.values == [[item.strip() for item in value.split(",") if item.strip()]]
        else:
            assert params.values == [value]


def test_filter_casts_text_parameter_to_column_type() -> None:
    params = Params()
    assert filter_sql(Filter("id", Operator.GE, "5"), "integer", params) == '"id" >= CAST($1::text AS integer)'
    assert filter_sql(Filter("id", Operator.NE, "5"), "integer", params) == '"id" <> CAST($2::text AS integer)'
    assert filter_sql(Filter("note", Operator.IS_NULL), "text", params) == '"note" IS NULL'
    assert filter_sql(Filter("note", Operator.NOT_NULL), "text", params) == '"note" IS NOT NULL'
    assert params.values == ["5", "5"]


def test_operator_parse_accepts_ascii_spellings() -> None:
    assert Operator.parse("!=") is Operator.NE
    assert Operator.parse("<=") is Operator.LE
    assert Operator.parse("is not null") is Operator.NOT_NULL
    with pytest.raises(UsageError):
        Operator.parse("~~")


def test_unknown_filter_column_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no column 'nope'"):
        page_query(
            TableRef("public", "t"),
            ["id"],
            {"id": "integer"},
            [KeyColumn("id", "integer")],
            filters=[Filter("nope", Operator.EQ, "1")],
        )


def test_keyset_page_uses_row_comparison_and_fetches_one_extra() -> None:
    keys = [KeyColumn("name", "text"), KeyColumn("id", "integer")]
    query = page_query(
        TableRef("public", "t"), ["id", "name"], {"id": "integer", "name": "text"}, keys, after=("bob", 7), limit=100
    )
    assert query.sql == (
        'SELECT "id", "name" FROM "public"."t" WHERE ("name", "id") > ($1, $2) ORDER BY "name", "id" LIMIT 101'
    )
    assert query.params == ("bob", 7)
    assert not query.reverse


def test_previous_and_last_pages_walk_backwards() -> None:
    keys = [KeyColumn("id", "integer")]
    before = page_query(TableRef("public", "t"), ["id"], {"id": "integer"}, keys, before=(50,), limit=10)
    assert '"id" < $1' in before.sql and 'ORDER BY "id" DESC' in before.sql and before.reverse
    last = page_query(TableRef("public", "t"), ["id"], {"id": "integer"}, keys, last=True, limit=10)
    assert "WHERE" not in last.sql and 'ORDER BY "id" DESC' in last.sql and last.reverse
    descending_last = page_query(
        TableRef("public", "t"), ["id"], {"id": "integer"}, keys, last=True, descending=True, limit=10
    )
    assert 'ORDER BY "id" LIMIT' in descending_last.sql


def test_nullable_sort_key_handles_nulls() -> None:
    keys = [KeyColumn("tier", "text", nullable=True), KeyColumn("id", "integer")]
    params = Params()
    assert keyset_after(keys, ("pro", 3), False, params) == '(("tier", "id") > ($1, $2) OR "tier" IS NULL)'
    assert keyset_after(keys, (None, 3), False, params) == '("tier" IS NULL AND "id" > $3)'
    assert keyset_after(keys, (None, 3), True, params) == '(("tier" IS NULL AND "id" < $4) OR "tier" IS NOT NULL)'


def test_keyless_table_pages_on_ctid() -> None:
    query = page_query(
        TableRef("public", "logs"), ["message"], {"message": "text"}, [KeyColumn("ctid", "tid")], after=((0, 5),)
    )
    assert 'ctid AS "syncdb$ctid"' in query.sql and "ctid > $1" in query.sql


def test_render_params_shows_values_as_literals() -> None:
    assert render_params(["it's", None, 5]) == "-- $1 = 'it''s'\n-- $2 = NULL\n-- $3 = 5"


# -- against the real server --------------------------------------------------------------------


@pytest.fixture
async def session(tmp_path: Path, shop_url: str, make_explorer_config: Any):  # type: ignore[no-untyped-def]
    from syncdb_tui.core.explorer.session import open_session

    explorer = await open_session(make_explorer_config(tmp_path, shop_url), "dev")
    yield explorer
    await explorer.close()


async def _rows(session, table: TableRef, filters: list[Filter]) -> list[tuple]:  # type: ignore[no-untyped-def]
    from syncdb_tui.core.explorer.session import ViewState

    info = await session.describe(table)
    page = await session.page(info, ViewState(table, None, tuple(filters)), "first")
    return list(page.rows)


@pytest.mark.parametrize("value", INJECTIONS)
async def test_injection_attempts_are_plain_data_on_the_server(session, value: str) -> None:  # type: ignore[no-untyped-def]
    customers = TableRef("public", "customers")
    for op in (Operator.EQ, Operator.LIKE, Operator.ILIKE, Operator.IN, Operator.NE):
        await _rows(session, customers, [Filter("name", op, value)])
    assert len(await _rows(session, customers, [])) == 100
    assert await _rows(session, TableRef("public", "orders"), [])
    # a value that looks like SQL is found as text when it is the stored text
    weird = TableRef("public", 'we"ird täble')
    stored = await _rows(session, weird, [Filter("a b", Operator.EQ, value)])
    expected = {"x'; DROP TABLE customers; --": [1], "Robert'); DROP TABLE orders;--": [2], "$1": [3]}
    assert [row[0] for row in stored] == expected.get(value, [])


async def test_hostile_table_and_column_names_work(session) -> None:  # type: ignore[no-untyped-def]
    from syncdb_tui.core.explorer.query import Sort
    from syncdb_tui.core.explorer.session import ViewState

    weird = TableRef("public", 'we"ird täble')
    info = await session.describe(weird)
    assert info.column_names == ("select", "a b", "ünï", 'quo"te')
    assert info.primary_key == ("select",)
    assert [row[0] for row in await _rows(session, weird, [Filter('quo"te', Operator.EQ, 'q"2')])] == [2]
    assert [row[0] for row in await _rows(session, weird, [Filter("ünï", Operator.IS_NULL)])] == [3]
    assert [row[0] for row in await _rows(session, weird, [Filter("select", Operator.IN, "1, 3")])] == [1, 3]
    page = await session.page(info, ViewState(weird, Sort('quo"te', descending=True)), "first")
    assert [row[0] for row in page.rows] == [2, 1, 3]


async def test_a_bad_value_for_the_column_type_is_a_clear_usage_error(session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match='invalid input syntax for type integer: "abc"'):
        await _rows(session, TableRef("public", "customers"), [Filter("id", Operator.EQ, "abc")])
