"""The explorer's optional prefetch of the page after a cheap forward page: served from memory when
the next request is exactly that page, never when the data may have changed through the session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from syncdb_tui.config import Config
from syncdb_tui.core.explorer.edit import apply_edit, plan_update
from syncdb_tui.core.explorer.query import TableRef
from syncdb_tui.core.explorer.session import ExplorerSession, ViewState, open_session

CUSTOMERS = TableRef("public", "customers")


@pytest.fixture
async def dev(
    tmp_path: Path, shop_url: str, make_explorer_config: Callable[..., Config]
) -> AsyncIterator[ExplorerSession]:
    session = await open_session(make_explorer_config(tmp_path, shop_url, explorer_page_size=20), "dev")
    session.prefetch = True
    yield session
    await session.close()


async def test_paging_forward_is_served_by_the_prefetch_and_matches_a_fresh_read(dev: ExplorerSession) -> None:
    info = await dev.describe(CUSTOMERS)
    view = ViewState(CUSTOMERS)
    page = await dev.page(info, view, "first")
    seen = [row[0] for row in page.rows]
    served = 0
    while page.has_next:
        ahead = dev._ahead
        assert ahead is not None and ahead.anchor == page.keys[-1]
        await asyncio.sleep(0.01)  # a person's pause between keypresses: the prefetch lands
        page = await dev.page(info, view, "next", page.keys[-1])
        served += ahead.task.done()
        seen.extend(row[0] for row in page.rows)
    assert seen == list(range(1, 251))
    assert served >= 10
    assert dev._ahead is None, "nothing is prefetched past the last page"
    dev.prefetch = False
    fresh = await dev.page(info, view, "next", (20,))
    assert dev._ahead is None
    assert [row[0] for row in fresh.rows] == list(range(21, 41))


async def test_a_change_through_the_session_discards_the_prefetched_page(dev: ExplorerSession) -> None:
    info = await dev.describe(CUSTOMERS)
    view = ViewState(CUSTOMERS)
    first = await dev.page(info, view, "first")
    await asyncio.sleep(0.05)
    assert dev._ahead is not None and dev._ahead.task.done()
    # row 21 is on the prefetched page; change it through the session
    await apply_edit(dev, info, plan_update(dev, info, (21,), "name", "renamed 21"))
    page = await dev.page(info, view, "next", first.keys[-1])
    assert page.rows[0][0] == 21 and page.rows[0][1] == "renamed 21"


async def test_a_different_request_ignores_the_prefetch(dev: ExplorerSession) -> None:
    info = await dev.describe(CUSTOMERS)
    view = ViewState(CUSTOMERS)
    await dev.page(info, view, "first")
    assert dev._ahead is not None
    later = await dev.page(info, view, "next", (100,))
    assert [row[0] for row in later.rows] == list(range(101, 121))
    back = await dev.page(info, view, "prev", (101,))
    assert [row[0] for row in back.rows] == list(range(81, 101))
