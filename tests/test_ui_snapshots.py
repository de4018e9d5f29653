"""Snapshots of the main screen, the help screen and every modal, at 120x40 and at 80x24.

The sample project (``fixtures_ui.snap_project``) has fixed database names, revision ids
and dates, and a fake backup with a fixed manifest; nothing shown depends on time,
ports or socket paths.  Accept a change only after looking at the report.
"""

from __future__ import annotations

from typing import Any

import pytest
from fixtures_ui import UiProject, settle, wait_for_screen

from syncdb_tui.ui.app import SyncdbApp
from syncdb_tui.ui.screens.backup import BackupScreen
from syncdb_tui.ui.screens.confirm import ConfirmScreen
from syncdb_tui.ui.screens.downgrade import DowngradeScreen
from syncdb_tui.ui.screens.error import ErrorScreen
from syncdb_tui.ui.screens.generate import GenerateScreen
from syncdb_tui.ui.screens.help import HelpScreen
from syncdb_tui.ui.screens.report import ReportScreen
from syncdb_tui.ui.screens.restore import RestoreScreen
from syncdb_tui.ui.widgets.jobs import JobsPane

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


@pytest.fixture(autouse=True)
def _pin_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Elapsed times in the jobs pane read 0.0 s."""
    monkeypatch.setattr(JobsPane, "clock", staticmethod(lambda: 1000.0))


def make_app(project: UiProject, env: str = "dev") -> SyncdbApp:
    return SyncdbApp(project.config(), env=env)


def keys_then(keys: list[str], screen: type | None = None) -> Any:
    async def run_before(pilot: Any) -> None:
        await settle(pilot, pilot.app)
        for key in keys:
            await pilot.press(key)
        if screen is not None:
            await wait_for_screen(pilot, pilot.app, screen)
        await settle(pilot, pilot.app, ignore_flows=True)

    return run_before


class TestMainScreen:
    @pytest.mark.parametrize("size", SIZES)
    def test_main_dev(self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int]) -> None:
        """The main screen on dev: three environments, the branched timeline, SQL of the head."""
        assert snap_compare(make_app(snap_project), terminal_size=size, run_before=keys_then([]))

    @pytest.mark.parametrize("size", SIZES)
    def test_main_prod_timeline(self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int]) -> None:
        """prod selected (protected), the timeline focused: pending markers and the HIGH badge."""
        app = make_app(snap_project, env="prod")
        assert snap_compare(app, terminal_size=size, run_before=keys_then(["2"]))

    @pytest.mark.parametrize("size", SIZES)
    def test_main_all_pending_risk(self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int]) -> None:
        """Everything pending on prod, the risk checklist focused (findings, ack item, operator items)."""
        app = make_app(snap_project, env="prod")
        assert snap_compare(app, terminal_size=size, run_before=keys_then(["a", "4"]))


class TestHelp:
    @pytest.mark.parametrize("size", SIZES)
    def test_help(self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int]) -> None:
        """Every binding from the registry, with the focused pane explained first."""
        assert snap_compare(make_app(snap_project), terminal_size=size, run_before=keys_then(["2", "f1"], HelpScreen))


class TestModals:
    @pytest.mark.parametrize("size", SIZES)
    def test_confirm(self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int]) -> None:
        """The typed-name confirmation for migrating staging (HIGH risk pending)."""
        app = make_app(snap_project, env="staging")
        assert snap_compare(app, terminal_size=size, run_before=keys_then(["m"], ConfirmScreen))

    @pytest.mark.parametrize("size", SIZES)
    def test_backup(self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int]) -> None:
        """The backup modal: kind, format, tables, destination."""
        assert snap_compare(make_app(snap_project), terminal_size=size, run_before=keys_then(["b"], BackupScreen))

    @pytest.mark.parametrize("size", SIZES)
    def test_restore(self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int]) -> None:
        """The restore modal listing a backup with its manifest, and the target choice."""
        app = make_app(snap_project, env="prod")
        assert snap_compare(app, terminal_size=size, run_before=keys_then(["r"], RestoreScreen))

    @pytest.mark.parametrize("size", SIZES)
    def test_generate(self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int]) -> None:
        """The generate modal asking for the revision's message."""
        assert snap_compare(make_app(snap_project), terminal_size=size, run_before=keys_then(["g"], GenerateScreen))

    @pytest.mark.parametrize("size", SIZES)
    def test_downgrade(self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int]) -> None:
        """The downgrade modal: -1, the applied revisions below staging's current one, base."""
        app = make_app(snap_project, env="staging")
        assert snap_compare(app, terminal_size=size, run_before=keys_then(["d"], DowngradeScreen))

    @pytest.mark.parametrize("size", SIZES)
    def test_dry_run_plan(self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int]) -> None:
        """Dry run on staging: the migrate plan with its SQL, in the Markdown viewer."""
        app = make_app(snap_project, env="staging")
        assert snap_compare(app, terminal_size=size, run_before=keys_then(["n", "m"], ReportScreen))

    @pytest.mark.parametrize("size", SIZES)
    def test_error(self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int]) -> None:
        """The error modal with the CLI's title, message and hint."""

        async def run_before(pilot: Any) -> None:
            await settle(pilot, pilot.app)
            pilot.app.push_screen(
                ErrorScreen(
                    "migration failed",
                    'prod: revision m002 failed: column "legacy_name" does not exist (the database stays at a003)',
                    "check the revision's upgrade(), fix it, and run migrate again",
                )
            )
            await settle(pilot, pilot.app)

        assert snap_compare(make_app(snap_project, env="prod"), terminal_size=size, run_before=run_before)


class TestLegibility:
    """Issue 14: severity and ticks read without colour; the checklist and the plan at both sizes."""

    @pytest.mark.parametrize("size", SIZES)
    def test_main_no_color(
        self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """NO_COLOR: HIGH in bold reverse, ticks as [x]/[ ] (prod, everything pending, checklist focused)."""
        monkeypatch.setenv("NO_COLOR", "1")
        app = make_app(snap_project, env="prod")
        assert snap_compare(app, terminal_size=size, run_before=keys_then(["a", "4"]))

    def test_main_ansi_16_colours(self, snap_compare: Any, snap_project: UiProject) -> None:
        """The terminal's own 16 ANSI colours (what TERM=xterm gets): the ansi-dark theme."""
        app = make_app(snap_project, env="prod")

        async def run_before(pilot: Any) -> None:
            pilot.app.ansi_color = True
            pilot.app.theme = "ansi-dark"
            await keys_then(["a", "4"])(pilot)

        assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)

    @pytest.mark.parametrize("size", SIZES)
    def test_checklist_after_refused_migrate(
        self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int]
    ) -> None:
        """m on prod is refused for its HIGH finding: the checklist shows the plan, cursor on the ack item."""
        app = make_app(snap_project, env="prod")
        assert snap_compare(app, terminal_size=size, run_before=keys_then(["m"]))


GENERATED_SQL = """\
BEGIN;
ALTER TABLE documents ADD COLUMN pinned BOOLEAN DEFAULT false NOT NULL;
CREATE INDEX ix_documents_pinned ON documents (pinned);
ALTER TABLE documents ALTER COLUMN body SET NOT NULL;
UPDATE alembic_version SET version_num='c0ffee000001' WHERE alembic_version.version_num = 'm002';
COMMIT;
"""


def ledger_entries() -> list[Any]:
    """Two fixed ledger rows (newest first): an ok migrate with its backup, a failed downgrade."""
    from datetime import UTC, datetime

    from syncdb_tui.core.changes.ledger import LedgerEntry

    def at(hour: int) -> datetime:
        return datetime(2026, 1, 2, hour, 30, tzinfo=UTC)

    return [
        LedgerEntry(
            id=2,
            plan_id="",
            action="migrate",
            environment="prod",
            from_revisions=("a003",),
            to_revisions=("m002",),
            revisions=({"revision": "m001", "sha256": "0" * 64}, {"revision": "m002", "sha256": "1" * 64}),
            operator="ops",
            host="deploy-1",
            application_name="syncdb migrate",
            started_at=at(12),
            finished_at=at(12),
            result="ok",
            error="",
            backup_path="backups/backup_prod_20260102_123000.dump",
            postflight={"problems": [], "drift": []},
        ),
        LedgerEntry(
            id=1,
            plan_id="",
            action="downgrade",
            environment="prod",
            from_revisions=("a003",),
            to_revisions=("a002",),
            revisions=({"revision": "a003", "sha256": "2" * 64},),
            operator="ops",
            host="deploy-1",
            application_name="syncdb app",
            started_at=at(9),
            finished_at=at(9),
            result="failed",
            error='column "legacy_name" does not exist',
            backup_path="",
        ),
    ]


class TestResultScreens:
    """Issue 14: the generate result (safe-pattern SQL kept verbatim) and the History modal, at both sizes."""

    @pytest.mark.parametrize("size", SIZES)
    def test_generate_result(
        self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After g: the new revision, its risk worst first, each safe pattern and the SQL as code.

        The revision is not written (a fixed result; the shared project stays as it is) and its
        SQL is judged by the real risk analysis, so the findings and safe patterns are real."""
        from syncdb_tui.core.project import generate as generate_module
        from syncdb_tui.core.project.generate import GeneratedRevision
        from syncdb_tui.core.risk.analysis import analyse_sql
        from syncdb_tui.ui.screens.main_flows import FlowsMixin

        result = GeneratedRevision(
            revision="c0ffee000001",
            message="pin documents",
            path="migrations/versions/c0ffee000001_pin_documents.py",
            source="",
            empty=False,
            dry_run=False,
        )
        monkeypatch.setattr(generate_module, "generate", lambda *args, **kwargs: result)

        async def judged(self: Any, revision: str, env: Any) -> tuple[str, list[Any], str]:
            return GENERATED_SQL, list(analyse_sql(GENERATED_SQL).findings), ""

        monkeypatch.setattr(FlowsMixin, "_new_revision_risk", judged)

        async def run_before(pilot: Any) -> None:
            await keys_then(["g"], GenerateScreen)(pilot)
            for key in "pin documents":
                await pilot.press("space" if key == " " else key)
            await pilot.press("enter")
            await wait_for_screen(pilot, pilot.app, ReportScreen)
            await settle(pilot, pilot.app, ignore_flows=True)

        assert snap_compare(make_app(snap_project), terminal_size=size, run_before=run_before)

    @pytest.mark.parametrize("size", SIZES)
    def test_history(
        self, snap_compare: Any, snap_project: UiProject, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """h on prod: the ledger newest first, the newest change detailed under the table (fixed rows)."""
        from syncdb_tui.core.changes import ledger
        from syncdb_tui.ui.screens.history import HistoryScreen

        async def entries_of(env: Any, *, limit: int = 50) -> list[Any]:
            return ledger_entries()

        monkeypatch.setattr(ledger, "entries_of", entries_of)
        app = make_app(snap_project, env="prod")
        assert snap_compare(app, terminal_size=size, run_before=keys_then(["h"], HistoryScreen))
