"""`syncdb demo` on the embedded server, and what status/report show on its prod (the seed's example)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncdb_tui.demo.project import write_demo_project


@pytest.fixture(scope="module")
def demo_dir() -> Path:
    import atexit
    import shutil
    import tempfile

    # not under pytest's 0700 tmp dir: as root the embedded server runs as another user, who must reach it
    # (and another pytest run resets that dir to 0700 while this one runs); see conftest's pg_server
    root = Path(tempfile.mkdtemp(prefix="syncdb-test-demo-"))
    root.chmod(0o755)
    atexit.register(shutil.rmtree, root, True)
    # a demo project of its own (a copy of the scripts): the package's scripts are never written to
    write_demo_project(root)
    return root


@pytest.fixture(scope="module")
def built_demo(demo_dir: Path) -> tuple[Path, list[dict]]:
    import io
    import os
    import sys

    from syncdb_tui.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr, sys.stdin, os.getcwd()
    sys.stdout, sys.stderr, sys.stdin = out, err, io.StringIO("")
    os.chdir(demo_dir)
    try:
        code = main(["demo", "--no-tui", "--json", "--scale", "0.2"])
    finally:
        sys.stdout, sys.stderr, sys.stdin = saved[0], saved[1], saved[2]
        os.chdir(saved[3])
    assert code == 0, err.getvalue()
    return demo_dir, json.loads(out.getvalue())


def test_demo_builds_three_environments(built_demo) -> None:
    _, statuses = built_demo
    by_name = {status["environment"]: status for status in statuses}
    assert by_name["dev"]["current"] == ["0008"] and by_name["dev"]["pending"] == []
    assert by_name["staging"]["current"] == ["0007"]
    assert [p["revision"] for p in by_name["staging"]["pending"]] == ["0008"]
    assert by_name["prod"]["current"] == ["0006"] and by_name["prod"]["protected"] is True
    assert (Path(built_demo[0]) / ".syncdb" / "pgdata" / "PG_VERSION").is_file()


def test_demo_environments_hold_data(built_demo, run_cli) -> None:
    root, _ = built_demo
    result = run_cli("psql", "--env", "prod", "--", "-XAtc", "SELECT count(*) > 0 FROM aibotkit_messages", cwd=root)
    assert result.code == 0, result.err


def test_prod_status_shows_two_low_pending_with_sql(built_demo, run_cli) -> None:
    root, _ = built_demo
    result = run_cli("status", "--env", "prod", "--json", cwd=root)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["current"] == ["0006"]
    assert [(p["revision"], p["risk"]) for p in data["pending"]] == [("0007", "LOW"), ("0008", "LOW")]
    assert "CREATE TABLE aibotkit_analytics" in data["pending"][0]["sql"]
    assert "analytics_enabled" in data["pending"][1]["sql"]
    text = run_cli("status", "--env", "prod", cwd=root)
    assert "Schema version:  0006" in text.out and "CREATE TABLE aibotkit_analytics" in text.out


def test_prod_report_sections(built_demo, run_cli, tmp_path: Path) -> None:
    root, _ = built_demo
    target = tmp_path / "report.md"
    result = run_cli("report", "--env", "prod", "-o", str(target), cwd=root)
    assert result.code == 0, result.err
    report = target.read_text()
    for section in (
        "## Current Status",
        "## Pending Migrations",
        "## Schema Changes Detected",
        "## Migration Preview",
        "## Recommendations",
        "## Next Steps",
    ):
        assert section in report
    assert "| Schema Version | 0006 |" in report
    assert "| 0007 | add analytics table | LOW |" in report
    assert "| 0008 | add chatbot analytics flag | LOW |" in report
    assert "aibotkit_analytics" in report.split("## Schema Changes Detected")[1].split("## Migration Preview")[0]
    assert "analytics_enabled" in report.split("## Schema Changes Detected")[1].split("## Migration Preview")[0]
    data = json.loads(run_cli("report", "--env", "prod", "--json", cwd=root).out)
    assert data["current_status"]["schema_version"] == ["0006"]
    assert [p["risk"] for p in data["pending_migrations"]] == ["LOW", "LOW"]


def test_demo_second_run_reuses(built_demo, run_cli) -> None:
    root, _ = built_demo
    result = run_cli("demo", "--no-tui", cwd=root)
    assert result.code == 0, result.err
    assert result.err.count("reused") == 3
