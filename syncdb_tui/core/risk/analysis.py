"""The risk engine: SQL a migration runs → findings (rule, lock, severity, safe alternative).

Who calls what: ``core/migrations.py`` (status, migrate plans), ``core/report.py``,
``commands/risk.py`` and the TUI's risk checklist call :func:`analyse_sql` on a
revision's offline SQL, with a :class:`LiveContext` from
:func:`load_live_context` when the environment is reachable, and
:func:`tables_touched` to know which tables to look up. The per-statement
rules live in ``risk_rules.py``, their safe patterns in ``risk_mitigations.py``.

The SQL is parsed with pglast (libpg_query, PostgreSQL's own parser), never
with regular expressions; the only pattern matched on text is the
``-- syncdb: ignore RULE reason`` suppression comment.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.risk import mitigations as fix
from syncdb_tui.core.risk.context import LiveContext, TableStats, load_live_context
from syncdb_tui.core.risk.model import (
    ACCESS_EXCLUSIVE,
    LOCK_STRENGTH,
    UNKNOWN_LOCK,
    Hit,
    Judgement,
    ScanState,
    Severity,
    bare,
)
from syncdb_tui.core.risk.parse import Statement, parse, suppressions
from syncdb_tui.core.risk.rules import judge_statement, tables_of

if TYPE_CHECKING:
    from syncdb_tui.config import RiskThresholds

__all__ = [
    "Finding",
    "LiveContext",
    "RiskAnalysis",
    "Severity",
    "TableStats",
    "analyse_sql",
    "load_live_context",
    "tables_touched",
    "worst_severity",
]


@dataclass(frozen=True)
class Finding:
    """One risk found in one statement."""

    rule: str
    """Kebab-case rule id (see docs/risk-rules.md)."""
    severity: Severity
    lock: str
    """The lock the statement takes on ``table`` (``ACCESS EXCLUSIVE``, ``SHARE``, …, ``none``)."""
    table: str | None
    statement: str
    line: int
    """1-based line of the statement in the analysed SQL."""
    message: str
    """One line: what happens and why it matters."""
    mitigation: str
    """The safe way, as SQL for this statement."""
    suppressed: bool = False
    suppression_reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.name,
            "lock": self.lock,
            "table": self.table,
            "statement": self.statement,
            "line": self.line,
            "message": self.message,
            "mitigation": self.mitigation,
            "suppressed": self.suppressed,
            "suppression_reason": self.suppression_reason,
        }


@dataclass(frozen=True)
class RiskAnalysis:
    """The findings of one piece of SQL; its risk is its worst unsuppressed finding."""

    findings: list[Finding]
    suppressed: list[Finding]
    risk: Severity
    judged_with_context: bool
    tables: frozenset[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "risk": self.risk.name,
            "judged_with_context": self.judged_with_context,
            "tables": sorted(self.tables),
            "findings": [f.to_json() for f in self.findings],
            "suppressed": [f.to_json() for f in self.suppressed],
        }


# ------------------------------------------------------------------ analysis


def tables_touched(sql: str) -> frozenset[str]:
    """Tables the statements of ``sql`` name (as written: ``schema.table`` or ``table``), alembic_version excluded.

    Indexes that DROP INDEX / REINDEX INDEX name are included: the live context resolves them to
    their tables, and the lock preview sees the sessions using them.
    """
    found: set[str] = set()
    for statement in parse(sql):
        if not statement.error:
            found.update(tables_of(statement.kind, statement.node))
    return frozenset(found)


def worst_severity(findings: Iterable[Finding]) -> Severity:
    """The most severe of ``findings`` (LOW when there are none): a migration's risk."""
    return max((finding.severity for finding in findings), default=Severity.LOW)


def analyse_sql(
    sql: str,
    *,
    context: LiveContext | None = None,
    thresholds: RiskThresholds | None = None,
    session_lock_timeout: bool = False,
) -> RiskAnalysis:
    """Judge every statement of ``sql`` (Alembic offline SQL or a plain .sql file).

    Args:
        sql: the SQL text; BEGIN/COMMIT in it mark the transactions.
        context: the target environment's table sizes and server version, if reachable.
        thresholds: table sizes that make size-dependent findings MEDIUM or HIGH.
        session_lock_timeout: the session that will run the SQL already has a
            lock_timeout (``syncdb migrate`` sets one), so its absence from the SQL
            is not a finding.

    Returns the findings in statement order; nothing is raised for bad SQL: a statement
    pglast cannot parse becomes an ``unparseable-statement`` finding.
    """
    from syncdb_tui.config import RiskThresholds

    analyser = _Analyser(sql, context, thresholds or RiskThresholds())
    analyser.lock_timeout_session = session_lock_timeout
    return analyser.run()


class _Analyser:
    def __init__(self, sql: str, context: LiveContext | None, thresholds: RiskThresholds) -> None:
        self.sql = sql
        self.context = context
        self.thresholds = thresholds
        self.state = ScanState(server_version_num=context.server_version_num if context else None)
        if context:
            for table, columns in context.columns.items():
                for column, ctype in columns.items():
                    self.state.column_types.setdefault((bare(table), column), ctype)
            self.state.index_tables.update({bare(k): v for k, v in context.indexes.items()})
            self.state.existing_tables.update(context.tables)
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", sql)]
        self.findings: list[Finding] = []
        self.ignores_by_start: dict[int, dict[str, str]] = {}
        self.tables: set[str] = set()
        self.lock_timeout_session = False
        self.lock_timeout_local_value: bool | None = None
        self.lock_timeout_reported = False
        self._tx_reset()

    def _tx_reset(self) -> None:
        self.tx_exclusive: dict[str, int] = {}
        self.tx_strong_ddl: list[str] = []
        self.tx_dml: list[tuple[Statement, str]] = []
        self.tx_multi_reported = False

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset)

    def run(self) -> RiskAnalysis:
        statements = parse(self.sql)
        ignores = suppressions(self.sql, statements)
        self.ignores_by_start = {s.start: ignores[i] for i, s in enumerate(statements)}
        for index, statement in enumerate(statements):
            self._statement(statement, ignores[index])
        self._end_transaction()
        findings = sorted(self.findings, key=lambda f: f.line)
        active = [f for f in findings if not f.suppressed]
        muted = [f for f in findings if f.suppressed]
        risk = worst_severity(active)
        return RiskAnalysis(active, muted, risk, self.context is not None, frozenset(self.tables))

    # -- one statement

    def _statement(self, statement: Statement, ignores: dict[str, str]) -> None:
        line = self.line_of(statement.start)
        if statement.error:
            self._unanalysed(statement, line, ignores, statement.error)
            return
        if statement.kind == "TransactionStmt":
            self._transaction(statement, ignores)
            return
        if statement.kind == "VariableSetStmt":
            self._setting(statement.node)
            return
        try:
            judgement = judge_statement(statement.kind, statement.node, statement.text, self.state)
        except (KeyError, ValueError, TypeError, AttributeError) as error:  # a syntax tree no rule expected
            self._unanalysed(statement, line, ignores, f"unexpected {statement.kind} form ({error!r})")
            return
        if judgement.skip:
            return
        self.tables.update(tables_of(statement.kind, statement.node))
        self._track_locks(judgement, statement, line, ignores)
        for hit in judgement.hits:
            self._add(hit, statement, line, ignores)
        if not self.state.in_transaction:
            self._end_transaction()

    def _unanalysed(self, statement: Statement, line: int, ignores: dict[str, str], reason: str) -> None:
        hit = Hit(
            "unparseable-statement",
            Severity.MEDIUM,
            UNKNOWN_LOCK,
            None,
            f"could not analyse this statement: {reason}",
            fix.unparseable(),
            keep_on_new_table=True,
        )
        self._add(hit, statement, line, ignores)

    def _transaction(self, statement: Statement, ignores: dict[str, str]) -> None:
        kind = statement.node.get("kind", "")
        if kind in ("TRANS_STMT_BEGIN", "TRANS_STMT_START"):
            self.state.in_transaction = True
            self.state.transaction_id += 1
            self._tx_reset()
        elif kind in ("TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK", "TRANS_STMT_PREPARE", "TRANS_STMT_COMMIT_PREPARED"):
            self._end_transaction()
            self.state.in_transaction = False
            self.lock_timeout_local_value = None

    def _setting(self, node: dict[str, Any]) -> None:
        """Follow ``SET [LOCAL] lock_timeout`` / ``RESET lock_timeout`` (0 means no timeout)."""
        if node.get("kind") == "VAR_RESET_ALL":
            self.lock_timeout_session = False
            return
        if node.get("name") != "lock_timeout":
            return
        if node.get("kind") in ("VAR_RESET", "VAR_SET_DEFAULT"):
            enabled = False
        else:
            args = node.get("args") or ()
            const = args[0].get("A_Const", {}) if args else {}
            if "ival" in const:
                enabled = bool(const["ival"].get("ival", 0))
            elif "fval" in const:
                enabled = float(const["fval"].get("fval", "0") or 0) != 0
            else:
                value = str(const.get("sval", {}).get("sval", "")).strip().lower()
                enabled = value not in ("", "0", "0s", "0ms", "0min")
        if node.get("is_local"):
            self.lock_timeout_local_value = enabled if self.state.in_transaction else None
        else:
            self.lock_timeout_session = enabled

    @property
    def lock_timeout(self) -> bool:
        if self.lock_timeout_local_value is not None:
            return self.lock_timeout_local_value
        return self.lock_timeout_session

    def _track_locks(self, judgement: Judgement, statement: Statement, line: int, ignores: dict[str, str]) -> None:
        existing = [(t, lock) for t, lock in judgement.locks if not self.state.is_new(t)]
        exclusive = sorted({t for t, lock in existing if lock == ACCESS_EXCLUSIVE})
        blocking = sorted(
            ((t, lock) for t, lock in existing if LOCK_STRENGTH.get(lock, 0) >= 5),
            key=lambda item: -LOCK_STRENGTH[item[1]],
        )
        if blocking and not self.lock_timeout and not self.lock_timeout_reported:
            self.lock_timeout_reported = True
            table, lock = blocking[0]
            queued = "every query" if lock == ACCESS_EXCLUSIVE else "every write"
            self._add(
                Hit(
                    "missing-lock-timeout",
                    Severity.LOW,
                    lock,
                    table,
                    f"takes {lock} on {table} with no lock_timeout set: if a long transaction holds the table, "
                    f"this statement waits and {queued} on the table queues behind it",
                    fix.missing_lock_timeout(),
                    keep_on_new_table=True,
                ),
                statement,
                line,
                ignores,
            )
        if any(LOCK_STRENGTH.get(lock, 0) >= 5 for _, lock in existing):
            self.tx_strong_ddl.append(statement.text)
        if judgement.dml_table and not self.state.is_new(judgement.dml_table):
            self.tx_dml.append((statement, judgement.dml_table))
        if not self.state.in_transaction:
            return
        for table in exclusive:
            self.tx_exclusive.setdefault(table, line)
        if len(self.tx_exclusive) >= 2 and not self.tx_multi_reported and exclusive:
            self.tx_multi_reported = True
            tables = list(self.tx_exclusive)
            self._add(
                Hit(
                    "multiple-access-exclusive-locks",
                    Severity.MEDIUM,
                    ACCESS_EXCLUSIVE,
                    exclusive[-1],
                    f"one transaction takes ACCESS EXCLUSIVE on {', '.join(tables)}: the first stays locked while "
                    "waiting for the next, and sessions locking them in another order deadlock",
                    fix.split_transaction(tables),
                    keep_on_new_table=True,
                ),
                statement,
                line,
                ignores,
            )

    def _end_transaction(self) -> None:
        if self.tx_strong_ddl and self.tx_dml:
            for statement, table in self.tx_dml:
                self._add(
                    Hit(
                        "backfill-in-ddl-transaction",
                        Severity.MEDIUM,
                        LOCK_FOR_DML,
                        table,
                        f"changes rows of {table} in the same transaction as DDL: the DDL's locks are held until "
                        "the data change ends",
                        fix.backfill(table),
                        scales=True,
                    ),
                    statement,
                    self.line_of(statement.start),
                    self.ignores_by_start.get(statement.start, {}),
                )
        self._tx_reset()

    # -- turning a hit into a finding

    def _add(self, hit: Hit, statement: Statement, line: int, ignores: dict[str, str]) -> None:
        severity, message = hit.severity, hit.message
        if self.state.is_new(hit.table) and not hit.keep_on_new_table and hit.rule != "create-table":
            severity = Severity.LOW
            message += f" ({hit.table} is created earlier in this SQL, so nothing else uses it yet)"
        elif self.context is not None and hit.table and (hit.scales or hit.empty_is_safe):
            severity, message = self._with_size(hit, severity, message)
        reason = ignores.get(hit.rule)
        self.findings.append(
            Finding(
                rule=hit.rule,
                severity=severity,
                lock=hit.lock,
                table=hit.table,
                statement=statement.text,
                line=line,
                message=message,
                mitigation=hit.mitigation,
                suppressed=reason is not None,
                suppression_reason=reason or "",
            )
        )

    def _with_size(self, hit: Hit, severity: Severity, message: str) -> tuple[Severity, str]:
        assert self.context is not None and hit.table is not None
        stats = self.context.stats(hit.table)
        if stats is None and hit.table in self.context.looked_up:
            return Severity.LOW, message + f" ({hit.table} does not exist yet in the target database: it is empty)"
        if stats is None:
            return severity, message + f" (size of {hit.table} unknown)"
        rows = max(stats.rows_estimate, 0)
        size = f"{hit.table} has about {_count(rows)} rows, {_size(stats.total_bytes)}"
        limits = self.thresholds
        if hit.empty_is_safe:
            if rows == 0:
                return Severity.LOW, message + f" — but {hit.table} is empty"
            return Severity.HIGH, message + f" — {size}"
        if rows >= limits.large_table_rows or stats.total_bytes >= limits.large_table_bytes:
            judged = Severity.HIGH
        elif rows >= limits.medium_table_rows:
            judged = Severity.MEDIUM
        else:
            judged = Severity.LOW
        judged = min(judged, hit.cap)
        return judged, message + f" — {size}"


LOCK_FOR_DML = "ROW EXCLUSIVE"


def _count(rows: float) -> str:
    return f"{int(rows):,}"


def _size(total: int) -> str:
    value = float(total)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{total} bytes"
