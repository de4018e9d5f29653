"""The main screen: five panes over the selected environment, and every action's entry point.

Data flow: workers (``_load_graph``, ``_load_status``, ``_load_preview``) call core
and post messages (``ui/messages.py``); handlers here call intent methods on the
panes.  The first screen comes first: the graph from the revision cache and each
environment's quick status (version table, pending count: nothing of Alembic);
only once every environment has answered does the selected revision's SQL render,
then each environment's pending revisions are rendered and judged (selected
environment first), then drift is computed, then the timeline's badges.  Panes post
``Selected``/``RevisionHighlighted``; the screen owns the view state (selected
environment, dry run, direction, range) as reactives.  The flows behind the action
keys (migrate, backup, …) live in ``main_flows.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import itertools
from functools import partial
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.containers import Container
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header, Static
from textual.worker import Worker, WorkerState

from syncdb_tui.core.errors import SyncdbError
from syncdb_tui.core.project.revisions import Project
from syncdb_tui.ui.actions import PANES, bindings
from syncdb_tui.ui.messages import JobFailed, JobFinished, JobProgressed, JobStarted, StatusFailed, StatusLoaded
from syncdb_tui.ui.screens.main_flows import FlowsMixin
from syncdb_tui.ui.widgets.environments import EnvironmentList
from syncdb_tui.ui.widgets.jobs import JobsPane
from syncdb_tui.ui.widgets.key_bar import KeyBar
from syncdb_tui.ui.widgets.risk_checklist import RiskChecklist
from syncdb_tui.ui.widgets.sql_preview import SqlPreview
from syncdb_tui.ui.widgets.timeline import MigrationTimeline

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.timer import Timer

    from syncdb_tui.config import Config
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.revisions import RevisionGraph
    from syncdb_tui.core.status import EnvironmentStatus

ENV_ACTIONS = {
    "migrate",
    "downgrade",
    "generate",
    "backup",
    "restore",
    "report",
    "explorer",
    "push",
    "seed",
    "history",
}
DEV_ONLY_ACTIONS = {"push", "seed"}
BADGE_LIMIT = 500
"""Revisions judged in the background for their timeline badge (the rest when highlighted)."""
PREVIEW_DELAY = 0.12
"""Seconds the timeline cursor must rest before the SQL and risk of its revision are shown."""


class MainScreen(FlowsMixin, Screen[None]):
    """Environments, timeline, SQL preview, risk checklist and jobs of one project."""

    BINDINGS = bindings("main")
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]

    env_name: reactive[str] = reactive("", bindings=True)
    """The selected environment: the target of every action."""
    dry_run: reactive[bool] = reactive(False, bindings=True)
    direction: reactive[str] = reactive("upgrade")
    range_mode: reactive[bool] = reactive(False)
    """Preview everything pending instead of the highlighted revision."""
    pinned_plan: Any = None
    """A plan waiting for its HIGH findings to be acknowledged: the SQL and risk panes show it."""

    def __init__(self, config: Config, env_name: str | None = None, *, dry_run: bool = False) -> None:
        super().__init__(id="main")
        self.config = config
        self.set_reactive(MainScreen.dry_run, dry_run)
        self.project = Project.from_config(config)
        self.initial_env = config.environment(env_name).name
        self.graph: RevisionGraph | None = None
        self.statuses: dict[str, EnvironmentStatus] = {}
        self.resolved: dict[str, Environment] = {}
        self.job_ids = itertools.count(1)
        self.job_workers: dict[int, Worker[Any]] = {}
        self._previews: dict[tuple[str, str, str], tuple[str, list[Any], str]] = {}
        self._highlighted = ""
        self._preview_timer: Timer | None = None
        self._answered: set[str] = set()
        """Environments whose first status (or failure) arrived."""
        self._graph_loaded = asyncio.Event()
        """Set once the graph was read (or failed to): the quick statuses wait for it."""
        self._first_screen = asyncio.Event()
        """Set once every environment has answered: SQL rendering, judging and drift wait for it."""
        self._first_preview = asyncio.Event()
        """Set once the selected revision's preview was shown (or given up): judging the rest waits for it."""
        self._detailed: dict[str, asyncio.Event] = {name: asyncio.Event() for name in config.environments}
        """Per environment: its pending revisions were judged (or could not be)."""
        self._badged: RevisionGraph | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Container(id="panes"):
            yield EnvironmentList(self.config.environments, id="environments")
            yield MigrationTimeline(id="timeline")
            yield SqlPreview(id="sql")
            yield RiskChecklist(id="risk")
            yield JobsPane(id="jobs")
        yield Static(id="pane-tabs")
        yield KeyBar()

    def on_mount(self) -> None:
        for number, (pane_id, title) in enumerate(PANES.items(), start=1):
            pane = self.query_one(f"#{pane_id}")
            pane.border_title = f"{number} {title}"
            pane.add_class("pane")
        environments_height = len(self.config.environments) + 4
        # the Risk checklist gets the larger share of the right column: it is what the operator reads
        self.query_one("#panes").styles.grid_rows = f"{environments_height} 2fr 3fr 7"
        self.title = self.config.root.name
        self.query_one(EnvironmentList).select(self.initial_env)
        self.env_name = self.initial_env
        self.query_one(MigrationTimeline).add_class("-visible")
        self.focus_pane("environments")
        # Loading a long history makes many long-lived objects; a full collection meanwhile stalls
        # the UI for 100 ms and more.  Collect nothing until every environment's pending revisions
        # are judged (or for 30 s at most), then move the survivors out of the collector's reach.
        self.set_class(self.dry_run, "-dry-run")  # started with --dry-run: no watcher ran yet
        gc.freeze()
        gc.disable()
        self.set_timer(30, self._resume_collection, name="resume gc")
        self._load_graph()
        self.refresh_all()
        if self.config.refresh_interval > 0:
            self.set_interval(self.config.refresh_interval, self.refresh_all, name="periodic refresh")

    # ------------------------------------------------------------------ view state

    def watch_env_name(self, name: str) -> None:
        if not name:
            return
        env = self.config.environments.get(name)
        protected = bool(env and env.protected)
        self.set_class(protected, "-protected")
        self._update_subtitle()
        self.query_one(MigrationTimeline).show_status(self.statuses.get(name))
        self.schedule_preview()

    def watch_dry_run(self, dry_run: bool) -> None:
        self.set_class(dry_run, "-dry-run")
        self._update_subtitle()
        if self.is_mounted:
            self.notify("dry run ON: actions show what they would do" if dry_run else "dry run OFF", timeout=3)

    def watch_direction(self) -> None:
        self.schedule_preview()

    def watch_range_mode(self) -> None:
        self.schedule_preview()

    def _update_subtitle(self) -> None:
        env = self.config.environments.get(self.env_name)
        parts = [f"env: {self.env_name}" + (" (protected)" if env and env.protected else "")]
        if self.dry_run:
            parts.append("DRY RUN")
        self.sub_title = " · ".join(parts)

    def focus_pane(self, pane_id: str) -> None:
        """Focus a pane (and show it, when the terminal is narrow)."""
        self._mark_active(pane_id)
        pane = self.query_one(f"#{pane_id}")
        if isinstance(pane, RiskChecklist):
            pane.focus_checklist()
        else:
            pane.focus()

    def _mark_active(self, pane_id: str) -> None:
        """``-active`` on the focused pane; ``-visible`` on the pane a narrow terminal shows under the list."""
        for other in PANES:
            pane = self.query_one(f"#{other}")
            pane.set_class(other == pane_id, "-active")
            if pane_id != "environments":
                pane.set_class(other == pane_id, "-visible")
        self._draw_tabs(pane_id)

    def _draw_tabs(self, active: str) -> None:
        text = Text()
        for number, (pane_id, title) in enumerate(PANES.items(), start=1):
            style = "reverse bold" if pane_id == active else "dim"
            text.append(f" {number} {title.split()[0] if pane_id != 'sql' else 'SQL'} ", style=style)
            text.append(" ")
        self.query_one("#pane-tabs", Static).update(text)

    def on_descendant_focus(self, event: Any) -> None:
        widget: Widget | None = event.widget
        while widget is not None and widget.id not in PANES:
            parent = widget.parent
            widget = parent if isinstance(parent, Widget) else None
        if widget is not None and widget.id:
            self._mark_active(widget.id)

    @property
    def focused_pane(self) -> str | None:
        for pane_id in PANES:
            if self.query_one(f"#{pane_id}").has_class("-active"):
                return pane_id
        return None

    # ------------------------------------------------------------------ actions (keys)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # push and seed on a protected environment still run their flow, which says why the
        # policy refuses them (a dead key teaches nothing); the palette and footer leave them out
        if action in ENV_ACTIONS and not self.env_name:
            return None
        return True

    def offered(self, action: str) -> bool:
        """Whether ``action`` is offered now (palette, footer): push and seed never on a protected environment."""
        if self.check_action(action, ()) is not True:
            return False
        if action in DEV_ONLY_ACTIONS:
            env = self.config.environments.get(self.env_name)
            return env is not None and not env.protected
        return True

    def action_copy_mitigations(self) -> None:
        self.query_one(RiskChecklist).action_copy_mitigations()

    def action_safe_pattern(self) -> None:
        self.query_one(RiskChecklist).action_safe_pattern()

    def action_focus_pane(self, pane_id: str) -> None:
        self.focus_pane(pane_id)

    def action_toggle_dry_run(self) -> None:
        self.dry_run = not self.dry_run

    def action_toggle_direction(self) -> None:
        self.direction = "downgrade" if self.direction == "upgrade" else "upgrade"

    def action_toggle_range(self) -> None:
        self.pinned_plan = None
        self.range_mode = not self.range_mode

    def action_refresh(self) -> None:
        self.refresh_all(reload_graph=True)

    def action_history(self) -> None:
        """Open the selected environment's ledger (read in the History screen's own worker)."""
        from syncdb_tui.ui.screens.history import HistoryScreen

        name = self.env_name
        self.app.push_screen(HistoryScreen(name, partial(self.environment, name)))

    def action_next_environment(self) -> None:
        names = list(self.config.environments)
        if not names:
            return
        index = names.index(self.env_name) if self.env_name in names else -1
        self.select_environment(names[(index + 1) % len(names)])

    def select_environment(self, name: str) -> None:
        """Make ``name`` the selected environment (moves the Environments cursor)."""
        self.query_one(EnvironmentList).select(name)
        self.env_name = name

    def action_cancel_job(self) -> None:
        jobs = self.query_one(JobsPane)
        job_id = jobs.selected_job_id
        job = jobs.jobs.get(job_id) if job_id is not None else None
        if job_id is None or job is None or not job.running:
            self.notify("no running job is highlighted", severity="warning")
            return
        if not job.cancellable:
            self.notify(
                f"{job.description} cannot be interrupted midway: each revision runs in its own "
                "transaction; it stops after the current one fails or finishes",
                title="cannot cancel",
                severity="warning",
            )
            return
        worker = self.job_workers.get(job_id)
        if worker is not None:
            worker.cancel()

    # ------------------------------------------------------------------ loading

    def refresh_all(self, reload_graph: bool = False) -> None:
        """Read every environment's status again (and the scripts, when asked)."""
        if reload_graph:
            from syncdb_tui.core.project.generate import project_graph_reset

            project_graph_reset(self.project)
            self._previews.clear()
            self._load_graph()
        for name in self.config.environments:
            self.refresh_environment(name)

    def refresh_environment(self, name: str) -> None:
        self.query_one(EnvironmentList).show_loading(name)
        self.run_worker(
            partial(self._load_status, name),  # type: ignore[arg-type]  # run_worker cannot infer None
            group=f"status:{name}",
            exclusive=True,
            exit_on_error=False,
            description=f"status of {name}",
        )

    @work(thread=True, group="graph", exclusive=True, exit_on_error=False, description="read the revision graph")
    def _load_graph(self) -> None:
        from syncdb_tui.core.project.cache import cached_graph

        try:
            graph = cached_graph(self.project)  # a hit imports nothing of Alembic
        except SyncdbError as error:
            self.app.call_from_thread(self._graph_failed, error)
            return
        self.app.call_from_thread(self._show_graph, graph)

    def _graph_failed(self, error: SyncdbError) -> None:
        self._graph_loaded.set()  # the statuses read the scripts themselves (and say what is broken)
        self.show_error(error)

    def _show_graph(self, graph: RevisionGraph) -> None:
        self.graph = graph
        self._graph_loaded.set()
        timeline = self.query_one(MigrationTimeline)
        timeline.show_graph(graph)
        timeline.show_status(self.statuses.get(self.env_name))
        self._maybe_judge_badges()

    def _maybe_judge_badges(self) -> None:
        """Badge the timeline once the graph is there and every environment's pending revisions are judged."""
        if not all(event.is_set() for event in self._detailed.values()):
            return
        self._resume_collection()  # the long-lived objects of loading are made: collect again
        if self.graph is None or self._badged is self.graph:
            return
        self._badged = self.graph
        self._judge_badges(self.graph)

    @work(thread=True, group="badges", exclusive=True, exit_on_error=False, description="risk badges")
    def _judge_badges(self, graph: RevisionGraph) -> None:
        """Badge every revision (newest first, up to :data:`BADGE_LIMIT`) by the same judging as the risk
        pane, so applied revisions keep theirs after a restart; pending ones come from the status."""
        from textual.worker import get_current_worker

        from syncdb_tui.core.risk.judge import judge_offline, unrendered_note
        from syncdb_tui.ui.severity import badge

        worker = get_current_worker()
        timeline = self.query_one(MigrationTimeline)
        for info in graph.revisions[:BADGE_LIMIT]:
            if worker.is_cancelled:
                return
            if timeline.has_risk(info.revision):
                continue
            try:
                judged = judge_offline(self.project, info.revision, "upgrade", None)
            except SyncdbError:
                continue
            if unrendered_note(judged):
                continue
            level = badge(len(judged.findings), judged.risk)
            self.app.call_from_thread(timeline.set_risk, info.revision, level, only_if_unknown=True)

    async def environment(self, name: str) -> Environment:
        """The resolved environment ``name`` (resolved once, off the event loop)."""
        env = self.resolved.get(name)
        if env is None:
            from syncdb_tui.core.envs.environments import resolve

            env = await asyncio.to_thread(resolve, self.config, name)
            self.resolved[name] = env
        return env

    async def _load_status(self, name: str) -> None:
        """The quick status first (the first screen), then the pending revisions judged, then drift."""
        from syncdb_tui.core.status import status, status_sync

        try:
            try:
                env = await self.environment(name)
                await self._graph_loaded.wait()
                # versions and pending count only: asyncpg on the app's loop, the graph from the cache
                quick = await status(self.project, env, with_sql=False, graph=self.graph)
            except SyncdbError as error:
                self.post_message(StatusFailed(name, error.title, error.message, error.hint))
                return
            previous = self.statuses.get(name)
            if (
                previous is not None
                and all(item.risk for item in previous.pending)
                and previous.current == quick.current
                and [item.revision for item in previous.pending] == [item.revision for item in quick.pending]
            ):
                # a refresh: the same revisions are pending, keep showing their risk until judged again
                quick = dataclasses.replace(
                    quick,
                    pending=previous.pending,
                    rehearsal=previous.rehearsal,
                    judged_with_context=previous.judged_with_context,
                )
            self.post_message(StatusLoaded(name, quick))
            if not quick.reachable:
                return
            await self._first_screen.wait()
            await self._first_preview.wait()
            if name != self.initial_env:
                await self._detailed[self.initial_env].wait()
            if quick.pending:
                try:
                    # rendering and judging the pending SQL is CPU work: a thread keeps the UI loop free
                    judged = await asyncio.to_thread(status_sync, self.project, env, with_risk=True)
                except SyncdbError as error:
                    self.post_message(StatusFailed(name, error.title, error.message, error.hint))
                    return
                self.post_message(StatusLoaded(name, judged))
            else:
                judged = quick
        finally:
            self._detailed[name].set()
            self._maybe_judge_badges()
        if judged.reachable and self.config.target_metadata:
            drift = await self._compute_drift(env)
            if drift is not None:
                self.post_message(StatusLoaded(name, dataclasses.replace(judged, drift=drift)))

    async def _compute_drift(self, env: Environment) -> Any:
        try:
            from syncdb_tui.core.schema.drift import compute_drift
        except ImportError:
            return None
        try:
            return await asyncio.to_thread(compute_drift, self.config, env)
        except SyncdbError:
            return None

    @on(StatusLoaded)
    def _show_status(self, message: StatusLoaded) -> None:
        self.statuses[message.env_name] = message.status
        self._answered.add(message.env_name)
        if all(pending.risk for pending in message.status.pending):
            # judged now (with live context where reachable): drop what was judged offline meanwhile
            for pending in message.status.pending:
                self._previews.pop((message.env_name, pending.revision, "upgrade"), None)
        self.query_one(EnvironmentList).show_status(message.status)
        if message.env_name == self.env_name:
            self.query_one(MigrationTimeline).show_status(message.status)
            self.schedule_preview()
        self._check_first_screen()

    def _check_first_screen(self) -> None:
        """Once every environment has answered: collect again, and let the SQL and judging start."""
        if len(self._answered) == len(self.config.environments) and not self._first_screen.is_set():
            # after the paint of the complete screen: the SQL rendering must not delay it
            self.call_after_refresh(self._start_details)

    def _start_details(self) -> None:
        self._first_screen.set()
        self.schedule_preview()

    def on_unmount(self) -> None:
        self._resume_collection()

    def _resume_collection(self) -> None:
        if not gc.isenabled():
            gc.freeze()
            gc.enable()

    @on(StatusFailed)
    def _show_status_failure(self, message: StatusFailed) -> None:
        self._answered.add(message.env_name)
        self.statuses.pop(message.env_name, None)
        self.query_one(EnvironmentList).show_failure(message.env_name, message.message)
        self._check_first_screen()

    # ------------------------------------------------------------------ selection and preview

    @on(EnvironmentList.Selected)
    def _select_environment(self, message: EnvironmentList.Selected) -> None:
        if message.name and message.name != self.env_name:
            self.env_name = message.name

    @on(MigrationTimeline.RevisionHighlighted)
    def _preview_revision(self, message: MigrationTimeline.RevisionHighlighted) -> None:
        if message.revision != self._highlighted:
            self._highlighted = message.revision
            # while the cursor runs through the history only the timeline redraws; the preview
            # follows once it rests
            if self._preview_timer is not None:
                self._preview_timer.stop()
            self._preview_timer = self.set_timer(PREVIEW_DELAY, self.schedule_preview, name="preview delay")

    def schedule_preview(self) -> None:
        """Render the SQL and risk of what is selected (in a worker; the latest request wins)."""
        if not self.is_mounted or not self.env_name or not self._first_screen.is_set():
            return  # nothing renders SQL before every environment is shown
        self.run_worker(
            partial(self._load_preview, self.env_name, self._highlighted, self.direction, self.range_mode),  # type: ignore[arg-type]
            group="preview",
            exclusive=True,
            exit_on_error=False,
            description="SQL preview",
        )

    async def _load_preview(self, env_name: str, revision: str, direction: str, range_mode: bool) -> None:
        try:
            await self._show_preview(env_name, revision, direction, range_mode)
        finally:
            self._first_preview.set()

    async def _show_preview(self, env_name: str, revision: str, direction: str, range_mode: bool) -> None:
        sql_pane = self.query_one(SqlPreview)
        risk_pane = self.query_one(RiskChecklist)
        status = self.statuses.get(env_name)
        plan = self.pinned_plan
        if plan is not None and plan.environment == env_name:
            verb = "migrate" if plan.action == "upgrade" else plan.action
            title = f"plan: {verb} {env_name} to {plan.target}"
            sql_pane.show_sql(title, plan.sql_script())
            risk_pane.show_findings(env_name, title, plan.findings(), note="" if plan.revisions else "nothing to do")
            return
        if range_mode:
            pending = status.pending if status is not None else ()
            title = f"{env_name}: everything pending ({len(pending)}), current → head"
            if status is None:
                sql_pane.show_note(title, "the status of this environment is not known yet")
                return
            if not all(p.risk for p in pending):
                sql_pane.show_note(title, "rendering and judging the pending revisions…")
                risk_pane.show_findings(env_name, title, [], note="judging the pending revisions…")
                return
            notes = tuple(
                f"-- {p.revision}: needs a live database: {p.needs_live_reason}" for p in pending if p.needs_live_reason
            )
            sql = "\n".join(f"-- revision {p.revision}: {p.message}\n{p.sql.rstrip()}\n" for p in pending if p.sql)
            sql_pane.show_sql(title, sql, notes) if pending else sql_pane.show_note(title, "nothing pending")
            pending_findings = [(p.revision, finding) for p in pending for finding in p.findings]
            rehearsal = getattr(status, "rehearsal", None)
            risk_title = f"{title} · {rehearsal.headline()}" if rehearsal is not None else title
            risk_pane.show_findings(env_name, risk_title, pending_findings, note="" if pending else "nothing pending")
            return
        if not revision:
            sql_pane.show_note("", "no revision selected")
            risk_pane.show_findings(env_name, "", [], note="no revision selected")
            return
        title = f"{revision[:12]} {direction}"
        key = (env_name, revision, direction)
        if key not in self._previews:
            sql_pane.show_loading(title)
            self._previews[key] = await self._render_revision(env_name, revision, direction, status)
        sql, findings, note = self._previews[key]
        if note:
            sql_pane.show_note(title, note)
        else:
            sql_pane.show_sql(title, sql)
        risk_pane.show_findings(env_name, title, [(revision, finding) for finding in findings], note=note)
        if direction == "upgrade" and not note:
            from syncdb_tui.core.risk.analysis import worst_severity
            from syncdb_tui.ui.severity import badge

            self.query_one(MigrationTimeline).set_risk(revision, badge(len(findings), worst_severity(findings).name))

    async def _render_revision(
        self, env_name: str, revision: str, direction: str, status: EnvironmentStatus | None
    ) -> tuple[str, list[Any], str]:
        """(sql, findings, note) of one revision; the note replaces the SQL when it cannot render."""
        if status is not None and direction == "upgrade":
            for pending in status.pending:
                if pending.revision == revision and pending.risk:  # judged (the quick status is not)
                    if pending.needs_live_reason:
                        return "", [], f"needs a live database: {pending.needs_live_reason}"
                    return pending.sql, list(pending.findings), ""
        if self.graph is not None and revision not in self.graph.by_id:
            return "", [], "this revision is in the database but not in the scripts: no SQL to show"
        from syncdb_tui.core.risk.judge import judge_offline, unrendered_note

        try:
            env = self.resolved.get(env_name)
            judged = await asyncio.to_thread(judge_offline, self.project, revision, direction, env)
        except SyncdbError as error:
            return "", [], f"{error.title}: {error.message}"
        note = unrendered_note(judged)
        if note:
            return "", [], note
        return judged.sql, list(judged.findings), ""

    # ------------------------------------------------------------------ jobs

    @on(JobStarted)
    def _add_job(self, message: JobStarted) -> None:
        self.query_one(JobsPane).add_job(
            message.job_id, message.kind, message.env_name, message.description, message.cancellable
        )

    @on(JobProgressed)
    def _job_progress(self, message: JobProgressed) -> None:
        self.query_one(JobsPane).progress(message.job_id, message.progress)

    @on(JobFinished)
    def _job_finished(self, message: JobFinished) -> None:
        self.query_one(JobsPane).finish(message.job_id, message.summary)
        self.job_workers.pop(message.job_id, None)

    @on(JobFailed)
    def _job_failed(self, message: JobFailed) -> None:
        self.query_one(JobsPane).finish(message.job_id, message.summary, failed=True)
        self.job_workers.pop(message.job_id, None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The net under every worker: an error that escaped becomes a notification."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            if isinstance(error, SyncdbError):
                self.show_error(error)
            else:
                self.show_internal_error(error)
