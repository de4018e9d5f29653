"""The flows behind the main screen's action keys: ask, plan, confirm, run as a job, report.

Each ``action_*`` starts one worker that runs a flow; a flow asks its questions with
``push_screen_wait`` (modals typed by their answer), calls core (async functions
directly, blocking Alembic calls through ``asyncio.to_thread`` so the loop stays
free), and reports through job messages.  Errors raised by core are
``SyncdbError``s: they become a notification (or, for a failed operation, an error
modal) with the same title, message and hint the CLI prints; nothing else escapes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.worker import get_current_worker

from syncdb_tui.core.errors import OperationError, RefusedError, SyncdbError, UsageError
from syncdb_tui.core.events import JobProgress
from syncdb_tui.core.secrets import redact
from syncdb_tui.ui.messages import JobFailed, JobFinished, JobProgressed, JobStarted
from syncdb_tui.ui.screens.confirm import ConfirmScreen
from syncdb_tui.ui.screens.error import ErrorScreen
from syncdb_tui.ui.widgets.risk_checklist import RiskChecklist

if TYPE_CHECKING:
    from syncdb_tui.config import Config
    from syncdb_tui.core.changes.plan import Plan
    from syncdb_tui.core.changes.policy import Requirements
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.revisions import Project, RevisionGraph
    from syncdb_tui.core.status import EnvironmentStatus


def plan_markdown(title: str, plan: Plan) -> str:
    """A dry-run plan as Markdown: what would run, its risk, its consequences and its SQL."""
    lines = [
        f"# {title}",
        "",
        "**Dry run: nothing was changed.**",
        "",
        "```text",
        *plan.describe(with_id=False),
        "```",
        "",
    ]
    if plan.revisions:
        lines += ["```sql", plan.sql_script().rstrip(), "```", ""]
    return "\n".join(lines)


class Cancelled(Exception):
    """The operator pressed Esc on a question: the flow stops quietly, nothing changed."""


def generated_findings_markdown(findings: list[Any]) -> list[str]:
    """Findings worst first, each safe pattern as a fenced SQL block (kept verbatim: line breaks,
    ``<value>`` placeholders and ``--`` comments are code, not Markdown)."""
    from syncdb_tui.ui.widgets.risk_checklist import worst_first

    lines: list[str] = []
    for _revision, finding in worst_first([("", finding) for finding in findings]):
        lines += [
            f"### {finding.severity.name} `{finding.rule}` on `{finding.table or '?'}`",
            "",
            f"Lock: {finding.lock or 'none'}. {finding.message.replace('<', '&lt;')}",
            "",
        ]
        if finding.mitigation.strip():
            fence = "````" if "```" in finding.mitigation else "```"
            lines += ["Safe way:", "", f"{fence}sql", finding.mitigation.strip(), fence, ""]
    return lines


@dataclass
class JobHandle:
    """What a flow holds while its job runs: a thread-safe progress callback and the summary."""

    screen: Any
    job_id: int
    summary: str = "done"

    def progress(self, event: JobProgress) -> None:
        self.screen.post_message(JobProgressed(self.job_id, event))


if TYPE_CHECKING:
    from textual.screen import Screen

    _ScreenBase = Screen[None]
else:
    _ScreenBase = object


class FlowsMixin(_ScreenBase):
    """Action handlers and flows of the main screen (mixed into ``MainScreen``)."""

    config: Config
    project: Project
    graph: RevisionGraph | None
    statuses: dict[str, EnvironmentStatus]
    env_name: str
    dry_run: bool
    job_ids: Any
    job_workers: dict[int, Any]
    range_mode: bool
    pinned_plan: Any

    if TYPE_CHECKING:

        def refresh_environment(self, name: str) -> None: ...
        def refresh_all(self, reload_graph: bool = False) -> None: ...
        def focus_pane(self, pane_id: str) -> None: ...
        def schedule_preview(self) -> None: ...
        async def environment(self, name: str) -> Environment: ...

    # ------------------------------------------------------------------ errors

    def show_error(self, error: SyncdbError) -> None:
        """The CLI's words for ``error``: a modal for a failed operation, else a notification."""
        message, hint = redact(error.message), redact(error.hint)
        if isinstance(error, OperationError):
            self.app.push_screen(ErrorScreen(error.title, message, hint))
            return
        text = message + (f"\nhint: {hint}" if hint else "")
        self.notify(text, title=error.title, severity="error", timeout=12, markup=False)

    def show_internal_error(self, error: BaseException) -> None:
        self.notify(
            redact(f"{type(error).__name__}: {error}")
            + "\nhint: this is a bug in syncdb; the app keeps running. Run with SYNCDB_DEBUG=1 for details.",
            title="internal error",
            severity="error",
            timeout=15,
            markup=False,
        )

    def start_flow(self, flow: Awaitable[None], name: str, env_name: str) -> None:
        """Run ``flow`` in a worker that turns every error into the CLI's message."""
        self.run_worker(
            self._guarded(flow),
            group=f"flow:{name}:{env_name}",
            exit_on_error=False,
            description=f"{name} {env_name}",
        )

    async def _guarded(self, flow: Awaitable[None]) -> None:
        try:
            await flow
        except Cancelled:
            self.notify("cancelled: nothing was changed", timeout=3)
        except SyncdbError as error:
            self.show_error(error)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the net: a bug must not kill the app
            self.show_internal_error(error)

    @asynccontextmanager
    async def job(
        self, kind: str, env_name: str, description: str, *, cancellable: bool = True
    ) -> AsyncIterator[JobHandle]:
        """Track the enclosed work as a row of the Jobs pane."""
        job_id = next(self.job_ids)
        self.post_message(JobStarted(job_id, kind, env_name, description, cancellable))
        self.job_workers[job_id] = get_current_worker()
        handle = JobHandle(self, job_id)
        try:
            yield handle
        except asyncio.CancelledError:
            self.post_message(JobFailed(job_id, "cancelled", cancelled=True))
            raise
        except SyncdbError as error:
            self.post_message(JobFailed(job_id, redact(f"{error.title}: {error.message}")))
            raise
        except Exception as error:
            self.post_message(JobFailed(job_id, redact(f"internal error: {error}")))
            raise
        self.post_message(JobFinished(job_id, handle.summary))

    async def confirm_typed(
        self,
        env: Environment,
        action: str,
        reasons: list[str],
        details: str = "",
        *,
        typed: bool | None = None,
        sql: str = "",
        risk: str = "",
    ) -> None:
        """Ask before a change: ``env``'s name typed back when ``typed`` (default: when there are
        reasons to), else the plan and one Enter (``typed=False``).

        Raises:
            Cancelled: Esc (the flow stops quietly).
            RefusedError: another name typed.
        """
        if typed is None:
            if not reasons:
                return
            typed = True
        confirmed = await self.app.push_screen_wait(
            ConfirmScreen(env.name, action, reasons, details, typed=typed, sql=sql, risk=risk)
        )
        if confirmed is None:
            raise Cancelled()
        if not confirmed:
            raise RefusedError(
                f"{action} on {env.name} was not confirmed",
                hint=f"type exactly {env.name!r} in the confirmation to go on",
                title="not confirmed",
            )

    def show_markdown(self, title: str, markdown: str, subtitle: str = "") -> None:
        from syncdb_tui.ui.screens.report import ReportScreen

        self.app.push_screen(ReportScreen(title, markdown, subtitle))

    # ------------------------------------------------------------------ migrate / downgrade

    def action_migrate(self) -> None:
        self.start_flow(self._change_flow(self.env_name, "upgrade", "head"), "migrate", self.env_name)

    async def _change_flow(self, env_name: str, action: str, target: str) -> None:
        """migrate/downgrade: the core's plan, the core's policy, the core's executor; this only asks and shows."""
        from syncdb_tui.core.changes.executor import execute
        from syncdb_tui.core.changes.plan import make_plan
        from syncdb_tui.core.changes.policy import check_refusal, check_satisfied, requirements

        verb = "migrate" if action == "upgrade" else action
        env = await self.environment(env_name)
        plan = await asyncio.to_thread(make_plan, self.project, env, action, target)
        if plan.is_empty:
            self.notify(f"{env_name} is already at {', '.join(plan.before) or 'base'}: nothing to do")
            return
        req = requirements(env, action, risk=plan.risk, findings=plan.findings())
        if self.dry_run:
            self.show_markdown(f"dry run: {verb} {env_name}", plan_markdown(f"{verb} {env_name} to {target}", plan))
            self.notify(f"dry run: {len(plan.revisions)} revision(s) would run on {env_name}; nothing was changed")
            return
        check_refusal(req)
        acked = self._require_acknowledged(env, plan, req)
        details = "\n".join(plan.describe(with_id=False))
        risk = plan.risk if plan.risk in ("HIGH", "MEDIUM", "LOW") else ""
        # always the plan first: typed name where the policy asks it, one Enter elsewhere
        await self.confirm_typed(
            env, verb, list(req.reasons), details, typed=req.typed_name, sql=plan.sql_script(), risk=risk
        )
        check_satisfied(req, confirmed=True, acked=acked)
        async with self.job(verb, env_name, f"{verb} {env_name} → {target}", cancellable=False) as job:
            outcome = await asyncio.to_thread(
                execute, self.project, env, plan, backup=req.backup, progress=job.progress
            )
            if not outcome.ok:
                self.refresh_environment(env_name)
                raise outcome.error_object()
            job.summary = outcome.summary()
        self.pinned_plan = None
        self.notify(outcome.summary(), title=f"{verb} done")
        if outcome.postflight is not None:
            for problem in outcome.postflight.problems():
                self.notify(problem, title="post-flight", severity="warning", timeout=15, markup=False)
        self.refresh_environment(env_name)

    def _require_acknowledged(self, env: Environment, plan: Plan, req: Requirements) -> list[str]:
        """The acknowledged HIGH findings (checklist ticks); refuses while the policy's list is not all ticked."""
        from syncdb_tui.core.changes.policy import missing_acks
        from syncdb_tui.ui.widgets.risk_checklist import RiskChecklist

        risk_pane = self.query_one(RiskChecklist)
        acked = risk_pane.acknowledged(env.name, plan.findings())
        missing = missing_acks(req, acked)
        if not missing:
            return acked
        # show this plan's findings in the SQL and risk panes, so they can be ticked there
        self.pinned_plan = plan
        self.schedule_preview()
        self.focus_pane("risk")
        key = "m" if plan.action == "upgrade" else "d"
        raise RefusedError(
            f"{req.action} on {env.name} runs HIGH-risk changes, and {len(missing)} of them are not acknowledged "
            "yet: " + "; ".join(finding.describe() for finding in missing),
            hint=f"the Risk checklist now shows this plan: tick each 'ack HIGH' item (4, then Space), "
            f"then press {key} again",
            title="acknowledge HIGH findings",
        )

    def action_downgrade(self) -> None:
        self.start_flow(self._downgrade_flow(self.env_name), "downgrade", self.env_name)

    async def _downgrade_flow(self, env_name: str) -> None:
        from syncdb_tui.ui.screens.downgrade import DowngradeScreen

        status = self.statuses.get(env_name)
        if status is None or not status.reachable:
            raise UsageError(f"the status of {env_name} is not known yet", hint="wait for it to load, or press F5")
        if not status.current:
            raise UsageError(
                f"{env_name} has no revision applied, so there is nothing to downgrade", title="nothing to downgrade"
            )
        graph = self.graph
        below = []
        if graph is not None:
            applied = graph.ancestors(list(status.current)) - set(status.current)
            below = [info for info in graph.revisions if info.revision in applied]
        target = await self.app.push_screen_wait(DowngradeScreen(env_name, status.current, below))
        if target is None:
            return
        await self._change_flow(env_name, "downgrade", target)

    # ------------------------------------------------------------------ generate

    def action_generate(self) -> None:
        self.start_flow(self._generate_flow(self.env_name), "generate", self.env_name)

    async def _generate_flow(self, env_name: str) -> None:
        from syncdb_tui.core.project.generate import generate
        from syncdb_tui.ui.screens.generate import GenerateScreen

        env = await self.environment(env_name)
        message = await self.app.push_screen_wait(GenerateScreen(env_name, self.dry_run))
        if message is None:
            return
        async with self.job("generate", env_name, f"generate '{message}'") as job:
            result = await asyncio.to_thread(generate, self.project, env, message, dry_run=self.dry_run)
            job.summary = f"{result.revision} {'(dry run)' if result.dry_run else result.path}"
        lines = [f"# New revision {result.revision}", "", f"Message: {result.message}", ""]
        if result.dry_run:
            lines += ["**Dry run: no file was written.**", "", "```python", result.source.rstrip(), "```"]
        else:
            lines += [f"Written to `{result.path}`.", ""]
            self.refresh_all(reload_graph=True)
            from syncdb_tui.core.risk.analysis import worst_severity

            sql, findings, note = await self._new_revision_risk(result.revision, env)
            worst = worst_severity(findings).name if findings else "none (no findings)"
            lines += [f"Risk: **{worst}**" if not note else f"Risk: unknown ({note})", ""]
            lines += generated_findings_markdown(findings)
            if sql:
                lines += ["## SQL", "", "```sql", sql.rstrip(), "```"]
        if result.empty:
            lines += ["", "_The models match the database: the revision is empty._"]
        self.show_markdown(f"generated {result.revision}", "\n".join(lines), result.path)

    # ------------------------------------------------------------------ safe pattern of a finding

    def on_risk_checklist_safe_pattern_requested(self, event: RiskChecklist.SafePatternRequested) -> None:
        event.stop()
        self.start_flow(
            self._safe_pattern_flow(self.env_name, event.revision, event.rule, event.table), "safe", self.env_name
        )

    async def _safe_pattern_flow(self, env_name: str, revision: str, rule: str, table: str | None) -> None:
        """The finding's revision generated again with the safe patterns (core.project.safe_patterns,
        the same flow as ``generate --safe``); a finding without a pattern raises why (a notification)."""
        from syncdb_tui.core.project.safe_patterns import generate_safe

        env = await self.environment(env_name)
        where = f" on {table}" if table else ""
        async with self.job("generate", env_name, f"safe pattern for {rule}{where} ({revision[:12]})") as job:
            written = await asyncio.to_thread(
                generate_safe,
                self.project,
                env,
                "",
                dry_run=self.dry_run,
                replace_revision=revision,
                finding=(rule, table),
            )
            job.summary = f"{len(written)} revision(s)" + (" (dry run)" if self.dry_run else "")
        lines = [f"# Safe pattern for {rule}{where}", ""]
        if self.dry_run:
            lines += ["**Dry run: no file was written or moved.**", ""]
        else:
            lines += [f"Revision `{revision}` was generated again from the models (its file: `.syncdb/replaced/`).", ""]
        lines += ["| revision | message | file |", "|---|---|---|"]
        for item in written:
            shown = _shown_path(Path(item.path), self.config) if item.path else "(dry run)"
            lines.append(f"| {item.revision} | {item.message} | `{shown}` |")
        if not self.dry_run:
            self.refresh_all(reload_graph=True)
            lines += ["", "Each revision's risk is in the timeline; `syncdb status` lists them as pending."]
        self.show_markdown(f"safe pattern: {rule}", "\n".join(lines))

    # ------------------------------------------------------------------ merge heads

    def action_merge(self) -> None:
        self.start_flow(self._merge_flow(self.env_name), "merge", self.env_name)

    async def _merge_flow(self, env_name: str) -> None:
        """Alembic's merge of every head (core.project.merge), then the new revision judged like any other."""
        from syncdb_tui.core.project.merge import merge_heads

        env = await self.environment(env_name)
        async with self.job("merge", env_name, "merge the heads") as job:
            result = await asyncio.to_thread(merge_heads, self.project, "", dry_run=self.dry_run)
            job.summary = "dry run" if result.dry_run else f"{result.revision} {result.path}"
        heads = ", ".join(result.heads)
        if result.dry_run:
            self.notify(f"dry run: a merge revision of {heads} would be written; nothing was changed")
            return
        self.refresh_all(reload_graph=True)
        sql, findings, note = await self._new_revision_risk(result.revision, env)
        lines = [f"# Merge revision {result.revision}", "", f"Joins {heads}.", "", f"Written to `{result.path}`.", ""]
        lines.append(f"Risk: **{_worst_name(findings)}**" if not note else f"Risk: unknown ({note})")
        if sql:
            lines += ["", "```sql", sql.rstrip(), "```"]
        lines += ["", "Press m to migrate: it applies both branches and the merge."]
        self.show_markdown(f"merged {result.revision}", "\n".join(lines), result.path)

    async def _new_revision_risk(self, revision: str, env: Environment) -> tuple[str, list[Any], str]:
        from syncdb_tui.core.risk.judge import judge_offline, unrendered_note

        judged = await asyncio.to_thread(judge_offline, self.project, revision, "upgrade", env)
        return judged.sql, list(judged.findings), unrendered_note(judged)

    # ------------------------------------------------------------------ push / seed (dev only)

    def action_push(self) -> None:
        self.start_flow(self._push_flow(self.env_name), "push", self.env_name)

    async def _push_flow(self, env_name: str) -> None:
        from syncdb_tui.core.changes import recorded
        from syncdb_tui.core.changes.policy import check_refusal, check_satisfied, requirements
        from syncdb_tui.core.schema.push import plan_push

        env = await self.environment(env_name)
        check_refusal(requirements(env, "push"))
        plan = await plan_push(self.config, env)
        if plan.is_empty:
            self.notify(f"the models and {env_name}'s schema already match: nothing to push")
            return
        if self.dry_run:
            self.show_markdown(
                f"dry run: push {env_name}",
                f"# push {env_name}\n\n**Dry run: nothing was changed.** Risk: **{plan.risk}**\n\n"
                f"{plan.summary}\n\n```sql\n{plan.sql.rstrip()}\n```\n",
            )
            return
        req = recorded.push_requirements(env, plan)
        risk = plan.risk if plan.risk in ("HIGH", "MEDIUM", "LOW") else ""
        await self.confirm_typed(
            env, "push", list(req.reasons), plan.summary, typed=req.typed_name, sql=plan.sql, risk=risk
        )
        check_satisfied(req, confirmed=True)
        async with self.job("push", env_name, f"push models to {env_name}") as job:
            result = await recorded.push(
                self.config, env, plan=plan, allow_destructive=bool(plan.destructive), progress=job.progress
            )
            job.summary = f"{len(plan.statements)} statement(s) applied in {result.seconds:.1f} s"
        if result.ledger_problem:
            self.notify(result.ledger_problem, title="ledger", severity="warning", markup=False)
        self.refresh_environment(env_name)

    def action_seed(self) -> None:
        self.start_flow(self._seed_flow(self.env_name), "seed", self.env_name)

    async def _seed_flow(self, env_name: str) -> None:
        from syncdb_tui.core import seed

        env = await self.environment(env_name)
        seed.refuse_protected(env)
        if self.dry_run:
            self.notify(
                f"dry run: {env_name} would be filled with test data by {self.config.seed or 'the demo seed'}; "
                "nothing was changed"
            )
            return
        # every question before the job starts: a refusal or an Esc leaves no failed job behind
        question = await seed.seed_question(self.config, env)
        source = self.config.seed or "the demo seed"
        if question:
            req = seed.nonempty_requirements(env, question)
            await self.confirm_typed(env, "seed", list(req.reasons), f"fill {env.database} with test data by {source}")
        else:
            await self.confirm_typed(env, "seed", [], f"fill {env.database} with test data by {source}", typed=False)
        async with self.job("seed", env_name, f"seed {env_name}") as job:
            result = await seed.seed_environment(
                self.config, env, progress=job.progress, confirm_nonempty=lambda _question: True
            )
            job.summary = f"{result.total_rows} rows in {len(result.tables)} tables ({result.seconds:.1f} s)"
        self.refresh_environment(env_name)

    # ------------------------------------------------------------------ backup / restore

    def action_backup(self) -> None:
        self.start_flow(self._backup_flow(self.env_name), "backup", self.env_name)

    async def _backup_flow(self, env_name: str) -> None:
        from syncdb_tui.core.backups import backup
        from syncdb_tui.ui.screens.backup import BackupScreen

        env = await self.environment(env_name)
        options = await self.app.push_screen_wait(
            BackupScreen(
                env_name, _shown_path(self.config.backup_dir, self.config), self.config.backup_format, self.dry_run
            )
        )
        if options is None:
            return
        if options.output is not None and not options.output.expanduser().is_absolute():
            options = replace(options, output=self.config.root / options.output)
        if self.dry_run:
            plan = await backup.plan_backup(env, self.config, options)
            self.show_markdown(
                f"dry run: backup {env_name}",
                f"# backup {env_name}\n\n**Dry run: nothing was written.**\n\n"
                f"- destination: `{plan.destination}`\n- kind: {options.kind}, format: {options.fmt}, "
                f"compression: {plan.compression}\n\n```sh\n{plan.command}\n```\n",
            )
            return
        async with self.job("backup", env_name, f"backup {env_name} ({options.kind})") as job:
            manifest = await backup.backup(env, self.config, options, progress=job.progress)
            from syncdb_tui.core.backups.manifest import human_size

            job.summary = f"{manifest.path.name} ({human_size(manifest.size)}, {len(manifest.tables)} tables)"
        self.notify(f"backup written: {manifest.path}", title="backup done")

    def action_restore(self) -> None:
        self.start_flow(self._restore_flow(self.env_name), "restore", self.env_name)

    async def _restore_flow(self, env_name: str) -> None:
        from syncdb_tui.core.backups import backup, restore
        from syncdb_tui.ui.screens.restore import RestoreScreen

        env = await self.environment(env_name)
        entries = await backup.list_backups(self.config)
        current = await restore.current_revisions(env)
        choice = await self.app.push_screen_wait(
            RestoreScreen(env_name, env.database, entries, self.dry_run, current_revisions=current)
        )
        if choice is None:
            return
        plan = await restore.plan_restore(
            self.config, choice.backup, env=env, target_db=choice.target_db, clean=choice.clean
        )
        if plan.refusal:
            raise RefusedError(plan.refusal, hint="restore into a new database instead", title="restore refused")
        manifest = plan.manifest
        summary = (
            f"backup {choice.backup.name} of {manifest.environment} "
            f"(revision {', '.join(manifest.alembic_revisions) or 'none'}) → {plan.database}"
            + (f"; {env_name} is now at {', '.join(plan.current_revisions) or 'no revision'}" if plan.clean else "")
            + f"; {plan.describe_mode()}"
        )
        if self.dry_run:
            dropped = "\n".join(f"- {name}" for name in plan.would_drop) or "- nothing"
            self.show_markdown(
                f"dry run: restore on {env_name}",
                f"# restore {choice.backup.name}\n\n**Dry run: nothing was changed.**\n\n{summary}\n\n"
                f"```sh\n{plan.command}\n```\n\nwould replace:\n\n{dropped}\n",
            )
            return
        from syncdb_tui.core.changes import recorded
        from syncdb_tui.core.changes.policy import check_satisfied

        req = recorded.restore_requirements(env, plan)
        await self.confirm_typed(env, "restore", list(req.reasons), summary)
        check_satisfied(req, confirmed=True)
        async with self.job("restore", env_name, f"restore {choice.backup.name[:24]}") as job:
            result = await recorded.restore(
                self.config,
                choice.backup,
                env=env,
                target_db=choice.target_db,
                clean=choice.clean,
                progress=job.progress,
            )
            checked = sum(1 for table in result.tables if table.ok)
            job.summary = f"into {result.database}: {checked}/{len(result.tables)} tables match the manifest"
            if result.previous_database:
                job.summary += f"; previous kept as {result.previous_database}"
        kept = f"; the previous database is kept as {result.previous_database}" if result.previous_database else ""
        self.notify(f"restored {choice.backup.name} into {result.database}{kept}", title="restore done")
        self.refresh_environment(env_name)

    # ------------------------------------------------------------------ report / explorer

    def action_rehearse(self) -> None:
        self.start_flow(self._rehearse_flow(self.env_name), "rehearse", self.env_name)

    async def _rehearse_flow(self, env_name: str) -> None:
        """Rehearse migrating to head on a scratch copy (core.changes.rehearse); show what it measured."""
        from syncdb_tui.core.changes.plan import make_plan
        from syncdb_tui.core.changes.rehearse import rehearse

        env = await self.environment(env_name)
        plan = await asyncio.to_thread(make_plan, self.project, env, "upgrade", "head")
        if not plan.revisions:
            self.notify(f"{env_name} is already at {', '.join(plan.before) or 'base'}: nothing to rehearse")
            return
        async with self.job("rehearse", env_name, f"rehearse {env_name} → head on a copy") as job:
            result = await asyncio.to_thread(rehearse, self.project, env, plan, progress=job.progress)
            job.summary = result.headline()
        lines = [f"# Rehearsal of plan {plan.id}", "", "```text", *plan.describe(with_id=False), "", *result.lines()]
        lines += ["```", ""]
        lines.append(f"The live database `{env.database}` was not changed; the copy was dropped.")
        self.show_markdown(f"rehearsal: {env_name}", "\n".join(lines))

    def action_report(self) -> None:
        self.start_flow(self._report_flow(self.env_name), "report", self.env_name)

    async def _report_flow(self, env_name: str) -> None:
        from syncdb_tui.core.report import build_report, render_markdown

        env = await self.environment(env_name)
        async with self.job("report", env_name, f"report {env_name}") as job:
            report = await build_report(self.project, env)
            markdown = render_markdown(report)
            path = self.config.root / f"syncdb-report-{env_name}.md"
            if self.dry_run:
                job.summary = "shown (dry run: not written)"
            else:
                await asyncio.to_thread(path.write_text, markdown)
                job.summary = f"written to {path.name}"
        self.show_markdown(f"Database Sync Report: {env_name}", markdown, "" if self.dry_run else str(path))

    def action_explorer(self) -> None:
        from syncdb_tui.ui.app import SyncdbApp

        if isinstance(self.app, SyncdbApp):
            self.app.open_explorer(self.env_name)


def _worst_name(findings: list[Any]) -> str:
    from syncdb_tui.core.risk.analysis import worst_severity

    return worst_severity(findings).name


def _shown_path(path: Path, config: Config) -> Path:
    """``path`` relative to the project when it is inside it (shorter, and the same on every machine)."""
    try:
        return path.relative_to(config.root)
    except ValueError:
        return path
