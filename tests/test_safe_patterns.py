"""`syncdb generate --safe`: risky operations written as safe revision sequences, applied under a live writer."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from pathlib import Path

import asyncpg
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


@pytest.fixture
def safe_project(demo_project, monkeypatch: pytest.MonkeyPatch):
    (demo_project.root / "safe_models.py").write_text(SAFE_MODELS)
    monkeypatch.syspath_prepend(str(demo_project.root))
    text = demo_project.config_path.read_text().replace(
        'target_metadata = "syncdb_tui.demo.models:metadata"', 'target_metadata = "safe_models:metadata"'
    )
    demo_project.config_path.write_text(text)
    return demo_project


def test_safe_generation_writes_judged_sequences_that_never_block_a_live_writer(
    safe_project, run_cli, psql_exec
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
    waits: list[float] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        async def main() -> None:
            conn = await asyncpg.connect(url)
            try:
                while not stop.is_set():
                    started = time.monotonic()
                    await conn.execute(
                        "INSERT INTO aibotkit_users (email, name, password_hash) VALUES ($1, 'w', 'x')",
                        f"{uuid.uuid4()}@example.com",
                    )
                    waits.append(time.monotonic() - started)
                    await asyncio.sleep(0.01)
            finally:
                await conn.close()

        try:
            asyncio.run(main())
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.3)
        applied = run_cli("migrate", "--force", cwd=root)
    finally:
        stop.set()
        thread.join(30)
    assert applied.code == 0, applied.err
    assert not errors, errors
    assert len(waits) > 10
    lock_timeout = 5.0  # the demo's setting: no write may wait as long as a migration statement may
    assert max(waits) < lock_timeout, max(waits)
    # the result is what the models say: no drift left
    after = json.loads(run_cli("status", "--json", "--no-fingerprint", cwd=root).out)
    assert after["pending"] == [] and (after["drift"] is None or after["drift"]["is_empty"])
    assert (
        psql_exec(
            url,
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_name = 'aibotkit_users' AND column_name = 'name';",
        ).strip()
        == "NO"
    )
    assert psql_exec(url, "SELECT count(*) FROM pg_constraint WHERE NOT convalidated;").strip() == "0"
