"""The actions registry, help, palette, report and explorer, and a migration of the real demo."""

from __future__ import annotations

import io

import pytest
from fixtures_ui import UiProject, settle, wait_for_screen
from rich.console import Console

from syncdb_tui.config import load_config
from syncdb_tui.ui.actions import ACTIONS, palette_actions
from syncdb_tui.ui.app import SyncdbApp
from syncdb_tui.ui.screens.backup import BackupScreen
from syncdb_tui.ui.screens.confirm import ConfirmScreen
from syncdb_tui.ui.screens.help import HelpScreen, help_renderable
from syncdb_tui.ui.screens.main import MainScreen
from syncdb_tui.ui.screens.report import ReportScreen
from syncdb_tui.ui.widgets.risk_checklist import RiskChecklist


def test_every_action_has_a_handler_key_and_help_line() -> None:
    """Each registry entry is bound somewhere, handled, and listed on the help screen."""
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(help_renderable("timeline"))
    help_text = console.export_text()
    ids = [spec.id for spec in ACTIONS]
    assert len(ids) == len(set(ids))
    for spec in ACTIONS:
        assert spec.tooltip in " ".join(help_text.split()) or spec.tooltip[:40] in help_text.replace("\n", " ")
        if spec.scope == "main":
            name = spec.action.split("(")[0]
            assert hasattr(MainScreen, f"action_{name}"), spec
    assert {spec.palette.split(":")[0] for spec in palette_actions()} >= {"migrate", "backup", "report", "dev"}


async def test_help_screen_and_palette(ui_project: UiProject) -> None:
    """? opens the help; the palette runs 'backup: new backup' by name."""
    app = SyncdbApp(ui_project.config())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        await wait_for_screen(pilot, app, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        for char in "backup: new":
            await pilot.press(char)
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for_screen(pilot, app, BackupScreen)
        await pilot.press("escape")
        await settle(pilot, app)
        assert isinstance(app.screen, MainScreen)


async def test_report_is_written_and_shown(ui_project: UiProject) -> None:
    """w writes syncdb-report-<env>.md beside the config and shows it; with dry run nothing is written."""
    app = SyncdbApp(ui_project.config(), env="staging")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("w")
        await wait_for_screen(pilot, app, ReportScreen)
        assert app.screen.markdown.startswith("# Database Sync Report")
        written = ui_project.root / "syncdb-report-staging.md"
        assert written.read_text() == app.screen.markdown
        written.unlink()
        await pilot.press("escape")
        await pilot.press("n")
        await pilot.press("w")
        await wait_for_screen(pilot, app, ReportScreen)
        await settle(pilot, app)
        assert not written.exists()


async def test_explorer_key_and_start(ui_project: UiProject) -> None:
    """t opens the table explorer on the selected environment; start='explorer' opens it first."""
    from syncdb_tui.ui.screens.explorer import ExplorerScreen

    app = SyncdbApp(ui_project.config(), env="staging")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("t")
        await wait_for_screen(pilot, app, ExplorerScreen)
        assert app.screen.env_name == "staging"
    app = SyncdbApp(ui_project.config(), start="explorer")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_screen(pilot, app, ExplorerScreen)
        await settle(pilot, app)


async def test_migrate_demo_prod_after_typing_its_name(demo_project) -> None:  # type: ignore[no-untyped-def]
    """On the real demo, prod (protected) migrates to head only after its name is typed."""
    config = load_config(demo_project.config_path)
    app = SyncdbApp(config, env="prod")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        main = app.screen
        assert isinstance(main, MainScreen)
        pending = len(main.statuses["prod"].pending)
        assert pending > 0
        await pilot.press("m")
        for _ in range(400):
            if isinstance(app.screen, ConfirmScreen) or any(
                n.title == "acknowledge HIGH findings" for n in app._notifications
            ):
                break
            await pilot.pause(0.02)
        if not isinstance(app.screen, ConfirmScreen):
            main.query_one(RiskChecklist).acknowledge_all("prod")
            await pilot.press("m")
            await wait_for_screen(pilot, app, ConfirmScreen)
        for char in "prod":
            await pilot.press(char)
        await pilot.press("enter")
        await settle(pilot, app)
        status = main.statuses["prod"]
        assert status.pending == ()
        assert set(status.current) == set(status.heads)


@pytest.mark.parametrize("width", [80, 120])
async def test_key_bar_never_cuts_a_key(ui_project: UiProject, width: int) -> None:
    """The footer at 80 and 120 columns: every label it shows is whole, it ends with help and palette,
    and the focused pane's keys come first."""
    from syncdb_tui.ui.widgets.key_bar import KeyBar

    app = SyncdbApp(ui_project.config(), env="prod")
    async with app.run_test(size=(width, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("4")
        await pilot.pause()
        bar = app.screen.query_one(KeyBar)
        line = bar.render().plain
        assert len(line) <= width
        items, tail = bar.entries()
        shown = [(label, description) for label, description, _, _ in items if f"{label} {description}" in line]
        assert shown, line
        assert shown[0] == ("space", "Tick"), line
        for label, description, _, _ in tail:
            assert line.rstrip().endswith("^p palette") and f"{label} {description}" in line
        # nothing half-drawn: each item is either whole in the line or absent, word for word
        words = line.split()
        for label, description, _, _ in items:
            if f"{label} {description}" not in line:
                assert description.split()[0] not in words or label not in words


def test_fit_keys_skips_whole_items() -> None:
    from syncdb_tui.ui.widgets.key_bar import fit_keys

    items = [("m", "Migrate", "m"), ("d", "Downgrade", "d"), ("t", "Tables", "t")]
    tail = [("?", "Help", "?")]
    assert fit_keys(items, tail, 30) == [0, 2]
    assert fit_keys(items, tail, 19) == [0]
