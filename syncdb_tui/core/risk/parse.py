"""Splitting SQL into statements with pglast, keeping their positions and suppression comments.

Who calls what: ``risk.py`` calls :func:`parse` once per analysis and
:func:`suppressions` for the ``-- syncdb: ignore RULE reason`` comments (the only
text matched with a regular expression: comments are not SQL).
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, NamedTuple

_SUPPRESSION = re.compile(r"--\s*syncdb:\s*ignore\s+([A-Za-z0-9_-]+)[ \t]*([^\n]*)")


class Statement(NamedTuple):
    """One statement: its node kind and body (pglast's JSON form), its text and where it is.

    A named tuple (immutable, cheap to build: a parse makes one per statement, thousands for a file).
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
    text = _prefetched_json(sql)
    if text is None:
        text = _libpg_query_json(sql)
    if text is None:
        from pglast.parser import ParseError, parse_sql_json

        try:
            text = parse_sql_json(sql)
        except ParseError:
            return tuple(parse_each(sql))
    parsed = json.loads(text)["stmts"]
    # pglast's locations count bytes of UTF-8; Python slices count characters
    encoded = None if sql.isascii() else sql.encode("utf-8")
    size = len(sql) if encoded is None else len(encoded)
    statements: list[Statement] = []
    append = statements.append
    for item in parsed:
        start = item.get("stmt_location", 0)
        end = start + (item.get("stmt_len", 0) or size - start)
        if encoded is not None:
            start, end = len(encoded[:start].decode("utf-8", "replace")), len(encoded[:end].decode("utf-8", "replace"))
        node = item.get("stmt")
        if node:
            ((kind, body),) = node.items()
        else:
            kind, body = "", {}
        append(Statement(kind, body, sql[start:end].strip(), start, end))
    return tuple(statements)


@lru_cache(maxsize=1)
def _libpg_query() -> Any:
    """libpg_query's ``pg_query_parse``, from the extension module pglast ships, without importing pglast.

    Importing pglast builds its hundreds of enum and AST classes (~50 ms), longer than libpg_query
    takes to parse a 7,000-statement file, and `syncdb risk FILE.sql` needs only the JSON tree: the
    same C function pglast's ``parse_sql_json`` calls. Only for pglast 7 and 8 (libpg_query 16 to 18,
    whose result struct is the one below); None when pglast is already imported, another version,
    or its library cannot be loaded: then pglast itself is used.
    """
    import ctypes
    import importlib.machinery
    import importlib.util
    import os
    import sys

    if "pglast.parser" in sys.modules:
        return None

    class ParseResult(ctypes.Structure):
        """libpg_query's ``PgQueryParseResult`` (pg_query.h): the JSON tree, captured stderr, the error if any."""

        _fields_ = [("parse_tree", ctypes.c_void_p), ("stderr_buffer", ctypes.c_void_p), ("error", ctypes.c_void_p)]

    try:
        spec = importlib.util.find_spec("pglast")
        folder = next(iter(spec.submodule_search_locations or [])) if spec else ""
        with open(os.path.join(folder, "__init__.py"), encoding="utf-8") as handle:
            if not re.search(r"^__version__ = 'v[78]\.", handle.read(), re.MULTILINE):
                return None
        library = next(
            os.path.join(folder, "parser" + suffix)
            for suffix in importlib.machinery.EXTENSION_SUFFIXES
            if os.path.isfile(os.path.join(folder, "parser" + suffix))
        )
        loaded = ctypes.CDLL(library)
        parse_json, free = loaded.pg_query_parse, loaded.pg_query_free_parse_result
    except (OSError, ImportError, ValueError, IndexError, StopIteration, AttributeError):
        return None
    parse_json.argtypes, parse_json.restype = [ctypes.c_char_p], ParseResult
    free.argtypes, free.restype = [ParseResult], None
    return parse_json, free, ctypes.string_at


def _libpg_query_json(sql: str) -> str | None:
    """libpg_query's JSON parse tree of ``sql``; None on a syntax error (pglast then says where) or without it."""
    tree = _libpg_query_tree(sql.encode("utf-8"))
    return None if tree is None else tree.decode("utf-8")


def _libpg_query_tree(encoded: bytes) -> bytes | None:
    """:func:`_libpg_query_json` of SQL already encoded in UTF-8, in UTF-8."""
    functions = _libpg_query()
    if functions is None:
        return None
    parse_json, free, string_at = functions
    result = parse_json(encoded)
    try:
        if result.error or not result.parse_tree:
            return None
        return bytes(string_at(result.parse_tree))
    finally:
        free(result)


_PREFETCH: dict[str, Any] = {}
PREFETCH_MIN_BYTES = 256 * 1024
"""Files smaller than this are parsed in line: a thread would save less than it costs."""


def prefetch(path: str) -> bool:
    """Start libpg_query on the .sql file at ``path`` in a thread, for :func:`parse` to pick up.

    For ``syncdb risk FILE.sql`` on a large file: libpg_query runs outside the GIL, so the file
    is parsed while the interpreter imports the risk engine, when a core is idle (a busy machine
    gains nothing from a second thread and pays its switches). :func:`parse` uses the tree only
    for the very same text (its UTF-8 is the file's bytes; not so when reading the file as text
    changed its line ends), so the output never depends on it; anything that fails here is
    simply done again there. Returns whether a thread was started.
    """
    import os
    import threading

    # a regular file only: a named pipe read here would be empty when the command reads it
    if not os.path.isfile(path):
        return False
    try:
        size = os.stat(path).st_size
        idle = (os.cpu_count() or 1) - os.getloadavg()[0] >= 0.5
    except OSError:
        return False
    # the library is loaded here: the thread then holds the GIL only to read the file and copy the tree
    if size < PREFETCH_MIN_BYTES or not idle or _libpg_query() is None:
        return False

    def work() -> None:
        try:
            with open(path, "rb") as handle:
                encoded = handle.read()
            _PREFETCH["result"] = (encoded, _libpg_query_tree(encoded))
        except Exception:  # parse() does it again and reports what goes wrong
            pass

    thread = threading.Thread(target=work, name="syncdb-risk-parse", daemon=True)
    _PREFETCH["thread"] = thread
    thread.start()
    return True


def _prefetched_json(sql: str) -> str | None:
    """The JSON tree :func:`prefetch` made of exactly ``sql`` (waiting for it), else None."""
    thread = _PREFETCH.pop("thread", None)
    if thread is None:
        return None
    thread.join()
    result = _PREFETCH.pop("result", None)
    if result is None or result[1] is None or result[0] != sql.encode("utf-8"):
        return None
    return str(result[1].decode("utf-8"))


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
