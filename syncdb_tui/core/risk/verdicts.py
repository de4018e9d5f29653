"""Verdicts in the formats CI tools read: plain text, SARIF 2.1.0, GitHub workflow annotations.

Who calls what: ``commands/risk.py`` and ``commands/check.py`` build one :class:`Located`
per finding (the finding, the file it points into, the line there) with :func:`locate`,
then print :func:`text_lines`, :func:`sarif` or :func:`github_lines`. A finding of a
revision points at the line of the revision file where its operation is written (the
``op.`` call or the ``op.execute`` whose SQL it is), found with Python's own parser;
else at the revision file itself. A finding of a ``.sql`` file points at its line.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from syncdb_tui.core.risk.model import Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note"}
GITHUB = {Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "notice"}
RULES_DOC = "https://github.com/syncdb-tui/syncdb-tui/blob/main/docs/risk-rules.md"


@dataclass(frozen=True)
class Located:
    """A finding with where CI should show it."""

    finding: Any
    """A ``risk.analysis.Finding`` (or a saved finding with the same attributes)."""
    path: str
    """The file: a revision file or the analysed .sql file ("" when none)."""
    line: int
    """1-based line in ``path`` (1 when only the file is known)."""
    revision: str | None = None


@dataclass(frozen=True)
class _OpCall:
    line: int
    words: frozenset[str]
    sql: str


@lru_cache(maxsize=4096)
def _op_calls(path: str, mtime_ns: int) -> tuple[_OpCall, ...]:
    """The ``op.*`` calls inside ``upgrade()`` of a revision file, in source order."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return ()
    upgrade = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "upgrade"), None
    )
    if upgrade is None:
        return ()
    calls = []
    for node in ast.walk(upgrade):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        if not (isinstance(owner, ast.Name) and owner.id in ("op", "batch_op")):
            continue
        words: set[str] = set()
        sql = ""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                words.add(sub.value.lower())
                if node.func.attr == "execute" and not sql:
                    sql = sub.value
        words.add(node.func.attr.lower())
        calls.append(_OpCall(node.lineno, frozenset(words), " ".join(sql.lower().split())))
    return tuple(sorted(calls, key=lambda c: c.line))


_OP_HINTS = {
    "drop-column": "drop_column",
    "drop-table": "drop_table",
    "create-table": "create_table",
    "create-index": "create_index",
    "create-index-concurrently": "create_index",
    "drop-index": "drop_index",
    "rename-table": "rename_table",
    "add-foreign-key": "create_foreign_key",
    "add-unique-constraint": "create_unique_constraint",
    "add-check-constraint": "create_check_constraint",
    "add-primary-key": "create_primary_key",
    "drop-constraint": "drop_constraint",
}


def revision_line(path: str, finding: Any) -> int:
    """The line of ``path`` (a revision file) where the operation behind ``finding`` is written; 1 if unknown."""
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return 1
    calls = _op_calls(path, mtime)
    if not calls:
        return 1
    statement = " ".join(str(finding.statement).lower().split()).rstrip(";")
    table = str(finding.table or "").lower()
    tokens = set(statement.replace("(", " ").replace(")", " ").replace(",", " ").replace('"', " ").split())
    best, best_score = 0, 0
    for call in calls:
        if call.sql and (call.sql.rstrip(";") in statement or statement in call.sql):
            return call.line
        score = len(call.words & tokens)
        if table and table.rsplit(".", 1)[-1] in call.words:
            score += 2
        if _OP_HINTS.get(finding.rule) in call.words:
            score += 1
        if score > best_score:
            best, best_score = call.line, score
    return best if best_score >= 2 else 1


def locate(findings: Iterable[Any], *, path: str, revision: str | None) -> list[Located]:
    """Each finding with its file and line: the .sql line, or the revision file's ``op.`` call."""
    out = []
    for finding in findings:
        line = finding.line if revision is None else revision_line(path, finding)
        out.append(Located(finding, path, int(line or 1), revision))
    return out


def display_path(path: str) -> str:
    """``path`` relative to the working directory when inside it (what CI annotations expect), POSIX style."""
    if not path:
        return ""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return Path(path).as_posix()
    if relative.startswith(".."):
        return Path(path).as_posix()
    return Path(relative).as_posix()


# ------------------------------------------------------------------ text


def text_lines(items: Sequence[Located]) -> list[str]:
    """One plain line per finding (``file:line: SEVERITY rule [lock] message``) and its mitigation."""
    lines = []
    shown: dict[str, str] = {}
    for item in items:
        finding = item.finding
        if item.path and item.path not in shown:
            shown[item.path] = display_path(item.path)
        where = f"{shown[item.path]}:{item.line}" if item.path else f"line {finding.line}"
        table = f" {finding.table}:" if finding.table else ""
        muted = f" (suppressed: {finding.suppression_reason})" if getattr(finding, "suppressed", False) else ""
        lines.append(
            f"{where}: {finding.severity.name} {finding.rule} [{finding.lock}]{table} {finding.message}{muted}"
        )
        lines.append("    safe: " + str(finding.mitigation).replace("\n", "\n          "))
    return lines


# ----------------------------------------------------------------- SARIF


def sarif(items: Sequence[Located], *, problems: Sequence[str] = (), tool_version: str = "") -> dict[str, Any]:
    """A SARIF 2.1.0 log of ``items`` (and of ``check``'s other ``problems``, as ``syncdb-check`` results)."""
    from syncdb_tui.core.risk.model import RULE_IDS

    used = sorted({item.finding.rule for item in items})
    rule_ids = used + (["syncdb-check"] if problems else [])
    index = {rule: i for i, rule in enumerate(rule_ids)}
    rules = [
        {
            "id": rule,
            "name": rule,
            "shortDescription": {"text": f"syncdb risk rule {rule}" if rule in RULE_IDS else "syncdb check problem"},
            "helpUri": f"{RULES_DOC}#{rule}" if rule in RULE_IDS else RULES_DOC,
        }
        for rule in rule_ids
    ]
    results: list[dict[str, Any]] = []
    shown: dict[str, str] = {}
    for item in items:
        finding = item.finding
        if item.path and item.path not in shown:
            shown[item.path] = display_path(item.path)
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "ruleIndex": index[finding.rule],
            "level": LEVELS[finding.severity],
            "message": {"text": f"{finding.message}\nSafe way:\n{finding.mitigation}"},
            "properties": {
                "severity": finding.severity.name,
                "lock": finding.lock,
                "table": finding.table,
                "statement": finding.statement,
                "sqlLine": finding.line,
                "revision": item.revision,
            },
        }
        if item.path:
            result["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": shown[item.path]},
                        "region": {"startLine": max(1, item.line)},
                    }
                }
            ]
        if getattr(finding, "suppressed", False):
            result["suppressions"] = [{"kind": "inSource", "justification": finding.suppression_reason}]
        results.append(result)
    for problem in problems:
        results.append(
            {
                "ruleId": "syncdb-check",
                "ruleIndex": index["syncdb-check"],
                "level": "error",
                "message": {"text": problem},
            }
        )
    driver: dict[str, Any] = {"name": "syncdb", "informationUri": RULES_DOC, "rules": rules}
    if tool_version:
        driver["version"] = tool_version
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results}]}


# ---------------------------------------------------------------- GitHub


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_lines(items: Sequence[Located], *, problems: Sequence[str] = ()) -> list[str]:
    """GitHub Actions workflow commands: ``::error file=…,line=…,title=…::message``."""
    lines = []
    shown: dict[str, str] = {}
    for item in items:
        finding = item.finding
        if getattr(finding, "suppressed", False):
            continue
        props = []
        if item.path:
            if item.path not in shown:
                shown[item.path] = _escape_property(display_path(item.path))
            props += [f"file={shown[item.path]}", f"line={max(1, item.line)}"]
        props.append(f"title={_escape_property(f'{finding.rule} ({finding.severity.name}, {finding.lock})')}")
        safe = str(finding.mitigation)
        lines.append(
            f"::{GITHUB[finding.severity]} {','.join(props)}::{_escape_data(finding.message + chr(10) + safe)}"
        )
    for problem in problems:
        lines.append(f"::error title=syncdb check::{_escape_data(problem)}")
    return lines
