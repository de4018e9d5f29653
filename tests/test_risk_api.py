"""The risk engine's public API: JSON shapes, tables_touched and load_live_context on a real catalog."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import asyncpg

from syncdb_tui.config import RiskThresholds
from syncdb_tui.core.risk.analysis import (
    LiveContext,
    Severity,
    TableStats,
    analyse_sql,
    load_live_context,
    tables_touched,
)

OFFLINE_SQL = """BEGIN;

-- Running upgrade 0007 -> 0008

ALTER TABLE aibotkit_chatbots ADD COLUMN analytics_enabled BOOLEAN DEFAULT false NOT NULL;

UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0007';

COMMIT;
"""


def test_json_shapes_follow_the_contract() -> None:
    analysis = analyse_sql("-- syncdb: ignore drop-column done\nALTER TABLE users DROP COLUMN a;\nDROP TABLE old;")
    data = json.loads(json.dumps(analysis.to_json()))
    assert data["risk"] == "HIGH" and data["judged_with_context"] is False
    assert data["tables"] == ["old", "users"]
    finding = data["findings"][0]
    assert set(finding) == {
        "rule",
        "severity",
        "lock",
        "table",
        "statement",
        "line",
        "message",
        "mitigation",
        "suppressed",
        "suppression_reason",
    }
    assert data["suppressed"][0]["rule"] == "drop-column" and data["suppressed"][0]["suppression_reason"] == "done"
    assert Severity.HIGH > Severity.MEDIUM > Severity.LOW and Severity(2).name == "MEDIUM"


def test_alembic_bookkeeping_is_never_reported_and_demo_0008_is_low() -> None:
    analysis = analyse_sql(OFFLINE_SQL)
    assert tables_touched(OFFLINE_SQL) == frozenset({"aibotkit_chatbots"})
    assert analysis.risk is Severity.LOW
    assert {f.rule for f in analysis.findings} == {"add-column-constant-default", "missing-lock-timeout"}
    assert all(f.line == 5 for f in analysis.findings)


def test_context_lookup_by_qualified_and_bare_name() -> None:
    stats = TableStats(rows_estimate=5_000_000, total_bytes=3 * 10**9)
    context = LiveContext(server_version_num=160000, tables={"public.messages": stats, "messages": stats})
    for sql in ("CREATE INDEX i ON messages (a);", "CREATE INDEX i ON public.messages (a);"):
        (finding, *_) = [f for f in analyse_sql(sql, context=context).findings if f.rule == "create-index"]
        assert finding.severity is Severity.HIGH and "5,000,000 rows, 2.8 GB" in finding.message


def test_thresholds_decide_the_severity() -> None:
    context = LiveContext(server_version_num=160000, tables={"t": TableStats(rows_estimate=50_000, total_bytes=10**7)})
    sql = "CREATE INDEX i ON t (a);"
    default = analyse_sql(sql, context=context)
    strict = analyse_sql(
        sql, context=context, thresholds=RiskThresholds(medium_table_rows=1_000, large_table_rows=10_000)
    )
    assert [f.severity for f in default.findings if f.rule == "create-index"] == [Severity.LOW]
    assert [f.severity for f in strict.findings if f.rule == "create-index"] == [Severity.HIGH]


def test_load_live_context_reads_the_catalog(fresh_db: Callable[..., str]) -> None:
    url = fresh_db()

    async def scenario() -> LiveContext:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                'CREATE SCHEMA billing; CREATE TABLE billing."Invoices" (id int, code varchar(12));'
                'INSERT INTO billing."Invoices" SELECT g, g::text FROM generate_series(1, 3000) g;'
                'ANALYZE billing."Invoices";'
                'CREATE INDEX invoices_code ON billing."Invoices" (code);'
                "CREATE TABLE raw_events (id int, payload text);"
                "INSERT INTO raw_events SELECT g, repeat('x', 50) FROM generate_series(1, 20000) g;"
            )
            sql = (
                'DROP INDEX billing.invoices_code;\nALTER TABLE billing."Invoices" ALTER COLUMN code TYPE varchar(40);'
            )
            tables = tables_touched(sql) | {"raw_events", "missing_table"}
            return await load_live_context(conn, tables)
        finally:
            await conn.close()

    context = asyncio.run(scenario())
    assert context.server_version_num >= 100000
    invoices = context.stats("billing.Invoices")
    assert invoices is not None and invoices.rows_estimate == 3000 and invoices.total_bytes > 0
    assert context.stats("Invoices") == invoices
    assert context.indexes["invoices_code"] == "Invoices"
    assert context.columns["Invoices"]["code"] == "character varying(12)"
    raw = context.stats("raw_events")
    assert raw is not None and raw.rows_estimate > 5_000  # never analysed: estimated from the heap size
    assert context.stats("missing_table") is None and "missing_table" in context.looked_up
    analysis = analyse_sql(
        'DROP INDEX billing.invoices_code;\nALTER TABLE billing."Invoices" ALTER COLUMN code TYPE varchar(40);',
        context=context,
    )
    by_rule = {f.rule: f for f in analysis.findings}
    assert by_rule["drop-index"].table == "Invoices"
    assert by_rule["change-column-type"].severity is Severity.LOW  # varchar(12) -> varchar(40): no rewrite


def test_session_lock_timeout_set_by_syncdb_is_not_a_finding() -> None:
    from syncdb_tui.core.risk.analysis import analyse_sql

    sql = "BEGIN;\nALTER TABLE accounts ADD COLUMN flag boolean DEFAULT false NOT NULL;\nCOMMIT;\n"
    plain = {f.rule for f in analyse_sql(sql).findings}
    under_syncdb = {f.rule for f in analyse_sql(sql, session_lock_timeout=True).findings}
    assert "missing-lock-timeout" in plain
    assert "missing-lock-timeout" not in under_syncdb
    assert "add-column-constant-default" in under_syncdb
