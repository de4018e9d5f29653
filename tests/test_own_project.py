"""A user's own project: Alembic's stock templates as `alembic init` writes them, `syncdb init`
(new and adopting), models imported from the project directory and read fresh, check without
models, import errors that name the file, merge of several heads, reset of a dev database."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from syncdb_tui.core.imports import IMPORT_LOCK

_names = itertools.count()

MODELS = """\
from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(80))
"""
EXTRA_COLUMN = "    body: Mapped[str | None] = mapped_column(String(200), nullable=True)\n"


def alembic_init(root: Path, template: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "alembic", "init", "-t", template, "migrations"],
        cwd=root,
        check=True,
        capture_output=True,
    )


def write_package(root: Path) -> str:
    """A models package with a name of its own (tests share one interpreter); returns its name."""
    package = f"ownapp{next(_names)}"
    (root / package).mkdir()
    (root / package / "__init__.py").write_text("")
    (root / package / "models.py").write_text(MODELS)
    return package


def name_models_in_env_py(root: Path, package: str) -> None:
    env_py = root / "migrations" / "env.py"
    text = env_py.read_text()
    assert "target_metadata = None" in text
    env_py.write_text(
        text.replace("target_metadata = None", f"from {package}.models import Base\ntarget_metadata = Base.metadata", 1)
    )


@pytest.mark.parametrize("template", ["generic", "async", "pyproject"])
def test_stock_template_from_init_to_check(template: str, tmp_path: Path, db_url: str, run_cli) -> None:  # type: ignore[no-untyped-def]
    """init, generate, migrate, change a model, check exits 1, generate again, check exits 0."""
    alembic_init(tmp_path, template)
    package = write_package(tmp_path)
    name_models_in_env_py(tmp_path, package)
    init = run_cli("init", "--env-url", f"dev={db_url}", cwd=tmp_path)
    assert init.code == 0, init.err
    assert "adopting the existing Alembic project" in init.err
    kind = "async" if template == "async" else "synchronous"
    assert f"env.py is {kind}" in init.err
    assert f"target_metadata: {package}.models:Base.metadata (from env.py" in init.err
    again = run_cli("init", cwd=tmp_path)
    assert again.code == 0 and "nothing to do" in again.err

    first = run_cli("generate", "-m", "create notes", cwd=tmp_path)
    assert first.code == 0, first.err
    assert "risk: LOW" in first.err
    assert run_cli("migrate", cwd=tmp_path).code == 0
    passed = run_cli("check", cwd=tmp_path)
    assert passed.code == 0, passed.out + passed.err

    with (tmp_path / package / "models.py").open("a") as handle:
        handle.write(EXTRA_COLUMN)
    failed = run_cli("check", cwd=tmp_path)
    assert failed.code == 1, failed.out + failed.err
    assert "no revision covers" in failed.out and "notes" in failed.out
    status = run_cli("status", "--json", cwd=tmp_path)
    drift = json.loads(status.out)["drift"]
    assert drift is not None and drift["modified_tables"][0]["added_columns"] == ["body"]

    second = run_cli("generate", "-m", "add body", cwd=tmp_path)
    assert second.code == 0, second.err
    written = list((tmp_path / "migrations" / "versions").glob("*_add_body.py"))
    assert len(written) == 1 and "body" in written[0].read_text()
    assert run_cli("migrate", cwd=tmp_path).code == 0
    final = run_cli("check", cwd=tmp_path)
    assert final.code == 0, final.out + final.err


def test_alembic_ini_only_uses_database_url_and_env_py_models(tmp_path: Path, db_url: str, run_cli) -> None:  # type: ignore[no-untyped-def]
    """No syncdb.toml: DATABASE_URL and env.py's target_metadata, so check sees an uncovered change."""
    alembic_init(tmp_path, "generic")
    package = write_package(tmp_path)
    name_models_in_env_py(tmp_path, package)
    import os

    saved = {key: os.environ.get(key) for key in ("DATABASE_URL", "SYNCDB_CONFIG_CEILING")}
    os.environ.update(DATABASE_URL=db_url, SYNCDB_CONFIG_CEILING=str(tmp_path))
    try:
        dry = run_cli("generate", "-m", "first", "--dry-run", cwd=tmp_path)
        assert dry.code == 0, dry.err
        assert "create_table('notes'" in dry.out or 'create_table("notes"' in dry.out
        check = run_cli("check", cwd=tmp_path)
        assert check.code == 1
        assert "no revision covers" in check.out
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_check_without_models_fails_unless_no_models(tmp_path: Path, db_url: str, run_cli) -> None:  # type: ignore[no-untyped-def]
    alembic_init(tmp_path, "generic")
    assert run_cli("init", "--env-url", f"dev={db_url}", cwd=tmp_path).code == 0
    check = run_cli("check", cwd=tmp_path)
    assert check.code == 1
    assert "no models to check" in check.out
    allowed = run_cli("check", "--no-models", cwd=tmp_path)
    assert allowed.code == 0, allowed.out + allowed.err


def test_import_error_in_env_py_names_the_file_and_module(tmp_path: Path, db_url: str, run_cli) -> None:  # type: ignore[no-untyped-def]
    alembic_init(tmp_path, "generic")
    env_py = tmp_path / "migrations" / "env.py"
    env_py.write_text(
        env_py.read_text().replace("target_metadata = None", "import notinstalledpkg\ntarget_metadata = None", 1)
    )
    assert run_cli("init", "--env-url", f"dev={db_url}", cwd=tmp_path).code == 0
    (tmp_path / "migrations" / "versions" / "r1_first.py").write_text(
        '"""first"""\nrevision = "r1"\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n\n'
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )
    result = run_cli("status", cwd=tmp_path)
    text = result.out + result.err
    assert "migrations/env.py imports the module 'notinstalledpkg'" in text, text
    assert "revision file" not in text


def test_project_package_importable_from_a_subdirectory(tmp_path: Path, db_url: str, run_cli) -> None:  # type: ignore[no-untyped-def]
    """The config's directory is on the import path whatever the working directory."""
    alembic_init(tmp_path, "generic")
    package = write_package(tmp_path)
    name_models_in_env_py(tmp_path, package)
    assert run_cli("init", "--env-url", f"dev={db_url}", cwd=tmp_path).code == 0
    (tmp_path / "docs").mkdir()
    result = run_cli("generate", "-m", "from a subdirectory", cwd=tmp_path / "docs")
    assert result.code == 0, result.err


def test_init_new_project_sync_and_async_env_py(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    for template in ("sync", "async"):
        root = tmp_path / template
        root.mkdir()
        result = run_cli("init", "--template", template, "--metadata", "shop.models:Base.metadata", cwd=root)
        assert result.code == 0, result.err
        env_py = (root / "migrations" / "env.py").read_text()
        assert "from shop.models import Base" in env_py and "target_metadata = Base.metadata" in env_py
        assert ("create_async_engine" in env_py) == (template == "async")
        config = (root / "syncdb.toml").read_text()
        assert 'target_metadata = "shop.models:Base.metadata"' in config and 'url = "embedded"' in config
        assert (root / "alembic.ini").is_file() and (root / "migrations" / "versions").is_dir()
        before = {path: path.read_text() for path in root.rglob("*") if path.is_file()}
        again = run_cli("init", "--template", template, cwd=root)
        assert again.code == 0 and "nothing to do" in again.err
        assert {path: path.read_text() for path in root.rglob("*") if path.is_file()} == before


def test_init_writes_tool_syncdb_into_pyproject(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    result = run_cli("init", "--pyproject", "--env-url", "dev=embedded", "--env-url", "prod!=${PROD_URL}", cwd=tmp_path)
    assert result.code == 0, result.err
    import tomllib

    data = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert data["project"]["name"] == "x"
    assert data["tool"]["syncdb"]["environments"]["prod"] == {"url": "${PROD_URL}", "protected": True}
    assert not (tmp_path / "syncdb.toml").exists()


def test_models_are_read_fresh_after_an_edit(tmp_path: Path, db_url: str) -> None:
    """In one process (the app's), drift sees the models as they are on disk now."""
    from syncdb_tui.config import load_config
    from syncdb_tui.core.envs.environments import resolve
    from syncdb_tui.core.schema.drift import compute_drift

    alembic_init(tmp_path, "generic")
    package = write_package(tmp_path)
    name_models_in_env_py(tmp_path, package)
    (tmp_path / "syncdb.toml").write_text(f'alembic_ini = "alembic.ini"\n[environments.dev]\nurl = "{db_url}"\n')
    config = load_config(tmp_path / "syncdb.toml")
    env = resolve(config)
    first = compute_drift(config, env)
    assert [table.name for table in first.new_tables] == ["notes"]
    with (tmp_path / package / "models.py").open("a") as handle:
        handle.write(
            "\n\nclass Tag(Base):\n    __tablename__ = 'tags'\n    id: Mapped[int] = mapped_column(primary_key=True)\n"
        )
    second = compute_drift(config, env)
    assert sorted(table.name for table in second.new_tables) == ["notes", "tags"]
    assert IMPORT_LOCK.acquire(blocking=False)
    IMPORT_LOCK.release()


# ---------------------------------------------------------------- merge and reset


def _revision(rev: str, down: str | None, body: str = "pass") -> str:
    return (
        f'"""{rev}"""\nimport sqlalchemy as sa\nfrom alembic import op\n\nrevision = "{rev}"\n'
        f"down_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n    {body}\n\n\ndef downgrade():\n    pass\n"
    )


def test_merge_heads_writes_a_judged_merge_revision(tmp_path: Path, fresh_db: Callable[..., str], run_cli) -> None:  # type: ignore[no-untyped-def]
    from alembic_factory import make_project

    make_project(tmp_path, {"dev": fresh_db()}, revisions=1)
    versions = tmp_path / "migrations" / "versions"
    (versions / "ba_a.py").write_text(_revision("ba", "r0001", 'op.create_table("ta", sa.Column("id", sa.Integer))'))
    (versions / "bb_b.py").write_text(_revision("bb", "r0001", 'op.create_table("tb", sa.Column("id", sa.Integer))'))
    status = run_cli("status", "--json", cwd=tmp_path)
    assert json.loads(status.out)["multiple_heads"] is True
    assert run_cli("check", "--no-models", cwd=tmp_path).code == 1
    dry = run_cli("merge", "--dry-run", cwd=tmp_path)
    assert dry.code == 0 and "would write a merge revision of ba, bb" in dry.err
    assert len(list(versions.glob("*.py"))) == 3
    merged = run_cli("merge", "-m", "join branches", "--json", cwd=tmp_path)
    assert merged.code == 0, merged.err
    data = json.loads(merged.out)
    assert data["merges"] == ["ba", "bb"] and data["risk"] in ("NONE", "LOW") and data["path"].endswith(".py")
    assert run_cli("migrate", cwd=tmp_path).code == 0
    assert run_cli("check", "--no-models", cwd=tmp_path).code == 0
    nothing = run_cli("merge", cwd=tmp_path)
    assert nothing.code == 2 and "nothing to merge" in nothing.err


def test_reset_dev_goes_through_the_policy_and_the_ledger(
    tmp_path: Path, fresh_db: Callable[..., str], run_cli, psql_exec
) -> None:  # type: ignore[no-untyped-def]
    from alembic_factory import make_project

    urls = {"dev": fresh_db(), "prod": fresh_db()}
    make_project(tmp_path, urls, revisions=2, protected=("prod",))
    assert run_cli("migrate", "--env", "dev", cwd=tmp_path).code == 0
    psql_exec(urls["dev"], "CREATE TABLE scratch_by_hand (id int); INSERT INTO t_1 VALUES (1, 'x');")
    refused = run_cli("reset", "--env", "prod", "--force", cwd=tmp_path)
    assert refused.code == 3 and "protected" in refused.err
    unconfirmed = run_cli("reset", "--env", "dev", cwd=tmp_path)
    assert unconfirmed.code == 3 and "typed confirmation" in unconfirmed.err
    wrong = run_cli("reset", "--env", "dev", cwd=tmp_path, stdin="prod\n")
    assert wrong.code == 3
    assert psql_exec(urls["dev"], "SELECT count(*) FROM t_1").strip() == "1"
    done = run_cli("reset", "--env", "dev", "--json", cwd=tmp_path, stdin="dev\n")
    assert done.code == 0, done.err
    assert json.loads(done.out)["now_at"] == ["r0002"]
    assert psql_exec(urls["dev"], "SELECT to_regclass('scratch_by_hand') IS NULL, count(*) FROM t_1").strip() == "t|0"
    history = json.loads(run_cli("history", "--env", "dev", "--json", cwd=tmp_path).out)
    actions = [entry["action"] for entry in history]
    assert actions[:2] == ["upgrade", "reset"] and history[1]["result"] == "ok"
