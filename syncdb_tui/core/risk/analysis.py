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

import marshal
import os
from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate, repeat
from operator import add, attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from syncdb_tui.core.forks import child_exit, fork_quietly, kill, may_fork, reap, receive, send
from syncdb_tui.core.risk import mitigations as fix
from syncdb_tui.core.risk import pgquery
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
from syncdb_tui.core.risk.parse import Statement, decode, gc_paused, parse, suppressions
from syncdb_tui.core.risk.rules import judge_statement, tables_of
from syncdb_tui.core.risk.rules_objects import not_judged

if TYPE_CHECKING:
    from syncdb_tui.config import RiskThresholds
    from syncdb_tui.core.risk.context import LiveContext, TableStats, load_live_context

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


def __getattr__(name: str) -> Any:
    """``LiveContext``, ``TableStats`` and ``load_live_context`` from ``context.py``, imported when first asked
    for: a .sql file judged offline (``syncdb risk FILE.sql``) never needs them."""
    if name in ("LiveContext", "TableStats", "load_live_context"):
        from syncdb_tui.core.risk import context

        return getattr(context, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Finding(NamedTuple):
    """One risk found in one statement.

    A named tuple: immutable and cheap to build (an analysis makes one for each of thousands of
    statements), and it needs no ``dataclasses`` (whose import, through ``inspect``, costs a
    ``syncdb risk FILE.sql`` run ≈ 15 ms). Written out as JSON with :meth:`to_json`.
    """

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


class RiskAnalysis(NamedTuple):
    """The findings of one piece of SQL; its risk is its worst unsuppressed finding (a named tuple, as
    :class:`Finding`)."""

    findings: list[Finding]
    suppressed: list[Finding]
    risk: Severity
    judged_with_context: bool
    tables: frozenset[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RiskAnalysis:
        """The analysis :meth:`to_json` wrote (the revision cache keeps analyses without live context)."""

        def finding(item: dict[str, Any]) -> Finding:
            return Finding(**{**item, "severity": Severity[item["severity"]]})

        return cls(
            [finding(f) for f in data["findings"]],
            [finding(f) for f in data["suppressed"]],
            Severity[data["risk"]],
            bool(data["judged_with_context"]),
            frozenset(data["tables"]),
        )

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
    unrendered_reason: str = "",
) -> RiskAnalysis:
    """Judge every statement of ``sql`` (Alembic offline SQL or a plain .sql file).

    Args:
        sql: the SQL text; BEGIN/COMMIT in it mark the transactions.
        context: the target environment's table sizes and server version, if reachable.
        thresholds: table sizes that make size-dependent findings MEDIUM or HIGH.
        session_lock_timeout: the session that will run the SQL already has a
            lock_timeout (``syncdb migrate`` sets one), so its absence from the SQL
            is not a finding.
        unrendered_reason: ``sql`` is only what rendered offline before the revision's
            upgrade() failed (it needs a live database): the rest is a ``needs-live-database``
            finding with this reason.

    Returns the findings in statement order; nothing is raised for bad SQL: a statement
    pglast cannot parse becomes an ``unparseable-statement`` finding.
    """
    analyser = _Analyser(sql, context, thresholds)
    analyser.lock_timeout_session = session_lock_timeout
    analyser.unrendered_reason = unrendered_reason
    with gc_paused():
        return analyser.run()


class _Analyser:
    def __init__(self, sql: str, context: LiveContext | None, thresholds: RiskThresholds | None) -> None:
        self.sql = sql
        self.context = context
        self._thresholds = thresholds
        self.state = ScanState(server_version_num=context.server_version_num if context else None)
        if context:
            for table, columns in context.columns.items():
                for column, ctype in columns.items():
                    self.state.column_types.setdefault((bare(table), column), ctype)
            self.state.index_tables.update({bare(k): v for k, v in context.indexes.items()})
            self.state.existing_tables.update(context.tables)
        self._line_starts: list[int] | None = None
        self._counted_to = 0
        """Statements come in order: :meth:`line_at` counts the newlines since the last one it was asked for."""
        self._counted_lines = 1
        self.findings: list[Finding] = []
        self.ignores_by_start: dict[int, dict[str, str]] = {}
        self.tables: set[str] = set()
        self.lock_timeout_session = False
        self.lock_timeout_local_value: bool | None = None
        self.lock_timeout_reported = False
        self.unrendered_reason = ""
        self._tx_reset()

    @property
    def thresholds(self) -> RiskThresholds:
        """The configured table sizes, or the defaults (only live context needs them)."""
        if self._thresholds is None:
            from syncdb_tui.config import RiskThresholds

            self._thresholds = RiskThresholds()
        return self._thresholds

    def _tx_reset(self) -> None:
        self.tx_exclusive: dict[str, int] = {}
        self.tx_strong_ddl: list[str] = []
        self.tx_dml: list[tuple[Statement, str, int, dict[str, str]]] = []
        """Data changes in this transaction: the statement, its table, its line and its suppressions."""
        self.tx_multi_reported = False
        self.tx_multi: tuple[Statement, int, dict[str, str], str] | None = None
        """Where a second table got ACCESS EXCLUSIVE in this transaction (reported when it ends)."""
        self.tx_long: list[str] = []
        """Why locks in this transaction are held long (a rewrite, a scan, a backfill)."""

    def line_of(self, offset: int) -> int:
        """The 1-based line of ``offset`` in the SQL."""
        if self._line_starts is None:
            # where each line starts: after each newline (the pieces between newlines, plus the newline)
            sql = self.sql
            self._line_starts = [0, *accumulate(map(add, map(len, sql.split("\n")[:-1]), repeat(1)))]
        return bisect_right(self._line_starts, offset)

    def line_at(self, offset: int) -> int:
        """:meth:`line_of`, counting forward from the offset asked for before (statement after statement)."""
        if offset < self._counted_to:
            return self.line_of(offset)
        self._counted_lines += self.sql.count("\n", self._counted_to, offset)
        self._counted_to = offset
        return self._counted_lines

    def run(self) -> RiskAnalysis:
        pieces = None if self.context is not None or self.unrendered_reason else pgquery.take(self.sql)
        if pieces is not None and len(pieces) > 1 and "syncdb:" not in self.sql and may_fork():
            self._run_split(pieces)
            statements: tuple[Statement, ...] | list[Statement] = ()
        elif pieces is not None:
            statements = decode(self.sql, pieces)
        else:
            statements = parse(self.sql)
        if "syncdb:" in self.sql:
            ignores = suppressions(self.sql, statements)
            self.ignores_by_start = {s.start: ignores[i] for i, s in enumerate(statements)}
            for index, statement in enumerate(statements):
                self._statement(statement, ignores[index])
        else:  # no suppression comment: one empty mapping for every statement (only ever read)
            for statement in statements:
                self._statement(statement, _NO_IGNORES)
        self._end_transaction()
        if self.unrendered_reason:
            self._unrendered(statements)
        findings = sorted(self.findings, key=attrgetter("line"))
        active = [f for f in findings if not f.suppressed]
        muted = [f for f in findings if f.suppressed]
        risk = worst_severity(active)
        return RiskAnalysis(active, muted, risk, self.context is not None, frozenset(self.tables))

    # -- a large file judged in two processes

    def _run_split(self, pieces: list[tuple[str, int, int]]) -> None:
        """Judge the statements of ``pieces`` (all of the SQL), those after the first third in a forked child.

        Each process decodes its part of the parse trees at once (the parent the first third or so, the
        child the rest, which it judges after the parent's part); the parent judges its part and, where
        it ends outside any transaction (``pgquery.cut_points`` prefers a ``COMMIT;`` line), hands the
        child what it knows there (:meth:`_seam`: the tables created, their columns and indexes, the
        constraints not yet valid, the lock_timeout settings); the child judges its part from that
        state — exactly what one process does next — and sends its findings and tables back. When the
        seam is inside a transaction or the child fails in any way, the child is killed and the parent
        judges the rest itself: the findings never depend on the split (tests/test_risk_split.py).
        """
        # the parent's third: the child decodes its part meanwhile, then judges from the parent's seam
        cut = max(1, round(len(pieces) / 3))
        forked = fork_quietly(to_child=True)
        if forked is None:
            self._judge_all(decode(self.sql, pieces))
            return
        pid, read, write = forked
        if pid == 0:
            child_exit(lambda: self._child_half(pieces[cut:], read), write)
        try:
            self._judge_all(decode(self.sql, pieces[:cut]))
            seam = self._seam()
        except BaseException:
            os.close(write)
            os.close(read)
            kill(pid)
            raise
        reaped = False
        try:
            if seam is not None and send(write, seam):
                data = receive(read)
                status, reaped = reap(pid), True
                if status == 0 and data and self._take_half(data):
                    return
            else:
                if seam is None:
                    os.close(write)
                os.close(read)
                kill(pid)
                reaped = True
        except BaseException:  # Ctrl+C, SIGTERM while waiting: the child goes too, never left unreaped
            if not reaped:  # (a reaped pid may already name another process)
                kill(pid)
            raise
        self._judge_all(decode(self.sql, pieces[cut:]))

    def _judge_all(self, statements: list[Statement]) -> None:
        for statement in statements:
            self._statement(statement, _NO_IGNORES)

    def _seam(self) -> bytes | None:
        """What the statements so far leave for the next ones, when no transaction is open; else None."""
        if (
            self.state.in_transaction
            or self.lock_timeout_local_value is not None
            or self.tx_exclusive
            or self.tx_strong_ddl
            or self.tx_dml
            or self.tx_multi is not None
            or self.tx_long
        ):
            return None
        state = self.state
        return marshal.dumps(
            (
                tuple(getattr(state, name) for name in ScanState.__slots__),
                self.lock_timeout_session,
                self.lock_timeout_reported,
            ),
            2,  # no back-references: quicker, and these values share nothing worth them
        )

    def _child_half(self, pieces: list[tuple[str, int, int]], read: int) -> bytes | None:
        """In the child: decode its part, wait for the parent's :meth:`_seam`, judge, return the findings."""
        statements = decode(self.sql, pieces)
        seam = receive(read)
        if not seam:
            return None
        fields, self.lock_timeout_session, self.lock_timeout_reported = marshal.loads(seam)
        for name, value in zip(ScanState.__slots__, fields, strict=True):
            setattr(self.state, name, value)
        self._judge_all(statements)
        self._end_transaction()
        findings = [(*f[:1], int(f[1]), *f[2:]) for f in self.findings]
        return marshal.dumps((findings, sorted(self.tables)), 2)

    def _take_half(self, data: bytes) -> bool:
        """In the parent: the child's findings (in the order it found them) and tables; False (nothing
        taken) when ``data`` is not what :meth:`_child_half` sends."""
        severities = {int(s): s for s in Severity}
        try:
            findings, tables = marshal.loads(data)
            found = [_make_tuple(Finding, (item[0], severities[item[1]], *item[2:])) for item in findings]
            if any(len(f) != len(Finding._fields) for f in found) or not all(isinstance(t, str) for t in tables):
                return False
        except (ValueError, EOFError, TypeError, KeyError, IndexError):
            return False
        self.findings.extend(found)
        self.tables.update(tables)
        return True

    # -- one statement

    def _statement(self, statement: Statement, ignores: dict[str, str]) -> None:
        kind, node = statement.kind, statement.node
        line = self.line_at(statement.start)
        if statement.error:
            self._unanalysed(statement, line, ignores, statement.error)
            return
        if kind == "TransactionStmt":
            self._transaction(statement, ignores)
            return
        if kind == "VariableSetStmt":
            self._setting(node)
            return
        if kind == "DoStmt":
            self._do_block(statement, line, ignores)
            return
        try:
            judgement = judge_statement(kind, node, statement.text, self.state)
        except (KeyError, ValueError, TypeError, AttributeError) as error:  # a syntax tree no rule expected
            hit = not_judged(f"this form of {kind}", f"its syntax tree was unexpected ({error!r})")
            self._add(hit, statement, line, ignores)
            return
        if judgement.skip:
            return
        tables = tables_of(kind, node)
        if tables:
            self.tables.update(tables)
        self._track_locks(judgement, statement, line, ignores)
        for hit in judgement.hits:
            self._add(hit, statement, line, ignores)
        if not self.state.in_transaction:
            self._end_transaction()

    def _unrendered(self, statements: tuple[Statement, ...] | list[Statement]) -> None:
        """The part of the revision offline SQL could not show: never judged as safe."""
        end = len(self.sql.rstrip())
        rendered = sum(1 for s in statements if s.kind not in ("TransactionStmt", "VariableSetStmt"))
        shown = f"the {rendered} statement(s) before it are judged above" if rendered else "nothing rendered before it"
        hit = Hit(
            "needs-live-database",
            Severity.MEDIUM,
            UNKNOWN_LOCK,
            None,
            f"the rest of this revision cannot be rendered without a database: {self.unrendered_reason} ({shown})",
            "-- review the revision's upgrade() by hand, or rehearse it on a copy (syncdb rehearse) to see what "
            "it runs",
            keep_on_new_table=True,
        )
        marker = Statement("", {}, "-- (the rest of upgrade(), not rendered offline)", end, end)
        self._add(hit, marker, self.line_of(end), {})

    def _do_block(self, statement: Statement, line: int, ignores: dict[str, str]) -> None:
        """Judge the SQL statements inside a PL/pgSQL DO block; what cannot be known is ``not-judged``."""
        body, language = "", "plpgsql"
        for arg in statement.node.get("args") or ():
            element = arg.get("DefElem", {})
            value = str(element.get("arg", {}).get("String", {}).get("sval", ""))
            if element.get("defname") == "as":
                body = value
            elif element.get("defname") == "language":
                language = value.lower()
        if language != "plpgsql":
            self._add(not_judged(f"a DO block in {language}"), statement, line, ignores)
            return
        queries, dynamic = plpgsql_statements(body)
        if queries is None:
            self._add(not_judged("this DO block", "pglast could not parse its PL/pgSQL body"), statement, line, ignores)
            return
        if dynamic:
            why = f"{dynamic} EXECUTE of SQL built at run time (its statements are not known before it runs)"
            self._add(not_judged("dynamic SQL in a DO block", why), statement, line, ignores)
        cursor = 0
        for query in queries:
            found = statement.text.find(query, cursor)
            offset = statement.start + (found if found >= 0 else 0)
            cursor = found + len(query) if found >= 0 else cursor
            for inner in parse(query):
                moved = Statement(
                    inner.kind, inner.node, inner.text, offset + inner.start, offset + inner.end, inner.error
                )
                self._statement(moved, ignores)

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
        is_new = self.state.is_new
        exclusive: list[str] = []
        strong: list[tuple[str, str]] = []
        if judgement.locks:
            # the locks on tables that existed before this SQL: one loop (this runs for every statement)
            new_tables = self.state.new_tables
            for t, lock in judgement.locks:
                if t is not None and t[t.rfind(".") + 1 :] in new_tables:  # is_new(t)
                    continue
                if lock == ACCESS_EXCLUSIVE and t not in exclusive:
                    exclusive.append(t)
                if LOCK_STRENGTH.get(lock, 0) >= 5:
                    strong.append((t, lock))
            if len(exclusive) > 1:
                exclusive.sort()
        if strong and not self.lock_timeout and not self.lock_timeout_reported:
            self.lock_timeout_reported = True
            table, lock = sorted(strong, key=lambda item: -LOCK_STRENGTH[item[1]])[0]
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
        if strong:
            self.tx_strong_ddl.append(statement.text)
        if judgement.dml_table and not is_new(judgement.dml_table):
            self.tx_dml.append(
                (statement, judgement.dml_table, line, self.ignores_by_start.get(statement.start, _NO_IGNORES))
            )
        if not self.state.in_transaction:
            return
        for table in exclusive:
            self.tx_exclusive.setdefault(table, line)
        for hit in judgement.hits:
            if hit.table and (hit.scales or hit.empty_is_safe) and not is_new(hit.table):
                self.tx_long.append(f"{hit.rule} on {hit.table}")
        if len(self.tx_exclusive) >= 2 and not self.tx_multi_reported and exclusive:
            self.tx_multi_reported = True
            self.tx_multi = (statement, line, ignores, exclusive[-1])

    def _report_multiple_exclusive(self) -> None:
        """``multiple-access-exclusive-locks``: MEDIUM when a lock is held long or a table is big, else LOW."""
        assert self.tx_multi is not None
        statement, line, ignores, table = self.tx_multi
        tables = list(self.tx_exclusive)
        big = [t for t in tables if self._is_big(t)]
        long_reasons = list(dict.fromkeys(self.tx_long))
        if self.tx_dml:
            long_reasons.append(f"a data change on {self.tx_dml[0][1]}")
        base = (
            f"one transaction takes ACCESS EXCLUSIVE on {', '.join(tables)}: the first stays locked while "
            "waiting for the next, and sessions locking them in another order deadlock"
        )
        if long_reasons or big:
            why = "; ".join(
                [f"locks are held during {', '.join(long_reasons)}"] * bool(long_reasons)
                + [f"{', '.join(big)} {'is' if len(big) == 1 else 'are'} large"] * bool(big)
            )
            severity, message = Severity.MEDIUM, f"{base} ({why})"
        else:
            severity = Severity.LOW
            message = f"{base} — but every change here is catalog-only, so each lock is held only briefly"
        hit = Hit(
            "multiple-access-exclusive-locks",
            severity,
            ACCESS_EXCLUSIVE,
            table,
            message,
            fix.split_transaction(tables),
            keep_on_new_table=True,
        )
        self._add(hit, statement, line, ignores)

    def _is_big(self, table: str) -> bool:
        if self.context is None:
            return False
        stats = self.context.stats(table)
        if stats is None:
            return False
        limits = self.thresholds
        return stats.rows_estimate >= limits.medium_table_rows or stats.total_bytes >= limits.large_table_bytes

    def _end_transaction(self) -> None:
        if self.tx_multi is not None:
            self._report_multiple_exclusive()
        if self.tx_strong_ddl and self.tx_dml:
            for statement, table, line, ignores in self.tx_dml:
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
                    line,
                    ignores,
                )
        self._tx_reset()

    # -- turning a hit into a finding

    def _add(self, hit: Hit, statement: Statement, line: int, ignores: dict[str, str]) -> None:
        severity, message = hit.severity, hit.message
        if not hit.keep_on_new_table and hit.rule != "create-table" and self.state.is_new(hit.table):
            severity = Severity.LOW
            message += f" ({hit.table} is created earlier in this SQL, so nothing else uses it yet)"
        elif self.context is not None and hit.table and (hit.scales or hit.empty_is_safe):
            severity, message = self._with_size(hit, severity, message)
        reason = ignores.get(hit.rule)
        # Finding(rule, severity, …) without the named tuple's own __new__ (a Python function): the same object
        finding: Finding = _make_tuple(
            Finding,
            (
                hit.rule,
                severity,
                hit.lock,
                hit.table,
                statement.text,
                line,
                message,
                hit.mitigation,
                reason is not None,
                reason or "",
            ),
        )
        self.findings.append(finding)

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

_make_tuple: Any = tuple.__new__

_NO_IGNORES: dict[str, str] = {}
"""The suppressions of every statement of SQL without ``syncdb:`` comments: none (never written to)."""


def plpgsql_statements(body: str) -> tuple[list[str] | None, int]:
    """The SQL statements a PL/pgSQL body runs (in order) and how many dynamic EXECUTEs it has.

    ``None`` when pglast cannot parse the body.
    """
    import json

    from pglast.parser import ParseError, parse_plpgsql_json

    tag = "syncdb_body"
    while f"${tag}$" in body:
        tag += "_"
    source = f"CREATE FUNCTION syncdb_do_block() RETURNS void LANGUAGE plpgsql AS ${tag}${body}${tag}$"
    try:
        tree = json.loads(parse_plpgsql_json(source))
    except (ParseError, ValueError):
        return None, 0
    queries: list[str] = []
    dynamic = 0

    def walk(node: object) -> None:
        nonlocal dynamic
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key == "PLpgSQL_stmt_execsql":
                query = value.get("sqlstmt", {}).get("PLpgSQL_expr", {}).get("query")
                if query:
                    queries.append(str(query))
                continue
            if key in ("PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors"):
                dynamic += 1
            walk(value)

    walk(tree)
    return queries, dynamic


def _count(rows: float) -> str:
    return f"{int(rows):,}"


def _size(total: int) -> str:
    value = float(total)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{total} bytes"
