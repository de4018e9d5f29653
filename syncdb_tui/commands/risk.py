"""`syncdb risk [FILE.sql | REVISION | A:B]`: the risk findings of SQL or of revisions.

A ``.sql`` file is analysed as it is; a revision or a range ``A:B`` (the
revisions after A up to B) is rendered to offline SQL first; with no argument,
the pending revisions of the environment are judged. With ``--env`` (or with no
argument) and a reachable database, severities follow the live table sizes and
the sessions the migration would wait behind are listed.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.risk.output import FORMATS

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.config import RiskThresholds
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.cache import RevisionCache
    from syncdb_tui.core.project.offline import Derived, RevisionSQL
    from syncdb_tui.core.project.revisions import Project, RevisionGraph
    from syncdb_tui.core.risk.analysis import LiveContext, RiskAnalysis
    from syncdb_tui.core.risk.locks import Blocker
    from syncdb_tui.core.risk.model import Severity


GC_THRESHOLD = 10_000
"""The young generation's collection threshold while ``syncdb risk A:B`` renders and judges (Python's is 700)."""


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


class _Source:
    """One piece of SQL to judge: a file or one revision.

    ``path``: the revision file or the .sql file (where CI annotations point); ``analysis``: its analysis
    without live context when it was judged while it rendered (:func:`_analyser`). A plain class: a
    dataclass would compile its methods on every ``syncdb risk`` start.
    """

    __slots__ = ("analysis", "label", "not_rendered", "path", "revision", "sql")

    def __init__(
        self,
        label: str,
        revision: str | None,
        sql: str,
        not_rendered: str = "",
        path: str = "",
        analysis: RiskAnalysis | None = None,
    ) -> None:
        self.label = label
        self.revision = revision
        self.sql = sql
        self.not_rendered = not_rendered
        self.path = path
        self.analysis = analysis


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    """``syncdb risk``; also what the CLI's fast path for ``syncdb risk FILE.sql`` calls."""
    from syncdb_tui.core.risk.output import check_fail_on, fail_on_severity

    fail_on = fail_on_severity(args.fail_on)
    env_name = getattr(args, "env", None)
    target = args.target
    env: Environment | None = None
    if target and (target.endswith(".sql") or os.path.isfile(target)):
        sources = [_read_file(target)]
        env = ctx.environment() if env_name else None
    elif target:
        # offline SQL is rendered for the dialect alone: the environment matters only with --env
        env = ctx.environment() if env_name else None
        if env is None:
            return _run_offline(ctx, target, fail_on)
        sources = _revision_sources(ctx.project, env, target)
    else:
        env = ctx.environment()
        sources = _pending_sources(ctx, env)
    results, blockers, live_error = _judge(ctx, sources, env)
    _output(ctx, results, blockers, env, live_error)
    check_fail_on(results, fail_on)
    return 0


def _run_offline(ctx: CommandContext, target: str, fail_on: Severity | None) -> int:
    """``syncdb risk REVISION|A:B`` without ``--env``: judged without live context, which starts while the
    SQL renders (:func:`_analyser`); one look at the revision cache for the whole command, written once at
    its end (the graph, the SQL and the analyses), also when judging fails.

    The objects left at exit (Alembic, SQLAlchemy, every revision module, the analyses) are frozen for the
    interpreter's last collections: walking them took about 0.2 s of a cold run, after its output.
    Nothing here needs a finalizer run at exit (no connection, no file left open; streams are flushed).
    """
    import atexit
    import gc

    from syncdb_tui.core.project.cache import open_cache
    from syncdb_tui.core.risk.output import check_fail_on

    atexit.unregister(gc.freeze)  # once per process, however many commands it runs
    atexit.register(gc.freeze)
    threshold = gc.get_threshold()
    # importing Alembic and SQLAlchemy and loading every revision makes objects by the million: the young
    # generation is collected less often meanwhile (cycles are still collected; restored at the end)
    gc.set_threshold(max(threshold[0], GC_THRESHOLD), *threshold[1:])
    cache = open_cache(ctx.project)
    try:
        sources = _revision_sources(ctx.project, None, target, _analyser(ctx), cache)
        results, blockers, live_error = _judge(ctx, sources, None, cache)
    finally:
        gc.set_threshold(*threshold)
        if cache is not None:
            cache.flush()
    _output(ctx, results, blockers, None, live_error)
    check_fail_on(results, fail_on)
    return 0


def _read_file(path: str) -> _Source:
    from syncdb_tui.core.risk.output import read_sql_file

    path = os.path.normpath(path)  # ./a.sql and a//b.sql shown as a.sql and a/b.sql
    return _Source(path, None, read_sql_file(path), path=path)


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


def _revision_sources(
    project: Project,
    env: Environment | None,
    target: str,
    derived: Derived | None = None,
    cache: RevisionCache | None = None,
) -> list[_Source]:
    from syncdb_tui.core.errors import UsageError
    from syncdb_tui.core.project.cache import cached_graph
    from syncdb_tui.core.project.offline import offline_range

    graph = cached_graph(project, cache)
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
    rendered = offline_range(project, revisions, "upgrade", env, cache=cache, derived=derived, flush=cache is None)
    return [
        _Source(
            r.revision,
            r.revision,
            r.sql,
            r.needs_live_reason,
            graph.by_id[r.revision].path,
            derived.get(r) if derived is not None else None,
        )
        for r in rendered
    ]


def _analyser(ctx: CommandContext) -> Derived:
    """Each revision's analysis without live context, as :func:`_judge` makes it (the same thresholds, the
    session's lock_timeout), computed while the revisions render (``offline.Derived``). The risk engine is
    imported only when a pass renders (a warm run never imports pglast)."""
    from syncdb_tui.core.project.offline import Derived

    thresholds = _thresholds(ctx)

    def engine() -> object:
        from syncdb_tui.core.risk import analysis

        return analysis

    def analyse(items: list[RevisionSQL]) -> list[RiskAnalysis]:
        from syncdb_tui.core.risk.judge import analyse_cached

        # the judge _judge calls, without the cache (the child never writes it): the same analysis by construction
        return analyse_cached(
            None,
            [(None, item.sql, item.needs_live_reason) for item in items],
            thresholds=thresholds,
            session_lock_timeout=True,
        )

    def encode(analysis: RiskAnalysis) -> dict[str, Any]:
        return analysis.to_json()

    def decode(data: dict[str, Any]) -> RiskAnalysis:
        from syncdb_tui.core.risk.analysis import RiskAnalysis

        return RiskAnalysis.from_json(data)

    return Derived(analyse, encode, decode, engine)


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


async def _live(
    ctx: CommandContext, sources: list[_Source], env: Environment
) -> tuple[LiveContext | None, list[Blocker], str]:
    """The environment's table sizes and the sessions the SQL would wait behind (or why not known)."""
    from syncdb_tui.core.envs.environments import connection
    from syncdb_tui.core.errors import SyncdbError
    from syncdb_tui.core.risk import analysis as risk
    from syncdb_tui.core.risk import locks

    tables: set[str] = set()
    for source in sources:
        tables |= risk.tables_touched(source.sql) if source.sql else frozenset()
    try:
        async with connection(env) as conn:
            context = await risk.load_live_context(conn, tables)
            blockers = await locks.lock_conflicts(
                conn, tables, long_running_seconds=ctx.config.risk.long_running_seconds
            )
    except SyncdbError as error:
        return None, [], error.message
    return context, blockers, ""


def _judge(
    ctx: CommandContext, sources: list[_Source], env: Environment | None, cache: RevisionCache | None = None
) -> tuple[list[tuple[_Source, RiskAnalysis]], list[Blocker], str]:
    from syncdb_tui.core.risk import analysis as risk

    context: LiveContext | None = None
    blockers: list[Blocker] = []
    live_error = ""
    if env is not None:
        import asyncio

        context, blockers, live_error = asyncio.run(_live(ctx, sources, env))
    # table sizes matter only with live context: a lone .sql file judged offline needs no config
    thresholds = _thresholds(ctx) if context is not None or any(s.revision is not None for s in sources) else None
    # a revision is run by `syncdb migrate`, which sets lock_timeout itself; a .sql file may not be
    if context is None and sources and all(s.revision is not None for s in sources):
        from syncdb_tui.core.project.cache import open_cache
        from syncdb_tui.core.risk.judge import analyse_cached

        analyses = analyse_cached(
            cache or open_cache(ctx.project),
            [(s.revision, s.sql, s.not_rendered) for s in sources],
            thresholds=thresholds,
            session_lock_timeout=True,
            ready=[s.analysis for s in sources],
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
    from syncdb_tui import __version__
    from syncdb_tui.core.risk import output

    fmt = output.output_format(getattr(ctx.args, "format", None), json_flag=ctx.json)
    try:
        tty = bool(ctx.out.isatty())
    except (AttributeError, ValueError):
        tty = False
    if fmt == "json" and not ctx.pretty:
        ctx.write(output.json_text(results, end="\n"))  # the text ctx.write_json prints, written directly
    elif fmt in ("json", "sarif"):
        ctx.write_json(output.payload(results, fmt, tool_version=__version__))
    elif fmt == "text" and output.wants_table(results, tty=tty):
        _render_table(ctx, results)
    else:
        # plain lines for text: cheap for thousands of findings, and what pipes and CI logs read
        ctx.write(output.render(results, fmt))
    sentences = [blocker.sentence for blocker in blockers]
    for line in output.notes(results, env_name=env.name if env else None, live_error=live_error, blockers=sentences):
        ctx.note(line)


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
