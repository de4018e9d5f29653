"""The AI BotKit demo: its Alembic scripts build exactly the schema of its models."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from syncdb_tui.core.envs.environments import ConnectionInfo
from syncdb_tui.demo.models import metadata

DEMO_DIR = Path(__file__).resolve().parent.parent / "syncdb_tui" / "demo" / "migrations"
TABLES = {
    "aibotkit_users",
    "aibotkit_teams",
    "aibotkit_team_members",
    "aibotkit_chatbots",
    "aibotkit_conversations",
    "aibotkit_documents",
    "aibotkit_messages",
    "aibotkit_analytics",
}


def alembic_config(url: str | None = None, *, output: io.StringIO | None = None) -> AlembicConfig:
    cfg = AlembicConfig(output_buffer=output) if output is not None else AlembicConfig()
    cfg.set_main_option("script_location", str(DEMO_DIR))
    if url is not None:
        cfg.attributes["sqlalchemy_url"] = ConnectionInfo.from_url(url).sqlalchemy_url("asyncpg")
    return cfg


def run_on(url: str, fn: Callable[[Any], Any]) -> Any:
    """Run ``fn(sync_connection)`` on the database at ``url`` through SQLAlchemy's async engine."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    async def go() -> Any:
        engine = create_async_engine(ConnectionInfo.from_url(url).sqlalchemy_url("asyncpg"), poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def columns_of(url: str) -> dict[str, set[str]]:
    from sqlalchemy import inspect

    def read(conn: Any) -> dict[str, set[str]]:
        inspector = inspect(conn)
        return {name: {c["name"] for c in inspector.get_columns(name)} for name in inspector.get_table_names()}

    return run_on(url, read)


def test_revisions_are_linear_0001_to_0008() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    revisions = [rev.revision for rev in script.walk_revisions("base", "heads")]
    assert revisions == [f"000{n}" for n in range(8, 0, -1)]
    assert script.get_heads() == ["0008"]
    names = sorted(p.name for p in (DEMO_DIR / "versions").glob("0*.py"))
    assert "0007_add_analytics_table.py" in names
    assert "0008_add_chatbot_analytics_flag.py" in names


def test_upgrade_to_head_builds_the_models_schema(db_url: str) -> None:
    command.upgrade(alembic_config(db_url), "head")
    tables = columns_of(db_url)
    assert set(tables) >= TABLES
    assert {"id", "email", "name", "password_hash", "created_at"} <= tables["aibotkit_users"]
    assert {"id", "chatbot_id", "date", "message_count", "unique_users", "created_at"} == tables["aibotkit_analytics"]
    assert "analytics_enabled" in tables["aibotkit_chatbots"]

    def diff(conn: Any) -> list[Any]:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)

    assert run_on(db_url, diff) == []


def test_prod_state_0006_lacks_analytics(db_url: str) -> None:
    command.upgrade(alembic_config(db_url), "0006")
    tables = columns_of(db_url)
    assert "aibotkit_analytics" not in tables
    assert "analytics_enabled" not in tables["aibotkit_chatbots"]
    assert "aibotkit_messages" in tables


def test_downgrade_to_base_removes_everything(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "0006")
    assert "aibotkit_analytics" not in columns_of(db_url)
    command.downgrade(cfg, "base")
    assert set(columns_of(db_url)) <= {"alembic_version"}


@pytest.mark.parametrize(
    ("revision", "expected"),
    [
        ("0006:0007", ["CREATE TABLE aibotkit_analytics", "CREATE INDEX idx_analytics_chatbot_id", "BIGSERIAL"]),
        ("0007:0008", ["ALTER TABLE aibotkit_chatbots ADD COLUMN analytics_enabled BOOLEAN DEFAULT false NOT NULL"]),
    ],
)
def test_offline_sql_of_0007_and_0008(revision: str, expected: list[str]) -> None:
    output = io.StringIO()
    cfg = alembic_config(output=output)
    cfg.set_main_option("sqlalchemy.url", "postgresql+asyncpg://u@localhost/demo")
    command.upgrade(cfg, revision, sql=True)
    sql = output.getvalue()
    for fragment in expected:
        assert fragment in sql
    assert "UPDATE alembic_version SET version_num='" + revision.split(":")[1] + "'" in sql


def test_offline_sql_of_0007_and_0008_is_low_risk() -> None:
    risk = pytest.importorskip("syncdb_tui.core.risk.analysis")
    output = io.StringIO()
    cfg = alembic_config(output=output)
    cfg.set_main_option("sqlalchemy.url", "postgresql+asyncpg://u@localhost/demo")
    for revision in ("0006:0007", "0007:0008"):
        output.seek(0)
        output.truncate()
        command.upgrade(cfg, revision, sql=True)
        analysis = risk.analyse_sql(output.getvalue())
        assert getattr(analysis.risk, "name", str(analysis.risk)) == "LOW", (revision, analysis.findings)
