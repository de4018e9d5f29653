"""Regression tests for the safety review: dry-run reaches every front end, no silent over-reach."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncdb_tui.config import load_config
from syncdb_tui.core.envs.environments import resolve
from syncdb_tui.core.errors import RefusedError
from syncdb_tui.core.secrets import redact


def test_downgrade_past_base_or_forward_is_a_usage_error(demo_project, run_cli, psql_exec) -> None:
    root = demo_project.root
    assert run_cli("migrate", "0003", cwd=root).code == 0
    too_far = run_cli("downgrade", "-9", "--force", cwd=root)
    assert too_far.code == 2 and "only 3 step(s)" in too_far.err
    forward = run_cli("downgrade", "+1", "--force", cwd=root)
    assert forward.code == 2 and "step forward" in forward.err
    assert psql_exec(demo_project.urls["dev"], "SELECT version_num FROM alembic_version;").strip() == "0003"
    assert run_cli("downgrade", "-3", "--force", cwd=root).code == 0  # exactly to base is fine


def test_dry_run_report_writes_no_file(demo_project, run_cli, tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    result = run_cli("report", "--dry-run", "-o", str(target), cwd=demo_project.root)
    assert result.code == 0, result.err
    assert not target.exists()
    assert "## Current Status" in result.out and "dry run" in result.err


def test_dry_run_seed_on_protected_is_refused_like_the_real_one(demo_project, run_cli) -> None:
    result = run_cli("seed", "--env", "prod", "--dry-run", cwd=demo_project.root)
    assert result.code == 3 and "protected" in result.err


def test_deep_verify_on_protected_needs_confirmation_and_dry_run_restores_nothing(
    demo_project, run_cli, psql_exec
) -> None:
    root = demo_project.root
    assert run_cli("migrate", "--env", "prod", "--force", "--no-backup", cwd=root).code == 0
    assert run_cli("backup", "--env", "prod", cwd=root).code == 0
    refused = run_cli("backups", "--verify", "--deep", "--env", "prod", cwd=root)
    assert refused.code == 3 and "deep verify" in refused.err
    before = psql_exec(demo_project.urls["prod"], "SELECT count(*) FROM pg_database;")
    dry = run_cli("backups", "--verify", "--deep", "--env", "prod", "--dry-run", "--json", cwd=root)
    assert dry.code == 0, dry.err
    assert "dry run" in dry.err
    assert psql_exec(demo_project.urls["prod"], "SELECT count(*) FROM pg_database;") == before
    assert all(item["verify"]["ok"] for item in json.loads(dry.out))


async def test_app_started_with_dry_run_is_in_dry_run_and_the_explorer_is_read_only(demo_project) -> None:
    from syncdb_tui.core.explorer.session import open_session
    from syncdb_tui.ui.app import SyncdbApp
    from syncdb_tui.ui.screens.main import MainScreen

    config = load_config(demo_project.config_path)
    app = SyncdbApp(config, dry_run=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = next(s for s in app.screen_stack if isinstance(s, MainScreen))
        assert screen.dry_run is True and screen.has_class("-dry-run")
        assert "DRY RUN" in screen.sub_title
    session = await open_session(config, "dev", dry_run=True)
    try:
        assert not resolve(config, "dev").protected and session.read_only
        with pytest.raises(RefusedError) as caught:
            session.require_writable("editing")
        assert "--dry-run" in caught.value.message
    finally:
        await session.close()


def test_sql_passwords_of_other_sessions_are_masked() -> None:
    text = "pid 42 of admin, active for 3 s: ALTER ROLE app PASSWORD 'Hunter2''x' VALID UNTIL 'infinity'"
    masked = redact(text)
    assert "Hunter2" not in masked and "PASSWORD '***'" in masked and "VALID UNTIL 'infinity'" in masked
