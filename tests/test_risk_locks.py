"""The lock-conflict preview against real sessions holding locks or idling in a transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg

from syncdb_tui.core.risk.locks import Blocker, human_duration, lock_conflicts


async def _setup(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, name text);"
            "CREATE TABLE audit (id int);"
            "INSERT INTO accounts SELECT g, 'a' || g FROM generate_series(1, 100) g;"
        )
    finally:
        await conn.close()


def test_session_holding_a_lock_is_named_with_pid_state_and_query(fresh_db: Callable[..., str]) -> None:
    url = fresh_db()

    async def scenario() -> tuple[list[Blocker], int, int]:
        await _setup(url)
        holder = await asyncpg.connect(url)
        ours = await asyncpg.connect(url)
        try:
            holder_pid = await holder.fetchval("SELECT pg_backend_pid()")
            await holder.execute("BEGIN")
            await holder.execute("SELECT count(*) FROM accounts\n-- second line")
            await asyncio.sleep(0.3)
            found = await lock_conflicts(ours, ["accounts", "public.audit"], long_running_seconds=3600)
            own_pid = await ours.fetchval("SELECT pg_backend_pid()")
            await holder.execute("ROLLBACK")
            return found, holder_pid, own_pid
        finally:
            await holder.close()
            await ours.close()

    found, holder_pid, own_pid = asyncio.run(scenario())
    assert [b.pid for b in found] == [holder_pid]
    blocker = found[0]
    assert own_pid not in {b.pid for b in found}
    assert blocker.state == "idle in transaction"
    assert blocker.lock_mode == "ACCESS SHARE" and blocker.table == "accounts" and blocker.granted
    assert blocker.query == "SELECT count(*) FROM accounts"
    assert blocker.user == "postgres" or blocker.user
    assert blocker.sentence.startswith(f"this migration would wait behind pid {holder_pid} (idle in transaction for ")
    assert blocker.to_json()["pid"] == holder_pid


def test_long_idle_transaction_on_other_tables_is_listed_only_past_the_threshold(fresh_db: Callable[..., str]) -> None:
    url = fresh_db()

    async def scenario() -> tuple[list[Blocker], list[Blocker], list[Blocker], int, int]:
        await _setup(url)
        idle = await asyncpg.connect(url)
        busy = await asyncpg.connect(url)
        ours = await asyncpg.connect(url)
        try:
            idle_pid = await idle.fetchval("SELECT pg_backend_pid()")
            busy_pid = await busy.fetchval("SELECT pg_backend_pid()")
            await idle.execute("BEGIN")
            await idle.execute("SELECT count(*) FROM audit")
            sleeper = asyncio.ensure_future(busy.execute("SELECT pg_sleep(3)"))
            await asyncio.sleep(0.2)
            early = await lock_conflicts(ours, ["accounts"], long_running_seconds=1.0)
            await asyncio.sleep(1.3)
            late = await lock_conflicts(ours, ["accounts"], long_running_seconds=1.0)
            no_tables = await lock_conflicts(ours, [], long_running_seconds=1.0)
            await sleeper
            await idle.execute("ROLLBACK")
            return early, late, no_tables, idle_pid, busy_pid
        finally:
            await idle.close()
            await busy.close()
            await ours.close()

    early, late, no_tables, idle_pid, busy_pid = asyncio.run(scenario())
    assert early == []
    assert {b.pid for b in late} == {idle_pid, busy_pid}
    assert {b.pid for b in no_tables} == {idle_pid, busy_pid}
    by_pid = {b.pid: b for b in late}
    assert by_pid[busy_pid].state == "active" and by_pid[busy_pid].query == "SELECT pg_sleep(3)"
    assert by_pid[idle_pid].lock_mode is None and by_pid[idle_pid].duration_seconds >= 1.0
    assert f"pid {idle_pid} has been idle in transaction for" in by_pid[idle_pid].sentence


def test_waiting_session_is_listed_as_waiting(fresh_db: Callable[..., str]) -> None:
    url = fresh_db()

    async def scenario() -> tuple[list[Blocker], int, int]:
        await _setup(url)
        first = await asyncpg.connect(url)
        second = await asyncpg.connect(url)
        ours = await asyncpg.connect(url)
        try:
            first_pid = await first.fetchval("SELECT pg_backend_pid()")
            second_pid = await second.fetchval("SELECT pg_backend_pid()")
            await first.execute("BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
            waiter = asyncio.ensure_future(second.execute("SELECT * FROM accounts"))
            await asyncio.sleep(0.3)
            found = await lock_conflicts(ours, ["accounts"], long_running_seconds=3600)
            await first.execute("COMMIT")
            await waiter
            return found, first_pid, second_pid
        finally:
            await first.close()
            await second.close()
            await ours.close()

    found, first_pid, second_pid = asyncio.run(scenario())
    by_pid = {b.pid: b for b in found}
    assert by_pid[first_pid].lock_mode == "ACCESS EXCLUSIVE" and by_pid[first_pid].granted
    assert by_pid[second_pid].granted is False and "is waiting for ACCESS SHARE" in by_pid[second_pid].sentence


def test_human_duration() -> None:
    assert human_duration(42) == "42 s"
    assert human_duration(360) == "6 min"
    assert human_duration(3 * 3600 + 300) == "3 h 5 min"
