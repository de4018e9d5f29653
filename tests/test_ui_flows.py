"""Pilot tests of the main screen's actions against the embedded server (no mocks)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fixtures_ui import UiProject, settle, statuses, wait_for_screen
from textual.message import Message

from syncdb_tui.core.envs.environments import resolve
from syncdb_tui.core.project.versions import read_current
from syncdb_tui.ui.app import SyncdbApp
from syncdb_tui.ui.messages import JobFinished, JobProgressed
from syncdb_tui.ui.screens.backup import BackupScreen
from syncdb_tui.ui.screens.confirm import ConfirmScreen
from syncdb_tui.ui.screens.generate import GenerateScreen
from syncdb_tui.ui.screens.main import MainScreen
from syncdb_tui.ui.screens.report import ReportScreen
from syncdb_tui.ui.screens.restore import RestoreScreen
from syncdb_tui.ui.widgets.jobs import JobsPane
from syncdb_tui.ui.widgets.risk_checklist import RiskChecklist
from syncdb_tui.ui.widgets.timeline import MigrationTimeline


def _current(config, env_name):  # type: ignore[no-untyped-def]
    import threading

    out: list[tuple[str, ...]] = []

    def read() -> None:
        out.append(asyncio.run(read_current(resolve(config, env_name))))

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    return out[0]


def main_screen(app: SyncdbApp) -> MainScreen:
    return next(screen for screen in app.screen_stack if isinstance(screen, MainScreen))


async def type_text(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    for char in text:
        await pilot.press(char)


async def acknowledge_high(pilot, app) -> None:  # type: ignore[no-untyped-def]
    """Press m once (refused), then tick every 'ack HIGH' item in the risk checklist with space."""
    await pilot.press("m")
    await settle(pilot, app)
    risk = app.screen.query_one(RiskChecklist)
    ticks = risk.tick_list
    assert app.focused is ticks
    highs = [index for index in range(ticks.option_count) if "ack HIGH" in str(ticks.get_option_at_index(index).prompt)]
    assert highs
    for _ in highs:
        # the documented keys: 4 focuses the checklist on the first unticked HIGH item, space ticks it
        await pilot.press("4", "space")
    await pilot.pause()
    assert all(str(ticks.get_option_at_index(index).prompt).startswith("[x]") for index in highs)


async def test_migrate_prod_after_typing_its_name(ui_project: UiProject) -> None:
    """Migrating prod asks to acknowledge its HIGH finding, then for 'prod' typed; then prod is at head."""
    app = SyncdbApp(ui_project.config(), env="prod")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await acknowledge_high(pilot, app)
        assert any("acknowledge" in n.title for n in app._notifications)
        assert _current(ui_project.config(), "prod") == ("a003",)
        await pilot.press("m")
        await wait_for_screen(pilot, app, ConfirmScreen)
        assert app.screen.env_name == "prod"
        await type_text(pilot, "prod")
        await pilot.press("enter")
        await settle(pilot, app)
        assert _current(ui_project.config(), "prod") == ("m002",)
        assert statuses(app)["prod"].current == ("m002",)
        jobs = main_screen(app).query_one(JobsPane)
        assert [job.kind for job in jobs.jobs.values()] == ["migrate"]
        assert not next(iter(jobs.jobs.values())).failed


async def test_migrate_prod_refused_without_its_name(ui_project: UiProject) -> None:
    """Typing another name (or nothing) changes nothing and says why, like the CLI."""
    app = SyncdbApp(ui_project.config(), env="prod")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await acknowledge_high(pilot, app)
        await pilot.press("m")
        await wait_for_screen(pilot, app, ConfirmScreen)
        await type_text(pilot, "staging")
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, MainScreen)
        assert _current(ui_project.config(), "prod") == ("a003",)
        titles = [n.title for n in app._notifications]
        assert "not confirmed" in titles
        await pilot.press("m")
        await wait_for_screen(pilot, app, ConfirmScreen)
        await pilot.press("escape")
        await settle(pilot, app)
        assert _current(ui_project.config(), "prod") == ("a003",)
        assert main_screen(app).query_one(JobsPane).jobs == {}


async def test_migrate_without_acknowledging_high_is_refused(ui_project: UiProject) -> None:
    """On a protected environment a HIGH finding must be ticked before the confirmation is even asked."""
    app = SyncdbApp(ui_project.config(), env="prod")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("m")
        await settle(pilot, app)
        assert isinstance(app.screen, MainScreen)
        notification = next(n for n in app._notifications if n.title == "acknowledge HIGH findings")
        assert "not acknowledged" in notification.message
        # the refused plan is pinned in the risk pane, whose ack items tick it
        pinned = main_screen(app).pinned_plan
        assert pinned is not None and pinned.environment == "prod" and pinned.risk == "HIGH"
        assert _current(ui_project.config(), "prod") == ("a003",)


async def test_dry_run_changes_nothing(ui_project: UiProject) -> None:
    """With dry run on, migrate shows the SQL it would run and leaves the database alone."""
    app = SyncdbApp(ui_project.config(), env="staging")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("n")
        assert main_screen(app).dry_run
        assert "DRY RUN" in main_screen(app).sub_title
        await pilot.press("m")
        await wait_for_screen(pilot, app, ReportScreen)
        assert "ALTER TABLE users DROP COLUMN legacy_name" in app.screen.markdown
        assert "Dry run: nothing was changed" in app.screen.markdown
        await pilot.press("escape")
        await settle(pilot, app)
        assert _current(ui_project.config(), "staging") == ("m001",)


async def test_timeline_markers_after_migrate_and_switching(ui_project: UiProject) -> None:
    """Switching environment re-marks the timeline; after migrating staging, m002 is its current revision."""
    app = SyncdbApp(ui_project.config())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        screen = main_screen(app)
        timeline = screen.query_one(MigrationTimeline)
        assert screen.env_name == "dev"
        assert timeline._state("m002") == "current"
        await pilot.press("e")
        await settle(pilot, app)
        assert screen.env_name == "staging"
        assert "env: staging" in screen.sub_title
        assert timeline._state("m001") == "current"
        assert timeline._state("m002") == "pending"
        assert timeline._state("a001") == "applied"
        await pilot.press("m")
        await wait_for_screen(pilot, app, ConfirmScreen)
        assert any("HIGH" in reason for reason in app.screen.reasons)
        await type_text(pilot, "staging")
        await pilot.press("enter")
        await settle(pilot, app)
        assert timeline._state("m002") == "current"
        assert timeline._state("m001") == "applied"


async def test_backup_with_progress_then_restore_into_new_database(ui_project: UiProject, psql_exec) -> None:  # type: ignore[no-untyped-def]
    """A backup of dev reports progress and writes a manifest; restoring it makes a new database with its tables."""
    seen: list[Message] = []
    app = SyncdbApp(ui_project.config())
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await settle(pilot, app)
        await pilot.press("b")
        await wait_for_screen(pilot, app, BackupScreen)
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        assert any(isinstance(message, JobProgressed) for message in seen)
        finished = [message for message in seen if isinstance(message, JobFinished)]
        assert finished and ".dump" in finished[0].summary
        backups = sorted((ui_project.root / "backups").glob("*.dump"))
        assert len(backups) == 1
        assert (backups[0].parent / (backups[0].name + ".manifest.json")).is_file()

        await pilot.press("r")
        await wait_for_screen(pilot, app, RestoreScreen)
        target = ui_project.databases["dev"] + "_copy"
        field = app.screen.query_one("#restore-database")
        field.value = target
        await pilot.press("ctrl+s")
        await settle(pilot, app)
        jobs = main_screen(app).query_one(JobsPane).jobs
        assert [job.kind for job in jobs.values()] == ["backup", "restore"]
        assert all(not job.failed for job in jobs.values()), [job.result for job in jobs.values()]
        copy_url = ui_project.urls["dev"].replace(ui_project.databases["dev"], target)
        assert psql_exec(copy_url, "SELECT version_num FROM alembic_version").strip() == "m002"


async def test_generate_shows_new_revision_and_risk(ui_project: UiProject, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generate asks for a message, writes the revision and shows it with its risk."""
    module = f"ui_models_{ui_project.databases['dev'][-6:]}"
    (ui_project.root / f"{module}.py").write_text(
        "import sqlalchemy as sa\nmetadata = sa.MetaData()\n"
        "sa.Table('users', metadata, sa.Column('id', sa.Integer, primary_key=True), sa.Column('email', sa.Text),"
        " sa.Column('team_id', sa.Integer), sa.Index('ix_users_email', 'email'))\n"
        "sa.Table('teams', metadata, sa.Column('id', sa.Integer, primary_key=True), sa.Column('name', sa.Text))\n"
        "sa.Table('documents', metadata, sa.Column('id', sa.Integer, primary_key=True), sa.Column('body', sa.Text))\n"
        "sa.Table('invoices', metadata, sa.Column('id', sa.Integer, primary_key=True),"
        " sa.Column('total', sa.Integer))\n"
    )
    monkeypatch.chdir(ui_project.root)
    monkeypatch.syspath_prepend(str(ui_project.root))
    config = ui_project.config(target_metadata=f"{module}:metadata")
    app = SyncdbApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("g")
        await wait_for_screen(pilot, app, GenerateScreen)
        await type_text(pilot, "add invoices")
        await pilot.press("enter")
        await settle(pilot, app)
        assert isinstance(app.screen, ReportScreen), [(n.title, n.message) for n in app._notifications]
        await settle(pilot, app)
        report = app.screen
        assert isinstance(report, ReportScreen)
        assert "Risk: **LOW**" in report.markdown
        assert "CREATE TABLE invoices" in report.markdown
        written = list(Path(ui_project.root / "migrations" / "versions").glob("*add_invoices*.py"))
        assert len(written) == 1
        await pilot.press("escape")
        await settle(pilot, app)
        timeline = main_screen(app).query_one(MigrationTimeline)
        assert timeline.row_count == 8


async def test_push_and_seed_not_offered_on_protected(ui_project: UiProject) -> None:
    """On prod, push and seed are left out of the palette and the key bar, and their keys say why they
    are refused (no job, nothing changed); on dev they are offered."""
    from syncdb_tui.ui.widgets.key_bar import KeyBar

    app = SyncdbApp(ui_project.config(), env="prod")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        screen = main_screen(app)
        assert not screen.offered("push") and not screen.offered("seed")
        shown = [description for _, description, _, _ in screen.query_one(KeyBar).entries()[0]]
        assert "Push" not in shown and "Seed" not in shown
        for key, verb in (("p", "push"), ("s", "seed")):
            await pilot.press(key)
            await settle(pilot, app)
            notes = [n for n in app._notifications if n.severity == "error" and verb in n.title]
            assert notes, f"{key} on prod said nothing"
            assert "protected" in notes[-1].message
        assert not screen.query_one(JobsPane).jobs
        await pilot.press("e")
        await settle(pilot, app)
        assert screen.env_name == "dev"
        assert screen.offered("push") is True


async def test_unreachable_environment_shows_reason_and_app_keeps_running(
    ui_project: UiProject, tmp_path: Path
) -> None:
    """An environment whose server is gone shows 'unreachable' with the reason; actions on it notify, never crash."""
    import dataclasses

    from syncdb_tui.config import EnvironmentConfig

    config = ui_project.config()
    broken = EnvironmentConfig(name="qa", url=f"postgresql://postgres@/nowhere?host={tmp_path}/nosocket")
    config = dataclasses.replace(config, environments={**config.environments, "qa": broken})
    app = SyncdbApp(config, env="qa")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        status = statuses(app)["qa"]
        assert not status.reachable
        assert "cannot connect" in status.error or "unreachable" in status.error
        await pilot.press("m")
        await settle(pilot, app)
        assert isinstance(app.screen, MainScreen)
        assert any(n.severity == "error" for n in app._notifications)
        assert app.is_running


async def test_downgrade_one_step(ui_project: UiProject) -> None:
    """d offers -1, the applied revisions and base; choosing -1 on dev leaves it at m001."""
    from syncdb_tui.ui.screens.downgrade import DowngradeScreen

    app = SyncdbApp(ui_project.config())
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("d")
        await wait_for_screen(pilot, app, DowngradeScreen)
        await pilot.press("enter")
        # the picker's promise: the plan (and its SQL, ctrl+t) comes next, before anything runs
        await wait_for_screen(pilot, app, ConfirmScreen)
        modal = app.screen
        assert "m002" in modal.details and "undo" in modal.details and modal.sql
        assert _current(ui_project.config(), "dev") == ("m002",)
        if modal.typed:
            await type_text(pilot, "dev")
        await pilot.press("enter")
        await settle(pilot, app)
        assert _current(ui_project.config(), "dev") == ("m001",)
        assert statuses(app)["dev"].current == ("m001",)


async def test_unreachable_environment_recovers_on_refresh(ui_project: UiProject, psql_exec) -> None:  # type: ignore[no-untyped-def]
    """A missing database shows as unreachable; once it exists, a refresh shows it reachable again."""
    import dataclasses

    from syncdb_tui.config import EnvironmentConfig

    config = ui_project.config()
    database = ui_project.databases["dev"] + "_later"
    url = ui_project.urls["dev"].replace(ui_project.databases["dev"], database)
    later = EnvironmentConfig(name="later", url=url)
    config = dataclasses.replace(config, environments={**config.environments, "later": later})
    app = SyncdbApp(config, env="later")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        assert not statuses(app)["later"].reachable
        assert database in statuses(app)["later"].error
        psql_exec(ui_project.urls["dev"], f'CREATE DATABASE "{database}"')
        await pilot.press("f5")
        await settle(pilot, app)
        assert statuses(app)["later"].reachable
        assert statuses(app)["later"].current == ()


async def test_light_theme_from_config(ui_project: UiProject) -> None:
    """[tui] theme picks the theme; an unknown name falls back to the dark default."""
    app = SyncdbApp(ui_project.config(theme="textual-light"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        assert app.theme == "textual-light"
    app = SyncdbApp(ui_project.config(theme="no-such-theme"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "textual-dark"


async def test_cancel_a_running_backup_from_the_jobs_pane(ui_project: UiProject) -> None:  # type: ignore[no-untyped-def]
    """A backup stuck behind another session's lock is cancelled with `c`; nothing is left that looks good."""
    from syncdb_tui.core.backups.backup import list_backups
    from syncdb_tui.core.envs.environments import connect
    from syncdb_tui.ui.messages import JobFailed

    config = ui_project.config()
    env = resolve(config, "dev")
    holder = await connect(env, server_settings={"application_name": "holds users"})
    # pg_dump waits for its ACCESS SHARE lock on users as long as this transaction lives
    await holder.execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
    seen: list[Message] = []
    app = SyncdbApp(config)
    try:
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            await settle(pilot, app)
            await pilot.press("b")
            await wait_for_screen(pilot, app, BackupScreen)
            await pilot.press("ctrl+s")
            jobs = main_screen(app).query_one(JobsPane)
            for _ in range(200):
                if any(job.running for job in jobs.jobs.values()):
                    break
                await pilot.pause(0.02)
            assert [job.running for job in jobs.jobs.values()] == [True]
            blocked = 0
            for _ in range(100):
                blocked = await holder.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
                if blocked:
                    break
                await pilot.pause(0.05)
            assert blocked >= 1  # the backup really is stuck behind the lock
            await pilot.press("5", "c")
            await settle(pilot, app)
            failed = [message for message in seen if isinstance(message, JobFailed)]
            assert failed and failed[0].cancelled
            assert not any(job.running for job in jobs.jobs.values())
            # pg_dump itself was stopped: nobody waits for the lock any more
            waiting = 1
            for _ in range(50):
                waiting = await holder.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
                if waiting == 0:
                    break
                await asyncio.sleep(0.1)
            assert waiting == 0
    finally:
        await holder.close()
    assert not [entry for entry in await list_backups(config) if entry.good]


async def test_migrate_staging_shows_the_plan_then_one_enter(ui_project: UiProject) -> None:
    """m on an unprotected environment shows the plan (revisions, risk, from → to) before anything runs;
    Esc cancels quietly (no error, no job); m again and Enter migrates."""
    from syncdb_tui.core.changes.plan import make_plan  # noqa: F401  (the plan the modal shows)

    config = ui_project.config()
    app = SyncdbApp(config, env="dev")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        screen = main_screen(app)
        # dev is at head: nothing to plan; select staging (at m001, m002 pending)
        screen.select_environment("staging")
        await settle(pilot, app)
        await pilot.press("m")
        await wait_for_screen(pilot, app, ConfirmScreen)
        modal = app.screen
        assert isinstance(modal, ConfirmScreen)
        details = str(modal.details)
        assert "m002" in details and "m001" in details
        await pilot.press("escape")
        await settle(pilot, app)
        assert not isinstance(app.screen, ConfirmScreen)
        assert not [n for n in app._notifications if n.severity == "error"]
        assert not screen.query_one(JobsPane).jobs
        assert _current(config, "staging") == ("m001",)


async def test_plan_modal_without_typing_runs_on_enter_and_esc_is_none(ui_project: UiProject) -> None:
    """The plan modal of an unprotected, non-HIGH change answers True on one Enter and None on Esc
    (the flow then stops quietly); ctrl+t shows the plan's SQL."""
    app = SyncdbApp(ui_project.config(), env="dev")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        answers: list[object] = []
        for key in ("enter", "escape"):
            modal = ConfirmScreen("dev", "migrate", [], "upgrade dev: 1 revision(s)", typed=False, sql="SELECT 1;")
            app.push_screen(modal, answers.append)
            await pilot.pause()
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert not modal.query_one("#confirm-sql").has_class("-hidden")
            await pilot.press(key)
            await pilot.pause()
        assert answers == [True, None]
