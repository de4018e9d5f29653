"""The Database Sync Report (Markdown and JSON) and the status text.

Who calls what: ``commands/status.py`` renders :func:`render_status`;
``commands/report.py`` and the TUI's report action call :func:`build_report`
then :func:`render_markdown` or ``SyncReport.to_json``.  Everything shown comes
from an :class:`EnvironmentStatus` (and the risk engine's findings in it); no
URL with a password can reach the text, since only display names are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from syncdb_tui import __version__
from syncdb_tui.core.risk.locks import lock_text

if TYPE_CHECKING:
    from syncdb_tui.core.changes.ledger import LedgerEntry
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.revisions import Project
    from syncdb_tui.core.status import EnvironmentStatus


@dataclass(frozen=True)
class SyncReport:
    """Everything the report says about one environment."""

    status: EnvironmentStatus
    generated_at: datetime
    location: str
    recommendations: tuple[str, ...]
    next_steps: tuple[str, ...]
    blockers: tuple[str, ...] = ()
    last_backup: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        status = self.status
        data = status.to_json()
        return {
            "generated_at": self.generated_at.isoformat(),
            "syncdb_version": __version__,
            "current_status": {
                "environment": status.environment,
                "database": status.database,
                "location": self.location,
                "protected": status.protected,
                "reachable": status.reachable,
                "error": status.error or None,
                "server_version": status.server_version,
                "schema_version": list(status.current),
                "pending_migrations": len(status.pending),
                "last_change": data["last_change"],
            },
            "pending_migrations": [
                {"migration": p.revision, "description": p.message, "risk": p.risk} for p in status.pending
            ],
            "schema_changes": data["drift"],
            "migration_preview": [
                {"migration": p.revision, "sql": p.sql, "needs_live_database": p.needs_live_reason or None}
                for p in status.pending
            ],
            "findings": [
                {"migration": p.revision, **finding.to_json()} for p in status.pending for finding in p.findings
            ],
            "suppressed": [
                {"migration": p.revision, **finding.to_json()} for p in status.pending for finding in p.suppressed
            ],
            "lock_conflicts": list(self.blockers),
            "last_backup": self.last_backup or None,
            "recommendations": list(self.recommendations),
            "next_steps": list(self.next_steps),
            "status": data,
        }


def _schema_version(status: EnvironmentStatus) -> str:
    return ", ".join(status.current) if status.current else "none (nothing applied)"


def _pending_count(status: EnvironmentStatus) -> str:
    """How many revisions are pending; unknowable while the database is at a revision the scripts lack."""
    if status.unknown:
        return "unknown (the database is at a revision the scripts do not contain)"
    return str(len(status.pending))


def _cell(text: object) -> str:
    """``text`` safe inside a Markdown table cell (pipes escaped, one line)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def render_status(status: EnvironmentStatus, location: str) -> str:
    """The text of `syncdb status` (Markdown-ish, readable as plain text)."""
    lines = [f"# {status.environment}" + (" (protected)" if status.protected else "")]
    lines.append("")
    lines.append(f"Database:        {status.database} on {location}")
    if not status.reachable:
        lines.append(f"Reachable:       no: {status.error}")
        return "\n".join(lines) + "\n"
    lines.append(f"Server:          PostgreSQL {status.server_version}")
    lines.append(f"Schema version:  {_schema_version(status)}")
    lines.append(f"Heads:           {', '.join(status.heads) or '(no revisions)'}")
    lines.append(f"Applied:         {len(status.applied)}")
    lines.append(f"Pending:         {_pending_count(status)}" + (f" (risk {status.risk})" if status.pending else ""))
    if status.unknown:
        lines.append(f"Unknown:         {', '.join(status.unknown)} (in the database, not in the scripts)")
    if status.drift is not None:
        lines.append(f"Drift:           {_drift_line(status.drift)}")
    if status.rehearsal is not None:
        lines.append(f"Rehearsal:       {status.rehearsal.headline()}")
    if status.fingerprint is not None:
        lines.append(f"Fingerprint:     {status.fingerprint.describe()}")
        lines += [f"                 - {line}" for line in status.fingerprint.differences[:20]]
    if status.last_change is not None:
        lines.append(f"Last change:     {status.last_change.summary()}")
        if status.last_change.error:
            lines.append(f"Last error:      {' '.join(status.last_change.error.split())}")
        lines += [f"Post-flight:     {problem}" for problem in last_change_problems(status.last_change)]
    for note in status.notes:
        lines.append(f"Note:            {note}")
    if status.pending:
        lines += ["", "## Pending migrations", "", "| Migration | Description | Risk |", "|---|---|---|"]
        lines += [f"| {p.revision} | {_cell(p.message)} | {p.risk} |" for p in status.pending]
        for pending in status.pending:
            lines += ["", f"### {pending.revision}: {pending.message} ({pending.risk})", ""]
            for finding in pending.findings:
                lines.append(f"- {finding.severity.name} {finding.rule} ({lock_text(finding.lock)}): {finding.message}")
            if pending.needs_live_reason:
                lines.append(f"- needs a live database: {pending.needs_live_reason}")
            if pending.sql.strip():
                lines += ["", "```sql", pending.sql.rstrip(), "```"]
    elif not status.unknown:
        lines += ["", "Up to date: nothing to migrate."]
    return "\n".join(lines) + "\n"


def history_lines(entry: LedgerEntry) -> list[str]:
    """One change of the ledger: its summary, then its error, backup and post-flight problems indented."""
    lines = [entry.summary()]
    if entry.error:
        lines.append(f"    error: {' '.join(entry.error.split())}")
    if entry.backup_path:
        lines.append(f"    backup: {entry.backup_path}")
    lines += [f"    post-flight: {problem}" for problem in last_change_problems(entry)]
    return lines


def render_history(entries: Sequence[LedgerEntry], environment: str) -> str:
    """The text of `syncdb history`: one change per line, newest first."""
    if not entries:
        return f"no change recorded yet in the ledger of {environment}\n"
    return "\n".join(line for entry in entries for line in history_lines(entry)) + "\n"


def last_change_problems(entry: LedgerEntry) -> list[str]:
    """The post-flight problems recorded with a change (empty when none or not checked)."""
    problems = (entry.postflight or {}).get("problems") or []
    return [str(problem) for problem in problems]


def _drift_line(drift: Any) -> str:
    if getattr(drift, "is_empty", False):
        return "none (the database matches the models)"
    data = drift.to_json() if hasattr(drift, "to_json") else {}
    new = len(data.get("new_tables", []) or [])
    modified = len(data.get("modified_tables", []) or [])
    dropped = len(data.get("dropped_tables", []) or [])
    return f"{new} new, {modified} modified, {dropped} dropped table(s) between the models and the database"


def _recommendations(status: EnvironmentStatus, env: Environment) -> list[str]:
    tips: list[str] = []
    if not status.reachable:
        return [f"Fix the connection first: {status.error}"]
    if status.unknown:
        tips.append(
            "The database holds a revision the scripts do not know: deploy the code that created it "
            "before migrating, or stamp the right revision."
        )
    if status.multiple_heads:
        tips.append("Merge the heads (alembic merge) before migrating any environment.")
    if status.pending:
        if env.protected:
            tips.append(f"Take a backup of {env.name} before migrating (syncdb backup --env {env.name}).")
            tips.append("Apply the same migrations to staging first and check the application there.")
        if status.risk == "LOW":
            tips.append("All pending migrations are LOW risk: safe to apply during normal traffic.")
        seen: set[str] = set()
        for pending in status.pending:
            for finding in pending.findings:
                if finding.severity.name == "LOW" or finding.rule in seen:
                    continue
                seen.add(finding.rule)
                tips.append(f"{pending.revision}, {finding.rule}: {finding.mitigation.splitlines()[0]}")
        for pending in status.pending:
            for finding in pending.suppressed:
                tips.append(
                    f"{pending.revision}: {finding.rule} is suppressed ({finding.suppression_reason or 'no reason'})."
                )
    for item in status.edited:
        tips.append(
            f"Revision file {item.path} ({item.revision}) was edited after it was applied to {env.name}: "
            "restore it as applied and put the change in a new revision."
        )
    if status.push_marker is not None:
        tips.append("The schema was pushed: generate a revision and stamp it so migrations are in line again.")
    if status.drift is not None and not getattr(status.drift, "is_empty", True) and not status.pending:
        tips.append("The models differ from the database and no revision covers it: run syncdb generate.")
    if not tips:
        tips.append("Nothing to do: the environment is up to date with the scripts.")
    return tips


def _next_steps(status: EnvironmentStatus, env: Environment) -> list[str]:
    if not status.reachable:
        return [f"syncdb status --env {env.name}   # after fixing the connection"]
    steps = []
    if status.unknown:
        return [
            "Check out the code that created revision " + ", ".join(status.unknown) + ", then run syncdb status again.",
            f"syncdb stamp REVISION --env {env.name}   # only if that revision is really gone: "
            "the revision the schema matches",
        ]
    if status.multiple_heads:
        steps.append(f"alembic merge -m 'merge heads' {' '.join(status.heads)}")
    if status.pending:
        if env.protected:
            steps.append(f"syncdb backup --env {env.name}")
        steps.append(f"syncdb migrate --env {env.name} --dry-run   # review the SQL")
        steps.append(f"syncdb migrate --env {env.name}")
        if not status.multiple_heads:
            steps.append(f"syncdb status --env {env.name}   # confirm it is at {', '.join(status.heads)}")
    elif status.drift is not None and not getattr(status.drift, "is_empty", True):
        steps.append("syncdb generate -m 'describe the change'")
    elif not steps:
        steps.append("Nothing pending.")
    return steps


async def build_report(
    project: Project,
    env: Environment,
    *,
    with_drift: bool = True,
    with_fingerprint: bool = True,
    generated_at: datetime | None = None,
) -> SyncReport:
    """Gather the status (with drift and risk) and the advice for ``env``.

    ``generated_at`` pins the report's time (tests, reproducible reports); default now (UTC).
    """
    from syncdb_tui.core.status import status as load_status

    status = await load_status(
        project,
        env,
        with_drift=with_drift and bool(project.config.target_metadata),
        with_fingerprint=with_fingerprint,
    )
    blockers = await _blockers(project, env, status) if status.reachable and status.pending else []
    return SyncReport(
        status=status,
        generated_at=generated_at or datetime.now(UTC),
        location=env.display_url,
        recommendations=tuple(_recommendations(status, env)),
        next_steps=tuple(_next_steps(status, env)),
        blockers=tuple(blockers),
        last_backup=await _last_backup(project, env),
    )


async def _last_backup(project: Project, env: Environment) -> str:
    """The newest good backup of ``env`` in the backup directory, as one line ("" when none)."""
    from syncdb_tui.core.backups.backup import newest_good_backup

    try:
        newest = await newest_good_backup(project.config, env.name)
    except Exception:  # an unreadable backup directory must not break the report
        return ""
    if newest is None or newest.manifest is None:
        return ""
    manifest = newest.manifest
    revision = ", ".join(manifest.alembic_revisions) or "no revision"
    reason = f", {manifest.reason}" if manifest.reason else ""
    return f"{newest.path.name} ({manifest.created_at}, {manifest.kind}, at {revision}{reason})"


async def _blockers(project: Project, env: Environment, status: EnvironmentStatus) -> list[str]:
    try:
        from syncdb_tui.core.risk import analysis as risk
        from syncdb_tui.core.risk import locks
    except ImportError:
        return []
    from syncdb_tui.core.envs.environments import connection

    tables: set[str] = set()
    for pending in status.pending:
        tables |= set(risk.tables_touched(pending.sql)) if pending.sql else set()
    try:
        async with connection(env) as conn:
            found = await locks.lock_conflicts(
                conn, tables, long_running_seconds=project.config.risk.long_running_seconds
            )
    except Exception:
        return []
    return [getattr(blocker, "sentence", None) or str(blocker) for blocker in found]


def render_markdown(report: SyncReport) -> str:
    """The report as Markdown, sections in the documented order."""
    status = report.status
    out: list[str] = ["# Database Sync Report", ""]
    out.append(f"Generated {report.generated_at.strftime('%Y-%m-%d %H:%M UTC')} by syncdb {__version__}.")
    out += ["", "## Current Status", "", "| Item | Value |", "|---|---|"]
    out.append(f"| Environment | {status.environment}{' (protected)' if status.protected else ''} |")
    out.append(f"| Database | {status.database} ({report.location}) |")
    if status.reachable:
        out.append(f"| Server | PostgreSQL {status.server_version} |")
        out.append(f"| Schema Version | {_schema_version(status)} |")
        out.append(f"| Pending Migrations | {_pending_count(status)} |")
    else:
        out.append(f"| Reachable | no: {_cell(status.error)} |")
    if report.last_backup:
        out.append(f"| Last backup | {report.last_backup} |")
    if status.last_change is not None:
        out.append(f"| Last change | {_cell(status.last_change.summary())} |")
        if status.last_change.error:
            out.append(f"| Last change error | {_cell(status.last_change.error)} |")
        out += [f"| Post-flight | {_cell(problem)} |" for problem in last_change_problems(status.last_change)]
    if status.fingerprint is not None:
        out.append(f"| Schema fingerprint | {_cell(status.fingerprint.describe())} |")
    if status.rehearsal is not None:
        out.append(f"| Rehearsal | {_cell(status.rehearsal.headline())} |")

    out += ["", "## Pending Migrations", ""]
    if status.pending:
        out += ["| Migration | Description | Risk |", "|---|---|---|"]
        out += [f"| {p.revision} | {_cell(p.message)} | {p.risk} |" for p in status.pending]
    else:
        out.append("None.")

    out += ["", "## Schema Changes Detected", ""]
    out += _render_drift(status.drift)
    if status.fingerprint is not None and status.fingerprint.differences:
        out += ["", "Changed outside the migrations (the live schema against what the migrations give):", ""]
        out += [f"- {line}" for line in status.fingerprint.differences]

    out += ["", "## Migration Preview", ""]
    if not status.pending:
        out.append("Nothing to preview.")
    for pending in status.pending:
        out += [f"### {pending.revision}: {pending.message} ({pending.risk})", ""]
        if pending.needs_live_reason:
            out += [f"Needs a live database: {pending.needs_live_reason}", ""]
        if pending.sql.strip():
            out += ["```sql", pending.sql.rstrip(), "```", ""]
        for finding in pending.findings:
            out.append(
                f"- **{finding.severity.name}** `{finding.rule}` on {finding.table or '-'} "
                f"({lock_text(finding.lock, verb='takes ')}, line {finding.line}): {finding.message}"
            )
        for finding in pending.suppressed:
            out.append(f"- suppressed `{finding.rule}` (line {finding.line}): {finding.suppression_reason}")
        if pending.findings or pending.suppressed:
            out.append("")
    if status.pending and not status.judged_with_context:
        out.append("_Risk judged without live context (table sizes unknown)._")

    while out and out[-1] == "":
        out.pop()
    if report.blockers:
        out += ["", "## Lock Conflicts", ""]
        out += [f"- {line}" for line in report.blockers]

    out += ["", "## Recommendations", ""]
    out += [f"- {tip}" for tip in report.recommendations]
    out += ["", "## Next Steps", ""]
    out += [
        f"{n}. `{step}`" if not step.endswith(".") else f"{n}. {step}" for n, step in enumerate(report.next_steps, 1)
    ]
    return "\n".join(out).rstrip() + "\n"


def _render_drift(drift: Any) -> list[str]:
    if drift is None:
        return ["Not computed (no target_metadata configured)."]
    if getattr(drift, "is_empty", False):
        return ["None: the database matches the models."]
    data = drift.to_json() if hasattr(drift, "to_json") else {}
    out: list[str] = []
    new_tables = data.get("new_tables") or []
    modified = data.get("modified_tables") or []
    dropped = data.get("dropped_tables") or []
    out += ["### New Tables", ""]
    if new_tables:
        out += ["| Table | Columns | Indexes |", "|---|---|---|"]
        for table in new_tables:
            columns = table.get("columns", [])
            indexes = table.get("indexes", [])
            count_c = len(columns) if isinstance(columns, list) else columns
            count_i = len(indexes) if isinstance(indexes, list) else indexes
            out.append(f"| {table.get('name')} | {count_c} | {count_i} |")
    else:
        out.append("None.")
    out += ["", "### Modified Tables", ""]
    if modified:
        for table in modified:
            out.append(f"- **{table.get('name')}**: {_modified_summary(table)}")
    else:
        out.append("None.")
    out += ["", "### Dropped Tables", ""]
    out += [f"- {t.get('name') if isinstance(t, dict) else t}" for t in dropped] or ["None."]
    return out


def _modified_summary(table: dict[str, Any]) -> str:
    parts = []
    for key, sign, label in (
        ("added_columns", "+", "column"),
        ("removed_columns", "-", "column"),
        ("changed_types", "~", "type change"),
        ("added_indexes", "+", "index"),
        ("removed_indexes", "-", "index"),
        ("added_constraints", "+", "constraint"),
        ("removed_constraints", "-", "constraint"),
    ):
        items = table.get(key) or []
        if items:
            names = ", ".join(str(i.get("name", i)) if isinstance(i, dict) else str(i) for i in items)
            parts.append(f"{sign}{len(items)} {label}{'s' if len(items) > 1 else ''} ({names})")
    if not parts and table.get("summary"):
        return str(table["summary"])
    return "; ".join(parts) or "changed"
