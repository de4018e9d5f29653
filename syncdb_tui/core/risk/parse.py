"""Splitting SQL into statements with pglast, keeping their positions and suppression comments.

Who calls what: ``risk.py`` calls :func:`parse` once per analysis and
:func:`suppressions` for the ``-- syncdb: ignore RULE reason`` comments (the only
text matched with a regular expression: comments are not SQL). The parse trees come from
libpg_query through ``pgquery.py`` (or pieces of a large file it parsed in threads), else pglast.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, NamedTuple

from syncdb_tui.core.risk import pgquery

_SUPPRESSION = r"--\s*syncdb:\s*ignore\s+([A-Za-z0-9_-]+)[ \t]*([^\n]*)"
"""Compiled on first use (re's own cache): only SQL with ``syncdb:`` comments needs it."""


class Statement(NamedTuple):
    """One statement: its node kind and body (pglast's JSON form), its text and where it is.

    A named tuple (immutable, cheap to build: a parse makes one per statement, thousands for a file).
    ``start`` and ``end`` are where it is in the SQL; the ``location`` fields inside ``node`` are not:
    they count bytes from the start of the text libpg_query parsed (a piece of the file, see
    ``pgquery.prefetch`` and :func:`parse_each`), and no rule reads them.
    """

    kind: str
    node: dict[str, Any]
    text: str
    start: int
    """Character offset of the statement in the SQL."""
    end: int
    error: str = ""


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: building large trees of dicts (a parse of thousands of
    statements, their findings) makes the collector walk everything alive again and again, which
    costs more than the work itself. Nothing built here holds reference cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@lru_cache(maxsize=1024)
def parse(sql: str) -> tuple[Statement, ...]:
    """The statements of ``sql`` with their character offsets; unparseable ones carry ``error``."""
    with gc_paused():
        return _parse(sql)


def _parse(sql: str) -> tuple[Statement, ...]:
    if "\x00" in sql:
        # the parser reads C strings: it would stop at the NUL and silently drop every statement after it
        at = sql.index("\x00")
        why = f"the SQL holds a NUL character (at character {at}): PostgreSQL cannot run it"
        return (Statement("", {}, sql.strip(), 0, len(sql), error=why),)
    pieces = pgquery.take(sql)
    if pieces is None:
        tree = pgquery.tree(sql.encode("utf-8"))
        if tree is None:
            from pglast.parser import ParseError, parse_sql_json

            try:
                text = parse_sql_json(sql)
            except ParseError:
                return tuple(parse_each(sql))
        else:
            text = tree.decode("utf-8")
        pieces = [(text, 0, len(sql) if sql.isascii() else len(sql.encode("utf-8")))]
    return tuple(decode(sql, pieces))


def decode(sql: str, pieces: list[tuple[str, int, int]]) -> list[Statement]:
    """The statements of ``sql`` in libpg_query's JSON trees of its ``pieces`` (each its JSON text, its
    offset and its size in bytes; all of them, or some in order, see ``pgquery.take``)."""
    # pglast's locations count bytes of UTF-8; Python slices count characters
    encoded = None if sql.isascii() else sql.encode("utf-8")
    statements: list[Statement] = []
    append = statements.append
    for text, offset, size in pieces:
        for item in json.loads(text)["stmts"]:
            start = item.get("stmt_location", 0)
            end = start + (item.get("stmt_len", 0) or size - start) + offset
            start += offset
            if encoded is not None:
                start = len(encoded[:start].decode("utf-8", "replace"))
                end = len(encoded[:end].decode("utf-8", "replace"))
            node = item.get("stmt")
            if node:
                ((kind, body),) = node.items()
            else:
                kind, body = "", {}
            append(Statement(kind, body, sql[start:end].strip(), start, end))
    return statements


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
        for match in re.finditer(_SUPPRESSION, region):
            position = previous_end + match.start()
            same_line_as_previous = index > 0 and "\n" not in sql[statements[index - 1].end : position]
            target = index - 1 if same_line_as_previous else index
            reason = match.group(2).strip() or "no reason given"
            result[target][match.group(1)] = reason
        previous_end = statement.end
    tail = sql[previous_end:]
    for match in re.finditer(_SUPPRESSION, tail):
        if statements and "\n" not in sql[statements[-1].end : previous_end + match.start()]:
            result[-1][match.group(1)] = match.group(2).strip() or "no reason given"
    return result
