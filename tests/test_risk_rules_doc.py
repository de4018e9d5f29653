"""docs/risk-rules.md documents exactly the rules the engine reports."""

from __future__ import annotations

import re
from pathlib import Path

from syncdb_tui.core.risk.model import RULE_IDS

DOC = Path(__file__).resolve().parent.parent / "docs" / "risk-rules.md"


def documented_rules() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    rules = set()
    for heading in re.findall(r"^#### (.+)$", text, flags=re.MULTILINE):
        rules |= set(re.findall(r"`([a-z0-9-]+)`", heading))
    return rules


def test_every_rule_is_documented_and_nothing_else() -> None:
    assert documented_rules() == set(RULE_IDS)


def test_every_reported_rule_is_registered() -> None:
    from fixtures_risk import load_corpus

    from syncdb_tui.core.risk.analysis import analyse_sql

    for case in load_corpus():
        analysis = analyse_sql(case.sql)
        assert {f.rule for f in [*analysis.findings, *analysis.suppressed]} <= RULE_IDS, case.name
