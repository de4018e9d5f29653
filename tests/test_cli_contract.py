"""The command-line contract of ARCHITECTURE.md, exercised as an operator would (issue 2).

Each test runs `syncdb` in-process against the session's real PostgreSQL and
asserts what a script or a person relies on: stdout carries only data (JSON
parses), errors are one message on stderr with a hint and the documented exit
code, --dry-run changes nothing, and no password ever shows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from alembic_factory import add_revision, make_project, revision_source

PASSWORD = "Contract-Pw-7319"
ROLE = "contract_pw_user"


def version_and_schema(psql_exec: Callable[[str, str], str], url: str) -> str:
    """Everything a change could touch: the version table's rows and every public column."""
    return psql_exec(
        url,
        "SELECT CASE WHEN to_regclass('alembic_version') IS NULL THEN '(no version table)' "
        "ELSE (SELECT coalesce(string_agg(version_num, ','), '(empty)') FROM alembic_version) END;"
        "SELECT coalesce(string_agg(table_name || '.' || column_name, ',' ORDER BY table_name, column_name), '') "
        "FROM information_schema.columns WHERE table_schema = 'public';",
    )


def one_error(result: object, code: int) -> str:
    """Assert ``result`` failed with ``code``, one error message with a hint, no traceback; return stderr."""
    err = result.err  # type: ignore[attr-defined]
    assert result.code == code, (result.code, err)  # type: ignore[attr-defined]
    lines = err.splitlines()
    # a typed-confirmation prompt leaves no newline of its own before the message when stdin is piped
    assert sum("error: " in line and not line.startswith("  ") for line in lines) == 1, err
    assert "error: " in lines[-2] and lines[-1].startswith("hint: "), err
    assert "Traceback" not in err
    return err


@pytest.fixture
def proj(tmp_path: Path, fresh_db: Callable[..., str]) -> tuple[Path, dict[str, str]]:
    urls = {"dev": fresh_db(), "prod": fresh_db()}
    make_project(tmp_path, urls, revisions=3, protected=("prod",))
    return tmp_path, urls


@pytest.fixture
def password_role(pg_server, fresh_db: Callable[..., str]) -> Callable[[bool], str]:
    """Factory: a fresh database owned by a role that must log in with a password (scram over the socket)."""
    from conftest import run_psql

    hba = pg_server.pgdata / "pg_hba.conf"
    rule = f"local all {ROLE} scram-sha-256\n"
    if rule not in hba.read_text():
        hba.write_text(rule + hba.read_text())
    run_psql(
        pg_server,
        "postgres",
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') "
        f"THEN CREATE ROLE {ROLE}; END IF; END $$;"
        f"ALTER ROLE {ROLE} LOGIN NOCREATEDB PASSWORD '{PASSWORD}'; SELECT pg_reload_conf();",
    )

    def make(right: bool = True) -> str:
        database = fresh_db().split("@/", 1)[1].split("?", 1)[0]
        run_psql(pg_server, "postgres", f'ALTER DATABASE "{database}" OWNER TO {ROLE};')
        password = PASSWORD if right else "Wrong-Pw-4242"
        return f"postgresql://{ROLE}:{password}@/{database}?host={pg_server.socket_dir}"

    return make


# ------------------------------------------------------------------ status / JSON


def test_status_json_has_the_documented_fields_and_nothing_else_on_stdout(proj, run_cli) -> None:
    root, _ = proj
    assert run_cli("migrate", "r0001", cwd=root).code == 0
    result = run_cli("status", "--json", cwd=root)
    assert result.code == 0, result.err
    data = json.loads(result.out)  # stdout is exactly one JSON document
    for key in (
        "environment",
        "database",
        "server_version",
        "current",
        "heads",
        "applied",
        "pending",
        "unknown",
        "drift",
    ):
        assert key in data, key
    assert data["environment"] == "dev" and data["current"] == ["r0001"] and data["applied"] == ["r0001"]
    assert data["heads"] == ["r0003"] and data["unknown"] == []
    for pending in data["pending"]:
        assert {"revision", "message", "risk", "findings"} <= set(pending)
        assert pending["risk"] in ("LOW", "MEDIUM", "HIGH")
        for finding in pending["findings"]:
            assert {"rule", "severity", "lock", "statement", "line", "message", "mitigation"} <= set(finding)
    assert [p["revision"] for p in data["pending"]] == ["r0002", "r0003"]


def test_env_aliases_and_unknown_environment(proj, run_cli) -> None:
    root, _ = proj
    for alias in ("production", "PROD", "prd"):
        result = run_cli("status", "--env", alias, "--json", cwd=root)
        assert result.code == 0, result.err
        assert json.loads(result.out)["environment"] == "prod"
    err = one_error(run_cli("status", "--env", "moon", cwd=root), 2)
    assert "moon" in err and "dev, prod" in err


# ------------------------------------------------------------------ report


def test_report_into_a_missing_directory_or_a_directory_is_a_usage_error(proj, run_cli) -> None:
    root, _ = proj
    missing = root / "no" / "such" / "dir" / "report.md"
    result = run_cli("report", "-o", str(missing), cwd=root)
    err = one_error(result, 2)
    assert str(missing.parent) in err and "mkdir -p" in err
    assert result.out == "" and not missing.parent.exists()
    result = run_cli("report", "-o", str(root), cwd=root)
    assert "is a directory" in one_error(result, 2)


def test_report_json_is_pure_json_with_every_section(proj, run_cli, tmp_path: Path) -> None:
    root, _ = proj
    result = run_cli("report", "--json", cwd=root)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    for key in (
        "current_status",
        "pending_migrations",
        "schema_changes",
        "migration_preview",
        "recommendations",
        "next_steps",
    ):
        assert key in data, key
    assert data["current_status"]["schema_version"] == []
    assert [p["migration"] for p in data["pending_migrations"]] == ["r0001", "r0002", "r0003"]
    assert all("CREATE TABLE t_" in p["sql"] for p in data["migration_preview"])
    target = root / "report.json"
    written = run_cli("report", "--json", "-o", str(target), cwd=root)
    assert written.code == 0 and written.out == "" and json.loads(target.read_text())["current_status"]


def test_report_escapes_pipes_in_messages(proj, run_cli) -> None:
    root, _ = proj
    add_revision(root, "r0004_pipe.py", revision_source("r0004", "r0003", "split a|b columns", "pass"))
    report = run_cli("report", cwd=root).out
    row = next(line for line in report.splitlines() if line.startswith("| r0004 |"))
    assert row == "| r0004 | split a\\|b columns | LOW |"


# ------------------------------------------------------------------ unreachable, passwords


def test_unreachable_is_exit_4_for_status_report_and_check(tmp_path: Path, run_cli) -> None:
    make_project(tmp_path, {"dev": f"postgresql://someone:{PASSWORD}@127.0.0.1:1/app"})
    for argv in (("status",), ("status", "--json"), ("report",), ("report", "--json"), ("check",), ("check", "--json")):
        result = run_cli(*argv, cwd=tmp_path)
        err = one_error(result, 4)
        assert "127.0.0.1:1" in err and PASSWORD not in result.out + err
        if "--json" in argv:
            assert json.loads(result.out)  # the data still parses, the exit code says "not reached"


def test_wrong_password_is_exit_4_everywhere_and_no_password_is_shown(tmp_path: Path, run_cli, password_role) -> None:
    make_project(tmp_path, {"dev": password_role(right=False)})
    for argv in (
        ("status", "--json"),
        ("report",),
        ("check",),
        ("migrate", "--dry-run"),
        ("downgrade", "base", "--dry-run"),
        ("stamp", "head", "--dry-run"),
        ("psql", "--dry-run"),
    ):
        result = run_cli(*argv, cwd=tmp_path)
        err = one_error(result, 4)
        assert "authentication failed" in err and ROLE in err
        assert "Wrong-Pw-4242" not in result.out + err


def test_right_password_never_printed(tmp_path: Path, run_cli, password_role) -> None:
    make_project(tmp_path, {"dev": password_role(), "prod": password_role()}, protected=("prod",))
    outputs = []
    for argv in (
        ("status",),
        ("status", "--json"),
        ("report",),
        ("report", "--json"),
        ("migrate", "--dry-run", "--json"),
        ("migrate", "r0001"),
        ("migrate", "--env", "prod", "--force", "--json", "--no-backup"),
        ("downgrade", "-1", "--dry-run"),
        ("stamp", "r0001", "--dry-run", "--json"),
        ("psql", "--dry-run", "--", "-c", "SELECT 1"),
        ("check", "--json"),
    ):
        result = run_cli(*argv, cwd=tmp_path)
        assert result.code in (0, 1), (argv, result.err)
        outputs.append(result.out + result.err)
    assert not any(PASSWORD in text for text in outputs)
    assert "password passed in its environment" in outputs[9]


def test_check_without_createdb_notes_it_instead_of_crashing(tmp_path: Path, run_cli, password_role) -> None:
    from conftest import write_demo_config

    write_demo_config(tmp_path, {"dev": password_role()}, protected=())
    assert run_cli("migrate", cwd=tmp_path).code == 0
    result = run_cli("check", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err and "internal error" not in result.err
    assert "scratch database" in result.err and "CREATEDB" in result.err


# ------------------------------------------------------------------ check


def test_check_allow_pending_passes_without_claiming_up_to_date(proj, run_cli) -> None:
    root, _ = proj
    result = run_cli("check", "--allow-pending", "--no-models", cwd=root)
    assert result.code == 0, result.err
    assert "up to date" not in result.out and "3 pending revision(s)" in result.out


def test_check_dry_run_creates_no_scratch_database(demo_project, run_cli, psql_exec) -> None:
    root = demo_project.root
    assert run_cli("migrate", cwd=root).code == 0
    databases = psql_exec(demo_project.urls["dev"], "SELECT count(*) FROM pg_database;")
    result = run_cli("check", "--dry-run", cwd=root)
    assert result.code == 0, result.err
    assert "models not compared" in result.err
    assert psql_exec(demo_project.urls["dev"], "SELECT count(*) FROM pg_database;") == databases


def test_check_leaves_no_scratch_database_behind(demo_project, run_cli, psql_exec) -> None:
    root = demo_project.root
    assert run_cli("migrate", cwd=root).code == 0
    result = run_cli("check", "--json", cwd=root)
    assert result.code == 0, result.err
    assert json.loads(result.out)["uncovered_model_changes"]["is_empty"] is True
    leftovers = psql_exec(
        demo_project.urls["dev"], "SELECT count(*) FROM pg_database WHERE datname LIKE 'syncdb_check_%';"
    )
    assert leftovers.strip() == "0"


# ------------------------------------------------------------------ dry runs and targets


def test_dry_run_changes_nothing_for_every_writing_verb(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    assert run_cli("migrate", "r0002", cwd=root).code == 0
    before = version_and_schema(psql_exec, urls["dev"])
    files = sorted(p.name for p in (root / "migrations" / "versions").iterdir())
    for argv in (
        ("migrate", "--dry-run"),
        ("migrate", "--dry-run", "--json"),
        ("downgrade", "-1", "--dry-run"),
        ("downgrade", "base", "--dry-run", "--json"),
        ("stamp", "r0003", "--dry-run"),
        ("stamp", "base", "--dry-run", "--json"),
        ("migrate", "--env", "prod", "--dry-run"),
    ):
        result = run_cli(*argv, cwd=root)
        assert result.code == 0, (argv, result.err)
        assert version_and_schema(psql_exec, urls["dev"]) == before, argv
        if "--json" in argv:
            json.loads(result.out)
    assert sorted(p.name for p in (root / "migrations" / "versions").iterdir()) == files
    assert psql_exec(urls["prod"], "SELECT to_regclass('alembic_version') IS NULL;").strip() == "t"


def test_migrate_dry_run_json_carries_sql_and_findings(proj, run_cli) -> None:
    root, _ = proj
    result = run_cli("migrate", "--dry-run", "--json", cwd=root)
    data = json.loads(result.out)
    assert data["dry_run"] is True and data["before"] == [] and data["after"] == ["r0003"]
    assert [r["revision"] for r in data["revisions"]] == ["r0001", "r0002", "r0003"]
    assert all("CREATE TABLE" in r["sql"] for r in data["revisions"])
    assert [r["revision"] for r in data["revisions_risk"]] == ["r0001", "r0002", "r0003"]
    assert all(r["findings"] and r["findings"][0]["rule"] for r in data["revisions_risk"])


def test_downgrade_plan_names_the_revision_it_goes_to(proj, run_cli) -> None:
    root, _ = proj
    assert run_cli("migrate", cwd=root).code == 0
    result = run_cli("downgrade", "-1", "--dry-run", cwd=root)
    assert result.code == 0 and "from r0003 to r0002 (-1)" in result.err
    assert "DROP TABLE t_3" in result.out


def test_stamp_dry_run_json_lists_revision_ids(proj, run_cli) -> None:
    root, _ = proj
    result = run_cli("stamp", "head", "--dry-run", "--json", cwd=root)
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["after"] == ["r0003"] and data["before"] == [] and data["dry_run"] is True
    assert "to r0003" in result.err


@pytest.mark.parametrize("target", ["-1", "+1"])
def test_stamp_refuses_relative_targets_and_keeps_the_version_table(proj, run_cli, psql_exec, target) -> None:
    root, urls = proj
    assert run_cli("migrate", "r0002", cwd=root).code == 0
    before = version_and_schema(psql_exec, urls["dev"])
    err = one_error(run_cli("stamp", target, cwd=root), 2)
    assert "absolute revision" in err
    assert version_and_schema(psql_exec, urls["dev"]) == before


def test_migrate_to_a_step_back_points_to_downgrade(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    assert run_cli("migrate", "r0002", cwd=root).code == 0
    err = one_error(run_cli("migrate", "-1", cwd=root), 2)
    assert "syncdb downgrade -1" in err
    assert version_and_schema(psql_exec, urls["dev"]).startswith("r0002")


def test_generate_rev_id_already_taken(demo_project, run_cli) -> None:
    root = demo_project.root
    err = one_error(run_cli("generate", "-m", "again", "--rev-id", "0005", "--dry-run", cwd=root), 2)
    assert "0005" in err and "already" in err


# ------------------------------------------------------------------ bad states shown honestly


def test_unknown_revision_in_database_report_and_status(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    assert run_cli("migrate", cwd=root).code == 0
    psql_exec(urls["dev"], "UPDATE alembic_version SET version_num = 'feedbeef';")
    status = run_cli("status", cwd=root)
    assert status.code == 0 and "Pending:         unknown" in status.out
    report = run_cli("report", cwd=root).out
    assert "| Pending Migrations | unknown" in report
    steps = report.split("## Next Steps", 1)[1]
    assert "Nothing pending" not in steps and "feedbeef" in steps and "syncdb stamp" in steps
    check = run_cli("check", cwd=root)
    assert check.code == 1 and "feedbeef" in check.out


def test_multiple_heads_report_says_merge_first(proj, run_cli) -> None:
    root, _ = proj
    add_revision(root, "r0004_branch.py", revision_source("r0004", "r0002", "branch", "pass"))
    report = run_cli("report", cwd=root)
    assert report.code == 0, report.err
    steps = report.out.split("## Next Steps", 1)[1]
    assert "alembic merge" in steps
    assert steps.index("alembic merge") < steps.index("syncdb migrate")
    assert "\n\n\n" not in report.out


def test_confirmation_typed_wrong_is_refused(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    result = run_cli("migrate", "--env", "prod", cwd=root, stdin="production\n")
    err = one_error(result, 3)
    assert "not confirmed" in err
    assert psql_exec(urls["prod"], "SELECT to_regclass('alembic_version') IS NULL;").strip() == "t"


# ------------------------------------------------------------------ demo and psql


def test_demo_dry_run_writes_nothing(tmp_path: Path, run_cli) -> None:
    result = run_cli("demo", "--dry-run", "--dir", str(tmp_path / "d"), cwd=tmp_path)
    assert result.code == 0, result.err
    assert "dry run" in result.err and result.out == ""
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("scale", ["0", "-1", "nan", "inf"])
def test_demo_scale_must_be_a_positive_number(tmp_path: Path, run_cli, scale: str) -> None:
    assert not math.isfinite(float(scale)) or float(scale) <= 0
    one_error(run_cli("demo", "--no-tui", "--scale", scale, "--dir", str(tmp_path / "d"), cwd=tmp_path), 2)
    assert not (tmp_path / "d").exists()


def test_demo_project_has_its_own_copy_of_the_scripts(tmp_path: Path) -> None:
    from syncdb_tui.config import load_config
    from syncdb_tui.demo.project import DEMO_MIGRATIONS, is_demo_config, write_demo_project

    path = write_demo_project(tmp_path / "demo")
    config = load_config(path)
    assert is_demo_config(config)
    versions = tmp_path / "demo" / "migrations" / "versions"
    assert sorted(p.name for p in versions.glob("*.py")) == sorted(
        p.name for p in (DEMO_MIGRATIONS / "versions").glob("*.py")
    )
    assert "__pycache__" not in {p.name for p in versions.iterdir()}
    # `syncdb generate` in the demo must write beside its config, never into the installed package
    assert str(DEMO_MIGRATIONS) not in path.read_text()


def test_psql_dry_run_quotes_arguments(proj, run_cli) -> None:
    root, _ = proj
    result = run_cli("psql", "--dry-run", "--", "-c", "SELECT 1", cwd=root)
    assert result.code == 0, result.err
    assert "-c 'SELECT 1'" in result.err and result.out == ""


def test_check_fails_on_a_database_changed_by_hand(demo_project, run_cli, psql_exec) -> None:
    root = demo_project.root
    assert run_cli("migrate", cwd=root).code == 0
    assert run_cli("check", cwd=root).code == 0
    psql_exec(demo_project.urls["dev"], "ALTER TABLE aibotkit_users ADD COLUMN nickname text;")
    result = run_cli("check", "--json", cwd=root)
    assert result.code == 1, result.err
    problems = json.loads(result.out)["problems"]
    assert len(problems) == 1 and "aibotkit_users" in problems[0] and "outside the migrations" in problems[0]


def test_demo_never_drops_a_project_that_is_not_the_demo(tmp_path: Path, fresh_db, run_cli, psql_exec) -> None:
    urls = {name: fresh_db() for name in ("dev", "staging", "prod")}
    for url in urls.values():
        psql_exec(url, "CREATE TABLE precious (x int); INSERT INTO precious VALUES (42);")
    make_project(tmp_path, urls, protected=("prod",))
    err = one_error(run_cli("demo", "--no-tui", "--config", str(tmp_path / "syncdb.toml"), cwd=tmp_path), 2)
    assert "not a syncdb demo config" in err
    assert all(psql_exec(url, "SELECT x FROM precious;").strip() == "42" for url in urls.values())


def test_demo_refuses_to_rebuild_a_database_holding_other_tables(demo_project, run_cli, psql_exec) -> None:
    root = demo_project.root
    psql_exec(demo_project.urls["dev"], "CREATE TABLE precious (x int); INSERT INTO precious VALUES (42);")
    err = one_error(run_cli("demo", "--no-tui", "--scale", "0.05", cwd=root), 3)
    assert "precious" in err and "not the demo's" in err
    assert psql_exec(demo_project.urls["dev"], "SELECT x FROM precious;").strip() == "42"
    psql_exec(demo_project.urls["dev"], "DROP TABLE precious;")
    built = run_cli("demo", "--no-tui", "--json", "--scale", "0.05", cwd=root)
    assert built.code == 0, built.err
    assert [s["current"] for s in json.loads(built.out)] == [["0008"], ["0007"], ["0006"]]
    # --reset drops databases: never those of URL environments (these are on the test server)
    reset = one_error(run_cli("demo", "--no-tui", "--reset", "--scale", "0.05", cwd=root), 3)
    assert "embedded server" in reset and "nothing was changed" in reset
    assert psql_exec(demo_project.urls["prod"], "SELECT version_num FROM alembic_version;").strip() == "0006"


def test_status_does_not_echo_alembic_info_logs(proj, run_cli) -> None:
    """An env.py that configures INFO logging (as `alembic init` does): status must not say "Running upgrade"."""
    root, _ = proj
    env_py = root / "migrations" / "env.py"
    env_py.write_text(
        "import logging, sys\nlogging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True)\n"
        + env_py.read_text()
    )
    result = run_cli("status", cwd=root)
    assert result.code == 0, result.err
    assert "Running upgrade" not in result.err and "INFO" not in result.err
    assert "Running upgrade" in result.out  # the SQL preview itself keeps Alembic's comments


def test_ctrl_c_in_psql_cancels_the_query_not_the_session(proj) -> None:
    """Ctrl+C reaches the whole foreground group: psql cancels its query; syncdb must not kill psql."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root, _ = proj
    child = subprocess.Popen(
        [sys.executable, "-m", "syncdb_tui", "psql", "--", "-c", "SELECT pg_sleep(20)"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # wait until psql runs (it is syncdb's child)
        found = subprocess.run(["pgrep", "-P", str(child.pid), "psql"], capture_output=True, text=True)
        if found.stdout.strip():
            break
        time.sleep(0.1)
    time.sleep(0.5)
    os.killpg(child.pid, signal.SIGINT)
    _, err = child.communicate(timeout=15)
    assert "canceling statement due to user request" in err
    assert child.returncode == 5 and "interrupted" not in err


# ------------------------------------------------------------------ cache


def test_cache_clear_and_status_print_pure_json_and_need_no_database(tmp_path: Path, run_cli) -> None:
    make_project(tmp_path, {"dev": "postgresql://nobody@127.0.0.1:1/none"}, revisions=2)
    assert run_cli("risk", "base:heads", "--json", cwd=tmp_path).code == 0  # fills the cache, offline
    status = run_cli("cache", "status", "--json", cwd=tmp_path)
    assert status.code == 0, status.err
    assert json.loads(status.out)["exists"] is True
    cleared = run_cli("cache", "clear", "--json", cwd=tmp_path)
    assert cleared.code == 0, cleared.err
    assert json.loads(cleared.out)["removed"] is True
    assert not (tmp_path / ".syncdb" / "cache").exists()
    bad = run_cli("cache", "drop", cwd=tmp_path)
    assert bad.code == 2 and "Traceback" not in bad.err
