"""Splitting SQL into statements with pglast, keeping their positions and suppression comments.

Who calls what: ``risk.py`` calls :func:`parse` once per analysis and
:func:`suppressions` for the ``-- syncdb: ignore RULE reason`` comments (the only
text matched with a regular expression: comments are not SQL).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_SUPPRESSION = re.compile(r"--\s*syncdb:\s*ignore\s+([A-Za-z0-9_-]+)[ \t]*([^\n]*)")


@dataclass(frozen=True)
class Statement:
    kind: str
    node: dict[str, Any]
    text: str
    start: int
    """Character offset of the statement in the SQL."""
    end: int
    error: str = ""


@lru_cache(maxsize=1024)
def parse(sql: str) -> tuple[Statement, ...]:
    """The statements of ``sql`` with their character offsets; unparseable ones carry ``error``."""
    from pglast.parser import ParseError, parse_sql_json

    try:
        parsed = json.loads(parse_sql_json(sql))["stmts"]
    except ParseError:
        return tuple(parse_each(sql))
    # pglast's locations count bytes of UTF-8; Python slices count characters
    encoded = None if sql.isascii() else sql.encode("utf-8")
    size = len(sql) if encoded is None else len(encoded)
    statements = []
    for item in parsed:
        start = item.get("stmt_location", 0)
        length = item.get("stmt_len", 0) or size - start
        end = start + length
        if encoded is not None:
            start, end = len(encoded[:start].decode("utf-8", "replace")), len(encoded[:end].decode("utf-8", "replace"))
        node = item.get("stmt", {})
        ((kind, body),) = node.items() if node else (("", {}),)
        statements.append(Statement(kind, body, sql[start:end].strip(), start, end))
    return tuple(statements)


def parse_each(sql: str) -> list[Statement]:
    """Split on the scanner's semicolons and parse each piece alone (some may fail)."""
    from pglast.parser import ParseError, parse_sql_json, scan

    try:
        tokens = scan(sql)
        bounds = [t.start for t in tokens if t.name == "ASCII_59"]
    except ParseError:
        bounds = []
    statements: list[Statement] = []
    start = 0
    for cut in [*bounds, len(sql)]:
        piece = sql[start:cut]
        if _has_code(piece):
            lead = len(piece) - len(piece.lstrip())
            try:
                parsed = json.loads(parse_sql_json(piece))["stmts"]
            except ParseError as error:
                text = piece.strip()
                offset = start + lead
                statements.append(Statement("", {}, text, offset, cut, error=str(error)))
            else:
                raw = piece.encode("utf-8")
                for item in parsed:
                    loc = item.get("stmt_location", 0)
                    length = item.get("stmt_len", 0) or len(raw) - loc
                    begin = start + len(raw[:loc].decode("utf-8", "replace"))
                    finish = start + len(raw[: loc + length].decode("utf-8", "replace"))
                    ((kind, body),) = item["stmt"].items()
                    statements.append(Statement(kind, body, sql[begin:finish].strip(), begin, finish))
        start = cut + 1
    return statements


def _has_code(piece: str) -> bool:
    """True when ``piece`` holds more than whitespace and comments."""
    from pglast.parser import ParseError, scan

    if not piece.strip():
        return False
    try:
        return any(t.name not in ("SQL_COMMENT", "C_COMMENT") for t in scan(piece))
    except ParseError:
        return True


def suppressions(sql: str, statements: tuple[Statement, ...] | list[Statement]) -> list[dict[str, str]]:
    """For each statement, the rules its ``-- syncdb: ignore RULE reason`` comments suppress.

    A comment applies to the statement after it; a comment on the same line right after a
    statement applies to that statement.
    """
    result: list[dict[str, str]] = [{} for _ in statements]
    if "syncdb:" not in sql:
        return result
    previous_end = 0
    for index, statement in enumerate(statements):
        region = sql[previous_end : statement.end]
        for match in _SUPPRESSION.finditer(region):
            position = previous_end + match.start()
            same_line_as_previous = index > 0 and "\n" not in sql[statements[index - 1].end : position]
            target = index - 1 if same_line_as_previous else index
            reason = match.group(2).strip() or "no reason given"
            result[target][match.group(1)] = reason
        previous_end = statement.end
    tail = sql[previous_end:]
    for match in _SUPPRESSION.finditer(tail):
        if statements and "\n" not in sql[statements[-1].end : previous_end + match.start()]:
            result[-1][match.group(1)] = match.group(2).strip() or "no reason given"
    return result
