"""`syncdb risk [FILE.sql | REVISION | A:B]`: the risk findings of SQL or of revisions.

A ``.sql`` file is analysed as it is; a revision or a range ``A:B`` (the
revisions after A up to B) is rendered to offline SQL first; with no argument,
the pending revisions of the environment are judged. With ``--env`` (or with no
argument) and a reachable database, severities follow the live table sizes and
the sessions the migration would wait behind are listed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.config import RiskThresholds
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.revisions import Project, RevisionGraph
    from syncdb_tui.core.risk.analysis import Finding, RiskAnalysis
    from syncdb_tui.core.risk.locks import Blocker

SEVERITY_NAMES = ("LOW", "MEDIUM", "HIGH")
FORMATS = ("text", "json", "sarif", "github")
RICH_TABLE_LIMIT = 200
"""Above this many findings (or when stdout is not a terminal) text output is plain lines."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        nargs="?",
        metavar="FILE.sql|REVISION|A:B",
        help="a SQL file, a revision, or a range A:B (default: the pending revisions of --env)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="text (default; plain lines when not a terminal), json (same as --json), sarif (SARIF 2.1.0) "
        "or github (workflow annotations)",
    )
    parser.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        help="exit 1 when a finding reaches this severity (LOW, MEDIUM or HIGH)",
    )


@dataclass
class _Source:
    """One piece of SQL to judge: a file or one revision."""

    label: str
    revision: str | None
    sql: str
    not_rendered: str = ""
    path: str = ""
    """The revision file or the .sql file (where CI annotations point)."""


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio

    from syncdb_tui.core.errors import CheckFailed, UsageError
    from syncdb_tui.core.risk.analysis import Severity

    fail_on = None
    if args.fail_on is not None:
        name = str(args.fail_on).strip().upper()
        if name not in SEVERITY_NAMES:
            raise UsageError(
                f"--fail-on {args.fail_on!r} is not a severity",
                hint="use LOW, MEDIUM or HIGH",
            )
        fail_on = Severity[name]
    env_name = getattr(args, "env", None)
    target = args.target
    env: Environment | None = None
    if target and (target.endswith(".sql") or Path(target).is_file()):
        sources = [_read_file(Path(target))]
        env = ctx.environment() if env_name else None
    elif target:
        # offline SQL is rendered for the dialect alone: the environment matters only with --env
        env = ctx.environment() if env_name else None
        sources = _revision_sources(ctx.project, env, target)
    else:
        env = ctx.environment()
        sources = _pending_sources(ctx, env)
    results, blockers, live_error = asyncio.run(_judge(ctx, sources, env))
    _output(ctx, results, blockers, env, live_error)
    if fail_on is not None:
        reached = [f for _, analysis in results for f in analysis.findings if f.severity >= fail_on]
        if reached:
            rules = ", ".join(sorted({f.rule for f in reached}))
            raise CheckFailed(
                f"{len(reached)} finding(s) at or above {fail_on.name}: {rules}",
                hint="apply the mitigations shown, or suppress a finding with '-- syncdb: ignore RULE reason'",
                title="risk too high",
            )
    return 0


def _read_file(path: Path) -> _Source:
    from syncdb_tui.core.errors import UsageError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"the SQL file {path} does not exist",
            hint="give the path of a .sql file, a revision id or a range A:B",
            title="no such file",
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path}: {error}", hint="give a readable UTF-8 .sql file") from None
    return _Source(str(path), None, text, path=str(path))


def _full_revision(project: Project, target: str, graph: RevisionGraph | None = None) -> str | None:
    """The full revision id of ``target`` (id, prefix, head); None for base."""
    from syncdb_tui.core.errors import UsageError

    if graph is None or not (target in ("base", "head", "heads") or any(r.startswith(target) for r in graph.by_id)):
        project.resolve_target(target)  # Alembic's own message for what the graph does not know
        graph = project.graph()
    if target == "base":
        return None
    if target in ("head", "heads"):
        if len(graph.heads) != 1:
            raise UsageError(
                f"there are {len(graph.heads)} heads ({', '.join(graph.heads)})",
                hint="name the head you mean",
                title="multiple heads",
            )
        return graph.heads[0]
    if target in graph.by_id:
        return target
    matches = [rev for rev in graph.by_id if rev.startswith(target)]
    if len(matches) == 1:
        return matches[0]
    raise UsageError(f"{target!r} does not name exactly one revision", hint="give more of the revision id")


def _revision_sources(project: Project, env: Environment | None, target: str) -> list[_Source]:
    from syncdb_tui.core.errors import UsageError
    from syncdb_tui.core.project.cache import cached_graph
    from syncdb_tui.core.project.offline import offline_range

    graph = cached_graph(project)
    if ":" in target:
        start_text, _, end_text = target.partition(":")
        start = _full_revision(project, start_text, graph) if start_text else None
        if end_text == "heads":
            reach = graph.ancestors(list(graph.heads))
            if start is not None and start not in reach:
                raise UsageError(f"{start} is not in the history", title="bad range")
            below = graph.ancestors([start]) if start is not None else set()
            revisions = [rev for rev in graph.upgrade_order() if rev in reach and rev not in below]
        else:
            end = _full_revision(project, end_text or "head", graph)
            if end is None:
                raise UsageError("a range ends at a revision, not at base", hint="give a range A:B with B a revision")
            revisions = graph.between(start, end)
    else:
        revision = _full_revision(project, target, graph)
        if revision is None:
            raise UsageError("'base' has no SQL of its own", hint="give a revision id or a range A:B")
        revisions = [revision]
    if not revisions:
        return []
    rendered = offline_range(project, revisions, "upgrade", env)
    return [_Source(r.revision, r.revision, r.sql, r.needs_live_reason, graph.by_id[r.revision].path) for r in rendered]


def _pending_sources(ctx: CommandContext, env: Environment) -> list[_Source]:
    import asyncio

    from syncdb_tui.core.errors import UnreachableError
    from syncdb_tui.core.status import status

    result = asyncio.run(status(ctx.project, env, with_drift=False, with_risk=False))
    if not result.reachable:
        raise UnreachableError(result.error, hint="check the environment's URL and that the server is up")
    graph = ctx.project.graph()
    return [
        _Source(
            p.revision,
            p.revision,
            p.sql,
            getattr(p, "needs_live_reason", "") or "",
            graph.by_id[p.revision].path if p.revision in graph.by_id else "",
        )
        for p in result.pending
    ]


async def _judge(
    ctx: CommandContext, sources: list[_Source], env: Environment | None
) -> tuple[list[tuple[_Source, RiskAnalysis]], list[Blocker], str]:
    from syncdb_tui.core.errors import SyncdbError
    from syncdb_tui.core.risk import analysis as risk
    from syncdb_tui.core.risk import locks

    tables: set[str] = set()
    if env is not None:
        for source in sources:
            tables |= risk.tables_touched(source.sql) if source.sql else frozenset()
    context = None
    blockers: list[Blocker] = []
    live_error = ""
    if env is not None:
        from syncdb_tui.core.envs.environments import connection

        try:
            async with connection(env) as conn:
                context = await risk.load_live_context(conn, tables)
                blockers = await locks.lock_conflicts(
                    conn, tables, long_running_seconds=ctx.config.risk.long_running_seconds
                )
        except SyncdbError as error:
            live_error = error.message
    thresholds = _thresholds(ctx)
    # a revision is run by `syncdb migrate`, which sets lock_timeout itself; a .sql file may not be
    if context is None and sources and all(s.revision is not None for s in sources):
        from syncdb_tui.core.project.cache import open_cache
        from syncdb_tui.core.risk.judge import analyse_cached

        analyses = analyse_cached(
            open_cache(ctx.project),
            [(s.revision, s.sql, s.not_rendered) for s in sources],
            thresholds=thresholds,
            session_lock_timeout=True,
        )
        return list(zip(sources, analyses, strict=True)), blockers, live_error
    results = [
        (
            s,
            risk.analyse_sql(
                s.sql,
                context=context,
                thresholds=thresholds,
                session_lock_timeout=s.revision is not None,
                unrendered_reason=s.not_rendered,
            ),
        )
        for s in sources
    ]
    return results, blockers, live_error


def _thresholds(ctx: CommandContext) -> RiskThresholds | None:
    """The project's ``[risk]`` thresholds; the defaults when a lone .sql file has no usable config."""
    from syncdb_tui.core.errors import SyncdbError

    try:
        return ctx.config.risk
    except SyncdbError:
        return None


def _output(
    ctx: CommandContext,
    results: list[tuple[_Source, RiskAnalysis]],
    blockers: list[Blocker],
    env: Environment | None,
    live_error: str,
) -> None:
    fmt = getattr(ctx.args, "format", None) or ("json" if ctx.json else "text")
    if fmt == "json":
        ctx.write_json([_finding_json(f, s) for s, a in results for f in [*a.findings, *a.suppressed]])
    elif fmt in ("sarif", "github"):
        from syncdb_tui import __version__
        from syncdb_tui.core.risk import verdicts

        located = [
            item
            for source, analysis in results
            for item in verdicts.locate(
                [*analysis.findings, *analysis.suppressed], path=source.path, revision=source.revision
            )
        ]
        if fmt == "sarif":
            ctx.write_json(verdicts.sarif(located, tool_version=__version__))
        else:
            ctx.write("\n".join(verdicts.github_lines(located)))
    elif _wants_rich(ctx, results):
        _render_table(ctx, results)
    else:
        _render_plain(ctx, results)
    revisions = sum(1 for source, _ in results if source.revision is not None)
    if revisions:
        ctx.note(
            f"judged {revisions} revision(s): {', '.join(s.label for s, _ in results[:3])}{' …' * (revisions > 3)}"
        )
    with_context = any(a.judged_with_context for _, a in results)
    if live_error:
        ctx.note(f"note: judged without live context: {live_error}")
    elif not with_context:
        ctx.note("note: judged without live context (no --env): table sizes unknown, baseline severities")
    for source, _ in results:
        if source.not_rendered:
            ctx.note(
                f"note: {source.label} rendered only in part offline (its statements before the stop are judged): "
                f"{source.not_rendered}"
            )
    for source, analysis in results:
        for finding in analysis.suppressed:
            ctx.note(f"suppressed: {source.label} line {finding.line} {finding.rule}: {finding.suppression_reason}")
    for blocker in blockers:
        ctx.note(f"blocker: {blocker.sentence}")
    if env is not None and with_context and not blockers:
        ctx.note(f"no session on {env.name} holds locks on these tables or runs long transactions")


def _finding_json(finding: Finding, source: _Source) -> dict[str, Any]:
    return {**finding.to_json(), "revision": source.revision}


def _wants_rich(ctx: CommandContext, results: list[tuple[_Source, RiskAnalysis]]) -> bool:
    """A rich table only for a person at a terminal, and only for a readable number of findings."""
    try:
        tty = bool(ctx.out.isatty())
    except (AttributeError, ValueError):
        tty = False
    return tty and sum(len(a.findings) for _, a in results) <= RICH_TABLE_LIMIT


def _render_plain(ctx: CommandContext, results: list[tuple[_Source, RiskAnalysis]]) -> None:
    """Plain lines: cheap for thousands of findings, and what pipes and CI logs read."""
    from syncdb_tui.core.risk.verdicts import locate, text_lines

    out: list[str] = []
    for source, analysis in results:
        out.append(f"{source.label}: risk {analysis.risk.name}" + ("" if analysis.findings else " (no findings)"))
        out += text_lines(locate(analysis.findings, path=source.path, revision=source.revision))
    ctx.write("\n".join(out))


def _render_table(ctx: CommandContext, results: list[tuple[_Source, RiskAnalysis]]) -> None:
    import os

    from rich.console import Console
    from rich.table import Table

    no_color = bool(getattr(ctx.args, "no_color", False)) or "NO_COLOR" in os.environ
    console = Console(file=ctx.out, no_color=no_color, highlight=False, width=_width(ctx))
    colours = {"LOW": "green", "MEDIUM": "yellow", "HIGH": "bold red"}
    for source, analysis in results:
        title = f"{source.label}: risk {analysis.risk.name}"
        if not analysis.findings:
            console.print(f"{title} (no findings)")
            continue
        table = Table(title=title, title_justify="left", show_lines=True)
        for column in ("Severity", "Rule", "Lock", "Table", "Line", "Message", "Mitigation"):
            table.add_column(column, overflow="fold")
        for finding in analysis.findings:
            name = finding.severity.name
            table.add_row(
                f"[{colours[name]}]{name}[/]",
                finding.rule,
                finding.lock,
                finding.table or "",
                str(finding.line),
                finding.message,
                finding.mitigation,
            )
        console.print(table)


def _width(ctx: CommandContext) -> int:
    import shutil

    try:
        if ctx.out.isatty():
            return shutil.get_terminal_size().columns
    except (AttributeError, ValueError):
        pass
    return 160
