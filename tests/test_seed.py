"""`syncdb seed`: deterministic demo data, scale, refusals, confirmation, --reset, user seed callables."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures_devloop import config_for, env_for, fetch, upgrade_url, write_module

from syncdb_tui.core.errors import ConfigError, OperationError, RefusedError
from syncdb_tui.core.events import JobProgress
from syncdb_tui.core.seed import SeedResult, seed_environment
from syncdb_tui.demo.seed import DEMO_TABLES, plan

FINGERPRINT = "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h, count(*) AS n FROM {} t"


def fingerprints(url: str, tables: tuple[str, ...] = DEMO_TABLES) -> dict[str, tuple[str, int]]:
    result = {}
    for table in tables:
        row = fetch(url, FINGERPRINT.format(table))[0]
        result[table] = (row["h"], row["n"])
    return result


@pytest.fixture
def head_db(fresh_db: Callable[..., str]) -> str:
    url = fresh_db()
    upgrade_url(url, "head")
    return url


async def test_same_seed_gives_the_same_data(fresh_db: Callable[..., str], tmp_path: Path) -> None:
    first, second = fresh_db(), fresh_db()
    for url in (first, second):
        upgrade_url(url, "head")
    config = config_for(tmp_path, {"a": first, "b": second})
    events: list[JobProgress] = []
    started = time.perf_counter()
    result_a = await seed_environment(config, env_for(first, "a"), progress=events.append)
    elapsed = time.perf_counter() - started
    result_b = await seed_environment(config, env_for(second, "b"))
    assert result_a.tables == result_b.tables
    assert set(result_a.tables) == set(DEMO_TABLES)
    assert 2_000 <= result_a.total_rows <= 10_000
    assert elapsed < 2.0
    assert fingerprints(first) == fingerprints(second)
    # progress reports rows against the known total, ending at it
    assert events and events[-1].done == events[-1].total == result_a.total_rows
    # sequences continue after the seeded ids: a plain INSERT works
    rows = fetch(
        first, "INSERT INTO aibotkit_users (email, password_hash) VALUES ('new@example.com', 'x') RETURNING id"
    )
    assert rows[0]["id"] == result_a.tables["aibotkit_users"] + 1


async def test_seed_data_is_realistic_and_consistent(head_db: str, tmp_path: Path) -> None:
    config = config_for(tmp_path, {"dev": head_db})
    await seed_environment(config, env_for(head_db))
    emails = fetch(head_db, "SELECT email FROM aibotkit_users")
    assert all("@" in row["email"] for row in emails)
    orphans = fetch(
        head_db,
        "SELECT count(*) AS n FROM aibotkit_messages m"
        " LEFT JOIN aibotkit_conversations c ON c.id = m.conversation_id WHERE c.id IS NULL",
    )
    assert orphans[0]["n"] == 0
    out_of_order = fetch(
        head_db,
        "SELECT count(*) AS n FROM aibotkit_messages m"
        " JOIN aibotkit_conversations c ON c.id = m.conversation_id"
        " JOIN aibotkit_chatbots b ON b.id = c.chatbot_id JOIN aibotkit_users u ON u.id = b.user_id"
        " WHERE m.created_at < b.created_at OR b.created_at < u.created_at",
    )
    assert out_of_order[0]["n"] == 0
    roles = {row["role"] for row in fetch(head_db, "SELECT DISTINCT role FROM aibotkit_messages")}
    assert roles == {"user", "assistant"}
    style = fetch(head_db, "SELECT style->>'primary_color' AS c FROM aibotkit_chatbots LIMIT 1")[0]["c"]
    assert style.startswith("#")


async def test_scale_multiplies_the_rows(fresh_db: Callable[..., str], tmp_path: Path) -> None:
    small, large = fresh_db(), fresh_db()
    for url in (small, large):
        upgrade_url(url, "head")
    config = config_for(tmp_path, {"small": small, "large": large})
    result_small = await seed_environment(config, env_for(small, "small"), scale=0.5)
    result_large = await seed_environment(config, env_for(large, "large"), scale=4)
    assert result_large.tables["aibotkit_messages"] == 8 * result_small.tables["aibotkit_messages"]
    assert (
        fetch(large, "SELECT count(*) AS n FROM aibotkit_messages")[0]["n"] == result_large.tables["aibotkit_messages"]
    )
    assert plan(3400).messages >= 10_000_000


async def test_adapts_to_a_database_at_0006(fresh_db: Callable[..., str], tmp_path: Path) -> None:
    url = fresh_db()
    upgrade_url(url, "0006")
    config = config_for(tmp_path, {"dev": url})
    result = await seed_environment(config, env_for(url))
    assert "aibotkit_analytics" not in result.tables
    assert result.tables["aibotkit_chatbots"] == plan(1).chatbots
    # the same database migrated afterwards keeps its data and gets the new column's default
    upgrade_url(url, "head")
    assert fetch(url, "SELECT bool_or(analytics_enabled) AS b FROM aibotkit_chatbots")[0]["b"] is False


async def test_refused_on_a_protected_environment_whatever_the_flags(head_db: str, tmp_path: Path) -> None:
    config = config_for(tmp_path, {"prod": head_db})
    with pytest.raises(RefusedError, match="protected"):
        await seed_environment(
            config, env_for(head_db, "prod", protected=True), reset=True, confirm_nonempty=lambda q: True
        )
    assert fetch(head_db, "SELECT count(*) AS n FROM aibotkit_users")[0]["n"] == 0


async def test_nonempty_database_needs_confirmation_and_reset_truncates(head_db: str, tmp_path: Path) -> None:
    config = config_for(tmp_path, {"dev": head_db})
    env = env_for(head_db)
    first = await seed_environment(config, env)
    before = fingerprints(head_db)
    with pytest.raises(RefusedError, match="already holds data"):
        await seed_environment(config, env)
    with pytest.raises(RefusedError):
        await seed_environment(config, env, confirm_nonempty=lambda question: False)
    assert fingerprints(head_db) == before
    questions: list[str] = []
    await seed_environment(config, env, confirm_nonempty=lambda q: questions.append(q) or True)
    assert "already hold data" in questions[0]
    count = fetch(head_db, "SELECT count(*) AS n, count(DISTINCT email) AS d FROM aibotkit_users")[0]
    assert count["n"] == count["d"] == 2 * first.tables["aibotkit_users"]
    reset = await seed_environment(config, env, reset=True, confirm_nonempty=lambda q: "truncate" in q)
    assert set(reset.truncated) >= set(DEMO_TABLES)
    assert fingerprints(head_db) == before


async def test_user_seed_callable_async(head_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"userseed_{uuid.uuid4().hex[:8]}"
    write_module(
        tmp_path,
        name,
        """
        async def seed(conn, options):
            rows = [(f"u{i}@example.com", "hash") for i in range(int(10 * options.scale))]
            await conn.copy_records_to_table("aibotkit_users", records=rows, columns=["email", "password_hash"])
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = config_for(tmp_path, {"dev": head_db}, seed=f"{name}:seed")
    result = await seed_environment(config, env_for(head_db), scale=3)
    assert result.tables == {"aibotkit_users": 30}
    assert result.total_rows == 30
    assert result.source == f"{name}:seed"


async def test_user_seed_callable_sync(head_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"userseed_{uuid.uuid4().hex[:8]}"
    write_module(
        tmp_path,
        name,
        """
        from sqlalchemy import text

        def seed(conn, options):
            for i in range(5):
                conn.execute(text("INSERT INTO aibotkit_teams (name) VALUES (:n)"), {"n": f"team {i}"})
            return 5
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = config_for(tmp_path, {"dev": head_db}, seed=f"{name}:seed")
    result = await seed_environment(config, env_for(head_db))
    assert result.total_rows == 5
    assert result.tables == {"aibotkit_teams": 5}
    assert fetch(head_db, "SELECT count(*) AS n FROM aibotkit_teams")[0]["n"] == 5


async def test_failing_or_invalid_seed_callable(head_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"userseed_{uuid.uuid4().hex[:8]}"
    write_module(
        tmp_path,
        name,
        """
        async def seed(conn, options):
            await conn.execute("INSERT INTO aibotkit_teams (name) VALUES ('x')")
            await conn.execute("INSERT INTO no_such_table VALUES (1)")
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = config_for(tmp_path, {"dev": head_db}, seed=f"{name}:seed")
    with pytest.raises(OperationError, match="no_such_table"):
        await seed_environment(config, env_for(head_db))
    config = config_for(tmp_path, {"dev": head_db}, seed=f"{name}:nope")
    with pytest.raises(ConfigError, match="nope"):
        await seed_environment(config, env_for(head_db))


def test_cli_seed(head_db: str, fresh_db: Callable[..., str], tmp_path: Path, run_cli: Callable[..., object]) -> None:
    prod = fresh_db()
    upgrade_url(prod, "0006")
    config_for(tmp_path, {"dev": head_db, "prod": prod}, seed="syncdb_tui.demo.seed:seed")
    result = run_cli("seed", "--json", "--scale", "0.5", cwd=tmp_path)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["environment"] == "dev"
    assert data["total_rows"] == sum(data["tables"].values()) > 1000
    again = run_cli("seed", cwd=tmp_path)
    assert again.code == 3
    assert "already holds data" in again.err and "Traceback" not in again.err
    typed = run_cli("seed", "--reset", "--scale", "0.5", cwd=tmp_path, stdin="dev\n")
    assert typed.code == 0, typed.err
    assert "Type the environment's name" in typed.err
    mistyped = run_cli("seed", "--reset", cwd=tmp_path, stdin="prod\n")
    assert mistyped.code == 3
    forced = run_cli("seed", "--reset", "--force", "--scale", "0.5", cwd=tmp_path)
    assert forced.code == 0, forced.err
    assert "aibotkit_messages" in forced.out
    refused = run_cli("seed", "--env", "prod", "--force", cwd=tmp_path)
    assert refused.code == 3
    assert "protected" in refused.err
    assert fetch(prod, "SELECT count(*) AS n FROM aibotkit_users")[0]["n"] == 0


def test_seed_result_json() -> None:
    result = SeedResult(tables={"t": 10}, total_rows=10, seconds=0.5, source="m:f", environment="dev")
    assert result.to_json()["rows_per_second"] == 20
