"""The explorer's engine against a real PostgreSQL (issue 6): catalog, pages, counts, export, edits, errors."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from syncdb_tui.config import Config
from syncdb_tui.core.errors import OperationError, RefusedError, UnreachableError, UsageError
from syncdb_tui.core.events import JobProgress
from syncdb_tui.core.explorer.catalog import TableInfo
from syncdb_tui.core.explorer.edit import apply_edit, plan_delete, plan_insert, plan_update
from syncdb_tui.core.explorer.export import export_csv
from syncdb_tui.core.explorer.query import Filter, Operator, Sort, TableRef
from syncdb_tui.core.explorer.session import (
    ExplorerSession,
    ViewState,
    create_statement,
    follow_foreign_key,
    open_session,
    row_as_json,
    sort_plan,
)

CUSTOMERS = TableRef("public", "customers")
ORDERS = TableRef("public", "orders")


@pytest.fixture
async def dev(
    tmp_path: Path, shop_url: str, make_explorer_config: Callable[..., Config]
) -> AsyncIterator[ExplorerSession]:
    session = await open_session(make_explorer_config(tmp_path, shop_url, explorer_page_size=20), "dev")
    yield session
    await session.close()


@pytest.fixture
async def prod(
    tmp_path: Path, shop_url: str, make_explorer_config: Callable[..., Config]
) -> AsyncIterator[ExplorerSession]:
    session = await open_session(make_explorer_config(tmp_path, shop_url), "prod")
    yield session
    await session.close()


async def walk(session: ExplorerSession, info: TableInfo, view: ViewState, backwards: bool = False) -> list[Any]:
    """Every first-column value of ``view``, page by page (from the end when ``backwards``)."""
    seen: list[Any] = []
    page = await session.page(info, view, "last" if backwards else "first")
    while True:
        values = [row[0] for row in page.rows]
        seen = values + seen if backwards else seen + values
        if (backwards and not page.has_prev) or (not backwards and not page.has_next):
            return seen
        page = await session.page(
            info, view, "prev" if backwards else "next", page.keys[0] if backwards else page.keys[-1]
        )


async def test_catalog_lists_relations_with_estimates(dev: ExplorerSession) -> None:
    relations = {str(r.table): r for r in await dev.relations()}
    assert set(relations) == {
        "public.customers",
        "public.orders",
        "public.logs",
        "public.pro_customers",
        'public.we"ird täble',
    }
    assert relations["public.customers"].estimated_rows == 250
    assert relations["public.customers"].total_bytes and relations["public.customers"].total_bytes > 8192
    assert relations["public.pro_customers"].kind == "view"


async def test_describe_shows_columns_keys_indexes_constraints_and_both_fk_directions(dev: ExplorerSession) -> None:
    info = await dev.describe(CUSTOMERS)
    assert info.primary_key == ("id",)
    email = info.column("email")
    assert (email.sql_type, email.nullable, email.comment) == ("text", True, "login address")
    assert "2024-01-01" in (info.column("created_at").default or "")
    assert {i.name: i.valid for i in info.indexes} == {
        "customers_pkey": True,
        "customers_email_key": True,
        "customers_name_idx": True,
    }
    assert {c.name: c.kind for c in info.constraints} == {
        "tier_known": "check",
        "customers_email_key": "unique",
        "customers_pkey": "primary key",
    }
    assert [fk.table for fk in info.referenced_by] == [ORDERS]
    orders = await dev.describe(ORDERS)
    assert orders.foreign_keys[0].referenced == CUSTOMERS
    assert orders.foreign_keys[0].columns == ("customer_id",)
    ddl = create_statement(info)
    assert ddl.startswith('CREATE TABLE "public"."customers" (')
    assert "CREATE INDEX customers_name_idx ON public.customers USING btree (name);" in ddl
    assert "COMMENT ON COLUMN" in ddl and "CHECK (tier = ANY" in ddl


async def test_create_statement_rebuilds_a_table_that_postgres_accepts(
    dev: ExplorerSession, fresh_db: Callable[..., str], psql_exec: Callable[[str, str], str]
) -> None:
    other = fresh_db()
    ddl = create_statement(await dev.describe(CUSTOMERS))
    psql_exec(other, ddl)
    assert "customers_name_idx" in psql_exec(other, "SELECT indexname FROM pg_indexes WHERE tablename='customers'")


async def test_pages_forward_and_backward_cover_every_row_once(dev: ExplorerSession) -> None:
    info = await dev.describe(CUSTOMERS)
    view = ViewState(CUSTOMERS)
    forward = await walk(dev, info, view)
    assert forward == list(range(1, 251))
    assert await walk(dev, info, view, backwards=True) == forward


@pytest.mark.parametrize("column", ["tier", "name", "profile"])
@pytest.mark.parametrize("descending", [False, True])
async def test_sorted_pages_match_order_by(dev: ExplorerSession, column: str, descending: bool) -> None:
    info = await dev.describe(CUSTOMERS)
    view = ViewState(CUSTOMERS, Sort(column, descending))
    forward = await walk(dev, info, view)
    direction = "DESC" if descending else "ASC"
    async with dev.connection() as conn:
        expected = [
            r[0] for r in await conn.fetch(f'SELECT id FROM customers ORDER BY "{column}" {direction}, id {direction}')
        ]
    assert forward == expected
    assert await walk(dev, info, view, backwards=True) == expected


async def test_sort_plan_says_whether_an_index_serves_it(dev: ExplorerSession) -> None:
    info = await dev.describe(CUSTOMERS)
    indexed = sort_plan(info, Sort("name"))
    assert indexed.indexed and "customers_name_idx" in indexed.message
    scan = sort_plan(info, Sort("tier"))
    assert not scan.indexed and "scans" in scan.message and "~250 rows" in scan.message


async def test_keyless_table_pages_in_ctid_order_with_a_note(dev: ExplorerSession) -> None:
    view = await dev.open_table(ViewState(TableRef("public", "logs")))
    assert "ctid" in view.notes[0]
    assert await walk(dev, view.info, ViewState(view.info.table)) == [f"line {i}" for i in range(1, 31)]
    assert await walk(dev, view.info, ViewState(view.info.table), backwards=True) == [f"line {i}" for i in range(1, 31)]


async def test_views_page_with_offset(dev: ExplorerSession) -> None:
    info = await dev.describe(TableRef("public", "pro_customers"))
    assert info.kind == "view" and info.row_key == ()
    rows = await walk(dev, info, ViewState(info.table, Sort("id")))
    assert rows == [i for i in range(1, 251) if i % 3 == 2]
    assert await walk(dev, info, ViewState(info.table, Sort("id")), backwards=True) == rows


async def test_filters_estimate_and_exact_count(dev: ExplorerSession) -> None:
    info = await dev.describe(CUSTOMERS)
    view = ViewState(CUSTOMERS, None, (Filter("tier", Operator.EQ, "pro"), Filter("id", Operator.LE, "30")))
    assert await walk(dev, info, view) == [i for i in range(1, 31) if i % 3 == 2]
    assert await dev.count_exact(info, view) == 10
    assert isinstance(await dev.estimate(info, view), int)
    assert await dev.estimate(info, ViewState(CUSTOMERS)) == 250
    nulls = ViewState(CUSTOMERS, None, (Filter("tier", Operator.IS_NULL),))
    assert await dev.count_exact(info, nulls) == 83
    like = ViewState(CUSTOMERS, None, (Filter("email", Operator.ILIKE, "C24_@EXAMPLE.COM"),))
    assert await walk(dev, info, like) == list(range(240, 250))


async def test_exact_count_can_be_cancelled(
    dev: ExplorerSession, psql_exec: Callable[[str, str], str], shop_url: str
) -> None:
    psql_exec(shop_url, "CREATE VIEW slow AS SELECT g AS id FROM generate_series(1, 5) g, pg_sleep(30) s")
    info = await dev.describe(TableRef("public", "slow"))
    task = asyncio.create_task(dev.count_exact(info, ViewState(info.table)))
    activity = (
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid()"
        " AND query LIKE 'SELECT count(*) FROM %slow%'"
    )
    async with dev.connection() as conn:
        for _ in range(100):
            if await conn.fetchval(activity):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the count never started")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with dev.connection() as conn:
        for _ in range(100):
            if not await conn.fetchval(activity):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the count is still running on the server after the cancel")


async def test_follow_foreign_key_to_the_referenced_row(dev: ExplorerSession) -> None:
    orders = await dev.describe(ORDERS)
    page = await dev.page(orders, ViewState(ORDERS), "first")
    row = page.as_dicts()[0]
    fk, target = follow_foreign_key(orders, "customer_id", row)
    assert fk.referenced == CUSTOMERS and target.table == CUSTOMERS
    customers = await dev.describe(CUSTOMERS)
    referenced = await dev.page(customers, target, "first")
    assert [r[0] for r in referenced.rows] == [row["customer_id"]]
    with pytest.raises(UsageError, match="not part of a foreign key"):
        follow_foreign_key(orders, "amount", row)


async def test_row_as_json_nests_jsonb_and_hexes_bytea(dev: ExplorerSession) -> None:
    info = await dev.describe(CUSTOMERS)
    row = (await dev.page(info, ViewState(CUSTOMERS), "first")).as_dicts()[0]
    data = json.loads(row_as_json(row))
    assert data["profile"]["plan"] == {"name": "gold", "seats": 3}
    assert data["avatar"].startswith("\\xabab")
    assert data["created_at"].startswith("2024-01-01T00:00:00")


async def test_export_streams_the_filtered_view_to_csv(dev: ExplorerSession, tmp_path: Path) -> None:
    info = await dev.describe(CUSTOMERS)
    view = ViewState(CUSTOMERS, Sort("id", True), (Filter("id", Operator.LE, "3"),))
    events: list[JobProgress] = []
    result = await export_csv(dev, info, view, tmp_path / "out.csv", progress=events.append)
    assert result.rows == 3 and events[-1].done == 3
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "id,name,email,tier,profile,avatar,created_at"
    rows = list(csv.reader(lines[1:]))
    assert [r[0] for r in rows] == ["3", "2", "1"]
    assert rows[0][3] == "" and lines[1].split(",")[3] == ""  # NULL: empty and unquoted
    assert ',"",' in lines[2]  # the empty name of customer 2 is quoted
    assert not list(tmp_path.glob("*.part"))


async def test_update_insert_delete_in_transactions(dev: ExplorerSession) -> None:
    info = await dev.describe(CUSTOMERS)
    plan = plan_update(dev, info, (5,), "name", "it's five")
    assert plan.shown_sql == (
        'UPDATE "public"."customers" SET "name" = $1::text WHERE "id" = $2 RETURNING *;\n'
        "-- $1 = 'it''s five'\n-- $2 = 5"
    )
    result = await apply_edit(dev, info, plan)
    assert result.rows[0]["name"] == "it's five"
    assert (await dev.fetch_row(info, (5,)))["name"] == "it's five"  # type: ignore[index]
    await apply_edit(dev, info, plan_update(dev, info, (5,), "tier", None))
    assert (await dev.fetch_row(info, (5,)))["tier"] is None  # type: ignore[index]
    inserted = await apply_edit(dev, info, plan_insert(dev, info, {"id": "1000", "name": "new", "profile": '{"a": 1}'}))
    assert inserted.rows[0]["profile"] == {"a": 1}
    assert str(inserted.rows[0]["created_at"]).startswith("2024-01-01")
    await apply_edit(dev, info, plan_delete(dev, info, [(1000,), (250,)]))
    assert await dev.fetch_row(info, (250,)) is None
    assert await dev.count_exact(info, ViewState(CUSTOMERS)) == 249


async def test_constraint_violations_are_clear_and_change_nothing(dev: ExplorerSession) -> None:
    info = await dev.describe(CUSTOMERS)
    cases = [
        (plan_update(dev, info, (3,), "email", "c4@example.com"), "customers_email_key"),
        (plan_update(dev, info, (3,), "tier", "gold"), "tier_known"),
        (plan_update(dev, info, (3,), "name", None), "customers.name cannot be NULL"),
        (plan_delete(dev, info, [(2,)]), "orders_customer_id_fkey"),
    ]
    for plan, words in cases:
        with pytest.raises(OperationError, match=words) as caught:
            await apply_edit(dev, info, plan)
        assert caught.value.title == "constraint violated" and "nothing was changed" in caught.value.message
    with pytest.raises(UsageError, match="invalid input syntax for type integer"):
        await apply_edit(dev, info, plan_insert(dev, info, {"id": "seven", "name": "x"}))
    row = await dev.fetch_row(info, (3,))
    assert row is not None and row["email"] == "c3@example.com"


async def test_an_edit_of_a_vanished_row_rolls_back(
    dev: ExplorerSession, psql_exec: Callable[[str, str], str], shop_url: str
) -> None:
    info = await dev.describe(CUSTOMERS)
    psql_exec(shop_url, "DELETE FROM customers WHERE id = 200")
    with pytest.raises(OperationError, match="rows changed"):
        await apply_edit(dev, info, plan_delete(dev, info, [(199,), (200,)]))
    assert await dev.fetch_row(info, (199,)) is not None


async def test_protected_environment_is_read_only(prod: ExplorerSession) -> None:
    info = await prod.describe(CUSTOMERS)
    with pytest.raises(RefusedError, match="prod is a protected environment"):
        plan_update(prod, info, (1,), "name", "x")
    with pytest.raises(RefusedError):
        plan_delete(prod, info, [(1,)])
    with pytest.raises(RefusedError):
        plan_insert(prod, info, {"name": "x"})
    async with prod.connection() as conn:
        assert await conn.fetchval("SHOW default_transaction_read_only") == "on"
        assert await conn.fetchval("SHOW statement_timeout") == "10s"
    with pytest.raises(RefusedError, match="read-only"):
        async with prod.connection(CUSTOMERS) as conn:
            await conn.execute("UPDATE customers SET name = 'x' WHERE id = 1")


async def test_statement_timeout_is_a_clear_error(
    tmp_path: Path,
    shop_url: str,
    psql_exec: Callable[[str, str], str],
    make_explorer_config: Callable[..., Config],
) -> None:
    psql_exec(shop_url, "CREATE VIEW slow AS SELECT g AS id FROM generate_series(1, 5) g, pg_sleep(5) s")
    session = await open_session(make_explorer_config(tmp_path, shop_url, explorer_statement_timeout=0.3), "dev")
    try:
        info = await session.describe(TableRef("public", "slow"))
        with pytest.raises(OperationError, match=r"statement_timeout of 0\.3 s") as caught:
            await session.page(info, ViewState(info.table), "first")
        assert caught.value.title == "statement timeout"
        assert (await session.page(await session.describe(CUSTOMERS), ViewState(CUSTOMERS), "first")).rows
    finally:
        await session.close()


async def test_dropped_or_altered_table_is_reported_then_recovered(
    dev: ExplorerSession,
    psql_exec: Callable[[str, str], str],
    shop_url: str,
) -> None:
    info = await dev.describe(ORDERS)
    psql_exec(shop_url, "ALTER TABLE orders DROP COLUMN note")
    with pytest.raises(OperationError, match="changed while it was open") as altered:
        await dev.page(info, ViewState(ORDERS), "first")
    assert altered.value.title == "table changed"
    info = await dev.describe(ORDERS)
    assert "note" not in info.column_names and (await dev.page(info, ViewState(ORDERS), "first")).rows
    psql_exec(shop_url, "DROP TABLE orders")
    with pytest.raises(OperationError, match="does not exist") as dropped:
        await dev.page(info, ViewState(ORDERS), "first")
    assert dropped.value.title == "table missing"
    with pytest.raises(OperationError, match=r"table missing|does not exist"):
        await dev.describe(ORDERS)


async def test_lost_connection_is_reported_then_reopened(
    dev: ExplorerSession, psql_exec: Callable[[str, str], str], shop_url: str
) -> None:
    info = await dev.describe(CUSTOMERS)
    psql_exec(
        shop_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'syncdb studio'"
    )
    with pytest.raises(UnreachableError, match="connection to dev was lost"):
        await dev.page(info, ViewState(CUSTOMERS), "first")
    assert len((await dev.page(info, ViewState(CUSTOMERS), "first")).rows) == 20
