"""Plans: exactly what a migrate, downgrade or stamp will do, pinned before anything runs.

``make_plan(project, env, action, target)`` reads where the database stands,
resolves the target once, renders each revision's SQL and judges it (one
judging service, :mod:`core.risk.judge`), and pins everything that could change
between showing and applying: the revisions in order, the sha256 of each
revision file and of env.py, the starting revisions.  A plan's ``id`` is the
hash of that content.  ``save``/``load`` write and read it as JSON (``syncdb
migrate --dry-run --save-plan FILE`` / ``--plan FILE``); :mod:`executor`
re-checks it under the migration lock and applies exactly its revisions.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import ConfigError, OperationError, UsageError
from syncdb_tui.core.project.offline import RevisionSQL, offline_range, offline_sql
from syncdb_tui.core.project.revisions import ALEMBIC_LOCK, Project, RevisionGraph
from syncdb_tui.core.project.runner import check_multiple_heads
from syncdb_tui.core.project.versions import current_revisions
from syncdb_tui.core.risk.judge import PendingRevision, judge_revisions, worst_risk

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment

PLAN_FORMAT = 1
REVISION_ACTIONS = ("upgrade", "downgrade", "stamp")


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes ("" when it does not exist)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


@dataclass(frozen=True)
class PlannedRevision:
    """One revision of a plan: what it runs, its risk, and the file it comes from."""

    revision: str
    message: str
    path: str
    """The revision file, relative to the script directory."""
    sha256: str
    sql: str
    risk: str
    findings: tuple[Any, ...] = ()
    needs_live_reason: str = ""
    irreversible_reason: str = ""

    @property
    def rendered(self) -> bool:
        return not self.needs_live_reason and not self.irreversible_reason

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "message": self.message,
            "path": self.path,
            "sha256": self.sha256,
            "risk": self.risk,
            "findings": [_finding_json(finding) for finding in self.findings],
            "sql": self.sql,
            "needs_live_database": self.needs_live_reason or None,
            "irreversible": self.irreversible_reason or None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlannedRevision:
        return cls(
            revision=str(data["revision"]),
            message=str(data.get("message", "")),
            path=str(data.get("path", "")),
            sha256=str(data.get("sha256", "")),
            sql=str(data.get("sql", "")),
            risk=str(data.get("risk", "LOW")),
            findings=tuple(_SavedFinding.from_json(item) for item in data.get("findings", [])),
            needs_live_reason=str(data.get("needs_live_database") or ""),
            irreversible_reason=str(data.get("irreversible") or ""),
        )


class _SavedFinding:
    """A finding read back from a saved plan: the engine's JSON, with the attributes front ends read."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = dict(data)
        self.rule = str(data.get("rule", ""))
        self.lock = str(data.get("lock") or "")
        self.table = str(data.get("table") or "")
        self.statement = str(data.get("statement", ""))
        self.line = int(data.get("line") or 0)
        self.message = str(data.get("message", ""))
        self.mitigation = str(data.get("mitigation", ""))

    @property
    def severity(self) -> Any:
        from syncdb_tui.core.risk.model import Severity

        return Severity[str(self._data.get("severity", "LOW"))]

    def to_json(self) -> dict[str, Any]:
        return dict(self._data)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _SavedFinding:
        return cls(data)


def _finding_json(finding: Any) -> dict[str, Any]:
    data: dict[str, Any] = finding.to_json()
    data.setdefault("table", getattr(finding, "table", "") or "")
    return data


@dataclass(frozen=True)
class Plan:
    """An immutable description of one change; ``id`` is the hash of its content."""

    environment: str
    database: str
    server_version: str
    action: str
    """upgrade, downgrade or stamp."""
    target: str
    """The target as the user named it (head, -1, an id…); never re-resolved."""
    before: tuple[str, ...]
    after: tuple[str, ...]
    revisions: tuple[PlannedRevision, ...]
    env_py_sha256: str
    script_location: str
    consequences: tuple[str, ...] = ()
    stopped_at: str = ""
    """Downgrade: the irreversible revision the plan stops before ("" when none)."""
    created_at: str = field(default="", compare=False)

    @property
    def id(self) -> str:
        content = self.to_json(with_id=False)
        content.pop("created_at", None)
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def risk(self) -> str:
        return worst_risk(self.revisions, empty="NONE")  # type: ignore[arg-type]

    @property
    def is_empty(self) -> bool:
        return not self.revisions and (self.action != "stamp" or self.before == self.after)

    def findings(self) -> list[tuple[str, Any]]:
        """``(revision, finding)`` of every finding, for the policy."""
        return [(item.revision, finding) for item in self.revisions for finding in item.findings]

    def sql_script(self) -> str:
        """The SQL of every revision as one script, with a header per revision."""
        out = io.StringIO()
        for item in self.revisions:
            out.write(f"-- revision {item.revision} ({self.action})\n")
            if item.irreversible_reason:
                out.write(f"-- irreversible: {item.irreversible_reason}\n\n")
            elif item.needs_live_reason:
                out.write(f"-- needs a live database: {item.needs_live_reason}\n\n")
            else:
                out.write(item.sql.rstrip() + "\n\n")
        return out.getvalue()

    def describe(self, *, with_id: bool = True) -> list[str]:
        """Human lines: the change, each revision with its risk and findings, the consequences.

        ``with_id``: end with the plan's id (the CLI, where plans are saved and applied by id).
        """
        from syncdb_tui.core.risk.locks import lock_text

        before = ", ".join(self.before) or "base"
        after = ", ".join(self.after) or "base"
        if self.action == "stamp":
            lines = [f"stamp {self.environment}: set the version table from {before} to {after} (no SQL runs)"]
        else:
            destination = after if self.target in self.after or self.target == after else f"{after} ({self.target})"
            lines = [
                f"{self.action} {self.environment}: {len(self.revisions)} revision(s) from {before} to {destination}"
            ]
        for item in self.revisions:
            verb = "undo " if self.action == "downgrade" else ""
            lines.append(f"  {verb}{item.revision} {item.message} — risk {item.risk}")
            if item.needs_live_reason:
                lines.append(f"    needs a live database: {item.needs_live_reason}")
            if item.irreversible_reason:
                lines.append(f"    irreversible: {item.irreversible_reason}")
            for finding in item.findings:
                lines.append(
                    f"    {finding.severity.name} {finding.rule} ({lock_text(finding.lock)}): {finding.message}"
                )
        lines += [f"  → {text}" for text in self.consequences]
        if with_id:
            lines.append(f"  plan {self.id}")
        return lines

    def to_json(self, *, with_id: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": PLAN_FORMAT,
            "environment": self.environment,
            "database": self.database,
            "server_version": self.server_version,
            "action": self.action,
            "target": self.target,
            "before": list(self.before),
            "after": list(self.after),
            "revisions": [item.to_json() for item in self.revisions],
            "env_py_sha256": self.env_py_sha256,
            "script_location": self.script_location,
            "consequences": list(self.consequences),
            "stopped_at": self.stopped_at or None,
            "risk": self.risk,
            "created_at": self.created_at,
        }
        if with_id:
            data = {"id": self.id, **data}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        if data.get("format") != PLAN_FORMAT:
            raise ValueError(f"plan format {data.get('format')!r} is not {PLAN_FORMAT}")
        return cls(
            environment=str(data["environment"]),
            database=str(data["database"]),
            server_version=str(data.get("server_version", "")),
            action=str(data["action"]),
            target=str(data["target"]),
            before=tuple(data["before"]),
            after=tuple(data["after"]),
            revisions=tuple(PlannedRevision.from_json(item) for item in data["revisions"]),
            env_py_sha256=str(data.get("env_py_sha256", "")),
            script_location=str(data.get("script_location", "")),
            consequences=tuple(data.get("consequences", [])),
            stopped_at=str(data.get("stopped_at") or ""),
            created_at=str(data.get("created_at", "")),
        )


def save_plan(plan: Plan, path: Path) -> None:
    """Write ``plan`` as JSON to ``path`` (atomically: a partial file never has the name)."""
    path = path.expanduser()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(plan.to_json(), indent=2) + "\n")
        tmp.replace(path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise UsageError(
            f"cannot write the plan to {path}: {error.strerror or error}",
            hint="choose a writable path for --save-plan",
            title="plan not saved",
        ) from None


def load_plan(path: Path) -> Plan:
    """Read a plan saved by :func:`save_plan`.

    Raises:
        UsageError: missing or unreadable file, not a plan, or edited since it was saved.
    """
    path = path.expanduser()
    try:
        data = json.loads(path.read_text())
        plan = Plan.from_json(data)
    except OSError as error:
        raise UsageError(
            f"cannot read the plan {path}: {error.strerror or error}",
            hint="pass the file written by --save-plan",
            title="no plan",
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(
            f"{path} is not a syncdb plan ({type(error).__name__}: {error})",
            hint="create one with syncdb migrate --dry-run --save-plan FILE",
            title="not a plan",
        ) from None
    if data.get("id") != plan.id:
        raise UsageError(
            f"the plan {path} was edited after it was saved (its id {data.get('id')!r} does not match its content)",
            hint="make a new plan with --dry-run --save-plan; a plan file is applied exactly as saved or not at all",
            title="plan edited",
        )
    return plan


# ---------------------------------------------------------------- planning


async def _read_state(env: Environment) -> tuple[tuple[str, ...], str]:
    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        current = await current_revisions(conn) or ()
        version = str(await conn.fetchval("SELECT current_setting('server_version')") or "").split(" ")[0]
        return current, version


def _unknown_current(project: Project, env: Environment, unknown: list[str]) -> OperationError:
    return OperationError(
        f"{env.name} is at revision {', '.join(unknown)}, which the scripts in {project.script_location} "
        "do not contain",
        hint="check out the code that created it (a newer branch?), or, if the revision is really gone, "
        "`syncdb stamp` the revision the schema corresponds to",
        title="unknown revision in database",
    )


def heads_of(graph: RevisionGraph, keep: set[str]) -> tuple[str, ...]:
    """The revisions of ``keep`` that no other revision of ``keep`` builds on."""
    parents = {parent for rev in keep for parent in graph.by_id[rev].down_revisions}
    return tuple(sorted(rev for rev in keep if rev not in parents))


def _resolve(project: Project, target: str) -> list[str]:
    script = project.script()
    with ALEMBIC_LOCK:
        found = script.get_revisions(target)
    return [rev.revision for rev in found if rev is not None]


def _upgrade_destinations(project: Project, target: str) -> list[str]:
    if target in ("head", "heads"):
        return list(project.graph().heads)
    if target.startswith("+"):
        raise UsageError(
            "relative upgrade targets (+N) are not supported by syncdb",
            hint="name the revision to upgrade to, or 'head'",
        )
    return _resolve(project, target)


def _downgrade_keep(graph: RevisionGraph, project: Project, current: tuple[str, ...], target: str) -> set[str]:
    if target == "base":
        return set()
    if target.startswith("+"):
        raise UsageError(
            f"downgrade goes back; {target!r} is a step forward",
            hint=f"use `syncdb migrate` to go forward, or downgrade -{target[1:]}",
            title="invalid downgrade target",
        )
    if target.startswith("-"):
        try:
            steps = int(target[1:])
        except ValueError:
            raise UsageError(f"{target!r} is not a relative target", hint="use -1, -2, …") from None
        keep_heads = list(current)
        for step in range(steps):
            if not keep_heads:
                raise UsageError(
                    f"{target} goes back further than the history: only {step} step(s) lead from "
                    f"{', '.join(current)} to base",
                    hint="use -N with N at most the steps applied, a revision id, or base to undo everything",
                    title="invalid downgrade target",
                )
            nxt: list[str] = []
            for rev in keep_heads:
                nxt.extend(graph.by_id[rev].down_revisions)
            keep_heads = nxt
        return graph.ancestors(keep_heads)
    found = _resolve(project, target)
    if set(found) - graph.ancestors(list(current)):
        raise UsageError(
            f"{target} is not below the current revision ({', '.join(current)}), so downgrading to it is impossible",
            hint="use `syncdb migrate` to go forward",
            title="invalid downgrade target",
        )
    return graph.ancestors(found)


def _relative_path(project: Project, path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(project.script_location.resolve()))
    except (ValueError, OSError):
        return path


def env_py_sha256(project: Project) -> str:
    return file_sha256(project.script_location / "env.py")


def make_plan(
    project: Project,
    env: Environment,
    action: str,
    target: str = "head",
    *,
    past_irreversible: bool = False,
    backup: bool | None = None,
) -> Plan:
    """Plan ``action`` (upgrade, downgrade, stamp) of ``env`` to ``target`` (blocking; reads the database).

    A downgrade that would cross a revision whose downgrade() always fails stops
    before it (``stopped_at``), unless ``past_irreversible`` (``--force``).

    Raises:
        UsageError: unknown or impossible target, several heads and "head".
        OperationError: the database is at a revision the scripts do not know.
        UnreachableError: the database cannot be reached.
    """
    if action not in REVISION_ACTIONS:
        raise ValueError(action)
    if action == "stamp" and target[:1] in ("-", "+"):
        raise UsageError(
            f"stamp needs an absolute revision, not the relative {target!r}",
            hint="name the revision the schema matches (an id, head or base); `syncdb status` lists them",
        )
    project.resolve_target(target)
    if action == "upgrade":
        check_multiple_heads(project, target)
    current, server_version = asyncio.run(_read_state(env))
    graph = project.graph()
    unknown = [rev for rev in current if rev not in graph.by_id]
    if unknown and action != "stamp":
        raise _unknown_current(project, env, unknown)
    applied = graph.ancestors(list(current))
    stopped_at = ""
    consequences: list[str] = []
    if action == "stamp":
        after = tuple(sorted(_resolve(project, target))) if target != "base" else ()
        if target in ("head", "heads"):
            after = tuple(graph.heads)
        sqls: list[RevisionSQL] = []
    elif action == "upgrade":
        destination = _upgrade_destinations(project, target)
        wanted = graph.ancestors(destination)
        path = [rev for rev in graph.upgrade_order() if rev in wanted and rev not in applied]
        sqls = offline_range(project, path, "upgrade", env)
        after = heads_of(graph, applied | wanted) if path else tuple(current)
    else:
        if not current:
            raise UsageError(
                f"{env.name} has no revision applied, so there is nothing to downgrade",
                title="nothing to downgrade",
            )
        keep = _downgrade_keep(graph, project, current, target)
        undo = [rev for rev in reversed(graph.upgrade_order()) if rev in applied and rev not in keep]
        sqls = [offline_sql(project, rev, "downgrade", env) for rev in undo]
        for index, item in enumerate(sqls):
            if item.irreversible_reason and not past_irreversible:
                stopped_at = item.revision
                consequences.append(
                    f"stops before {item.revision}: its {item.irreversible_reason}; the plan goes back only "
                    f"to the last reversible point (name a target past it with --force to try anyway)"
                )
                sqls = sqls[:index]
                undo = undo[:index]
                break
        after = heads_of(graph, applied - set(undo))
    judged: list[PendingRevision] = []
    if sqls:
        judged = asyncio.run(_judge(project, env, sqls))
    revisions = tuple(
        PlannedRevision(
            revision=item.revision,
            message=item.message,
            path=_relative_path(project, graph.by_id[item.revision].path),
            sha256=file_sha256(graph.by_id[item.revision].path),
            sql=item.sql,
            risk=item.risk,
            findings=item.findings,
            needs_live_reason=item.needs_live_reason,
            irreversible_reason=item.irreversible_reason,
        )
        for item in judged
    )
    if action in ("upgrade", "downgrade") and revisions:
        wants_backup = env.config.wants_backup_before_migrate if backup is None else backup
        if wants_backup:
            consequences.insert(0, f"a backup of {env.name} is taken first (pg_dump, custom format)")
        before_text, after_text = ", ".join(current) or "base", ", ".join(after) or "base"
        consequences.insert(0, f"{env.name} goes from {before_text} to {after_text}")
        if any(item.irreversible_reason for item in revisions):
            consequences.append("a revision of this plan cannot be undone: the downgrade fails there")
    return Plan(
        environment=env.name,
        database=env.database,
        server_version=server_version,
        action=action,
        target=target,
        before=tuple(current),
        after=tuple(after),
        revisions=revisions,
        env_py_sha256=env_py_sha256(project),
        script_location=str(project.script_location),
        consequences=tuple(consequences),
        stopped_at=stopped_at,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


async def _judge(project: Project, env: Environment, sqls: list[RevisionSQL]) -> list[PendingRevision]:
    from syncdb_tui.core.envs.environments import connection

    async with connection(env) as conn:
        judged, _ = await judge_revisions(project, sqls, conn=conn)
    return judged


def with_backup_choice(plan: Plan, backup: bool) -> Plan:
    """``plan`` with its backup consequence matching ``backup`` (the app's and CLI's --no-backup)."""
    text = f"a backup of {plan.environment} is taken first (pg_dump, custom format)"
    items = [item for item in plan.consequences if item != text]
    if backup and plan.revisions:
        items.insert(1 if items else 0, text)
    return replace(plan, consequences=tuple(items))


# ---------------------------------------------------------------- checking a plan before it runs


def plan_differences(project: Project, plan: Plan, current: tuple[str, ...]) -> list[str]:
    """Why ``plan`` no longer describes what would run (empty: it still does).

    Compares the database's revisions with the plan's start, every planned
    revision file and env.py with their hashes, and the path from the start to
    the destination with the planned revisions (a revision added since the plan
    is never applied by it).
    """
    problems: list[str] = []
    if tuple(sorted(current)) != tuple(sorted(plan.before)):
        problems.append(
            f"{plan.environment} moved from {', '.join(plan.before) or 'base'} to {', '.join(current) or 'base'} "
            "since the plan was made"
        )
    if str(project.script_location) != plan.script_location and Path(plan.script_location).resolve() != (
        project.script_location.resolve()
    ):
        problems.append(f"the plan is for the scripts in {plan.script_location}, not {project.script_location}")
    if env_py_sha256(project) != plan.env_py_sha256:
        problems.append("env.py changed since the plan was made")
    from syncdb_tui.core.project.generate import project_graph_reset

    project_graph_reset(project)
    try:
        graph = project.graph()
    except ConfigError as error:
        problems.append(f"the scripts no longer load: {error.message}")
        return problems
    for item in plan.revisions:
        info = graph.by_id.get(item.revision)
        if info is None:
            problems.append(f"revision {item.revision} is no longer in the scripts")
            continue
        if file_sha256(info.path) != item.sha256:
            problems.append(f"revision file {item.path} ({item.revision}) changed since the plan was made")
    if problems or plan.action == "stamp":
        return problems
    applied = graph.ancestors(list(plan.before))
    if plan.action == "upgrade":
        path = graph.ancestors(list(plan.after)) - applied
    else:
        path = applied - graph.ancestors(list(plan.after))
    planned = {item.revision for item in plan.revisions}
    if path != planned:
        extra = sorted(path - planned)
        problems.append(
            "the history between the plan's start and destination changed"
            + (f" (revisions not in the plan: {', '.join(extra)})" if extra else "")
        )
    return problems
