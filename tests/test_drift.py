"""Drift: models vs a live database (summaries per table) and environment vs environment (`syncdb diff`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures_devloop import config_for, env_for, execute, upgrade_url, write_module

from syncdb_tui.core.errors import ConfigError, UnreachableError
from syncdb_tui.core.schema.diff import diff_environments
from syncdb_tui.core.schema.drift import compute_drift, compute_drift_async

MODELS = """
from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()
Table("authors", metadata,
      Column("id", Integer, primary_key=True),
      Column("name", String(100), nullable=False),
      Column("bio", Text))
Table("books", metadata,
      Column("id", Integer, primary_key=True),
      Column("author_id", Integer, ForeignKey("authors.id", name="books_author_id_fkey"), nullable=False),
      Column("title", String(200), nullable=False),
      Index("idx_books_author_id", "author_id"))
"""

LIVE = """
CREATE TABLE authors (id serial PRIMARY KEY, name varchar(50) NOT NULL, legacy_code text);
CREATE INDEX idx_authors_legacy ON authors (legacy_code);
CREATE TABLE old_stuff (id int, payload text, note text);
"""


def models_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str = MODELS) -> str:
    name = f"driftmodels_{uuid.uuid4().hex[:8]}"
    write_module(tmp_path, name, source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{name}:metadata"


def test_drift_new_modified_and_dropped_tables(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    execute(db_url, LIVE)
    config = config_for(tmp_path, {"dev": db_url}, target_metadata=models_module(tmp_path, monkeypatch))
    drift = compute_drift(config, env_for(db_url))
    assert not drift.is_empty
    assert [t.name for t in drift.new_tables] == ["books"]
    books = drift.new_tables[0]
    assert books.columns == ("id", "author_id", "title")
    assert books.indexes == ("idx_books_author_id",)
    assert [t.name for t in drift.dropped_tables] == ["old_stuff"]
    assert drift.dropped_tables[0].columns == ("id", "payload", "note")
    (authors,) = drift.modified_tables
    assert authors.name == "authors"
    assert authors.added_columns == ("bio",)
    assert authors.removed_columns == ("legacy_code",)
    assert authors.removed_indexes == ("idx_authors_legacy",)
    assert [(c.column, c.database, c.models) for c in authors.type_changes] == [("name", "VARCHAR(50)", "VARCHAR(100)")]
    data = drift.to_json()
    json.dumps(data)
    assert data["new_tables"][0] == {
        "name": "books",
        "column_count": 3,
        "columns": ["id", "author_id", "title"],
        "index_count": 1,
        "indexes": ["idx_books_author_id"],
    }
    assert data["modified_tables"][0]["added_columns"] == ["bio"]
    assert "+1 column (bio)" in authors.describe()
    assert any("dropped table old_stuff" in line for line in drift.lines())


async def test_drift_of_the_demo_at_0006_and_head(db_url: str, tmp_path: Path) -> None:
    upgrade_url(db_url, "0006")
    config = config_for(tmp_path, {"prod": db_url})
    drift = await compute_drift_async(config, env_for(db_url, "prod"))
    assert [(t.name, len(t.columns), len(t.indexes)) for t in drift.new_tables] == [("aibotkit_analytics", 6, 2)]
    assert [(t.name, t.added_columns) for t in drift.modified_tables] == [("aibotkit_chatbots", ("analytics_enabled",))]
    assert drift.dropped_tables == ()
    upgrade_url(db_url, "head")
    at_head = await compute_drift_async(config, env_for(db_url, "prod"))
    assert at_head.is_empty
    assert at_head.lines() == ["models and database match"]


def test_drift_ignores_syncdb_and_alembic_tables(db_url: str, tmp_path: Path) -> None:
    upgrade_url(db_url, "head")
    execute(db_url, "CREATE TABLE syncdb_scratch (id int)")
    config = config_for(tmp_path, {"dev": db_url})
    assert compute_drift(config, env_for(db_url)).is_empty


def test_drift_index_and_nullability_changes(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    execute(
        db_url,
        "CREATE TABLE authors (id serial PRIMARY KEY, name varchar(100), bio text);"
        "CREATE TABLE books (id serial PRIMARY KEY, author_id int NOT NULL"
        " CONSTRAINT books_author_id_fkey REFERENCES authors(id), title varchar(200) NOT NULL);",
    )
    config = config_for(tmp_path, {"dev": db_url}, target_metadata=models_module(tmp_path, monkeypatch))
    drift = compute_drift(config, env_for(db_url))
    tables = {t.name: t for t in drift.modified_tables}
    assert tables["books"].added_indexes == ("idx_books_author_id",)
    assert [(c.column, c.database, c.models) for c in tables["authors"].nullable_changes] == [
        ("name", "NULL", "NOT NULL")
    ]


def test_drift_config_errors(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = config_for(tmp_path, {"dev": db_url}, target_metadata="no_such_module_xyz:metadata")
    with pytest.raises(ConfigError, match="target_metadata"):
        compute_drift(config, env_for(db_url))
    name = models_module(tmp_path, monkeypatch, "metadata = 42\n")
    config = config_for(tmp_path, {"dev": db_url}, target_metadata=name)
    with pytest.raises(ConfigError, match="not a SQLAlchemy MetaData"):
        compute_drift(config, env_for(db_url))
    config = config_for(tmp_path, {"dev": db_url}, target_metadata=None)
    object.__setattr__(config, "target_metadata", None)
    with pytest.raises(ConfigError, match="target_metadata"):
        compute_drift(config, env_for(db_url))


def test_drift_unreachable_database(db_url: str, tmp_path: Path) -> None:
    config = config_for(tmp_path, {"dev": db_url})
    missing = db_url.replace("@/", "@/no_such_db_", 1)
    with pytest.raises(UnreachableError):
        compute_drift(config, env_for(missing))


async def test_env_vs_env_at_different_revisions(fresh_db: Callable[..., str]) -> None:
    staging, prod = fresh_db(), fresh_db()
    upgrade_url(staging, "0007")
    upgrade_url(prod, "0006")
    diff = await diff_environments(env_for(staging, "staging"), env_for(prod, "prod"))
    assert diff.revisions_a == ("0007",) and diff.revisions_b == ("0006",)
    assert diff.revisions_differ
    assert diff.tables_only_in_a == ("aibotkit_analytics",)
    assert diff.tables_only_in_b == ()
    assert not diff.is_identical
    assert any("alembic revisions differ" in line for line in diff.lines())
    assert any("table aibotkit_analytics: only in staging" in line for line in diff.lines())


async def test_env_vs_env_column_type_default_index_constraint(fresh_db: Callable[..., str]) -> None:
    a, b = fresh_db(), fresh_db()
    upgrade_url(a, "head")
    upgrade_url(b, "head")
    execute(
        b,
        "ALTER TABLE aibotkit_users ALTER COLUMN name TYPE text;"
        "ALTER TABLE aibotkit_users ALTER COLUMN name SET NOT NULL;"
        "ALTER TABLE aibotkit_users ALTER COLUMN name SET DEFAULT 'anon';"
        "ALTER TABLE aibotkit_users ADD COLUMN nickname text;"
        "CREATE INDEX idx_users_created ON aibotkit_users (created_at);"
        "ALTER TABLE aibotkit_teams ADD CONSTRAINT teams_name_key UNIQUE (name);",
    )
    diff = await diff_environments(env_for(a, "dev"), env_for(b, "staging"))
    assert not diff.revisions_differ
    tables = {t.name: t for t in diff.changed_tables}
    users = tables["aibotkit_users"]
    assert users.columns_only_in_b == ("nickname",)
    assert users.indexes_only_in_b == ("idx_users_created",)
    changes = {c.what: (c.a, c.b) for c in users.changes}
    assert changes["column name type"] == ("character varying(100)", "text")
    assert changes["column name nullability"] == ("NULL", "NOT NULL")
    assert changes["column name default"] == ("(none)", "'anon'::text")
    assert "teams_name_key" in tables["aibotkit_teams"].constraints_only_in_b


def test_cli_diff(fresh_db: Callable[..., str], tmp_path: Path, run_cli: Callable[..., object]) -> None:
    dev, staging, prod = fresh_db(), fresh_db(), fresh_db()
    upgrade_url(dev, "head")
    upgrade_url(staging, "0007")
    upgrade_url(prod, "0006")
    config_for(tmp_path, {"dev": dev, "staging": staging, "prod": prod})
    result = run_cli("diff", "--env", "staging", "--against", "prod", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "aibotkit_analytics: only in staging" in result.out
    assert "0007" in result.out and "0006" in result.out
    as_json = run_cli("diff", "--env", "staging", "--against", "production", "--json", cwd=tmp_path)
    assert as_json.code == 0, as_json.err
    data = json.loads(as_json.out)
    assert data["revisions_differ"] is True
    assert data["tables_only_in_env"] == ["aibotkit_analytics"]
    changed = {t["name"]: t for t in data["changed_tables"]}
    assert changed == {}
    same = run_cli("diff", "--env", "dev", "--against", "dev", cwd=tmp_path)
    assert same.code == 0
    assert "identical" in same.out
    # prod at 0006 vs dev at head: a missing column shows up in the changed tables
    dev_prod = run_cli("diff", "--env", "dev", "--against", "prod", "--json", cwd=tmp_path)
    data = json.loads(dev_prod.out)
    chatbots = {t["name"]: t for t in data["changed_tables"]}["aibotkit_chatbots"]
    assert chatbots["columns_only_in_a"] == ["analytics_enabled"]
    unknown = run_cli("diff", "--against", "nowhere", cwd=tmp_path)
    assert unknown.code == 2


EXTENDED_DEMO_MODELS = """
from sqlalchemy import Column, MetaData, Text

from syncdb_tui.demo.models import metadata as demo_metadata

metadata = MetaData()
for table in demo_metadata.sorted_tables:
    table.to_metadata(metadata)
metadata.tables["aibotkit_users"].append_column(Column("avatar_url", Text))
"""


def test_cli_check_fails_on_model_changes_no_revision_covers(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Callable[..., object]
) -> None:
    upgrade_url(db_url, "head")
    config_for(tmp_path, {"dev": db_url})
    covered = run_cli("check", cwd=tmp_path)
    assert covered.code == 0, covered.out + covered.err
    name = models_module(tmp_path, monkeypatch, EXTENDED_DEMO_MODELS)
    config_for(tmp_path, {"dev": db_url}, target_metadata=name)
    uncovered = run_cli("check", cwd=tmp_path)
    assert uncovered.code == 1
    assert "aibotkit_users" in uncovered.out + uncovered.err


async def test_check_at_head_builds_one_scratch_database_for_models_and_fingerprint(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The models' scratch database at head also gives the schema expected at head: the fingerprint
    of an environment at head is then compared without building a second copy of the history."""
    from syncdb_tui.core import check as check_module
    from syncdb_tui.core.envs import scratch
    from syncdb_tui.core.project.revisions import Project

    upgrade_url(db_url, "head")
    config = config_for(tmp_path, {"dev": db_url})
    purposes: list[str] = []
    real = scratch.scratch_database

    def counting(env, purpose, **kwargs):  # type: ignore[no-untyped-def]
        purposes.append(purpose)
        return real(env, purpose, **kwargs)

    monkeypatch.setattr(scratch, "scratch_database", counting)
    from syncdb_tui.core.envs.environments import resolve

    result = await check_module.check(Project(config), resolve(config, "dev"), max_risk="HIGH", allow_pending=False)
    assert result.ok, result.problems
    assert result.status.fingerprint is not None and result.status.fingerprint.matches is True
    assert purposes == ["check"]  # the fingerprint asked for no scratch database of its own
    assert len(list((tmp_path / ".syncdb" / "cache" / "fingerprints").glob("*.json"))) == 1
