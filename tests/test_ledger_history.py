"""The ledger as the operator reads it: `syncdb history`, status/check flags, the report's last change, the app.

Real embedded PostgreSQL, real Alembic, the `syncdb` CLI in-process; the app through Textual's Pilot.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fixtures_ui import UiProject, settle, wait_for_screen

from alembic_factory import add_revision, make_project, revision_source


@pytest.fixture
def proj(tmp_path: Path, fresh_db: Callable[..., str]) -> tuple[Path, str]:
    """Three table-creating revisions r0001..r0003 and an empty dev database."""
    url = fresh_db()
    make_project(tmp_path, {"dev": url}, revisions=3)
    return tmp_path, url


# ---------------------------------------------------------------- syncdb history


def test_history_empty_then_newest_first(proj, run_cli) -> None:
    root, _ = proj
    empty = run_cli("history", cwd=root)
    assert empty.code == 0, empty.err
    assert "no change recorded yet" in empty.out
    assert json.loads(run_cli("history", "--json", cwd=root).out) == []

    assert run_cli("migrate", cwd=root).code == 0
    assert run_cli("downgrade", "r0001", "--force", cwd=root).code == 0
    text = run_cli("history", cwd=root)
    assert text.code == 0, text.err
    lines = text.out.splitlines()
    assert " downgrade r0003 → r0001: ok (by " in lines[0]
    assert " upgrade base → r0003: ok (by " in lines[1]
    assert len(lines) == 2  # nothing failed, nothing left behind: no indented lines

    data = json.loads(run_cli("history", "--json", cwd=root).out)
    assert [(item["action"], item["from"], item["to"], item["result"]) for item in data] == [
        ("downgrade", ["r0003"], ["r0001"], "ok"),
        ("upgrade", [], ["r0003"], "ok"),
    ]
    upgrade = data[1]
    assert [item["revision"] for item in upgrade["revisions"]] == ["r0001", "r0002", "r0003"]
    assert all(len(item["sha256"]) == 64 for item in upgrade["revisions"])
    assert upgrade["operator"] and upgrade["host"] and upgrade["started_at"] and upgrade["finished_at"]
    assert upgrade["plan_id"] and upgrade["environment"] == "dev"

    limited = json.loads(run_cli("history", "--json", "--limit", "1", cwd=root).out)
    assert [item["action"] for item in limited] == ["downgrade"]
    bad = run_cli("history", "--limit", "0", cwd=root)
    assert bad.code == 2 and "--limit" in bad.err


def test_history_shows_error_and_postflight_problems_indented(proj, run_cli) -> None:
    root, _ = proj
    assert run_cli("migrate", cwd=root).code == 0
    add_revision(
        root,
        "r0004_check.py",
        revision_source(
            "r0004",
            "r0003",
            "positive ids, not validated yet",
            'op.execute("ALTER TABLE t_1 ADD CONSTRAINT t_1_id_positive CHECK (id > 0) NOT VALID")',
        ),
    )
    add_revision(root, "r0005_bad.py", revision_source("r0005", "r0004", "bad", 'op.execute("SELECT 1/0")'))
    assert run_cli("migrate", cwd=root).code == 5
    lines = run_cli("history", cwd=root).out.splitlines()
    assert " upgrade r0003 → r0004: failed (by " in lines[0]
    assert any(line.startswith("    error: ") and "division by zero" in line for line in lines)
    assert "    post-flight: constraint t_1_id_positive on t_1 is NOT VALID" in "\n".join(lines)
    # the report's Current Status names the last change and what it left behind
    report = run_cli("report", cwd=root)
    assert report.code == 0, report.err
    assert "| Last change | " in report.out and "upgrade r0003 → r0004: failed" in report.out
    assert "| Last change error | " in report.out
    assert "| Post-flight | constraint t_1_id_positive on t_1 is NOT VALID" in report.out
    data = json.loads(run_cli("report", "--json", cwd=root).out)
    last = data["current_status"]["last_change"]
    assert last["result"] == "failed" and last["to"] == ["r0004"]
    assert last["postflight"]["not_valid_constraints"] == ["t_1_id_positive on t_1"]
    # and so does `syncdb status`
    status = run_cli("status", cwd=root).out
    assert "Last change:     " in status and "Post-flight:     constraint t_1_id_positive" in status


def test_history_of_an_unreachable_environment_is_exit_4(tmp_path: Path, run_cli) -> None:
    make_project(tmp_path, {"dev": "postgresql://someone:Secret-Pw-1@127.0.0.1:1/app"})
    for argv in (("history",), ("history", "--json")):
        result = run_cli(*argv, cwd=tmp_path)
        assert result.code == 4, result.err
        assert "127.0.0.1:1" in result.err and "Traceback" not in result.err
        assert "Secret-Pw-1" not in result.out + result.err


# ---------------------------------------------------------------- status and check


def test_status_without_ledger_has_no_last_change(proj, run_cli) -> None:
    root, _ = proj
    data = json.loads(run_cli("status", "--json", cwd=root).out)
    assert data["last_change"] is None and data["edited"] == []
    assert "Last change" not in run_cli("status", cwd=root).out


def test_revision_file_edited_after_apply_is_flagged_by_status_and_check(proj, run_cli) -> None:
    root, _ = proj
    assert run_cli("migrate", cwd=root).code == 0
    passed = run_cli("check", "--no-models", cwd=root)
    assert passed.code == 0, passed.out + passed.err
    status = json.loads(run_cli("status", "--json", cwd=root).out)
    assert status["edited"] == [] and status["last_change"]["action"] == "upgrade"
    assert status["last_change"]["to"] == ["r0003"]

    path = root / "migrations" / "versions" / "r0002_t2.py"
    path.write_text(path.read_text() + "\n# tidied up after it ran\n")
    status = json.loads(run_cli("status", "--json", cwd=root).out)
    assert status["edited"] == [{"revision": "r0002", "path": "migrations/versions/r0002_t2.py"}]
    note = "revision file migrations/versions/r0002_t2.py was edited after it was applied here (ledger hash differs)"
    assert note in status["notes"]
    assert f"Note:            {note}" in run_cli("status", cwd=root).out
    failed = run_cli("check", "--no-models", cwd=root)
    assert failed.code == 1
    assert any(
        line.startswith("- revision file migrations/versions/r0002_t2.py (r0002) was edited after it was applied")
        for line in failed.out.splitlines()
    ), failed.out
    assert json.loads(run_cli("check", "--json", "--no-models", cwd=root).out)["ok"] is False
    report = run_cli("report", cwd=root).out
    assert "Revision file migrations/versions/r0002_t2.py (r0002) was edited after it was applied to dev" in report


def test_a_role_that_may_not_read_the_ledger(tmp_path: Path, proj, run_cli, psql_exec) -> None:
    """status and check still work (with a note); history says which GRANT is missing (exit 5)."""
    root, url = proj
    assert run_cli("migrate", cwd=root).code == 0
    role = "ledger_no_rights"
    psql_exec(
        url,
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {role} LOGIN; "
        f"END IF; END $$; GRANT SELECT ON alembic_version TO {role};",
    )
    other = tmp_path / "reader"
    owner = url.split("://", 1)[1].split("@", 1)[0]
    make_project(other, {"dev": url.replace(f"://{owner}@", f"://{role}@", 1)}, revisions=3)
    status = run_cli("status", "--json", cwd=other)
    assert status.code == 0, status.err
    data = json.loads(status.out)
    assert data["current"] == ["r0003"] and data["last_change"] is None and data["edited"] == []
    assert any(note.startswith("the ledger (syncdb.ledger) cannot be read") for note in data["notes"])
    assert run_cli("check", "--no-models", cwd=other).code == 0
    history = run_cli("history", cwd=other)
    assert history.code == 5 and "permission denied for schema syncdb" in history.err
    assert "grant the role USAGE on schema syncdb" in history.err


def test_edited_file_of_a_revision_no_longer_applied_is_not_flagged(proj, run_cli) -> None:
    root, _ = proj
    assert run_cli("migrate", cwd=root).code == 0
    assert run_cli("downgrade", "r0001", "--force", cwd=root).code == 0
    path = root / "migrations" / "versions" / "r0003_t3.py"
    path.write_text(path.read_text() + "\n# changed while not applied\n")
    status = json.loads(run_cli("status", "--json", cwd=root).out)
    assert status["edited"] == []
    # applied again: the ledger now holds the new file's hash
    assert run_cli("migrate", cwd=root).code == 0
    assert json.loads(run_cli("status", "--json", cwd=root).out)["edited"] == []


# ---------------------------------------------------------------- the app


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_history_screen_lists_the_ledger_and_esc_closes(ui_project: UiProject, size: tuple[int, int]) -> None:
    """h opens the selected environment's ledger (read in a worker); Esc goes back to the main screen."""
    from textual.widgets import DataTable, Static

    from syncdb_tui.ui.app import SyncdbApp
    from syncdb_tui.ui.screens.history import HistoryScreen
    from syncdb_tui.ui.screens.main import MainScreen

    app = SyncdbApp(ui_project.config(), env="staging")
    async with app.run_test(size=size) as pilot:
        await settle(pilot, app)
        await pilot.press("h")
        await wait_for_screen(pilot, app, HistoryScreen)
        await settle(pilot, app)
        screen = app.screen
        assert isinstance(screen, HistoryScreen) and screen.env_name == "staging"
        table = screen.query_one("#history-table", DataTable)
        assert table.row_count == len(screen.entries) >= 1
        newest = screen.entries[0]
        assert newest.action == "upgrade" and newest.to_revisions == ("m001",)
        assert [str(cell) for cell in table.get_row_at(0)][1:4] == ["upgrade", "base → m001", "ok"]
        detail = str(screen.query_one("#history-detail", Static).render())
        assert "upgrade base → m001: ok" in detail and "revisions: a001" in detail
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
