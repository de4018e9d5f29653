"""`syncdb generate`: autogenerate from the models, dry-run, missing target_metadata; `syncdb psql`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alembic_factory import make_project

EXTRA_MODELS = """
import sqlalchemy as sa
from syncdb_tui.demo.models import metadata as demo_metadata

metadata = sa.MetaData()
for table in demo_metadata.tables.values():
    table.to_metadata(metadata)
sa.Table("aibotkit_webhooks", metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("url", sa.Text, nullable=False))
"""


@pytest.fixture
def extended(demo_project, monkeypatch: pytest.MonkeyPatch):
    (demo_project.root / "extra_models.py").write_text(EXTRA_MODELS)
    monkeypatch.syspath_prepend(str(demo_project.root))
    text = demo_project.config_path.read_text().replace(
        'target_metadata = "syncdb_tui.demo.models:metadata"', 'target_metadata = "extra_models:metadata"'
    )
    demo_project.config_path.write_text(text)
    return demo_project


def test_generate_dry_run_writes_nothing_then_generate(extended, run_cli) -> None:
    root = extended.root
    assert run_cli("migrate", cwd=root).code == 0
    versions = root / "migrations" / "versions"
    before = sorted(p.name for p in versions.glob("*.py"))
    dry = run_cli("generate", "-m", "add webhooks", "--dry-run", cwd=root)
    assert dry.code == 0, dry.err
    assert "aibotkit_webhooks" in dry.out and "no file was written" in dry.err
    assert sorted(p.name for p in versions.glob("*.py")) == before
    real = run_cli("generate", "-m", "add webhooks", "--rev-id", "0009", "--json", cwd=root)
    assert real.code == 0, real.err
    data = json.loads(real.out)
    assert data["revision"] == "0009" and Path(data["path"]).is_file()
    assert "create_table" in Path(data["path"]).read_text()
    status = json.loads(run_cli("status", "--json", "--no-drift", cwd=root).out)
    assert [p["revision"] for p in status["pending"]] == ["0009"]
    assert status["pending"][0]["risk"] == "LOW"


def test_generate_needs_target_metadata(tmp_path: Path, fresh_db, run_cli) -> None:
    make_project(tmp_path, {"dev": fresh_db()}, revisions=1)
    assert run_cli("migrate", cwd=tmp_path).code == 0
    result = run_cli("generate", "-m", "x", cwd=tmp_path)
    assert result.code == 2 and "target_metadata" in result.err
    assert not list((tmp_path / "migrations" / "versions").glob("*x.py"))


def test_generate_refuses_when_not_at_head(demo_project, run_cli) -> None:
    root = demo_project.root
    assert run_cli("migrate", "0003", cwd=root).code == 0
    result = run_cli("generate", "-m", "too early", cwd=root)
    assert result.code == 5 and "not up to date" in result.err
    assert "Traceback" not in result.err


def test_psql_runs_one_statement(demo_project, run_cli, capfd) -> None:
    result = run_cli("psql", "--", "-XAtc", "SELECT 40 + 2", cwd=demo_project.root)
    assert result.code == 0, result.err
    assert "42" in capfd.readouterr().out
    failing = run_cli("psql", "--", "-XAtc", "SELECT * FROM nowhere", cwd=demo_project.root)
    assert failing.code == 5
