"""The safe way to do what a risky statement does, as concrete SQL for that statement.

Who calls what: the rules in ``risk_rules.py`` call one function here per
finding. Where the safe form is the same statement with a flag changed
(``CONCURRENTLY``, ``NOT VALID``), the statement is re-parsed with pglast,
changed in its syntax tree and printed back, so the mitigation keeps the
user's columns and expressions exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

_SIMPLE_IDENT = r"[a-z_][a-z0-9_$]*"
"""Patterns here are compiled on first use (re's own cache): most runs quote no name and build no index."""
BATCH = 10_000


@lru_cache(maxsize=1)
def _reserved() -> frozenset[str]:
    keywords = _pglast_keywords()
    return frozenset(keywords.RESERVED_KEYWORDS) | frozenset(keywords.TYPE_FUNC_NAME_KEYWORDS)


def _pglast_keywords() -> Any:
    """pglast's keyword lists (a plain data module), read without importing the pglast package.

    Importing ``pglast.keywords`` runs pglast's ``__init__``, which builds every enum and AST class
    (~50 ms): more than quoting a name deserves when nothing else needs pglast (``syncdb risk
    FILE.sql`` gets its parse tree from libpg_query directly, see ``parse.py``).
    """
    import importlib.util
    import os
    import sys

    if "pglast" not in sys.modules:
        try:
            spec = importlib.util.find_spec("pglast")
            folder = next(iter(spec.submodule_search_locations or [])) if spec else ""
            data = importlib.util.spec_from_file_location(
                "_syncdb_pglast_keywords", os.path.join(folder, "keywords.py")
            )
            if data is not None and data.loader is not None:
                module = importlib.util.module_from_spec(data)
                data.loader.exec_module(module)
                if hasattr(module, "RESERVED_KEYWORDS") and hasattr(module, "TYPE_FUNC_NAME_KEYWORDS"):
                    return module
        except (ImportError, OSError, StopIteration, SyntaxError):
            pass
    from pglast import keywords

    return keywords


@lru_cache(maxsize=4096)
@lru_cache(maxsize=4096)
def q(name: str) -> str:
    """``name`` (possibly ``schema.table``) quoted where PostgreSQL needs it (remembered: the same
    names come back in statement after statement)."""
    parts = []
    for part in name.split("."):
        if re.fullmatch(_SIMPLE_IDENT, part) and part not in _reserved():
            parts.append(part)
        else:
            parts.append('"' + part.replace('"', '""') + '"')
    return ".".join(parts)


def _bare(table: str) -> str:
    return table.rsplit(".", 1)[-1]


def _rewrite(text: str, change: Callable[[Any], None]) -> str | None:
    """``text`` re-parsed, changed by ``change(stmt)`` and printed back; None if that fails."""
    import pglast
    from pglast.stream import RawStream

    try:
        statement = pglast.parse_sql(text)[0].stmt
        if statement is None:
            return None
        change(statement)
        return RawStream()(statement) + ";"
    except Exception:  # the statement parsed as part of the file; be safe anyway
        return None


def none_needed() -> str:
    return "none needed: this is already the safe form"


def lock_timeout_only(text: str) -> str:
    return f"SET lock_timeout = '5s';  -- fail fast instead of queueing behind long transactions\n{_one(text)}"


def _one(text: str) -> str:
    text = text.strip()
    return text if text.endswith(";") else text + ";"


def add_serial_column(table: str, column: str, ctype: str) -> str:
    t, c = q(table), q(column)
    big = "bigint" if "big" in ctype.lower() or ctype.lower() == "serial8" else "integer"
    seq = q(f"{_bare(table)}_{column}_seq")
    return (
        f"ALTER TABLE {t} ADD COLUMN {c} {big};  -- nullable, no default: no rewrite\n"
        f"CREATE SEQUENCE {seq} OWNED BY {t}.{c};\n"
        f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT nextval('{seq}');  -- new rows only\n"
        f"-- backfill old rows in batches, committing between them:\n"
        f"UPDATE {t} SET {c} = nextval('{seq}') WHERE ctid IN "
        f"(SELECT ctid FROM {t} WHERE {c} IS NULL LIMIT {BATCH});\n"
        f"CREATE UNIQUE INDEX CONCURRENTLY {q(_bare(table) + '_' + column + '_key')} ON {t} ({c});\n"
        f"-- then the four-step NOT NULL pattern, and ADD PRIMARY KEY USING INDEX if it is the key"
    )


def add_generated_column(table: str, column: str, ctype: str) -> str:
    t, c = q(table), q(column)
    return (
        f"ALTER TABLE {t} ADD COLUMN {c} {ctype};  -- a plain nullable column: no rewrite\n"
        f"-- fill it from a trigger for new rows, backfill old rows in batches:\n"
        f"UPDATE {t} SET {c} = <expression> WHERE ctid IN (SELECT ctid FROM {t} WHERE {c} IS NULL LIMIT {BATCH});\n"
        f"-- or, on PostgreSQL 18+, a VIRTUAL generated column (computed on read, no rewrite)"
    )


def add_column_volatile_default(table: str, column: str, ctype: str, default: str, not_null: bool) -> str:
    t, c = q(table), q(column)
    lines = [
        f"ALTER TABLE {t} ADD COLUMN {c} {ctype};  -- nullable, no default: no rewrite",
        f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {default};  -- applies to new rows only",
        "-- backfill old rows in batches, committing between them:",
        f"UPDATE {t} SET {c} = {default} WHERE ctid IN (SELECT ctid FROM {t} WHERE {c} IS NULL LIMIT {BATCH});",
    ]
    if not_null:
        lines.append("-- then the four-step NOT NULL pattern:")
        lines.append(set_not_null(table, column, None))
    return "\n".join(lines)


def add_column_not_null(table: str, column: str, ctype: str) -> str:
    t, c = q(table), q(column)
    return "\n".join(
        [
            f"ALTER TABLE {t} ADD COLUMN {c} {ctype};  -- nullable first",
            "-- backfill in batches, committing between them:",
            f"UPDATE {t} SET {c} = <value> WHERE ctid IN (SELECT ctid FROM {t} WHERE {c} IS NULL LIMIT {BATCH});",
            set_not_null(table, column, None),
            f"-- or give it a constant default: ALTER TABLE {t} ADD COLUMN {c} {ctype} NOT NULL DEFAULT <constant>;",
        ]
    )


def drop_column(table: str, column: str) -> str:
    return (
        f"-- expand/contract: deploy code that no longer reads or writes {column} first, then:\n"
        f"SET lock_timeout = '5s';\nALTER TABLE {q(table)} DROP COLUMN {q(column)};  -- take a backup before"
    )


def change_column_type(table: str, column: str, new_type: str) -> str:
    t, c = q(table), q(column)
    new = q(f"{column}_new")
    return "\n".join(
        [
            "-- expand/contract instead of an in-place rewrite:",
            f"ALTER TABLE {t} ADD COLUMN {new} {new_type};",
            f"-- keep {new} in sync with a trigger, backfill old rows in batches:",
            f"UPDATE {t} SET {new} = {c}::{new_type} WHERE ctid IN "
            f"(SELECT ctid FROM {t} WHERE {new} IS NULL AND {c} IS NOT NULL LIMIT {BATCH});",
            f"-- switch the code to {new}, then in one short transaction:",
            f"ALTER TABLE {t} RENAME COLUMN {c} TO {q(column + '_old')};",
            f"ALTER TABLE {t} RENAME COLUMN {new} TO {c};",
        ]
    )


def set_not_null(table: str, column: str, server_version_num: int | None) -> str:
    t, c = q(table), q(column)
    check = q(f"{_bare(table)}_{column}_not_null")
    if server_version_num is not None and server_version_num < 120000:
        return (
            f"-- before PostgreSQL 12 SET NOT NULL always scans; keep a validated CHECK instead:\n"
            f"ALTER TABLE {t} ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID;\n"
            f"ALTER TABLE {t} VALIDATE CONSTRAINT {check};"
        )
    return "\n".join(
        [
            "-- the four-step NOT NULL pattern (PostgreSQL 12+), each step its own transaction:",
            f"ALTER TABLE {t} ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID;",
            f"ALTER TABLE {t} VALIDATE CONSTRAINT {check};  -- scans without blocking writes",
            f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;  -- uses the CHECK: no scan",
            f"ALTER TABLE {t} DROP CONSTRAINT {check};",
        ]
    )


def index_constraint(table: str, conname: str, columns: list[str], label: str) -> str:
    t = q(table)
    cols = ", ".join(q(c) for c in columns) or "<columns>"
    index = q(conname)
    return (
        f"CREATE UNIQUE INDEX CONCURRENTLY {index} ON {t} ({cols});  -- outside a transaction\n"
        f"ALTER TABLE {t} ADD CONSTRAINT {index} {label} USING INDEX {index};  -- brief lock, no build"
    )


def exclusion_constraint(table: str) -> str:
    return (
        f"-- an exclusion constraint cannot use an index built concurrently; add it when {q(table)} is "
        "small or during a maintenance window, with SET lock_timeout"
    )


def validate_later(table: str, conname: str) -> str:
    return (
        "-- in a later transaction (scans without blocking writes):\n"
        f"ALTER TABLE {q(table)} VALIDATE CONSTRAINT {q(conname)};"
    )


def validate_separately(table: str, conname: str) -> str:
    return (
        "COMMIT;  -- end the transaction that added the constraint NOT VALID\n"
        f"ALTER TABLE {q(table)} VALIDATE CONSTRAINT {q(conname)};  -- its own transaction"
    )


def _not_valid(text: str, single: bool) -> str | None:
    """The ADD CONSTRAINT statement ``text`` with NOT VALID."""
    if not text:
        return None
    if single:
        return _one(text)[:-1].rstrip() + " NOT VALID;"
    changed = []

    def change(statement: Any) -> None:
        for cmd in getattr(statement, "cmds", None) or ():
            constraint = getattr(cmd, "def_", None)
            if constraint is not None and type(constraint).__name__ == "Constraint":
                constraint.skip_validation = True
                constraint.initially_valid = False
                changed.append(constraint)

    rewritten = _rewrite(text, change)
    return rewritten if changed else None


def foreign_key(
    table: str, conname: str, columns: list[str], referenced: str, ref_columns: list[str], text: str, single: bool
) -> str:
    rewritten = _not_valid(text, single)
    cols = ", ".join(q(c) for c in columns) or "<columns>"
    refs = f" ({', '.join(q(c) for c in ref_columns)})" if ref_columns else ""
    first = (
        rewritten
        or f"ALTER TABLE {q(table)} ADD CONSTRAINT {q(conname)} FOREIGN KEY ({cols}) "
        f"REFERENCES {q(referenced)}{refs} NOT VALID;"
    )
    return f"{first}  -- no scan\n-- in a later transaction:\nALTER TABLE {q(table)} VALIDATE CONSTRAINT {q(conname)};"


def check_constraint(table: str, conname: str, text: str, single: bool) -> str:
    rewritten = _not_valid(text, single)
    first = rewritten or f"ALTER TABLE {q(table)} ADD CONSTRAINT {q(conname)} CHECK (<condition>) NOT VALID;"
    return f"{first}  -- no scan\n-- in a later transaction:\nALTER TABLE {q(table)} VALIDATE CONSTRAINT {q(conname)};"


def rename_column(table: str, old: str, new: str, ctype: str | None) -> str:
    t = q(table)
    return "\n".join(
        [
            "-- expand/contract:",
            f"ALTER TABLE {t} ADD COLUMN {q(new)} {ctype or '<type>'};",
            f"-- write both columns (trigger or code), backfill {q(new)} from {q(old)} in batches,",
            f"-- move reads to {q(new)}, deploy, then:",
            f"ALTER TABLE {t} DROP COLUMN {q(old)};",
        ]
    )


def rename_table(table: str, new: str) -> str:
    schema = table.rsplit(".", 1)[0] + "." if "." in table else ""
    return "\n".join(
        [
            "-- expand/contract: rename, and keep the old name as an updatable view until the code is deployed:",
            "BEGIN;",
            "SET LOCAL lock_timeout = '5s';",
            f"ALTER TABLE {q(table)} RENAME TO {q(new)};",
            f"CREATE VIEW {q(table)} AS SELECT * FROM {q(schema + new)};",
            "COMMIT;",
            f"-- after the deploy: DROP VIEW {q(table)};",
        ]
    )


def drop_table(table: str) -> str:
    return (
        f"-- deploy code that no longer uses {q(table)}, take a backup (syncdb backup -t {_bare(table)}), "
        "or rename it first and drop it a release later:\n"
        f"ALTER TABLE {q(table)} RENAME TO {q(_bare(table) + '_deprecated')};"
    )


def drop_index(index: str) -> str:
    return f"DROP INDEX CONCURRENTLY {q(index)};  -- outside a transaction"


def drop_schema(schema: str) -> str:
    return f"-- take a backup first and check nothing uses {q(schema)}; drop its objects one by one in later releases"


def drop_database(name: str) -> str:
    return f"-- never from a migration: take a backup and drop {q(name)} by hand, if at all"


def outside_transaction(text: str) -> str:
    return (
        "-- run it outside a transaction block (in Alembic: with op.get_context().autocommit_block():)\n"
        f"COMMIT;\n{_one(text)}\nBEGIN;"
    )


def create_index_concurrently(text: str) -> str:
    rewritten = _insert_after_keyword(text, "INDEX", " CONCURRENTLY")
    if rewritten is None:

        def change(statement: Any) -> None:
            statement.concurrent = True

        rewritten = _rewrite(text, change) or "CREATE INDEX CONCURRENTLY …;"
    return f"-- outside a transaction block (Alembic: op.get_context().autocommit_block()):\n{rewritten}"


_CREATE_INDEX = r"(?ia)CREATE\s+(?:UNIQUE\s+)?INDEX(?=\s)"
"""The first words of a CREATE INDEX written plainly: their INDEX is the scanner's first INDEX token."""


def _insert_after_keyword(text: str, keyword: str, addition: str) -> str | None:
    """``text`` with ``addition`` after its first ``keyword`` token (found by pglast's scanner).

    A statement that starts ``CREATE [UNIQUE] INDEX`` needs no scanner (nor pglast's import) to
    know where its first INDEX token ends.
    """
    text = _one(text)
    plain = re.match(_CREATE_INDEX, text) if keyword == "INDEX" else None
    if plain is not None:
        return text[: plain.end()] + addition + text[plain.end() :]
    from pglast.parser import ParseError, scan

    try:
        token = next((t for t in scan(text) if t.name == keyword), None)
    except ParseError:
        return None
    if token is None:
        return None
    return text[: token.end + 1] + addition + text[token.end + 1 :]


def truncate(table: str) -> str:
    t = q(table)
    return (
        f"-- take a backup first (syncdb backup -t {_bare(table)}); if others still write, delete in batches:\n"
        f"DELETE FROM {t} WHERE ctid IN (SELECT ctid FROM {t} LIMIT {BATCH});"
    )


def batched_dml(table: str, verb: str, text: str, simple: bool) -> str:
    """``text`` (an UPDATE/DELETE without WHERE) limited to one batch of rows."""
    batch = f"ctid IN (SELECT ctid FROM {q(table)} WHERE true LIMIT {BATCH})"
    body = _one(text)[:-1].rstrip() + f" WHERE {batch};" if simple else None
    if body is None:
        import pglast

        def change(statement: Any) -> None:
            probe = pglast.parse_sql(f"SELECT 1 WHERE {batch}")[0].stmt
            assert isinstance(probe, pglast.ast.SelectStmt)
            statement.whereClause = probe.whereClause

        body = _rewrite(text, change) or f"{verb} … WHERE {batch};"
    return (
        "-- outside the DDL transaction, in batches, committing between them; replace `true` with the rows "
        f"not yet done:\n{body}"
    )


def backfill(table: str) -> str:
    return (
        "COMMIT;  -- end the DDL transaction before the backfill\n"
        f"-- then change {q(table)} in batches of {BATCH} rows, one transaction each "
        f"(… WHERE ctid IN (SELECT ctid FROM {q(table)} WHERE <not done> LIMIT {BATCH}))"
    )


def vacuum_full(table: str | None) -> str:
    target = q(table) if table else ""
    return f"VACUUM (ANALYZE) {target};  -- reclaims space for reuse without a lock; pg_repack rewrites online".replace(
        "  ;", ";"
    )


def cluster(table: str | None) -> str:
    return "-- avoid in a migration; pg_repack --order-by reorders a table online"


def refresh_concurrently(view: str) -> str:
    return (
        f"-- needs a unique index on the view, once: CREATE UNIQUE INDEX ON {q(view)} (<key>);\n"
        f"REFRESH MATERIALIZED VIEW CONCURRENTLY {q(view)};"
    )


def lock_table(table: str, mode: str) -> str:
    return (
        f"BEGIN;\nSET LOCAL lock_timeout = '5s';\nLOCK TABLE {q(table)} IN {mode} MODE;\n"
        "-- … keep the transaction short …\nCOMMIT;"
    )


def enum_add_value(text: str) -> str:
    return (
        "-- outside a transaction block (Alembic: op.get_context().autocommit_block()), and use the new value "
        f"only in a later migration:\n{_one(text)}"
    )


def reindex_concurrently(text: str) -> str:
    def change(statement: Any) -> None:
        from pglast import ast

        params = list(statement.params or ())
        params.append(ast.DefElem(defname="concurrently"))
        statement.params = tuple(params)

    rewritten = _rewrite(text, change) or "REINDEX (CONCURRENTLY) …;"
    return f"-- outside a transaction block, PostgreSQL 12+:\n{rewritten}"


def missing_lock_timeout() -> str:
    return (
        "SET lock_timeout = '5s';  -- first statement of the migration (or SET LOCAL inside its transaction);\n"
        "-- syncdb migrate sets it for you; other runners (alembic upgrade, psql) do not"
    )


def split_transaction(tables: list[str]) -> str:
    names = ", ".join(q(t) for t in tables)
    return (
        f"-- one table per transaction (COMMIT between the statements on {names}), or lock them in one fixed order "
        f"first:\nLOCK TABLE {names} IN ACCESS EXCLUSIVE MODE;  -- after SET LOCAL lock_timeout = '5s'"
    )


def unparseable() -> str:
    return "-- fix the syntax, or review by hand which lock this statement takes and how long it runs"
