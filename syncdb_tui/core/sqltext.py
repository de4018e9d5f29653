"""SQL text helpers used everywhere: one way to quote an identifier and a literal."""

from __future__ import annotations

from syncdb_tui.core.errors import UsageError

__all__ = ["quote_ident", "quote_literal"]


def quote_ident(name: str) -> str:
    """``name`` as a PostgreSQL identifier: always double-quoted, inner ``"`` doubled.

    Raises:
        UsageError: the name is empty or holds a NUL character (PostgreSQL allows neither).
    """
    if not name or "\x00" in name:
        raise UsageError(f"{name!r} is not a valid identifier", hint="pick a column from the table")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """``value`` as a SQL string literal (only for showing SQL to a person, never for sending)."""
    if "\\" in value:
        return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    return "'" + value.replace("'", "''") + "'"
