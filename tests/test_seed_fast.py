"""The demo seeder's fast paths: binary COPY gives the very rows of the tuple generators, and the
plain indexes set aside for the load of an empty table come back exactly as they were."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest
from fixtures_devloop import execute, fetch, upgrade_url

from syncdb_tui.demo import seed as demo_seed

FINGERPRINT = "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h, count(*) AS n FROM {} t"
INDEXES = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname"


def fingerprints(url: str) -> dict[str, tuple[str, int]]:
    return {table: tuple(fetch(url, FINGERPRINT.format(table))[0]) for table in demo_seed.DEMO_TABLES}


async def seed(url: str, scale: float, batch_size: int = 20_000) -> demo_seed.SeedResult:
    conn = await asyncpg.connect(url)
    try:
        return await demo_seed.seed(conn, demo_seed.SeedOptions(scale=scale, batch_size=batch_size))
    finally:
        await conn.close()


async def test_binary_copy_and_index_rebuild_give_the_same_database(
    fresh_db: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = fresh_db(), fresh_db()
    for url in (fast, slow):
        upgrade_url(url, "head")
    indexes_before = fetch(fast, INDEXES)
    # small batches: several per table, and the rebuild threshold low enough for this scale
    monkeypatch.setattr(demo_seed, "INDEX_REBUILD_ROWS", 1_000)
    events = []
    conn = await asyncpg.connect(fast)
    try:
        fast_result = await demo_seed.seed(
            conn, demo_seed.SeedOptions(scale=4, batch_size=3_000, progress=events.append)
        )
    finally:
        await conn.close()
    assert fast_result.total_rows == events[-1].done == events[-1].total
    assert any(event.phase.startswith("building ") for event in events)
    monkeypatch.setattr(demo_seed, "BINARY", {})
    monkeypatch.setattr(demo_seed, "INDEX_REBUILD_ROWS", 10**12)
    slow_result = await seed(slow, 4, batch_size=3_000)
    assert fast_result.tables == slow_result.tables
    assert fingerprints(fast) == fingerprints(slow)
    assert fetch(fast, INDEXES) == indexes_before == fetch(slow, INDEXES)
    # the sequences continue after the seeded ids
    row = fetch(
        fast, "INSERT INTO aibotkit_messages (conversation_id, role, content) VALUES (1, 'user', 'x') RETURNING id"
    )
    assert row[0]["id"] == fast_result.tables["aibotkit_messages"] + 1


async def test_tables_holding_data_keep_their_indexes_and_types_that_differ_fall_back(
    fresh_db: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_db()
    upgrade_url(url, "head")
    monkeypatch.setattr(demo_seed, "INDEX_REBUILD_ROWS", 1_000)
    await seed(url, 1)
    # a column whose type the binary encoder does not write: that table takes the tuple path
    execute(url, "ALTER TABLE aibotkit_documents ALTER COLUMN pinecone_id TYPE text")
    dropped: list[list[str]] = []
    original = demo_seed._set_aside_indexes

    async def spy(conn: asyncpg.Connection, tables: list[str]) -> list[str]:
        dropped.append(list(tables))
        return await original(conn, tables)

    monkeypatch.setattr(demo_seed, "_set_aside_indexes", spy)
    result = await seed(url, 1)
    assert dropped == [[]], "no table was empty: no index is touched"
    assert result.tables["aibotkit_documents"] == 2 * demo_seed.plan(1).documents // 2
    counts = fetch(url, "SELECT count(*) AS n, count(DISTINCT id) AS d FROM aibotkit_documents")[0]
    assert counts["n"] == counts["d"] == 2 * demo_seed.plan(1).documents
