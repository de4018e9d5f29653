"""Completeness by construction: every statement kind pglast knows is in the risk engine's table.

A kind with no entry would be judged "no findings" by accident; these tests fail as soon as
pglast (a new PostgreSQL grammar) brings a kind, an ALTER TABLE command or an object type
that ``syncdb_tui/core/risk/kinds.py`` does not list.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pglast.ast
import pytest
from pglast.enums.parsenodes import AlterTableType, ObjectType

from syncdb_tui.core.risk.analysis import analyse_sql
from syncdb_tui.core.risk.kinds import ALTER_TABLE_KINDS, OBJECT_KINDS, RULES, STATEMENT_KINDS, Quiet
from syncdb_tui.core.risk.rules import _HANDLERS
from syncdb_tui.core.risk.rules_alter import ALTER_HANDLERS

DOC = Path(__file__).resolve().parent.parent / "docs" / "risk-rules.md"
ANALYSER_KINDS = {"TransactionStmt", "VariableSetStmt", "DoStmt"}
"""Kinds the analyser itself follows (transactions, lock_timeout, PL/pgSQL bodies)."""


def pglast_statement_kinds() -> set[str]:
    return {name for name, cls in inspect.getmembers(pglast.ast, inspect.isclass) if name.endswith("Stmt")}


def test_every_pglast_statement_kind_is_in_the_table() -> None:
    missing = pglast_statement_kinds() - set(STATEMENT_KINDS)
    assert not missing, f"statement kinds with no entry in kinds.STATEMENT_KINDS: {sorted(missing)}"
    assert set(STATEMENT_KINDS) <= pglast_statement_kinds(), "entries for kinds pglast does not have"


def test_every_rules_entry_has_a_handler() -> None:
    for kind, entry in STATEMENT_KINDS.items():
        if entry == RULES:
            assert kind in _HANDLERS or kind in ANALYSER_KINDS, kind
        else:
            assert isinstance(entry, Quiet) and entry.why, kind


def test_every_alter_table_command_is_in_the_table() -> None:
    names = {member.name for member in AlterTableType}
    assert names == set(ALTER_TABLE_KINDS), sorted(names ^ set(ALTER_TABLE_KINDS))
    for subtype, entry in ALTER_TABLE_KINDS.items():
        if entry == RULES:
            assert subtype in ALTER_HANDLERS, subtype


def test_every_object_type_is_named() -> None:
    assert {member.name for member in ObjectType} == set(OBJECT_KINDS)


def test_unknown_kind_is_not_judged_never_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    from syncdb_tui.core.risk import kinds

    monkeypatch.delitem(kinds.STATEMENT_KINDS, "GrantStmt")
    analysis = analyse_sql("GRANT SELECT ON users TO reporting;")
    assert [(f.rule, f.severity.name) for f in analysis.findings] == [("not-judged", "MEDIUM")]
    assert "GrantStmt" in analysis.findings[0].message


def test_unknown_alter_table_command_is_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    from syncdb_tui.core.risk import kinds

    monkeypatch.delitem(kinds.ALTER_TABLE_KINDS, "AT_SetStatistics")
    analysis = analyse_sql("ALTER TABLE users ALTER COLUMN email SET STATISTICS 500;")
    assert ("not-judged", "MEDIUM") in [(f.rule, f.severity.name) for f in analysis.findings]


def test_no_lock_that_matters_table_is_documented() -> None:
    """docs/risk-rules.md lists every quiet statement kind with its lock."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Statements that take no lock that matters", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([A-Za-z]+Stmt)`", section))
    quiet = {k for k, v in STATEMENT_KINDS.items() if isinstance(v, Quiet)}
    assert quiet <= listed, f"quiet kinds missing from the docs table: {sorted(quiet - listed)}"
