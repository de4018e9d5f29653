"""The Database Sync Report of the demo's prod, compared with a golden file (issue 2).

The demo's three environments are migrated with the CLI as `syncdb demo` leaves
them (dev at head, staging at 0007, prod at 0006) and `syncdb report --env prod`
is compared with ``tests/golden/report_prod.md`` after the parts that vary
from run to run (time, versions, database name, socket path, who ran the last change and
when) are replaced by placeholders.  To accept a deliberate change of the report, run with
``SYNCDB_UPDATE_GOLDEN=1`` and review the diff of the golden file.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncdb_tui import __version__

GOLDEN = Path(__file__).parent / "golden" / "report_prod.md"


@pytest.fixture
def migrated_demo(demo_project, run_cli):
    root = demo_project.root
    for argv in (
        ("migrate", "--env", "dev"),
        ("migrate", "0007", "--env", "staging"),
        ("migrate", "0006", "--env", "prod", "--force", "--no-backup"),
    ):
        result = run_cli(*argv, cwd=root)
        assert result.code == 0, (argv, result.err)
    return demo_project


def normalise(text: str, database: str, socket_dir: str, server_version: str) -> str:
    text = re.sub(
        r"^Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC by syncdb \S+\.$",
        "Generated <TIME> by syncdb <VERSION>.",
        text,
        flags=re.M,
    )
    # the ledger's last change names when and by whom (OS user and host) it ran
    text = re.sub(
        r"^(\| Last change \| )\d{4}-\d\d-\d\d \d\d:\d\d (.*) \(by [^()]+\) \|$",
        r"\1<TIME> \2 (by <OPERATOR>) |",
        text,
        flags=re.M,
    )
    text = text.replace(socket_dir, "<SOCKET>").replace(database, "<DATABASE>")
    return text.replace(f"PostgreSQL {server_version}", "PostgreSQL <SERVER_VERSION>")


def test_prod_report_matches_golden(migrated_demo, run_cli, pg_server) -> None:
    root = migrated_demo.root
    database = migrated_demo.database("prod")
    result = run_cli("report", "--env", "prod", cwd=root)
    assert result.code == 0, result.err
    server_version = json.loads(run_cli("status", "--env", "prod", "--json", "--no-drift", cwd=root).out)[
        "server_version"
    ]
    actual = normalise(result.out, database, str(pg_server.socket_dir), server_version)
    if os.environ.get("SYNCDB_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(actual)
    expected = GOLDEN.read_text()
    assert actual == expected, "the report changed; review it and rerun with SYNCDB_UPDATE_GOLDEN=1 to accept"
    # what the seed's example shows, independent of the golden text
    assert "| Schema Version | 0006 |" in actual and "| Pending Migrations | 2 |" in actual
    assert "| 0007 | add analytics table | LOW |" in actual
    assert "| 0008 | add chatbot analytics flag | LOW |" in actual
    # the ledger's newest entry: the CLI's migrate of prod to 0006
    assert "| Last change | <TIME> upgrade base → 0006: ok (by <OPERATOR>) |" in actual


def test_report_time_can_be_pinned(migrated_demo) -> None:
    import asyncio

    from syncdb_tui.config import load_config
    from syncdb_tui.core.envs.environments import resolve
    from syncdb_tui.core.project.revisions import Project
    from syncdb_tui.core.report import build_report, render_markdown

    config = load_config(migrated_demo.config_path)
    pinned = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    report = asyncio.run(build_report(Project.from_config(config), resolve(config, "staging"), generated_at=pinned))
    text = render_markdown(report)
    assert f"Generated 2026-01-02 03:04 UTC by syncdb {__version__}." in text
    assert report.to_json()["generated_at"] == "2026-01-02T03:04:00+00:00"
    assert "| 0008 | add chatbot analytics flag | LOW |" in text and "| Pending Migrations | 1 |" in text
