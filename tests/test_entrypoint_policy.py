"""Every state-changing entry point besides migrate/downgrade/stamp goes through the one policy and the ledger.

psql (read-only on a protected environment unless --write), demo --reset (embedded databases only, a
protected one only with the typed name), restore (--target-db on a protected server asks), push and
seed (refused on protected; recorded), deep verify — all on the real embedded PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncdb_tui.config import load_config
from syncdb_tui.core.changes.policy import requirements
from syncdb_tui.core.envs.environments import resolve
from syncdb_tui.core.errors import RefusedError


def ledger_rows(psql_exec, url: str, action: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """``[result, backup_path, to_revisions, details]`` of ``action``'s ledger rows, oldest first."""
    out = psql_exec(
        url,
        "SELECT result, backup_path, array_to_string(to_revisions, ','), details::text FROM syncdb.ledger "
        f"WHERE action = '{action}' ORDER BY id;",
    )
    return [line.split("|", 3) for line in out.splitlines() if line.strip()]


def exists(psql_exec, url: str, relation: str) -> bool:  # type: ignore[no-untyped-def]
    return psql_exec(url, f"SELECT to_regclass('{relation}') IS NOT NULL;").strip() == "t"


# ------------------------------------------------------------------ psql


def test_psql_on_protected_is_read_only_and_says_so(demo_project, run_cli, psql_exec, capfd) -> None:  # type: ignore[no-untyped-def]
    root, prod = demo_project.root, demo_project.urls["prod"]
    capfd.readouterr()
    result = run_cli("psql", "--env", "prod", "--", "-X", "-c", "create table x(i int)", cwd=root)
    child = capfd.readouterr().err  # psql's own stderr (the child writes to the real descriptor)
    assert result.code == 5, result.err
    assert "read-only transaction" in child
    notes = [line for line in result.err.splitlines() if "read-only" in line]
    assert len(notes) == 1 and "--write" in notes[0] and "prod" in notes[0]
    assert not exists(psql_exec, prod, "x")
    assert not exists(psql_exec, prod, "syncdb.ledger"), "a read-only session is not a change"


def test_psql_write_on_protected_needs_the_typed_name(demo_project, run_cli, psql_exec) -> None:  # type: ignore[no-untyped-def]
    root, prod = demo_project.root, demo_project.urls["prod"]
    refused = run_cli("psql", "--env", "prod", "--write", "--", "-X", "-c", "create table x(i int)", cwd=root)
    assert refused.code == 3, refused.err
    assert "psql-write" in refused.err and "--force" in refused.err
    assert not exists(psql_exec, prod, "x")
    mistyped = run_cli(
        "psql", "--env", "prod", "--write", "--", "-X", "-c", "create table x(i int)", cwd=root, stdin="dev\n"
    )
    assert mistyped.code == 3 and not exists(psql_exec, prod, "x")
    typed = run_cli(
        "psql", "--env", "prod", "--write", "--", "-X", "-c", "create table x(i int)", cwd=root, stdin="prod\n"
    )
    assert typed.code == 0, typed.err
    assert exists(psql_exec, prod, "x")
    forced = run_cli("psql", "--env", "prod", "--write", "--force", "--", "-X", "-c", "create table y(i int)", cwd=root)
    assert forced.code == 0, forced.err
    assert exists(psql_exec, prod, "y")
    failed = run_cli("psql", "--env", "prod", "--write", "--force", "--", "-X", "-c", "select 1/0", cwd=root)
    assert failed.code == 5
    rows = ledger_rows(psql_exec, prod, "psql-write")
    assert [row[0] for row in rows] == ["ok", "ok", "failed"]
    assert json.loads(rows[0][3]) == {"interactive": False}  # never the command itself
    finished = psql_exec(prod, "SELECT bool_and(finished_at IS NOT NULL) FROM syncdb.ledger;").strip()
    assert finished == "t"


def test_psql_on_unprotected_stays_read_write(demo_project, run_cli, psql_exec) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("psql", "--env", "dev", "--", "-X", "-c", "create table x(i int)", cwd=demo_project.root)
    assert result.code == 0, result.err
    assert "read-only" not in result.err
    assert exists(psql_exec, demo_project.urls["dev"], "x")
    assert not exists(psql_exec, demo_project.urls["dev"], "syncdb.ledger")


def test_psql_read_only_travels_in_pgoptions_merged_never_on_the_command_line(demo_project, run_cli) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[list[str], dict[str, str]]] = []
    # run_cli undoes its own monkeypatch after each run: these patches live in a context of their own
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("syncdb_tui.commands.psql._run_psql", lambda argv, env: seen.append((argv, env)) or 0)
        patch.setenv("PGOPTIONS", "-c statement_timeout=1234")
        assert run_cli("psql", "--env", "prod", "--", "-c", "select 1", cwd=demo_project.root).code == 0
        assert run_cli("psql", "--env", "dev", cwd=demo_project.root).code == 0
    (prod_argv, prod_env), (dev_argv, dev_env) = seen
    assert prod_env["PGOPTIONS"] == "-c statement_timeout=1234 -c default_transaction_read_only=on"
    assert not any("read_only" in arg for arg in prod_argv + dev_argv)
    assert "default_transaction_read_only" not in dev_env.get("PGOPTIONS", "")


def test_psql_pgoptions_really_reach_the_session(demo_project, run_cli, capfd) -> None:  # type: ignore[no-untyped-def]
    capfd.readouterr()
    sql = "SELECT current_setting('default_transaction_read_only') || ' ' || current_setting('statement_timeout')"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PGOPTIONS", "-c statement_timeout=1234")
        result = run_cli("psql", "--env", "prod", "--", "-XAtc", sql, cwd=demo_project.root)
    assert result.code == 0, result.err
    assert capfd.readouterr().out.strip() == "on 1234ms"


# ------------------------------------------------------------------ demo --reset


def test_demo_reset_never_drops_a_url_environment(demo_project, run_cli, psql_exec) -> None:  # type: ignore[no-untyped-def]
    root = demo_project.root
    for url in demo_project.urls.values():
        psql_exec(url, "CREATE TABLE precious (x int); INSERT INTO precious VALUES (42);")
    for flags in ((), ("--force",)):
        result = run_cli("demo", "--no-tui", "--reset", "--scale", "0.05", *flags, cwd=root)
        assert result.code == 3, result.err
        assert "embedded server" in result.err and "nothing was changed" in result.err
        assert "hint:" in result.err and "Traceback" not in result.err
    for url in demo_project.urls.values():
        assert psql_exec(url, "SELECT x FROM precious;").strip() == "42"


def test_demo_never_drops_a_half_built_url_environment(demo_project, run_cli, psql_exec) -> None:  # type: ignore[no-untyped-def]
    dev = demo_project.urls["dev"]
    psql_exec(dev, "CREATE TABLE aibotkit_users (id int); INSERT INTO aibotkit_users VALUES (7);")
    result = run_cli("demo", "--no-tui", "--scale", "0.05", "--force", cwd=demo_project.root)
    assert result.code == 3, result.err
    assert "half-built" in result.err
    assert psql_exec(dev, "SELECT id FROM aibotkit_users;").strip() == "7"


@pytest.fixture(scope="module")
def embedded_demo() -> Path:
    """The demo project on an embedded server of its own, built once (at a small scale)."""
    import atexit
    import shutil
    import tempfile

    from syncdb_tui.demo.project import build_demo, write_demo_project

    # not under pytest's 0700 tmp dir (as root the server runs as another user, who must reach it; see conftest)
    base = Path(tempfile.mkdtemp(prefix="syncdb-test-demo-"))
    base.chmod(0o755)
    atexit.register(shutil.rmtree, base, True)
    root = base / "demo"
    build_demo(load_config(write_demo_project(root)), scale=0.05)
    return root


def test_demo_reset_of_embedded_protected_prod_needs_the_typed_name(embedded_demo: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    root = embedded_demo
    mark = run_cli("psql", "--env", "dev", "--", "-X", "-c", "CREATE TABLE demo_marker (i int)", cwd=root)
    assert mark.code == 0, mark.err

    refused = run_cli("demo", "--no-tui", "--reset", "--scale", "0.05", cwd=root)
    assert refused.code == 3, refused.err
    assert "reset on prod" in refused.err and "--force" in refused.err
    config = load_config(root / "syncdb.toml")
    assert _relation_exists(resolve(config, "dev"), "demo_marker"), "nothing may be dropped before prod is confirmed"
    mistyped = run_cli("demo", "--no-tui", "--reset", "--scale", "0.05", cwd=root, stdin="dev\n")
    assert mistyped.code == 3 and _relation_exists(resolve(config, "dev"), "demo_marker")
    typed = run_cli("demo", "--no-tui", "--reset", "--json", "--scale", "0.05", cwd=root, stdin="prod\n")
    assert typed.code == 0, typed.err
    assert [status["current"] for status in json.loads(typed.out)] == [["0008"], ["0007"], ["0006"]]
    assert not _relation_exists(resolve(config, "dev"), "demo_marker")
    forced = run_cli("demo", "--no-tui", "--reset", "--force", "--scale", "0.05", cwd=root)
    assert forced.code == 0, forced.err


def test_build_demo_without_a_way_to_ask_refuses_to_reset_prod(embedded_demo: Path) -> None:
    from syncdb_tui.demo.project import build_demo

    config = load_config(embedded_demo / "syncdb.toml")
    with pytest.raises(RefusedError, match="prod"):
        build_demo(config, reset=True, scale=0.05)
    asked: list[tuple[str, str]] = []

    def refuse(req) -> None:  # type: ignore[no-untyped-def]
        asked.append((req.environment, req.action))
        raise RefusedError("not confirmed")

    with pytest.raises(RefusedError, match="not confirmed"):
        build_demo(config, reset=True, scale=0.05, satisfy=refuse)
    assert asked == [("prod", "reset")]  # only the protected one asks; dev and staging are the demo's own
    assert [item.reused for item in build_demo(config, scale=0.05)] == [True, True, True], "nothing was dropped"


def _relation_exists(env, name: str) -> bool:  # type: ignore[no-untyped-def]
    import asyncio

    from syncdb_tui.core.envs.environments import connection

    async def check() -> bool:
        async with connection(env) as conn:
            return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name))

    return asyncio.run(check())


# ------------------------------------------------------------------ restore


@pytest.fixture
def prod_backup(demo_project, run_cli) -> Path:  # type: ignore[no-untyped-def]
    root = demo_project.root
    assert run_cli("migrate", "--env", "prod", "--force", "--no-backup", cwd=root).code == 0
    done = run_cli("backup", "--env", "prod", "--json", cwd=root)
    assert done.code == 0, done.err
    return Path(json.loads(done.out)["path"])


def test_restore_into_a_new_database_on_a_protected_server_asks(
    demo_project, prod_backup: Path, run_cli, psql_exec
) -> None:  # type: ignore[no-untyped-def]
    root, prod = demo_project.root, demo_project.urls["prod"]
    target = f"{demo_project.database('prod')}_copy"
    refused = run_cli("restore", prod_backup.name, "--env", "prod", "--target-db", target, cwd=root)
    assert refused.code == 3, refused.err
    assert "restore-new-database on prod" in refused.err
    count = f"SELECT count(*) FROM pg_database WHERE datname = '{target}';"
    assert psql_exec(prod, count).strip() == "0"
    planned = run_cli("restore", prod_backup.name, "--env", "prod", "--target-db", target, "--dry-run", cwd=root)
    assert planned.code == 0 and "confirm:" in planned.out and "protected" in planned.out
    typed = run_cli("restore", prod_backup.name, "--env", "prod", "--target-db", target, cwd=root, stdin="prod\n")
    assert typed.code == 0, typed.err
    copy_url = prod.replace(demo_project.database("prod"), target)
    (row,) = ledger_rows(psql_exec, copy_url, "restore")
    assert row[0] == "ok" and row[1] == str(prod_backup) and row[2] == "0008"
    details = json.loads(row[3])
    assert details["database"] == target and details["created_database"] is True and details["backup_of"] == "prod"
    # the backup's own history came along: the upgrade that brought prod to 0008
    assert ledger_rows(psql_exec, copy_url, "upgrade")
    psql_exec(prod, f'DROP DATABASE "{target}" WITH (FORCE);')


def test_restore_into_a_new_database_on_an_unprotected_server_does_not_ask(
    demo_project, prod_backup: Path, run_cli, psql_exec
) -> None:  # type: ignore[no-untyped-def]
    target = f"{demo_project.database('dev')}_copy"
    result = run_cli("restore", prod_backup.name, "--env", "dev", "--target-db", target, cwd=demo_project.root)
    assert result.code == 0, result.err
    psql_exec(demo_project.urls["dev"], f'DROP DATABASE "{target}" WITH (FORCE);')


def test_restore_over_a_protected_environment_goes_through_the_policy_and_is_recorded(
    demo_project, prod_backup: Path, run_cli, psql_exec
) -> None:  # type: ignore[no-untyped-def]
    root, prod = demo_project.root, demo_project.urls["prod"]
    assert run_cli("downgrade", "0006", "--env", "prod", "--force", "--no-backup", cwd=root).code == 0
    refused = run_cli("restore", prod_backup.name, "--env", "prod", "--clean", cwd=root)
    assert refused.code == 3 and "restore on prod" in refused.err
    assert "protected" in refused.err and "--clean replaces" in refused.err
    forced = run_cli("restore", prod_backup.name, "--env", "prod", "--clean", "--force", cwd=root)
    assert forced.code == 0, forced.err
    (row,) = ledger_rows(psql_exec, prod, "restore")
    assert row[0] == "ok" and row[1] == str(prod_backup) and row[2] == "0008"
    assert (
        psql_exec(
            prod, "SELECT array_to_string(from_revisions, ',') FROM syncdb.ledger WHERE action = 'restore';"
        ).strip()
        == "0006"
    )
    details = json.loads(row[3])
    assert details["mode"] == "swap" and details["previous_database"], "the previous prod is kept beside it"


# ------------------------------------------------------------------ push and seed


def test_seed_and_push_are_recorded_and_syncdb_schema_is_never_drift(demo_project, run_cli, psql_exec) -> None:  # type: ignore[no-untyped-def]
    root, dev = demo_project.root, demo_project.urls["dev"]
    assert run_cli("migrate", "0007", cwd=root).code == 0
    seeded = run_cli("seed", "--scale", "0.05", "--json", cwd=root)
    assert seeded.code == 0, seeded.err
    (row,) = ledger_rows(psql_exec, dev, "seed")
    details = json.loads(row[3])
    assert row[0] == "ok" and row[2] == "0007"
    assert details["total_rows"] == json.loads(seeded.out)["total_rows"] > 0
    assert json.loads(seeded.out)["ledger_id"]
    pushed = run_cli("push", "--force", "--json", cwd=root)
    assert pushed.code == 0, pushed.err
    (row,) = ledger_rows(psql_exec, dev, "push")
    assert row[0] == "ok" and row[2] == "0007"
    assert any("analytics_enabled" in statement for statement in json.loads(row[3])["statements"])
    again = run_cli("push", cwd=root)
    assert again.code == 0 and "nothing to push" in again.err, again.err
    status = run_cli("status", "--json", cwd=root)
    assert status.code == 0, status.err
    assert "ledger" not in json.dumps(json.loads(status.out)["drift"])


def test_push_and_seed_are_refused_on_protected_by_the_policy(demo_project, run_cli, psql_exec) -> None:  # type: ignore[no-untyped-def]
    root, prod = demo_project.root, demo_project.urls["prod"]
    for argv in (("push",), ("seed",), ("push", "--dry-run"), ("seed", "--dry-run")):
        result = run_cli(*argv, "--env", "prod", "--force", cwd=root)
        assert result.code == 3, result.err
        assert f"{argv[0]} refused" in result.err and "protected" in result.err
    assert not exists(psql_exec, prod, "syncdb.ledger")


def test_seed_into_a_database_with_data_asks_through_the_policy(demo_project, run_cli) -> None:  # type: ignore[no-untyped-def]
    root = demo_project.root
    assert run_cli("migrate", cwd=root).code == 0
    assert run_cli("seed", "--scale", "0.05", cwd=root).code == 0
    again = run_cli("seed", "--scale", "0.05", cwd=root)
    assert again.code == 3 and "seed on dev" in again.err and "dev already holds data" in again.err


def test_drift_and_push_leave_the_syncdb_schema_alone() -> None:
    from syncdb_tui.core.schema.drift import include_name

    assert not include_name("syncdb", "schema", {})
    assert not include_name("ledger", "table", {"schema_name": "syncdb"})
    assert include_name("ledger", "table", {"schema_name": None})
    assert include_name("public", "schema", {})


# ------------------------------------------------------------------ deep verify


def test_deep_verify_asks_through_the_policy(demo_project) -> None:  # type: ignore[no-untyped-def]
    config = load_config(demo_project.config_path)
    prod, dev = resolve(config, "prod"), resolve(config, "dev")
    assert requirements(prod, "verify").typed_name
    assert not requirements(dev, "verify").asks_anything


def test_deep_verify_on_protected_with_force_runs(demo_project, prod_backup: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    refused = run_cli("backups", "--verify", "--deep", "--env", "prod", cwd=demo_project.root)
    assert refused.code == 3 and "verify on prod" in refused.err and "deep verify" in refused.err
    forced = run_cli("backups", "--verify", "--deep", "--env", "prod", "--force", "--json", cwd=demo_project.root)
    assert forced.code == 0, forced.err
    assert all(item["verify"]["ok"] for item in json.loads(forced.out))
