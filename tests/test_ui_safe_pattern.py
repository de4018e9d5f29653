"""Pilot test of S on a finding in the Risk checklist: the safe pattern written by the same core flow as
`syncdb generate --safe`, or the reason there is none (embedded server, no mocks)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from fixtures_ui import UiProject, settle

from syncdb_tui.core.envs.environments import resolve
from syncdb_tui.core.errors import UsageError
from syncdb_tui.core.project.generate import generate
from syncdb_tui.core.project.revisions import Project
from syncdb_tui.core.project.safe_patterns import generate_safe
from syncdb_tui.ui.actions import palette_actions
from syncdb_tui.ui.app import SyncdbApp
from syncdb_tui.ui.screens.report import ReportScreen
from syncdb_tui.ui.widgets.risk_checklist import RiskChecklist

MODELS = """
import sqlalchemy as sa
metadata = sa.MetaData()
sa.Table("users", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("email", sa.Text),
         sa.Column("team_id", sa.Integer), sa.Index("ix_users_email", "email"))
sa.Table("teams", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))
sa.Table("documents", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text),
         sa.Index("ix_documents_body", "body"))
"""


def _in_thread(fn):  # type: ignore[no-untyped-def]
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out[0]


def test_a_finding_without_a_pattern_is_refused_with_the_reason_before_anything_is_touched() -> None:
    with pytest.raises(UsageError) as caught:
        generate_safe(None, None, "", replace_revision="x", finding=("change-column-type", "users"))  # type: ignore[arg-type]
    assert "no safe pattern for change-column-type" in caught.value.message
    assert "dual writes" in caught.value.message


async def test_s_on_a_finding_writes_its_safe_pattern_in_place_of_the_pending_revision(
    ui_project: UiProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert any(spec.id == "syncdb.risk.safe" for spec in palette_actions())
    module = f"safe_ui_models_{ui_project.databases['dev'][-6:]}"
    (ui_project.root / f"{module}.py").write_text(MODELS)
    monkeypatch.chdir(ui_project.root)
    monkeypatch.syspath_prepend(str(ui_project.root))
    config = ui_project.config(target_metadata=f"{module}:metadata")
    # an ordinary generate: a plain CREATE INDEX on an existing table, pending on dev
    generated = _in_thread(lambda: generate(Project.from_config(config), resolve(config, "dev"), "index bodies"))
    original = Path(generated.path)  # type: ignore[attr-defined]
    assert "create_index" in original.read_text()

    app = SyncdbApp(config)
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot, app)
        await pilot.press("a")  # everything pending on dev: the new revision's findings
        await settle(pilot, app)
        risk = app.screen.query_one(RiskChecklist)
        assert any(finding.rule == "create-index" for _, finding in risk.findings), risk.findings
        await pilot.press("4", "S")
        await settle(pilot, app)
        for _ in range(100):
            if isinstance(app.screen, ReportScreen):
                break
            await asyncio.sleep(0.05)
            await settle(pilot, app)
        assert isinstance(app.screen, ReportScreen), [(n.title, n.message) for n in app._notifications]
        markdown = app.screen.markdown
        assert "create index ix_documents_body concurrently" in markdown
        assert ".syncdb/replaced/" in markdown
        # the original revision is kept aside; the safe one replaces it in the history
        assert not original.exists()
        assert (ui_project.root / ".syncdb" / "replaced" / original.name).exists()
        versions = ui_project.root / "migrations" / "versions"
        sources = [path.read_text() for path in versions.glob("*.py")]
        assert any("postgresql_concurrently=True" in text and "autocommit_block" in text for text in sources)

        # S again: the pending revision is now CREATE INDEX CONCURRENTLY, which has no further pattern
        await pilot.press("escape")
        await settle(pilot, app)
        for _ in range(100):
            risk = app.screen.query_one(RiskChecklist)
            if any("concurrently" in finding.rule for _, finding in risk.findings):
                break
            await asyncio.sleep(0.05)
            await settle(pilot, app)
        await pilot.press("4", "S")
        await settle(pilot, app)
        notes = [(n.title, n.message) for n in app._notifications]
        assert any(title == "no safe pattern" and "no safe pattern for" in message for title, message in notes), notes
        assert not isinstance(app.screen, ReportScreen)
