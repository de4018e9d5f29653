"""The risk engine against its corpus: every case's rules and severities, with and without live context."""

from __future__ import annotations

import asyncio

import pytest
from fixtures_risk import LIVE_THRESHOLDS, Case, load_corpus, risk_live_db  # noqa: F401

from syncdb_tui.core.risk.analysis import LiveContext, RiskAnalysis, analyse_sql, load_live_context, tables_touched
from syncdb_tui.core.risk.model import RULE_IDS

CASES = load_corpus()


def _live_analysis(case: Case, url: str) -> RiskAnalysis:
    async def run() -> RiskAnalysis:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            context = await load_live_context(conn, tables_touched(case.sql))
        finally:
            await conn.close()
        return analyse_sql(case.sql, context=context, thresholds=LIVE_THRESHOLDS)

    return asyncio.run(run())


def _analysis(case: Case, request: pytest.FixtureRequest) -> RiskAnalysis:
    if case.live:
        return _live_analysis(case, request.getfixturevalue("risk_live_db"))
    if case.server_version is not None:
        return analyse_sql(case.sql, context=LiveContext(server_version_num=case.server_version, tables={}))
    return analyse_sql(case.sql, unrendered_reason=case.needs_live)


def test_corpus_is_large_enough_and_covers_every_rule() -> None:
    from test_risk_rules_doc import documented_rules

    assert len(CASES) >= 80
    assert len({c.name for c in CASES}) == len(CASES), "case names must be unique"
    assert sum(c.live for c in CASES) >= 15
    covered = {item.split(":")[0] for c in CASES for item in c.expect} | {r for c in CASES for r in c.suppressed}
    assert documented_rules() <= covered, f"rules without a corpus case: {documented_rules() - covered}"
    assert set(RULE_IDS) <= covered


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, request: pytest.FixtureRequest) -> None:
    analysis = _analysis(case, request)
    found = sorted((f.rule, f.severity.name) for f in analysis.findings)
    details = "\n".join(f"  line {f.line} {f.severity.name} {f.rule}: {f.message}" for f in analysis.findings)
    assert found == case.expected_pairs(), f"{case.source}:{case.name} found:\n{details}"
    assert sorted(f.rule for f in analysis.suppressed) == sorted(case.suppressed)
    assert all(f.suppressed and f.suppression_reason for f in analysis.suppressed)
    assert analysis.judged_with_context == (case.live or case.server_version is not None)
    if case.risk is not None:
        assert analysis.risk.name == case.risk
    expected_risk = max((f.severity for f in analysis.findings), default=None)
    assert analysis.risk == (expected_risk or analysis.risk.LOW)
    by_rule = {f.rule: f for f in [*analysis.findings, *analysis.suppressed]}
    for rule, line in case.lines.items():
        assert by_rule[rule].line == line, f"{rule} reported at line {by_rule[rule].line}, expected {line}"
    for rule, text in case.message_contains.items():
        assert text in by_rule[rule].message
    for rule, table in case.table_of.items():
        assert by_rule[rule].table == table
    for finding in analysis.findings:
        assert finding.lock and finding.message and finding.mitigation
        assert finding.statement
        assert finding.statement in case.sql or finding.rule == "needs-live-database"
