"""`syncdb generate --safe`: risky operations written as safe revision sequences, applied under a live writer."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

SAFE_MODELS = """
import sqlalchemy as sa
from syncdb_tui.demo.models import metadata as demo_metadata

metadata = sa.MetaData(naming_convention=demo_metadata.naming_convention)
for table in demo_metadata.tables.values():
    table.to_metadata(metadata)
users = metadata.tables["aibotkit_users"]
users.c.name.nullable = False                              # SET NOT NULL on an existing column
sa.Index("ix_aibotkit_users_name", users.c.name)           # an index on an existing table
metadata.tables["aibotkit_teams"].append_column(            # a new column with a foreign key
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("aibotkit_users.id"))
)
"""


NOT_NULL_MODELS = """
import sqlalchemy as sa
from syncdb_tui.demo.models import metadata as demo_metadata

metadata = sa.MetaData(naming_convention=demo_metadata.naming_convention)
for table in demo_metadata.tables.values():
    table.to_metadata(metadata)
users = metadata.tables["aibotkit_users"]
# NOT NULL columns added to a table with rows: one with a scalar default, one computed from another column
users.append_column(sa.Column("score", sa.Integer, nullable=False, default=0))
users.append_column(
    sa.Column("email_domain", sa.String(255), nullable=False, info={"backfill": "split_part(email, '@', 2)"})
)
"""

RENAME_MODELS = """
import sqlalchemy as sa
from syncdb_tui.demo.models import metadata as demo_metadata

metadata = sa.MetaData(naming_convention=demo_metadata.naming_convention)
for table in demo_metadata.tables.values():
    if table.name != "aibotkit_teams":
        table.to_metadata(metadata)
teams = demo_metadata.tables["aibotkit_teams"]
sa.Table(
    "aibotkit_teams",
    metadata,
    *[column._copy() for column in teams.columns if column.name != "plan_name"],
    sa.Column("plan", sa.String(50), info={"renamed_from": "plan_name"}),   # plan_name renamed to plan
)
"""

LOCK_TIMEOUT = 1.0
"""The demo project's lock_timeout (seconds): no application write may wait as long as a migration may."""


def _use_models(project, monkeypatch: pytest.MonkeyPatch, source: str, module: str) -> None:
    (project.root / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(project.root))
    text = project.config_path.read_text()
    text = re.sub(r'target_metadata = "[^"]*"', f'target_metadata = "{module}:metadata"', text)
    project.config_path.write_text(text)


@pytest.fixture
def safe_project(demo_project, monkeypatch: pytest.MonkeyPatch):
    _use_models(demo_project, monkeypatch, SAFE_MODELS, "safe_models")
    return demo_project


def _pending_risks(run_cli, root: Path) -> list[tuple[str, str, list[str]]]:
    status = json.loads(run_cli("status", "--json", "--no-drift", "--no-fingerprint", cwd=root).out)
    return [(p["revision"], p["risk"], [f["rule"] for f in p["findings"]]) for p in status["pending"]]


def _no_drift(run_cli, root: Path) -> bool:
    after = json.loads(run_cli("status", "--json", "--no-fingerprint", cwd=root).out)
    return after["pending"] == [] and (after["drift"] is None or after["drift"]["is_empty"])


def test_safe_generation_writes_judged_sequences_that_never_block_a_live_writer(
    safe_project, run_cli, psql_exec, background_writer
) -> None:
    root = safe_project.root
    assert run_cli("migrate", cwd=root).code == 0
    url = safe_project.urls["dev"]
    psql_exec(url, "UPDATE aibotkit_users SET name = coalesce(name, 'user ' || id);")
    generated = run_cli("generate", "-m", "owners and names", "--safe", "--json", cwd=root)
    assert generated.code == 0, generated.err
    written = json.loads(generated.out)
    messages = [item["message"] for item in written]
    # the ordinary part first, then one sequence per risky operation
    assert messages[0] == "owners and names"
    assert "create index ix_aibotkit_users_name concurrently" in messages
    assert any(m.startswith("add foreign key") and m.endswith("not valid") for m in messages)
    assert any(m.startswith("validate foreign key") for m in messages)
    assert "check aibotkit_users.name is not null (not valid)" in messages
    assert "set aibotkit_users.name not null" in messages
    sources = {item["message"]: Path(item["path"]).read_text() for item in written}
    assert "postgresql_concurrently=True" in sources["create index ix_aibotkit_users_name concurrently"]
    assert "autocommit_block" in sources["create index ix_aibotkit_users_name concurrently"]
    # every revision of the sequence is judged LOW or MEDIUM by the engine itself
    status = json.loads(run_cli("status", "--json", "--no-drift", "--no-fingerprint", cwd=root).out)
    assert [p["revision"] for p in status["pending"]] == [item["revision"] for item in written]
    assert {p["risk"] for p in status["pending"]} <= {"LOW", "MEDIUM"}, [
        (p["revision"], p["risk"], [f["rule"] for f in p["findings"]]) for p in status["pending"]
    ]

    # apply the whole sequence while an application keeps writing to the tables it touches
    writer = background_writer(
        url,
        "INSERT INTO aibotkit_users (email, name, password_hash) VALUES ($1, 'w', 'x')",
        lambda: (f"{uuid.uuid4()}@example.com",),
    )
    applied = run_cli("migrate", "--force", cwd=root)
    writer.stop()
    assert applied.code == 0, applied.err
    assert not writer.errors, writer.errors
    assert len(writer.waits) > 10
    assert writer.longest < LOCK_TIMEOUT, writer.longest
    # the result is what the models say: no drift left
    assert _no_drift(run_cli, root)
    assert (
        psql_exec(
            url,
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_name = 'aibotkit_users' AND column_name = 'name';",
        ).strip()
        == "NO"
    )
    assert psql_exec(url, "SELECT count(*) FROM pg_constraint WHERE NOT convalidated;").strip() == "0"


def test_not_null_column_is_added_in_four_steps_with_a_batched_backfill_under_a_live_writer(
    demo_project, monkeypatch: pytest.MonkeyPatch, run_cli, psql_exec, background_writer
) -> None:
    _use_models(demo_project, monkeypatch, NOT_NULL_MODELS, "not_null_models")
    root, url = demo_project.root, demo_project.urls["dev"]
    assert run_cli("migrate", cwd=root).code == 0
    psql_exec(
        url,
        "INSERT INTO aibotkit_users (email, name, password_hash) "
        "SELECT 'u' || g || '@d' || (g % 7) || '.example', 'u', 'x' FROM generate_series(1, 12000) g;",
    )
    generated = run_cli("generate", "-m", "scores and domains", "--safe", "--json", cwd=root)
    assert generated.code == 0, generated.err
    written = json.loads(generated.out)
    messages = [item["message"] for item in written]
    for column in ("score", "email_domain"):
        steps = [
            f"add aibotkit_users.{column} nullable",
            f"backfill aibotkit_users.{column} in batches",
            f"check aibotkit_users.{column} is not null (not valid)",
            f"set aibotkit_users.{column} not null",
        ]
        assert [m for m in messages if m in steps] == steps, messages
    sources = {item["message"]: Path(item["path"]).read_text() for item in written}
    backfill = sources["backfill aibotkit_users.email_domain in batches"]
    assert "autocommit_block" in backfill and "COMMIT;" in backfill and "split_part(email, '@', 2)" in backfill
    assert "SET DEFAULT 0" in sources["add aibotkit_users.score nullable"]
    # every step is judged LOW or MEDIUM by syncdb's own risk engine
    risks = _pending_risks(run_cli, root)
    assert len(risks) == len(written) and {risk for _, risk, _ in risks} <= {"LOW", "MEDIUM"}, risks

    # the application keeps signing users up; once email_domain exists it writes it (new code)
    writer = background_writer(
        url,
        [
            "INSERT INTO aibotkit_users (email, name, password_hash, email_domain) "
            "VALUES ($1, 'w', 'x', 'example.com')",
            "INSERT INTO aibotkit_users (email, name, password_hash) VALUES ($1, 'w', 'x')",
        ],
        lambda: (f"{uuid.uuid4()}@example.com",),
    )
    applied = run_cli("migrate", "--force", cwd=root)
    writer.stop()
    assert applied.code == 0, applied.err
    assert not writer.errors, writer.errors
    assert len(writer.waits) > 10
    assert writer.longest < LOCK_TIMEOUT, writer.longest
    assert _no_drift(run_cli, root)
    nullable = psql_exec(
        url,
        "SELECT string_agg(column_name || '=' || is_nullable, ',' ORDER BY column_name) "
        "FROM information_schema.columns "
        "WHERE table_name = 'aibotkit_users' AND column_name IN ('score', 'email_domain');",
    ).strip()
    assert nullable == "email_domain=NO,score=NO"
    assert (
        psql_exec(
            url, "SELECT count(*) FROM aibotkit_users WHERE email_domain <> split_part(email, '@', 2) AND name <> 'w';"
        ).strip()
        == "0"
    )
    assert psql_exec(url, "SELECT count(*) FROM aibotkit_users WHERE score <> 0;").strip() == "0"
    # the backfill committed batch by batch: the 12,000 seeded rows were written by several transactions
    batches = int(psql_exec(url, "SELECT count(DISTINCT xmin::text) FROM aibotkit_users WHERE name = 'u';"))
    assert batches >= 12000 // 5000, batches
    assert psql_exec(url, "SELECT count(*) FROM pg_constraint WHERE conname LIKE 'ck_aibotkit_users_%';").strip() == "0"


def test_rename_is_written_as_expand_then_contract_and_never_blocks_old_or_new_code(
    demo_project, monkeypatch: pytest.MonkeyPatch, run_cli, psql_exec, background_writer
) -> None:
    _use_models(demo_project, monkeypatch, RENAME_MODELS, "rename_models")
    root, url = demo_project.root, demo_project.urls["dev"]
    assert run_cli("migrate", cwd=root).code == 0
    psql_exec(
        url,
        "INSERT INTO aibotkit_teams (name, plan_name) "
        "SELECT 't' || g, 'plan ' || (g % 3) FROM generate_series(1, 12000) g;",
    )
    # expand: the new column, a trigger keeping both in sync, a batched backfill; the old column stays
    generated = run_cli("generate", "-m", "rename plan_name", "--safe", "--json", cwd=root)
    assert generated.code == 0, generated.err
    expand = json.loads(generated.out)
    assert [item["message"] for item in expand] == [
        "expand: aibotkit_teams.plan_name renamed to plan",
        "backfill aibotkit_teams.plan from plan_name in batches",
    ]
    risks = _pending_risks(run_cli, root)
    assert {risk for _, risk, _ in risks} <= {"LOW", "MEDIUM"}, risks

    old_code = background_writer(
        url, "INSERT INTO aibotkit_teams (name, plan_name) VALUES ($1, 'old code')", lambda: (str(uuid.uuid4()),)
    )
    applied = run_cli("migrate", "--force", cwd=root)
    old_code.stop()
    assert applied.code == 0, applied.err
    assert not old_code.errors and len(old_code.waits) > 10, old_code.errors
    assert old_code.longest < LOCK_TIMEOUT, old_code.longest
    # every row has both names, including the ones old code wrote during and after the expand
    assert psql_exec(url, "SELECT count(*) FROM aibotkit_teams WHERE plan IS DISTINCT FROM plan_name;").strip() == "0"
    assert int(psql_exec(url, "SELECT count(*) FROM aibotkit_teams WHERE plan = 'old code';")) == len(old_code.waits)
    # new code writes the new name; the trigger keeps the old one for old code still reading it
    psql_exec(url, "INSERT INTO aibotkit_teams (name, plan) VALUES ('n', 'new code');")
    psql_exec(url, "UPDATE aibotkit_teams SET plan_name = 'changed by old code' WHERE name = 't1';")
    assert psql_exec(url, "SELECT plan_name FROM aibotkit_teams WHERE name = 'n';").strip() == "new code"
    assert psql_exec(url, "SELECT plan FROM aibotkit_teams WHERE name = 't1';").strip() == "changed by old code"

    # until the model says so, generate --safe leaves the old column alone (old code may still read it)
    waiting = run_cli("generate", "-m", "too early", "--safe", "--json", cwd=root)
    assert waiting.code == 2 and "waits for its contract step" in waiting.err, waiting.err
    # contract, once every instance runs the new code: generate --safe drops the trigger and the old column
    _use_models(
        demo_project,
        monkeypatch,
        RENAME_MODELS.replace('{"renamed_from": "plan_name"}', '{"renamed_from": "plan_name", "contract": True}'),
        "rename_contract_models",
    )
    generated = run_cli("generate", "-m", "contract plan_name", "--safe", "--json", cwd=root)
    assert generated.code == 0, generated.err
    contract = json.loads(generated.out)
    assert [item["message"] for item in contract] == ["contract: drop aibotkit_teams.plan_name (renamed to plan)"]
    risks = _pending_risks(run_cli, root)
    assert {risk for _, risk, _ in risks} <= {"LOW", "MEDIUM"}, risks
    new_code = background_writer(
        url, "INSERT INTO aibotkit_teams (name, plan) VALUES ($1, 'new code')", lambda: (str(uuid.uuid4()),)
    )
    applied = run_cli("migrate", "--force", cwd=root)
    new_code.stop()
    assert applied.code == 0, applied.err
    assert not new_code.errors and len(new_code.waits) > 10, new_code.errors
    assert new_code.longest < LOCK_TIMEOUT, new_code.longest
    assert _no_drift(run_cli, root)
    assert psql_exec(url, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'syncdb_sync_%';").strip() == "0"
    assert (
        psql_exec(url, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'plan_name';").strip()
        == "0"
    )


def test_a_not_null_column_without_a_known_value_and_an_unready_contract_are_left_alone() -> None:
    import sqlalchemy as sa
    from alembic.operations import ops

    from syncdb_tui.core.project.safe_patterns import split_operations

    metadata = sa.MetaData()
    table = sa.Table(
        "t",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("required", sa.Integer, nullable=False),  # no default, no info backfill: no value known
        sa.Column("renamed", sa.Text, info={"renamed_from": "old"}),  # expanded already, no "contract" yet
    )
    add = ops.AddColumnOp.from_column_and_tablename(None, "t", table.c.required)
    drop = ops.DropColumnOp.from_column_and_tablename(None, "t", sa.Column("old", sa.Text))
    rest, safe = split_operations(ops.UpgradeOps(ops=[ops.ModifyTableOps("t", [add, drop])]), metadata)
    assert safe == []
    # the column without a value stays in the ordinary revision (flagged HIGH there); the old column is not dropped
    assert [type(item).__name__ for item in rest[0].ops] == ["AddColumnOp"]
