"""Pilot tests of the full-screen app against the embedded server."""

from __future__ import annotations

from fixtures_ui import UiProject, settle, statuses

from syncdb_tui.ui.app import SyncdbApp
from syncdb_tui.ui.widgets.environments import EnvironmentList
from syncdb_tui.ui.widgets.timeline import MigrationTimeline


async def test_main_screen_shows_every_environment(ui_project: UiProject) -> None:
    """The three environments load with their revision and pending count."""
    app = SyncdbApp(ui_project.config())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        found = statuses(app)
        assert set(found) == {"dev", "staging", "prod"}
        assert found["dev"].current == ("m002",)
        assert found["prod"].current == ("a003",)
        assert [p.revision for p in found["prod"].pending] == ["b001", "b002", "m001", "m002"] or len(
            found["prod"].pending
        ) == 4
        table = app.screen.query_one(EnvironmentList)
        assert table.row_count == 3
        timeline = app.screen.query_one(MigrationTimeline)
        assert timeline.row_count == 7


def test_drift_label_keeps_the_alarm_for_unexplained_differences() -> None:
    from types import SimpleNamespace

    from syncdb_tui.ui.widgets.environments import drift_label

    differs = SimpleNamespace(is_empty=False, new_tables=["a"], modified_tables=["b"], dropped_tables=[])
    assert drift_label(None).plain == "-"
    assert drift_label(SimpleNamespace(is_empty=True)).plain == "none"
    assert drift_label(differs, pending=2).plain == "behind"
    assert drift_label(differs, pending=0).plain == "DRIFT 2"
