"""libpg_query's parser called directly, and a large .sql file parsed in threads while the program loads.

Who calls what: ``parse.py`` calls :func:`tree` for the JSON parse tree of SQL and :func:`take` for
what :func:`prefetch` made; ``cli.py`` calls :func:`prefetch` first thing for ``syncdb risk FILE.sql``.
This module imports nothing heavy (``ctypes`` only when the library is loaded): it runs before the
rest of the program is imported, so that the parse starts as early as it can.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # no typing module at run time: this loads before everything else
if TYPE_CHECKING:
    from typing import Any

PREFETCH_MIN_BYTES = 256 * 1024
"""Files smaller than this are parsed in line: threads would save less than they cost."""

PIECE_MIN_BYTES = 128 * 1024
"""A prefetched file is cut into pieces parsed in parallel, one per core, none smaller than this."""

MAX_PIECES = 4

_LIBRARY: list[Any] = []
_PREFETCH: dict[str, Any] = {}


def library() -> tuple[Any, Any, Any] | None:
    """libpg_query's ``pg_query_parse``, its ``free`` and ``ctypes.string_at``, from the extension
    module pglast ships, without importing pglast.

    Importing pglast builds its hundreds of enum and AST classes (~50 ms), longer than libpg_query
    takes to parse a 7,000-statement file, and `syncdb risk FILE.sql` needs only the JSON tree: the
    same C function pglast's ``parse_sql_json`` calls. Only for pglast 7 and 8 (libpg_query 16 to 18,
    whose result struct is the one below); None when pglast is already imported, another version,
    or its library cannot be loaded: then pglast itself is used. ctypes calls release the GIL, so
    threads parse in parallel.
    """
    if _LIBRARY:
        return _LIBRARY[0]  # type: ignore[no-any-return]
    if "pglast.parser" in sys.modules:
        return None
    found = _load()
    _LIBRARY.append(found)
    return found


def _load() -> tuple[Any, Any, Any] | None:
    import ctypes
    import importlib.machinery
    import importlib.util

    class ParseResult(ctypes.Structure):
        """libpg_query's ``PgQueryParseResult`` (pg_query.h): the JSON tree, captured stderr, the error if any."""

        _fields_ = [("parse_tree", ctypes.c_void_p), ("stderr_buffer", ctypes.c_void_p), ("error", ctypes.c_void_p)]

    try:
        spec = importlib.util.find_spec("pglast")
        folder = next(iter(spec.submodule_search_locations or [])) if spec else ""
        with open(os.path.join(folder, "__init__.py"), encoding="utf-8") as handle:
            if not any(line.startswith(("__version__ = 'v7.", "__version__ = 'v8.")) for line in handle):
                return None
        path = next(
            os.path.join(folder, "parser" + suffix)
            for suffix in importlib.machinery.EXTENSION_SUFFIXES
            if os.path.isfile(os.path.join(folder, "parser" + suffix))
        )
        loaded = ctypes.CDLL(path)
        parse_json, free = loaded.pg_query_parse, loaded.pg_query_free_parse_result
    except (OSError, ImportError, ValueError, IndexError, StopIteration, AttributeError):
        return None
    parse_json.argtypes, parse_json.restype = [ctypes.c_char_p], ParseResult
    free.argtypes, free.restype = [ParseResult], None
    return parse_json, free, ctypes.string_at


def tree(encoded: bytes) -> bytes | None:
    """libpg_query's JSON parse tree of SQL encoded in UTF-8, in UTF-8; None on a syntax error (pglast
    then says where) or without the library."""
    functions = library()
    if functions is None or b"\x00" in encoded:  # a C string ends at a NUL: the rest would be lost
        return None
    parse_json, free, string_at = functions
    result = parse_json(encoded)
    try:
        if result.error or not result.parse_tree:
            return None
        return bytes(string_at(result.parse_tree))
    finally:
        free(result)


def cut_points(encoded: bytes, pieces: int) -> list[int]:
    """Where to cut SQL into ``pieces`` parts parsed alone: right after a ``;`` that ends a line.

    A cut only ever stands where the parse of the whole text has a statement boundary, or
    :func:`take` finds out and the whole text is parsed at once: a ``;`` inside a string, a quoted
    name, a dollar-quoted body or a block comment leaves the part before it unterminated, and one
    inside CREATE RULE's parenthesised actions or a BEGIN ATOMIC body leaves it incomplete, so
    libpg_query rejects that part; only a line comment ends at the line's end, so a line with ``--``
    before its ``;`` is never cut. A ``COMMIT;`` line shortly after the ideal place is preferred: there
    no transaction is open, so the risk engine may judge the pieces on both sides in two processes
    (``analysis._Analyser``).
    """
    size = len(encoded)
    points: list[int] = []
    for k in range(1, pieces):
        at = max(k * size // pieces, points[-1] if points else 0)
        commit = encoded.find(b"\nCOMMIT;\n", at, at + size // (4 * pieces))
        if commit >= 0:
            points.append(commit + len(b"\nCOMMIT;"))
            continue
        for _ in range(64):
            found = encoded.find(b";\n", at)
            if found < 0:
                break
            line = encoded.rfind(b"\n", 0, found) + 1
            if b"--" not in encoded[line:found]:
                points.append(found + 1)
                break
            at = found + 2
    return sorted(set(p for p in points if 0 < p < size))


def prefetch(path: str) -> bool:
    """Start libpg_query on the .sql file at ``path`` in threads, for :func:`take` to pick up.

    For ``syncdb risk FILE.sql`` on a large file: libpg_query runs outside the GIL, so the file is
    parsed while the interpreter imports the risk engine, when a core is idle (a busy machine gains
    nothing from more threads and pays their switches), in pieces cut by :func:`cut_points`, one
    thread each, one per core. :func:`take` gives the trees only for the very same text (its
    UTF-8 is the file's bytes; not so when reading the file as text changed its line ends) and only
    when every piece parsed, so the output never depends on it; anything that fails here is simply
    done again in line. Returns whether threads were started.
    """
    import threading

    # a regular file only: a named pipe read here would be empty when the command reads it
    if not os.path.isfile(path):
        return False
    try:
        size = os.stat(path).st_size
        idle = (os.cpu_count() or 1) - os.getloadavg()[0]
    except OSError:
        return False
    # the library is loaded here: the threads then hold the GIL only to copy their trees
    if size < PREFETCH_MIN_BYTES or idle < 0.5 or library() is None:
        return False
    try:
        with open(path, "rb") as handle:
            encoded = handle.read()
    except OSError:
        return False
    # a piece per core, at least three with two cores (the risk engine judges the first third in this
    # process and the rest in a child, see analysis._Analyser._run_split); the load average trails by a
    # minute, so it only says whether any core is idle
    cores = os.cpu_count() or 1
    pieces = max(1, min(MAX_PIECES, max(cores, 3) if cores > 1 else 1, len(encoded) // PIECE_MIN_BYTES))
    bounds = [0, *cut_points(encoded, pieces), len(encoded)]
    results: list[bytes | None] = [None] * (len(bounds) - 1)

    def work(index: int) -> None:
        try:
            results[index] = tree(encoded[bounds[index] : bounds[index + 1]])
        except Exception:  # the whole text is parsed again in line, and reports what goes wrong
            pass

    threads = [
        threading.Thread(target=work, args=(index,), name=f"syncdb-risk-parse-{index}", daemon=True)
        for index in range(len(results))
    ]
    _PREFETCH.clear()
    _PREFETCH.update(encoded=encoded, bounds=bounds, results=results, threads=threads)
    for thread in threads:
        thread.start()
    return True


def take(sql: str) -> list[tuple[str, int, int]] | None:
    """What :func:`prefetch` made of exactly ``sql`` (waiting for it): for each piece in order, its JSON
    tree, its offset in bytes and its size in bytes. None when nothing was prefetched, for other text,
    or when a piece did not parse (then the whole text is parsed in line)."""
    if not _PREFETCH:
        return None
    job = dict(_PREFETCH)
    _PREFETCH.clear()
    for thread in job["threads"]:
        thread.join()
    if job["encoded"] != sql.encode("utf-8") or any(result is None for result in job["results"]):
        return None
    bounds: list[int] = job["bounds"]
    return [
        (result.decode("utf-8"), bounds[index], bounds[index + 1] - bounds[index])
        for index, result in enumerate(job["results"])
    ]
