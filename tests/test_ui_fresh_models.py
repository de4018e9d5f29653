"""The app reads the models fresh: edit the models file while it runs, refresh, then g."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures_ui import UiProject, settle, statuses, wait_for_screen

from syncdb_tui.ui.app import SyncdbApp
from syncdb_tui.ui.screens.generate import GenerateScreen
from syncdb_tui.ui.screens.report import ReportScreen

MODELS = (
    "import sqlalchemy as sa\nmetadata = sa.MetaData()\n"
    "sa.Table('users', metadata, sa.Column('id', sa.Integer, primary_key=True), sa.Column('email', sa.Text),"
    " sa.Column('team_id', sa.Integer), sa.Index('ix_users_email', 'email'))\n"
    "sa.Table('teams', metadata, sa.Column('id', sa.Integer, primary_key=True), sa.Column('name', sa.Text))\n"
    "sa.Table('documents', metadata, sa.Column('id', sa.Integer, primary_key=True), sa.Column('body', sa.Text))\n"
)


async def test_edit_models_while_the_app_runs(ui_project: UiProject, monkeypatch: pytest.MonkeyPatch) -> None:
    module = f"fresh_models_{ui_project.databases['dev'][-6:]}"
    models = ui_project.root / f"{module}.py"
    models.write_text(MODELS)
    monkeypatch.chdir(ui_project.root)
    config = ui_project.config(target_metadata=f"{module}:metadata")
    app = SyncdbApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        assert statuses(app)["dev"].drift is not None and statuses(app)["dev"].drift.is_empty
        models.write_text(MODELS + "sa.Table('invoices', metadata, sa.Column('id', sa.Integer, primary_key=True))\n")
        await pilot.press("f5")
        await settle(pilot, app)
        drift = statuses(app)["dev"].drift
        assert drift is not None and [table.name for table in drift.new_tables] == ["invoices"]
        await pilot.press("g")
        await wait_for_screen(pilot, app, GenerateScreen)
        for char in "invoices":
            await pilot.press(char)
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, ReportScreen)
        written = list(Path(ui_project.root / "migrations" / "versions").glob("*_invoices.py"))
        assert len(written) == 1 and "invoices" in written[0].read_text() and "create_table" in written[0].read_text()
