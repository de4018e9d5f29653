"""`syncdb risk`: files, revisions, ranges, pending revisions with live context and blockers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg

RISKY_SQL = """BEGIN;
SET LOCAL lock_timeout = '2s';
CREATE INDEX idx_users_email ON users (email);
-- syncdb: ignore drop-column the app stopped reading it in release 42
ALTER TABLE users DROP COLUMN legacy;
COMMIT;
"""


def _write(tmp_path: Path, text: str, name: str = "change.sql") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_risk_file_json_lists_findings_with_contract_fields(tmp_path: Path, run_cli) -> None:
    path = _write(tmp_path, RISKY_SQL)
    result = run_cli("risk", str(path), "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    findings = json.loads(result.out)
    assert isinstance(findings, list)
    active = [f for f in findings if not f["suppressed"]]
    assert [(f["rule"], f["severity"], f["lock"], f["table"], f["line"]) for f in active] == [
        ("create-index", "MEDIUM", "SHARE", "users", 3)
    ]
    for field in ("rule", "severity", "lock", "statement", "line", "message", "mitigation", "table"):
        assert field in active[0]
    assert "CREATE INDEX CONCURRENTLY idx_users_email ON users (email)" in active[0]["mitigation"]
    suppressed = [f for f in findings if f["suppressed"]]
    assert suppressed[0]["rule"] == "drop-column"
    assert suppressed[0]["suppression_reason"] == "the app stopped reading it in release 42"
    assert "judged without live context" in result.err
    assert "suppressed:" in result.err and "release 42" in result.err


def test_risk_file_text_output_is_plain_lines_when_not_a_terminal(tmp_path: Path, run_cli) -> None:
    path = _write(tmp_path, RISKY_SQL)
    result = run_cli("risk", str(path), "--no-color", cwd=tmp_path)
    assert result.code == 0
    for text in ("change.sql:3: MEDIUM create-index [SHARE]", "    safe: ", "risk MEDIUM"):
        assert text in result.out
    assert "drop-column" not in result.out  # suppressed: listed on stderr only
    assert "Severity" not in result.out  # no rich table in a pipe


def test_risk_file_table_output_at_a_terminal(tmp_path: Path, monkeypatch) -> None:
    import io

    from syncdb_tui.cli import main

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    path = _write(tmp_path, RISKY_SQL)
    out = Tty()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "240")
    assert main(["risk", str(path), "--no-color"]) == 0
    for text in ("Severity", "Mitigation", "create-index", "MEDIUM", "SHARE", "risk MEDIUM"):
        assert text in out.getvalue()


def test_fail_on_exits_1_when_reached_and_0_below(tmp_path: Path, run_cli) -> None:
    path = _write(tmp_path, RISKY_SQL)
    high = run_cli("risk", str(path), "--json", "--fail-on", "HIGH", cwd=tmp_path)
    assert high.code == 0
    medium = run_cli("risk", str(path), "--json", "--fail-on", "medium", cwd=tmp_path)
    assert medium.code == 1
    assert json.loads(medium.out)[0]["rule"] == "create-index"
    assert "create-index" in medium.err


def test_bad_input_is_a_usage_error(tmp_path: Path, run_cli) -> None:
    missing = run_cli("risk", str(tmp_path / "nope.sql"), cwd=tmp_path)
    assert missing.code == 2 and "does not exist" in missing.err and "Traceback" not in missing.err
    path = _write(tmp_path, "SELECT 1;")
    bad = run_cli("risk", str(path), "--fail-on", "CRITICAL", cwd=tmp_path)
    assert bad.code == 2 and "'CRITICAL' is not a severity" in bad.err


def test_unparseable_file_is_reported_not_passed(tmp_path: Path, run_cli) -> None:
    path = _write(tmp_path, "ALTER TABLE users ADD COLUM x int;\n")
    result = run_cli("risk", str(path), "--json", "--fail-on", "MEDIUM", cwd=tmp_path)
    assert result.code == 1
    assert json.loads(result.out)[0]["rule"] == "unparseable-statement"
    assert "could not analyse" in json.loads(result.out)[0]["message"]


def test_revision_and_range_of_the_demo(demo_project, run_cli) -> None:
    root = demo_project.root
    single = run_cli("risk", "0008", "--json", cwd=root)
    assert single.code == 0, single.err
    rules = {(f["rule"], f["severity"], f["revision"]) for f in json.loads(single.out)}
    assert ("add-column-constant-default", "LOW", "0008") in rules
    assert {sev for _, sev, _ in rules} == {"LOW"}
    ranged = run_cli("risk", "0006:0008", "--json", "--fail-on", "MEDIUM", cwd=root)
    assert ranged.code == 0, ranged.err
    revisions = {f["revision"] for f in json.loads(ranged.out)}
    assert revisions == {"0007", "0008"}
    unknown = run_cli("risk", "nosuchrev", cwd=root)
    assert unknown.code == 2 and "nosuchrev" in unknown.err


def test_pending_revisions_with_live_context_and_a_blocker(demo_project, run_cli) -> None:
    root = demo_project.root
    migrated = run_cli("migrate", "0006", "--env", "prod", "--force", cwd=root)
    assert migrated.code == 0, migrated.err

    async def with_blocker() -> tuple[object, int]:
        holder = await asyncpg.connect(demo_project.urls["prod"])
        try:
            pid = await holder.fetchval("SELECT pg_backend_pid()")
            await holder.execute("BEGIN")
            await holder.execute("SELECT count(*) FROM aibotkit_chatbots")
            result = await asyncio.to_thread(run_cli, "risk", "--env", "prod", "--json", cwd=root)
            await holder.execute("ROLLBACK")
            return result, pid
        finally:
            await holder.close()

    result, pid = asyncio.run(with_blocker())
    assert result.code == 0, result.err
    findings = json.loads(result.out)
    assert {f["revision"] for f in findings} == {"0007", "0008"}
    assert {f["severity"] for f in findings} == {"LOW"}
    assert "judged without live context" not in result.err
    assert f"this migration would wait behind pid {pid} (idle in transaction" in result.err
    assert "ACCESS SHARE on aibotkit_chatbots" in result.err


def test_file_with_env_uses_live_sizes_and_configured_thresholds(tmp_path: Path, run_cli, fresh_db) -> None:
    url = fresh_db()

    async def fill() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "CREATE TABLE events (id bigserial PRIMARY KEY, kind text);"
                "INSERT INTO events (kind) SELECT 'k' || g FROM generate_series(1, 2000) g; ANALYZE events;"
            )
        finally:
            await conn.close()

    asyncio.run(fill())
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "env.py").write_text("")
    (tmp_path / "syncdb.toml").write_text(
        f'default_env = "dev"\n\n[risk]\nmedium_table_rows = 100\nlarge_table_rows = 1000\n\n'
        f'[environments.dev]\nurl = "{url}"\n'
    )
    path = _write(tmp_path, "SET lock_timeout = '2s';\nCREATE INDEX events_kind ON events (kind);\n")
    live = run_cli("risk", str(path), "--env", "dev", "--json", cwd=tmp_path)
    assert live.code == 0, live.err
    (finding,) = json.loads(live.out)
    assert (finding["rule"], finding["severity"]) == ("create-index", "HIGH")
    assert "events has about 2,000 rows" in finding["message"]
    assert "judged without live context" not in live.err
    offline = run_cli("risk", str(path), "--json", cwd=tmp_path)
    assert json.loads(offline.out)[0]["severity"] == "MEDIUM"
    assert "judged without live context" in offline.err


def test_risk_range_walks_every_parent_of_a_merge(tmp_path: Path, fresh_db, run_cli) -> None:
    from alembic_factory import add_revision, make_project, revision_source

    make_project(tmp_path, {"dev": fresh_db()}, revisions=3)
    add_revision(tmp_path, "r0004_drop.py", revision_source("r0004", "r0003", "drop t_1", 'op.drop_table("t_1")'))
    add_revision(
        tmp_path,
        "r0005_add.py",
        revision_source("r0005", "r0003", "add t_5", 'op.create_table("t_5", sa.Column("id", sa.Integer))'),
    )
    # the merge's first parent is r0005: a walk along first parents never sees r0004's drop
    add_revision(tmp_path, "r0006_merge.py", revision_source("r0006", ("r0005", "r0004"), "merge", "pass"))
    result = run_cli("risk", "r0003:r0006", "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    findings = json.loads(result.out)
    assert ("drop-table", "HIGH") in {(f["rule"], f["severity"]) for f in findings}
    assert run_cli("risk", "r0004:r0005", "--json", cwd=tmp_path).code == 2  # not an ancestor: a usage error
