"""The revision cache (.syncdb/cache) behind status, risk, report, check and the app (issue 15 item 1).

Real PostgreSQL (the session's embedded server), real Alembic projects, real processes: a warm
`status` / `risk` in a fresh interpreter must not import Alembic, SQLAlchemy or pglast; any
change to a key (a revision file, env.py, the Alembic/SQLAlchemy versions, the table sizes a
live verdict used) must be seen; two processes writing at once must both keep their entries;
`syncdb cache clear|status` follow the CLI contract.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from alembic_factory import add_revision, make_project, revision_source

HEAVY = ("alembic", "sqlalchemy", "pglast", "textual")

# runs `syncdb ARGV` in a fresh interpreter and reports, on stderr's last line, which heavy packages it imported
WRAPPER = (
    "import sys\n"
    "from syncdb_tui.cli import main\n"
    "code = main(sys.argv[1:])\n"
    f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
    "sys.stderr.write('\\nIMPORTED=' + ','.join(heavy) + '\\n')\n"
    "sys.exit(code)\n"
)


def syncdb(root: Path, *argv: str) -> tuple[int, str, set[str]]:
    """``syncdb ARGV`` in a new process: (exit code, stdout, heavy packages it imported)."""
    result = subprocess.run(
        [sys.executable, "-c", WRAPPER, *argv], cwd=root, capture_output=True, text=True, check=False, timeout=300
    )
    marker = result.stderr.rsplit("IMPORTED=", 1)
    assert len(marker) == 2, result.stderr[-3000:]
    imported = {name for name in marker[1].strip().split(",") if name}
    return result.returncode, result.stdout, imported


def cache_file(root: Path) -> Path:
    return root / ".syncdb" / "cache" / "revisions.json"


@pytest.fixture
def project(tmp_path: Path, fresh_db: Callable[..., str], run_cli) -> tuple[Path, str]:
    """r0001..r0004 (tables), the database at r0002; r0005 builds an index on t_1 (a verdict that follows its size)."""
    url = fresh_db()
    make_project(
        tmp_path, {"dev": url}, revisions=4, extra_config="[risk]\nmedium_table_rows = 50\nlarge_table_rows = 5000"
    )
    add_revision(
        tmp_path,
        "r0005_index.py",
        revision_source("r0005", "r0004", "index t_1", 'op.create_index("ix_t_1_name", "t_1", ["name"])'),
    )
    result = run_cli("migrate", "r0002", "--force", cwd=tmp_path)
    assert result.code == 0, result.err
    return tmp_path, url


def _pending(status: dict) -> dict[str, dict]:
    return {item["revision"]: item for item in status["pending"]}


def test_warm_status_imports_no_alembic_and_says_the_same(project: tuple[Path, str]) -> None:
    root, _ = project
    code, cold_out, cold_imported = syncdb(root, "status", "--json")
    assert code == 0
    assert {"alembic", "sqlalchemy"} <= cold_imported  # the cold run renders the SQL with Alembic
    assert cache_file(root).is_file()
    code, warm_out, warm_imported = syncdb(root, "status", "--json")
    assert code == 0
    assert warm_imported == set(), f"a warm status imported {warm_imported}"
    cold, warm = json.loads(cold_out), json.loads(warm_out)
    assert warm == cold
    pending = _pending(warm)
    assert list(pending) == ["r0003", "r0004", "r0005"]
    assert "CREATE TABLE t_3" in pending["r0003"]["sql"]
    assert warm["judged_with_context"] is True
    assert "\n" not in warm_out.strip()  # one line for programs; --pretty indents
    code, pretty_out, _ = syncdb(root, "status", "--json", "--pretty")
    assert code == 0 and pretty_out.startswith("{\n  ") and json.loads(pretty_out) == warm


def test_warm_risk_range_imports_no_alembic(project: tuple[Path, str]) -> None:
    root, _ = project
    code, cold_out, _ = syncdb(root, "risk", "base:heads", "--json")
    assert code == 0
    code, warm_out, imported = syncdb(root, "risk", "base:heads", "--json")
    assert code == 0
    assert imported == set(), f"a warm risk imported {imported}"
    assert json.loads(warm_out) == json.loads(cold_out)
    assert any(f["revision"] == "r0005" and f["rule"] == "create-index" for f in json.loads(warm_out))


def test_status_sees_an_edited_revision_file_and_a_changed_table_size(
    project: tuple[Path, str], run_cli, psql_exec
) -> None:
    root, url = project

    def status() -> dict:
        result = run_cli("status", "--json", cwd=root)
        assert result.code == 0, result.err
        return json.loads(result.out)

    first = _pending(status())
    assert first["r0005"]["risk"] == "LOW"  # t_1 is empty
    # the same process, the file edited: its SQL is rendered again (the others come from the cache)
    path = root / "migrations" / "versions" / "r0004_t4.py"
    path.write_text(path.read_text().replace('sa.Column("name", sa.Text)', 'sa.Column("title", sa.Text)'))
    edited = _pending(status())
    assert "title TEXT" in edited["r0004"]["sql"] and "name TEXT" not in edited["r0004"]["sql"]
    assert edited["r0003"] == first["r0003"]
    # the table an index is built on grows: the live verdict is judged again, not taken from the cache
    psql_exec(url, "INSERT INTO t_1 (name) SELECT 'n' || g FROM generate_series(1, 200) g; ANALYZE t_1;")
    grown = _pending(status())
    assert grown["r0005"]["risk"] == "MEDIUM", grown["r0005"]["findings"]
    psql_exec(url, "INSERT INTO t_1 (name) SELECT 'n' || g FROM generate_series(1, 6000) g; ANALYZE t_1;")
    assert _pending(status())["r0005"]["risk"] == "HIGH"
    # and the judged-again verdict is kept beside the earlier ones
    data = json.loads(cache_file(root).read_text())
    kept = data["derived"]["risk-live:r0005"]["value"]
    assert len(kept) >= 2


def test_env_py_edit_and_tool_versions_change_the_keys(project: tuple[Path, str], monkeypatch) -> None:
    from syncdb_tui.config import load_config
    from syncdb_tui.core.project import cache
    from syncdb_tui.core.project.offline import offline_range
    from syncdb_tui.core.project.revisions import Project

    root, _ = project
    config = load_config(root / "syncdb.toml")
    offline_range(Project.from_config(config), ["r0003", "r0004"])
    warm = cache.open_cache(Project.from_config(config))
    assert warm is not None and warm.graph_data() is not None
    path = str(root / "migrations" / "versions" / "r0003_t3.py")
    assert warm.sql("r0003", path, None) is not None
    # Alembic or SQLAlchemy upgraded: the graph and every SQL miss
    monkeypatch.setattr(cache, "_tool_versions", lambda: "alembic=99.0;sqlalchemy=9.0")
    upgraded = cache.open_cache(Project.from_config(config))
    assert upgraded is not None
    assert upgraded.graph_data() is None and upgraded.sql("r0003", path, None) is None
    monkeypatch.undo()
    # env.py edited: the same
    env_py = root / "migrations" / "env.py"
    env_py.write_text(env_py.read_text() + "\n# edited\n")
    edited = cache.open_cache(Project.from_config(config))
    assert edited is not None
    assert edited.graph_data() is None and edited.sql("r0003", path, None) is None
    # the tool versions come from the installed distributions, without importing them
    assert "alembic=" in cache._tool_versions() and "?" not in cache._tool_versions()


TWO_WRITERS = """
import sys
from syncdb_tui.config import load_config
from syncdb_tui.core.project.cache import open_cache
from syncdb_tui.core.project.revisions import Project

project = Project.from_config(load_config(sys.argv[1]))
for n in range(40):
    cache = open_cache(project)
    cache.store([(f"{sys.argv[2]}_{n}", sys.argv[1], "SELECT %d;" % n, "")], None)
"""


def test_two_processes_writing_at_once_keep_both(tmp_path: Path) -> None:
    make_project(tmp_path, {"dev": "postgresql://nobody@127.0.0.1:1/none"}, revisions=2)
    config = str(tmp_path / "syncdb.toml")
    writers = [
        subprocess.Popen([sys.executable, "-c", TWO_WRITERS, config, tag], cwd=tmp_path, stderr=subprocess.PIPE)
        for tag in ("a", "b")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    data = json.loads(cache_file(tmp_path).read_text())
    assert data["format"] == 1
    assert {f"{tag}_{n}" for tag in "ab" for n in range(40)} <= set(data["sql"])
    assert not list(cache_file(tmp_path).parent.glob(".revisions.*.tmp"))


def test_cache_clear_and_status_commands(project: tuple[Path, str], run_cli) -> None:
    root, _ = project
    assert run_cli("status", "--json", cwd=root).code == 0
    shown = run_cli("cache", "status", "--json", cwd=root)
    assert shown.code == 0, shown.err
    info = json.loads(shown.out)
    assert info["exists"] and info["graph_current"] and info["revisions_with_sql"] >= 3 and info["size_bytes"] > 0
    dry = run_cli("cache", "clear", "--dry-run", "--json", cwd=root)
    assert dry.code == 0 and json.loads(dry.out)["removed"] is False and cache_file(root).is_file()
    cleared = run_cli("cache", "clear", "--json", cwd=root)
    assert cleared.code == 0, cleared.err
    assert json.loads(cleared.out)["removed"] is True
    assert not (root / ".syncdb" / "cache").exists()
    again = run_cli("cache", "clear", cwd=root)
    assert again.code == 0 and "nothing to remove" in again.out
    assert run_cli("cache", cwd=root).code == 2  # no action: a usage error
    assert run_cli("cache", "status", cwd=root).out.startswith("no revision cache")
    # the next command builds it again
    assert run_cli("status", "--json", cwd=root).code == 0 and cache_file(root).is_file()


def test_cache_clear_outside_a_project_is_a_config_error(tmp_path: Path, run_cli, monkeypatch) -> None:
    for name in ("DATABASE_URL", "POSTGRES_URL"):
        monkeypatch.delenv(name, raising=False)
    result = run_cli("cache", "clear", cwd=tmp_path)
    assert result.code == 2, (result.code, result.err)
    assert "error: " in result.err and "Traceback" not in result.err


DATA_MIGRATION = (
    'op.execute("DROP TYPE legacy_status")\n'
    '    rows = op.get_bind().execute(sa.text("SELECT id FROM t_1")).fetchall()\n'
    '    op.execute("UPDATE t_1 SET name = lower(name)")'
)


def test_a_data_migration_in_the_middle_does_not_stop_the_pass(tmp_path: Path) -> None:
    from syncdb_tui.config import load_config
    from syncdb_tui.core.project.offline import offline_range
    from syncdb_tui.core.project.revisions import Project

    make_project(tmp_path, {"dev": "postgresql://nobody@127.0.0.1:1/none"}, revisions=2)
    add_revision(tmp_path, "r0003_data.py", revision_source("r0003", "r0002", "data", DATA_MIGRATION))
    add_revision(
        tmp_path,
        "r0004_t4.py",
        revision_source("r0004", "r0003", "t4", 'op.create_table("t_4", sa.Column("id", sa.Integer))'),
    )
    project = Project.from_config(load_config(tmp_path / "syncdb.toml"))
    sqls = {item.revision: item for item in offline_range(project, ["r0001", "r0002", "r0003", "r0004"])}
    data = sqls["r0003"]
    assert "DROP TYPE legacy_status" in data.sql and "lower(name)" not in data.sql
    assert "reads query results" in data.needs_live_reason and "r0003_data.py" in data.needs_live_reason
    assert "CREATE TABLE t_4" in sqls["r0004"].sql and not sqls["r0004"].needs_live_reason
    assert "-- Running upgrade r0003 -> r0004" in sqls["r0004"].sql
    # the revision's own upgrade() is back in place after the pass
    module = project.script().revision_map.get_revision("r0003").module
    assert not hasattr(module.upgrade, "__wrapped__")
    # and a second look comes from the cache, the same
    again = {item.revision: item for item in offline_range(project, ["r0001", "r0002", "r0003", "r0004"])}
    assert again == sqls
