"""Accuracy against a peer: squawk and syncdb's risk engine on the same corpus.

Runs squawk (the squawk-cli package) over every case of ``tests/risk_corpus/*.toml``
(one file per case) and syncdb's ``analyse_sql`` on the same SQL, then prints, for each
squawk rule about locking or safety, how many of its hits syncdb also reports on the
same statement (any severity, suppressed findings included), and lists the hits it does
not, with the reason documented in docs/risk-rules.md ("Differences from squawk").

    python benchmarks/compare_squawk.py [--verbose]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "risk_corpus"

SAFETY_RULES: dict[str, set[str]] = {
    "adding-field-with-default": {
        "add-column-volatile-default",
        "add-stored-generated-column",
        "add-serial-column",
        "add-column-constant-default",
    },
    "adding-foreign-key-constraint": {"add-foreign-key", "add-foreign-key-not-valid"},
    "adding-not-nullable-field": {"set-not-null"},
    "adding-primary-key-constraint": {"add-primary-key", "add-serial-column"},
    "adding-serial-primary-key-field": {"add-serial-column", "add-primary-key"},
    "adding-required-field": {"add-column-not-null-no-default"},
    "ban-alter-domain-with-add-constraint": {"alter-domain-constraint"},
    "ban-create-domain-with-constraint": set(),
    "ban-concurrent-index-creation-in-transaction": {"concurrently-in-transaction"},
    "ban-drop-column": {"drop-column"},
    "ban-drop-constraint": {"drop-constraint"},
    "ban-drop-database": {"drop-database"},
    "ban-drop-domain": {"drop-type"},
    "ban-drop-extension": {"drop-object"},
    "ban-drop-function": {"drop-function"},
    "ban-drop-sequence": {"drop-object"},
    "ban-drop-type": {"drop-type"},
    "ban-drop-view": {"drop-view"},
    "ban-set-schema": {"set-schema"},
    "ban-drop-not-null": {"drop-not-null"},
    "ban-drop-schema": {"drop-schema"},
    "ban-drop-table": {"drop-table"},
    "ban-truncate-cascade": {"truncate-cascade"},
    "ban-uncommitted-transaction": set(),
    "changing-column-type": {"change-column-type"},
    "constraint-missing-not-valid": {
        "add-foreign-key",
        "add-check-constraint",
        "validate-constraint",
        "add-primary-key",
        "add-unique-constraint",
        "add-exclusion-constraint",
    },
    "disallowed-unique-constraint": {"add-unique-constraint"},
    "renaming-column": {"rename-column"},
    "renaming-object": {"rename-object", "rename-type", "rename-table", "rename-column"},
    "renaming-table": {"rename-table"},
    "require-concurrent-index-creation": {"create-index"},
    "require-concurrent-index-deletion": {"drop-index"},
    "require-concurrent-partition-detach": {"detach-partition"},
    "require-concurrent-reindex": {"reindex"},
    "require-lock-timeout": {"missing-lock-timeout"},
    "syntax-error": {"unparseable-statement"},
    "transaction-nesting": set(),
}
"""squawk rule → the syncdb rules that report the same problem."""

MIGRATION_WIDE = {"require-lock-timeout"}
"""syncdb reports these once per migration (at the first statement concerned), squawk per statement."""

STYLE_RULES = {
    "require-statement-timeout",
    "prefer-robust-stmts",
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-big-int",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamptz",
    "ban-char-field",
    "require-enum-value-ordering",
    "require-table-schema",
}
"""Conventions and statement-timeout hygiene, not locking or safety: not compared."""


def load_cases() -> list[dict[str, object]]:
    cases = []
    for path in sorted(CORPUS.glob("*.toml")):
        cases += tomllib.loads(path.read_text(encoding="utf-8")).get("case", [])
    return cases


def run_squawk(directory: Path) -> list[dict[str, object]]:
    binary = shutil.which("squawk") or str(Path(sys.executable).parent / "squawk")
    result = subprocess.run(
        [binary, "--reporter", "json", str(directory / "*.sql")], capture_output=True, text=True, check=False
    )
    if result.returncode not in (0, 1):
        raise SystemExit(f"squawk failed ({result.returncode}): {result.stderr.strip()[:300]}")
    return json.loads(result.stdout or "[]")


def syncdb_findings(sql: str, server_version: int | None) -> list[tuple[str, int, int]]:
    """(rule, first line, last line) of every finding, suppressed ones included."""
    from syncdb_tui.core.risk.analysis import LiveContext, analyse_sql

    context = LiveContext(server_version_num=server_version, tables={}) if server_version else None
    analysis = analyse_sql(sql, context=context)
    return [(f.rule, f.line, f.line + f.statement.count("\n")) for f in [*analysis.findings, *analysis.suppressed]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="also list every matched hit")
    args = parser.parse_args()
    cases = load_cases()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for case in cases:
            (directory / f"{case['name']}.sql").write_text(str(case["sql"]), encoding="utf-8")
        hits = run_squawk(directory)
    ours = {str(c["name"]): syncdb_findings(str(c["sql"]), c.get("server_version")) for c in cases}  # type: ignore[arg-type]
    matched: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    missed: dict[str, list[str]] = defaultdict(list)
    unknown: dict[str, int] = defaultdict(int)
    for hit in hits:
        rule = str(hit["rule_name"])
        case = Path(str(hit["file"])).stem
        line = int(hit["line"]) + 1  # squawk's JSON lines are 0-based
        if rule in STYLE_RULES:
            continue
        if rule not in SAFETY_RULES:
            unknown[rule] += 1
            continue
        total[rule] += 1
        wanted = SAFETY_RULES[rule]
        findings = ours[case]
        if rule in MIGRATION_WIDE:
            found = any(r in wanted for r, _, _ in findings)
        else:
            found = any(r in wanted and first <= line <= last for r, first, last in findings)
        if found:
            matched[rule] += 1
            if args.verbose:
                print(f"  matched {rule} at {case}:{line}")
        else:
            missed[rule].append(f"{case}:{line}")
    print(f"corpus: {len(cases)} cases; squawk hits on locking/safety rules: {sum(total.values())}")
    print(f"{'squawk rule':46} {'hits':>5} {'syncdb':>7}  syncdb rules")
    for rule in sorted(total):
        print(f"{rule:46} {total[rule]:5d} {matched[rule]:7d}  {', '.join(sorted(SAFETY_RULES[rule])) or '-'}")
    all_hits, all_matched = sum(total.values()), sum(matched.values())
    print(
        f"{'total':46} {all_hits:5d} {all_matched:7d}  "
        f"({100 * all_matched / max(all_hits, 1):.0f}% also found by syncdb)"
    )
    if missed:
        print("\nsquawk hits syncdb does not report (each explained in docs/risk-rules.md, 'Differences from squawk'):")
        for rule, places in sorted(missed.items()):
            print(f"  {rule}: {', '.join(places)}")
    if unknown:
        print("\nsquawk rules not classified by this script (add them to SAFETY_RULES or STYLE_RULES):")
        for rule, count in sorted(unknown.items()):
            print(f"  {rule}: {count}")
    ours_only = defaultdict(int)
    squawk_equivalents = set().union(*SAFETY_RULES.values())
    for findings in ours.values():
        for rule, _, _ in findings:
            if rule not in squawk_equivalents:
                ours_only[rule] += 1
    print("\nsyncdb findings with no squawk equivalent: " + ", ".join(f"{r} {n}" for r, n in sorted(ours_only.items())))


if __name__ == "__main__":
    main()
