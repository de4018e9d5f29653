"""`syncdb push`: apply the models to a dev database in one transaction, with SQL, risks and a marker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures_devloop import config_for, env_for, execute, fetch, upgrade_url, write_module

from syncdb_tui.core.envs.environments import connection
from syncdb_tui.core.errors import OperationError, RefusedError
from syncdb_tui.core.schema.diff import snapshot
from syncdb_tui.core.schema.drift import compute_drift_async
from syncdb_tui.core.schema.push import clear_push_marker, plan_push, push, read_push_marker

SHRUNK_MODELS = """
from sqlalchemy import Column, Integer, MetaData, String, Table

metadata = MetaData()
Table("people", metadata,
      Column("id", Integer, primary_key=True),
      Column("name", String(100), nullable=False))
"""


def custom_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> str:
    name = f"pushmodels_{uuid.uuid4().hex[:8]}"
    write_module(tmp_path, name, source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{name}:metadata"


async def marker_of(url: str) -> object:
    async with connection(env_for(url)) as conn:
        return await read_push_marker(conn)


async def test_push_applies_the_models_and_marks_the_database(db_url: str, tmp_path: Path) -> None:
    upgrade_url(db_url, "0006")
    config = config_for(tmp_path, {"dev": db_url})
    env = env_for(db_url)
    assert await marker_of(db_url) is None
    plan = await plan_push(config, env)
    assert "CREATE TABLE aibotkit_analytics" in plan.sql
    assert "ADD COLUMN analytics_enabled BOOLEAN DEFAULT false NOT NULL" in plan.sql
    assert plan.destructive == ()
    assert plan.risk in {"LOW", "MEDIUM", "UNKNOWN"}
    result = await push(config, env, plan=plan)
    assert result.applied
    assert (await compute_drift_async(config, env)).is_empty
    marker = await marker_of(db_url)
    assert marker is not None
    assert marker.revision == "0006"
    assert "aibotkit_analytics" in marker.summary
    assert "generate a revision" in marker.message and "stamp" in marker.message
    assert marker.to_json()["statements"] == len(plan.statements)
    # the version table is untouched: the database is ahead of its migrations, not migrated
    assert [row[0] for row in fetch(db_url, "SELECT version_num FROM alembic_version")] == ["0006"]
    # a second push has nothing to do
    assert (await plan_push(config, env)).is_empty
    async with connection(env) as conn:
        await clear_push_marker(conn)
    assert await marker_of(db_url) is None


async def test_push_refused_on_protected_whatever_the_flags(db_url: str, tmp_path: Path) -> None:
    upgrade_url(db_url, "0006")
    config = config_for(tmp_path, {"prod": db_url})
    prod = env_for(db_url, "prod", protected=True)
    with pytest.raises(RefusedError, match="protected"):
        await plan_push(config, prod)
    with pytest.raises(RefusedError, match="protected"):
        await push(config, prod, allow_destructive=True)
    assert fetch(db_url, "SELECT to_regclass('aibotkit_analytics') AS t")[0]["t"] is None


async def test_destructive_push_needs_permission(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    execute(db_url, "CREATE TABLE people (id serial PRIMARY KEY, name varchar(100) NOT NULL, age int);")
    execute(db_url, "CREATE TABLE leftovers (id int); INSERT INTO people (name, age) VALUES ('Ada', 36)")
    config = config_for(tmp_path, {"dev": db_url}, target_metadata=custom_models(tmp_path, monkeypatch, SHRUNK_MODELS))
    env = env_for(db_url)
    plan = await plan_push(config, env)
    assert any("drops column people.age" in reason for reason in plan.destructive)
    assert any("drops table leftovers" in reason for reason in plan.destructive)
    with pytest.raises(RefusedError, match="lose data"):
        await push(config, env, plan=plan)
    assert fetch(db_url, "SELECT age FROM people")[0]["age"] == 36
    result = await push(config, env, plan=plan, allow_destructive=True)
    assert result.applied
    columns = {
        row["column_name"]
        for row in fetch(db_url, "SELECT column_name FROM information_schema.columns WHERE table_name = 'people'")
    }
    assert columns == {"id", "name"}


async def test_lossy_type_change_is_destructive_widening_is_not(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    execute(db_url, "CREATE TABLE people (id serial PRIMARY KEY, name varchar(50) NOT NULL)")
    config = config_for(tmp_path, {"dev": db_url}, target_metadata=custom_models(tmp_path, monkeypatch, SHRUNK_MODELS))
    widening = await plan_push(config, env_for(db_url))
    assert "ALTER COLUMN name TYPE VARCHAR(100)" in widening.sql
    assert widening.destructive == ()
    execute(db_url, "ALTER TABLE people ALTER COLUMN name TYPE text")
    narrowing = await plan_push(config, env_for(db_url))
    assert any("changes the type of people.name" in reason for reason in narrowing.destructive)


async def test_failed_push_rolls_everything_back(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = SHRUNK_MODELS + (
        'Table("pets", metadata, Column("id", Integer, primary_key=True))\n'
        'metadata.tables["people"].append_column(Column("email", String(100), nullable=False))\n'
    )
    execute(db_url, "CREATE TABLE people (id serial PRIMARY KEY, name varchar(100) NOT NULL)")
    execute(db_url, "INSERT INTO people (name) VALUES ('Ada')")
    config = config_for(tmp_path, {"dev": db_url}, target_metadata=custom_models(tmp_path, monkeypatch, models))
    before = await snapshot(env_for(db_url))
    with pytest.raises(OperationError, match="rolled back") as caught:
        await push(config, env_for(db_url))
    assert "email" in caught.value.message
    assert await snapshot(env_for(db_url)) == before
    assert await marker_of(db_url) is None


async def test_push_aborts_when_the_database_changed_since_the_plan(db_url: str, tmp_path: Path) -> None:
    upgrade_url(db_url, "0006")
    config = config_for(tmp_path, {"dev": db_url})
    plan = await plan_push(config, env_for(db_url))
    execute(db_url, "ALTER TABLE aibotkit_chatbots ADD COLUMN analytics_enabled boolean NOT NULL DEFAULT false")
    with pytest.raises(OperationError, match="changed"):
        await push(config, env_for(db_url), plan=plan)
    assert fetch(db_url, "SELECT to_regclass('aibotkit_analytics') AS t")[0]["t"] is None


def test_cli_push_dry_run_changes_nothing(db_url: str, tmp_path: Path, run_cli: Callable[..., object]) -> None:
    upgrade_url(db_url, "0006")
    config_for(tmp_path, {"dev": db_url})
    before = asyncio.run(snapshot(env_for(db_url)))
    result = run_cli("push", "--dry-run", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "CREATE TABLE aibotkit_analytics" in result.out
    assert "dry run" in result.err
    assert asyncio.run(snapshot(env_for(db_url))) == before
    assert asyncio.run(marker_of(db_url)) is None
    as_json = run_cli("push", "--dry-run", "--json", cwd=tmp_path)
    data = json.loads(as_json.out)
    assert data["applied"] is False and data["dry_run"] is True
    assert any("aibotkit_analytics" in statement for statement in data["statements"])


def test_cli_push_applies_then_stamp_clears_the_marker(
    db_url: str, tmp_path: Path, run_cli: Callable[..., object]
) -> None:
    upgrade_url(db_url, "0006")
    config_for(tmp_path, {"dev": db_url})
    result = run_cli("push", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "ahead of its migrations" in result.err
    assert asyncio.run(marker_of(db_url)) is not None
    again = run_cli("push", cwd=tmp_path)
    assert again.code == 0
    assert "nothing to push" in again.err
    stamped = run_cli("stamp", "head", cwd=tmp_path)
    assert stamped.code == 0, stamped.err
    assert asyncio.run(marker_of(db_url)) is None


def test_cli_push_refusals_and_typed_confirmation(
    fresh_db: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., object],
) -> None:
    dev, prod = fresh_db(), fresh_db()
    for url in (dev, prod):
        execute(url, "CREATE TABLE people (id serial PRIMARY KEY, name varchar(100) NOT NULL, age int)")
    config_for(
        tmp_path,
        {"dev": dev, "prod": prod},
        target_metadata=custom_models(tmp_path, monkeypatch, SHRUNK_MODELS),
    )
    refused = run_cli("push", "--env", "prod", "--force", cwd=tmp_path)
    assert refused.code == 3
    assert "protected" in refused.err and "Traceback" not in refused.err
    no_terminal = run_cli("push", cwd=tmp_path)
    assert no_terminal.code == 3
    assert "DROP COLUMN age" in no_terminal.out
    assert "drops column people.age" in no_terminal.err
    wrong_name = run_cli("push", cwd=tmp_path, stdin="prod\n")
    assert wrong_name.code == 3
    assert "age" in {
        row["column_name"]
        for row in fetch(dev, "SELECT column_name FROM information_schema.columns WHERE table_name = 'people'")
    }
    confirmed = run_cli("push", cwd=tmp_path, stdin="dev\n")
    assert confirmed.code == 0, confirmed.err
    remaining = {
        row["column_name"]
        for row in fetch(dev, "SELECT column_name FROM information_schema.columns WHERE table_name = 'people'")
    }
    assert remaining == {"id", "name"}
    prod_columns = {
        row["column_name"]
        for row in fetch(prod, "SELECT column_name FROM information_schema.columns WHERE table_name = 'people'")
    }
    assert "age" in prod_columns


async def test_push_waits_for_a_running_migration(db_url: str, tmp_path: Path) -> None:
    from syncdb_tui.core.envs.sessions import acquire_advisory_lock

    upgrade_url(db_url, "0006")
    config = config_for(tmp_path, {"dev": db_url}, migrate_lock_wait=1)  # type: ignore[arg-type]
    env = env_for(db_url)
    plan = await plan_push(config, env)
    async with connection(env) as holder:
        await acquire_advisory_lock(holder, env.database, 1)
        with pytest.raises(OperationError, match="migration lock"):
            await push(config, env, plan=plan)
    assert fetch(db_url, "SELECT to_regclass('aibotkit_analytics') AS t")[0]["t"] is None
    assert (await push(config, env, plan=plan)).applied
