"""What ``syncdb risk`` prints: findings in text, JSON, SARIF or GitHub form, its notes and its --fail-on gate.

Who calls what: ``commands/risk.py`` judges files or revisions, then prints
:func:`payload` (JSON, SARIF) or :func:`render` (GitHub annotations, plain text)
on stdout, :func:`notes` on stderr, and raises :func:`check_fail_on`'s error for
the exit code; the CLI's fast path for ``syncdb risk …`` runs the same command
function, so both print exactly this. Only the rich table shown to a person at a
terminal (:func:`wants_table`) is drawn by the command itself.

Everything here stays cheap for thousands of findings: plain lines, no table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from syncdb_tui.core.errors import CheckFailed, UsageError

if TYPE_CHECKING:
    from syncdb_tui.core.risk.analysis import Finding, RiskAnalysis
    from syncdb_tui.core.risk.model import Severity

FORMATS = ("text", "json", "sarif", "github")
SEVERITY_NAMES = ("LOW", "MEDIUM", "HIGH")
RICH_TABLE_LIMIT = 200
"""Above this many findings (or when stdout is not a terminal) text output is plain lines."""


class Source(Protocol):
    """One piece of judged SQL: a .sql file or one revision's offline SQL."""

    @property
    def label(self) -> str: ...

    @property
    def revision(self) -> str | None: ...

    @property
    def path(self) -> str:
        """The revision file or the .sql file (where CI annotations point)."""
        ...

    @property
    def not_rendered(self) -> str:
        """Why the revision's SQL stops before its end ("" when it rendered fully)."""
        ...


Results = Sequence[tuple[Source, "RiskAnalysis"]]


def fail_on_severity(text: str | None) -> Severity | None:
    """The severity ``--fail-on`` names (any case); None when not given.

    Raises:
        UsageError: not LOW, MEDIUM or HIGH.
    """
    from syncdb_tui.core.risk.model import Severity

    if text is None:
        return None
    name = str(text).strip().upper()
    if name not in SEVERITY_NAMES:
        raise UsageError(f"--fail-on {text!r} is not a severity", hint="use LOW, MEDIUM or HIGH")
    return Severity[name]


def read_sql_file(path: str) -> str:
    """The text of the .sql file ``path`` (universal newlines, as ``Path.read_text`` reads it).

    Raises:
        UsageError: it does not exist, cannot be read or is not UTF-8.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise UsageError(
            f"the SQL file {path} does not exist",
            hint="give the path of a .sql file, a revision id or a range A:B",
            title="no such file",
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path}: {error}", hint="give a readable UTF-8 .sql file") from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise UsageError(
            f"{path} holds a NUL character (line {line}): PostgreSQL cannot run such text, and nothing after it "
            "could be judged",
            hint="remove the NUL byte (the file may be binary or UTF-16: save it as UTF-8)",
        )
    return text


def output_format(fmt: str | None, *, json_flag: bool) -> str:
    """``--format`` if given, else json with ``--json``, else text."""
    return fmt or ("json" if json_flag else "text")


def wants_table(results: Results, *, tty: bool) -> bool:
    """A rich table only for a person at a terminal, and only for a readable number of findings."""
    return tty and sum(len(a.findings) for _, a in results) <= RICH_TABLE_LIMIT


def findings_json(results: Results) -> list[dict[str, Any]]:
    """The ``--json`` list: every finding (suppressed ones too) with its revision."""
    return [
        {**finding.to_json(), "revision": source.revision}
        for source, analysis in results
        for finding in [*analysis.findings, *analysis.suppressed]
    ]


def json_text(results: Results, *, end: str = "") -> str:
    """``json.dumps(findings_json(results)) + end``, the same text, without building a dict per finding.

    One string per finding from a template, each text through json's own C escaper (the one
    ``json.dumps`` uses with its default ``ensure_ascii``), joined once (megabytes for thousands
    of findings: not copied again to add the brackets or ``end``).
    """
    from json.encoder import encode_basestring_ascii

    esc: Any = encode_basestring_ascii
    if esc is None:  # pragma: no cover - CPython always has the C escaper
        import json

        return json.dumps(findings_json(results)) + end
    items: list[str] = []
    append = items.append
    for source, analysis in results:
        revision = "null" if source.revision is None else esc(source.revision)
        for f in (*analysis.findings, *analysis.suppressed):
            table = f.table
            append(
                f'{{"rule": {esc(f.rule)}, "severity": {esc(f.severity.name)}, "lock": {esc(f.lock)}, '
                f'"table": {"null" if table is None else esc(table)}, "statement": {esc(f.statement)}, '
                f'"line": {int.__repr__(f.line)}, "message": {esc(f.message)}, "mitigation": {esc(f.mitigation)}, '
                f'"suppressed": {"true" if f.suppressed else "false"}, '
                f'"suppression_reason": {esc(f.suppression_reason)}, "revision": {revision}}}'
            )
    if not items:
        return "[]" + end
    items[0] = "[" + items[0]
    items[-1] += "]" + end
    return ", ".join(items)


def payload(results: Results, fmt: str, *, tool_version: str = "") -> Any:
    """The data ``--format json`` (the findings) or ``--format sarif`` (a SARIF 2.1.0 log) prints."""
    if fmt == "json":
        return findings_json(results)
    from syncdb_tui.core.risk import verdicts

    return verdicts.sarif(_located(results), tool_version=tool_version)


def render(results: Results, fmt: str) -> str:
    """The stdout text of ``--format github`` (workflow annotations) or ``text`` (plain lines), no final newline."""
    from syncdb_tui.core.risk import verdicts

    if fmt == "github":
        return "\n".join(verdicts.github_lines(_located(results)))
    out: list[str] = []
    for source, analysis in results:
        out.append(f"{source.label}: risk {analysis.risk.name}" + ("" if analysis.findings else " (no findings)"))
        out += verdicts.text_lines(verdicts.locate(analysis.findings, path=source.path, revision=source.revision))
    return "\n".join(out)


def _located(results: Results) -> list[Any]:
    """Every finding, suppressed ones too, with the file and line CI should show it at."""
    from syncdb_tui.core.risk import verdicts

    return [
        item
        for source, analysis in results
        for item in verdicts.locate(
            [*analysis.findings, *analysis.suppressed], path=source.path, revision=source.revision
        )
    ]


def notes(results: Results, *, env_name: str | None, live_error: str, blockers: Sequence[str]) -> list[str]:
    """The human lines for stderr: what was judged, without which context, suppressions and blockers."""
    lines: list[str] = []
    revisions = sum(1 for source, _ in results if source.revision is not None)
    if revisions:
        lines.append(
            f"judged {revisions} revision(s): {', '.join(s.label for s, _ in results[:3])}{' …' * (revisions > 3)}"
        )
    with_context = any(a.judged_with_context for _, a in results)
    if live_error:
        lines.append(f"note: judged without live context: {live_error}")
    elif not with_context:
        lines.append("note: judged without live context (no --env): table sizes unknown, baseline severities")
    for source, _ in results:
        if source.not_rendered:
            lines.append(
                f"note: {source.label} rendered only in part offline (its statements before the stop are judged): "
                f"{source.not_rendered}"
            )
    for source, analysis in results:
        for finding in analysis.suppressed:
            lines.append(f"suppressed: {source.label} line {finding.line} {finding.rule}: {finding.suppression_reason}")
    lines += [f"blocker: {sentence}" for sentence in blockers]
    if env_name is not None and with_context and not blockers:
        lines.append(f"no session on {env_name} holds locks on these tables or runs long transactions")
    return lines


def check_fail_on(results: Results, fail_on: Severity | None) -> None:
    """The ``--fail-on`` gate.

    Raises:
        CheckFailed: a finding (not suppressed) reaches ``fail_on``.
    """
    if fail_on is None:
        return
    reached: list[Finding] = [f for _, analysis in results for f in analysis.findings if f.severity >= fail_on]
    if reached:
        rules = ", ".join(sorted({f.rule for f in reached}))
        raise CheckFailed(
            f"{len(reached)} finding(s) at or above {fail_on.name}: {rules}",
            hint="apply the mitigations shown, or suppress a finding with '-- syncdb: ignore RULE reason'",
            title="risk too high",
        )
