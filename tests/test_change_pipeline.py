"""The change pipeline (core.changes: plan, policy, executor, ledger, post-flight) as a user meets it.

Real embedded PostgreSQL, real Alembic, through the `syncdb` CLI: saved plans
applied exactly or refused, downgrade previews that stop before an irreversible
revision, failures that say where the database stands (also as JSON), the
ledger, post-flight, and the one policy deciding what the CLI asks.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from syncdb_tui.config import load_config
from syncdb_tui.core.changes.plan import make_plan
from syncdb_tui.core.changes.policy import requirements
from syncdb_tui.core.envs.environments import resolve
from syncdb_tui.core.project.revisions import Project

from alembic_factory import add_revision, make_project, revision_source

Psql = Callable[[str, str], str]


def version(psql_exec: Psql, url: str) -> str:
    """The database's revisions, comma-separated ("" when none or no version table)."""
    if psql_exec(url, "SELECT to_regclass('alembic_version') IS NULL;").strip() == "t":
        return ""
    return psql_exec(url, "SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version;").strip()


def tables(psql_exec: Psql, url: str) -> list[str]:
    out = psql_exec(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1;")
    return [name for name in out.split() if name != "alembic_version"]


def ledger(psql_exec: Psql, url: str) -> list[tuple[str, str]]:
    out = psql_exec(url, "SELECT action || '|' || result FROM syncdb.ledger ORDER BY id;")
    return [tuple(line.split("|")) for line in out.split()]  # type: ignore[misc]


@pytest.fixture
def proj(tmp_path: Path, fresh_db: Callable[..., str]) -> tuple[Path, dict[str, str]]:
    """Three table-creating revisions r0001..r0003; dev and a protected prod, both empty."""
    urls = {"dev": fresh_db(), "prod": fresh_db()}
    make_project(tmp_path, urls, revisions=3, protected=("prod",))
    return tmp_path, urls


# ---------------------------------------------------------------- saved plans


def test_saved_plan_applies_exactly_its_revisions_not_one_added_since(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    saved = run_cli("migrate", "--dry-run", "--save-plan", "plan.json", cwd=root)
    assert saved.code == 0, saved.err
    assert "saved to plan.json" in saved.err and version(psql_exec, urls["dev"]) == ""
    plan = json.loads((root / "plan.json").read_text())
    assert [item["revision"] for item in plan["revisions"]] == ["r0001", "r0002", "r0003"]
    add_revision(
        root,
        "r0004_t4.py",
        revision_source("r0004", "r0003", "create t_4", 'op.create_table("t_4", sa.Column("id", sa.Integer))'),
    )
    applied = run_cli("migrate", "--plan", "plan.json", "--json", cwd=root)
    assert applied.code == 0, applied.err
    result = json.loads(applied.out)
    assert result["ok"] is True and result["now_at"] == ["r0003"] and result["plan_id"] == plan["id"]
    assert version(psql_exec, urls["dev"]) == "r0003"
    assert tables(psql_exec, urls["dev"]) == ["t_1", "t_2", "t_3"]
    status = json.loads(run_cli("status", "--json", cwd=root).out)
    assert [item["revision"] for item in status["pending"]] == ["r0004"]


@pytest.mark.parametrize("edited", ["revision", "env.py"])
def test_saved_plan_refused_when_a_planned_file_changed(proj, run_cli, psql_exec, edited) -> None:
    root, urls = proj
    assert run_cli("migrate", "--dry-run", "--save-plan", "plan.json", cwd=root).code == 0
    if edited == "revision":
        path = root / "migrations" / "versions" / "r0002_t2.py"
        path.write_text(path.read_text().replace('sa.Column("name", sa.Text)', 'sa.Column("name", sa.Integer)'))
        expected = "r0002"
    else:
        path = root / "migrations" / "env.py"
        path.write_text(path.read_text() + "\n# edited after the plan\n")
        expected = "env.py changed"
    result = run_cli("migrate", "--plan", "plan.json", cwd=root)
    assert result.code == 3, result.err
    assert expected in result.err and "nothing was changed" in result.err
    assert version(psql_exec, urls["dev"]) == "" and tables(psql_exec, urls["dev"]) == []


def test_saved_plan_refused_when_the_database_moved_since(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    assert run_cli("migrate", "r0001", cwd=root).code == 0
    assert run_cli("migrate", "--dry-run", "--save-plan", "plan.json", cwd=root).code == 0
    assert run_cli("migrate", "r0002", cwd=root).code == 0  # another operator moves the database
    result = run_cli("migrate", "--plan", "plan.json", "--json", cwd=root)
    assert result.code == 3
    assert "moved from r0001 to r0002" in result.err
    data = json.loads(result.out)
    assert data["ok"] is False and data["now_at"] == ["r0002"]
    assert version(psql_exec, urls["dev"]) == "r0002"
    assert tables(psql_exec, urls["dev"]) == ["t_1", "t_2"]


class _TtyMovedWhileAsking(io.StringIO):
    """A terminal whose user types the name only after another syncdb migrated the database meanwhile."""

    def __init__(self, root: Path, answer: str, *moving_argv: str) -> None:
        super().__init__()
        self.root, self.answer, self.moving_argv = root, answer, moving_argv

    def isatty(self) -> bool:
        return True

    def readline(self, *args: object) -> str:
        other = subprocess.run(
            [sys.executable, "-m", "syncdb_tui", *self.moving_argv],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
        )
        assert other.returncode == 0, other.stderr
        return self.answer


def test_database_moved_while_the_confirmation_was_asked_is_refused(proj, psql_exec, monkeypatch) -> None:
    from syncdb_tui.cli import main

    root, urls = proj
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.chdir(root)
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    moving = ("migrate", "r0001", "--env", "prod", "--force", "--no-backup")
    monkeypatch.setattr("sys.stdin", _TtyMovedWhileAsking(root, "prod\n", *moving))
    code = main(["migrate", "--env", "prod", "--no-backup"])
    monkeypatch.undo()
    assert code == 3, err.getvalue()
    assert "moved from base to r0001" in err.getvalue() and "nothing was changed" in err.getvalue()
    assert version(psql_exec, urls["prod"]) == "r0001" and tables(psql_exec, urls["prod"]) == ["t_1"]


def test_plan_file_edited_by_hand_is_refused(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    assert run_cli("migrate", "r0001", "--dry-run", "--save-plan", "plan.json", cwd=root).code == 0
    path = root / "plan.json"
    data = json.loads(path.read_text())
    data["target"], data["after"] = "r0003", ["r0003"]
    path.write_text(json.dumps(data))
    result = run_cli("migrate", "--plan", "plan.json", cwd=root)
    assert result.code == 2 and "edited" in result.err
    assert version(psql_exec, urls["dev"]) == ""


def test_plan_for_another_environment_is_a_usage_error(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    assert run_cli("migrate", "--dry-run", "--save-plan", "plan.json", cwd=root).code == 0
    result = run_cli("migrate", "--plan", "plan.json", "--env", "prod", "--force", cwd=root)
    assert result.code == 2 and "for dev, not prod" in result.err
    assert version(psql_exec, urls["prod"]) == "" and version(psql_exec, urls["dev"]) == ""


def test_empty_env_name_is_a_usage_error(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    for argv in (("migrate",), ("status",), ("downgrade", "base")):
        result = run_cli(*argv, "--env", "", cwd=root)
        assert result.code == 2, (argv, result.err)
        assert "--env" in result.err and "Traceback" not in result.err
    assert version(psql_exec, urls["dev"]) == ""


# ---------------------------------------------------------------- downgrade through an irreversible revision


@pytest.fixture
def irreversible(tmp_path: Path, fresh_db: Callable[..., str]) -> tuple[Path, str]:
    """r0001 t_1, r0002 t_2 whose downgrade() raises, r0003 t_3; dev migrated to head."""
    url = fresh_db()
    make_project(tmp_path, {"dev": url}, revisions=1)
    add_revision(
        tmp_path,
        "r0002_t2.py",
        revision_source(
            "r0002",
            "r0001",
            "create t_2",
            'op.create_table("t_2", sa.Column("id", sa.Integer))',
            'raise RuntimeError("irreversible")',
        ),
    )
    add_revision(
        tmp_path,
        "r0003_t3.py",
        revision_source(
            "r0003",
            "r0002",
            "create t_3",
            'op.create_table("t_3", sa.Column("id", sa.Integer))',
            'op.drop_table("t_3")',
        ),
    )
    return tmp_path, url


def test_downgrade_plan_stops_before_an_irreversible_revision(irreversible, run_cli, psql_exec) -> None:
    root, url = irreversible
    assert run_cli("migrate", cwd=root).code == 0
    dry = run_cli("downgrade", "base", "--dry-run", "--save-plan", "plan.json", cwd=root)
    assert dry.code == 0, dry.err
    assert "stops before r0002" in dry.err and "RuntimeError: irreversible" in dry.err
    assert "from r0003 to r0002" in dry.err
    plan = json.loads((root / "plan.json").read_text())
    assert plan["stopped_at"] == "r0002" and plan["after"] == ["r0002"]
    assert [item["revision"] for item in plan["revisions"]] == ["r0003"]
    assert version(psql_exec, url) == "r0003"
    # applied without --force (typed confirmation: dropping t_3 is HIGH), it stops there and succeeds
    done = run_cli("downgrade", "base", cwd=root, stdin="dev\n")
    assert done.code == 0, done.err
    assert version(psql_exec, url) == "r0002" and tables(psql_exec, url) == ["t_1", "t_2"]


def test_downgrade_forced_past_an_irreversible_revision_says_where_it_stands(irreversible, run_cli, psql_exec) -> None:
    root, url = irreversible
    assert run_cli("migrate", cwd=root).code == 0
    result = run_cli("downgrade", "base", "--force", cwd=root)
    assert result.code == 5
    assert "failed at revision r0002" in result.err and "irreversible" in result.err
    assert "r0003" in result.err and "now at r0002" in result.err
    assert version(psql_exec, url) == "r0002" and tables(psql_exec, url) == ["t_1", "t_2"]

    assert run_cli("migrate", cwd=root).code == 0
    as_json = run_cli("downgrade", "base", "--force", "--json", cwd=root)
    assert as_json.code == 5
    data = json.loads(as_json.out)
    assert data["ok"] is False and data["failed_revision"] == "r0002"
    assert data["now_at"] == ["r0002"] and data["committed"] == ["r0003"]
    assert "irreversible" in data["error"]


def test_downgrade_from_an_irreversible_revision_says_why_nothing_happens(irreversible, run_cli, psql_exec) -> None:
    root, url = irreversible
    assert run_cli("migrate", "r0002", cwd=root).code == 0
    result = run_cli("downgrade", "base", cwd=root)
    assert result.code == 0, result.err
    assert "stops before r0002" in result.err and "RuntimeError: irreversible" in result.err
    assert version(psql_exec, url) == "r0002" and tables(psql_exec, url) == ["t_1", "t_2"]


def test_downgrade_preview_tells_irreversible_from_needs_a_live_database(proj, run_cli) -> None:
    root, _ = proj
    add_revision(
        root,
        "r0004_unique.py",
        revision_source(
            "r0004",
            "r0003",
            "unique name",
            'op.create_unique_constraint("uq_t_1_name", "t_1", ["name"])',
            'op.drop_constraint(None, "t_1")',
        ),
    )
    add_revision(
        root,
        "r0005_backfill.py",
        revision_source(
            "r0005",
            "r0004",
            "backfill",
            "pass",
            "rows = op.get_bind().execute(sa.text('SELECT id FROM t_1')).fetchall()",
        ),
    )
    assert run_cli("migrate", cwd=root).code == 0
    result = run_cli("downgrade", "base", "--dry-run", "--json", cwd=root)
    assert result.code == 0, result.err
    plan = json.loads(result.out)["plan"]
    by_rev = {item["revision"]: item for item in plan["revisions"]}
    assert list(by_rev) == ["r0005"]  # stops before the unnamed constraint drop
    assert by_rev["r0005"]["needs_live_database"] and not by_rev["r0005"]["irreversible"]
    assert plan["stopped_at"] == "r0004" and plan["after"] == ["r0004"]
    forced = json.loads(run_cli("downgrade", "base", "--dry-run", "--force", "--json", cwd=root).out)["plan"]
    irreversible = {item["revision"]: item["irreversible"] for item in forced["revisions"]}
    assert irreversible["r0004"] and "downgrade() fails" in irreversible["r0004"]
    assert irreversible["r0005"] is None and irreversible["r0001"] is None


# ---------------------------------------------------------------- a failing upgrade


@pytest.fixture
def failing_middle(tmp_path: Path, fresh_db: Callable[..., str]) -> tuple[Path, str]:
    """r0001 t_1, r0002 creates t_2 then divides by zero, r0003 t_3 (one transaction per migration)."""
    url = fresh_db()
    make_project(tmp_path, {"dev": url}, revisions=1)
    add_revision(
        tmp_path,
        "r0002_bad.py",
        revision_source(
            "r0002",
            "r0001",
            "bad",
            'op.create_table("t_2", sa.Column("id", sa.Integer)); op.execute("SELECT 1/0")',
        ),
    )
    add_revision(
        tmp_path,
        "r0003_t3.py",
        revision_source("r0003", "r0002", "create t_3", 'op.create_table("t_3", sa.Column("id", sa.Integer))'),
    )
    return tmp_path, url


def test_failing_upgrade_names_revision_committed_ones_and_where_it_stands(failing_middle, run_cli, psql_exec) -> None:
    root, url = failing_middle
    result = run_cli("migrate", cwd=root)
    assert result.code == 5
    assert "failed at revision r0002" in result.err and "division by zero" in result.err
    assert "committed: r0001" in result.err and "now at r0001" in result.err
    assert version(psql_exec, url) == "r0001" and tables(psql_exec, url) == ["t_1"]


def test_failing_upgrade_json_is_one_result_object(failing_middle, run_cli, psql_exec) -> None:
    root, url = failing_middle
    result = run_cli("migrate", "--json", cwd=root)
    assert result.code == 5
    data = json.loads(result.out)
    assert data["ok"] is False and data["failed_revision"] == "r0002"
    assert data["committed"] == ["r0001"] and data["now_at"] == ["r0001"]
    assert "division by zero" in data["error"]
    assert version(psql_exec, url) == "r0001"


# ---------------------------------------------------------------- ledger


def test_ledger_records_migrate_downgrade_stamp_and_a_failed_migrate(failing_middle, run_cli, psql_exec) -> None:
    root, url = failing_middle
    assert run_cli("migrate", cwd=root).code == 5
    assert ledger(psql_exec, url) == [("upgrade", "failed")]
    row = psql_exec(
        url,
        "SELECT array_to_string(from_revisions, ',') || '>' || array_to_string(to_revisions, ',') FROM syncdb.ledger;",
    ).strip()
    assert row == ">r0001"  # recorded where the database really ended up, not the plan's destination
    (root / "migrations" / "versions" / "r0002_bad.py").write_text(
        revision_source("r0002", "r0001", "fixed", 'op.create_table("t_2", sa.Column("id", sa.Integer))')
    )
    assert run_cli("migrate", cwd=root).code == 0
    assert run_cli("downgrade", "r0001", "--force", cwd=root).code == 0
    assert run_cli("stamp", "r0003", cwd=root).code == 0
    assert ledger(psql_exec, url) == [
        ("upgrade", "failed"),
        ("upgrade", "ok"),
        ("downgrade", "ok"),
        ("stamp", "ok"),
    ]
    history = run_cli("history", "--json", cwd=root)  # `syncdb history` lists the same rows, newest first
    assert history.code == 0, history.err
    assert [(item["action"], item["result"]) for item in json.loads(history.out)] == [
        ("stamp", "ok"),
        ("downgrade", "ok"),
        ("upgrade", "ok"),
        ("upgrade", "failed"),
    ]


# ---------------------------------------------------------------- post-flight


def test_postflight_reports_an_invalid_index_left_by_a_failed_concurrent_build(proj, run_cli, psql_exec) -> None:
    root, urls = proj
    url = urls["dev"]
    assert run_cli("migrate", cwd=root).code == 0
    psql_exec(url, "INSERT INTO t_1 (name) VALUES ('same'), ('same');")
    bad = add_revision(
        root,
        "r0004_ix.py",
        revision_source(
            "r0004",
            "r0003",
            "unique index on t_1.name",
            "with op.get_context().autocommit_block():\n"
            '        op.execute("CREATE UNIQUE INDEX CONCURRENTLY ix_t_1_name ON t_1 (name)")',
        ),
    )
    failed = run_cli("migrate", "--json", cwd=root)
    assert failed.code == 5
    data = json.loads(failed.out)
    assert data["ok"] is False and data["failed_revision"] == "r0004" and data["now_at"] == ["r0003"]
    assert data["rolled_back"] is False  # CONCURRENTLY runs outside a transaction: it can leave things behind
    assert data["postflight"]["invalid_indexes"] == ["ix_t_1_name on t_1"]
    recorded = psql_exec(url, "SELECT postflight->'invalid_indexes'->>0 FROM syncdb.ledger WHERE result = 'failed';")
    assert recorded.strip() == "ix_t_1_name on t_1"
    # the next successful change still warns about it
    bad.write_text(revision_source("r0004", "r0003", "harmless", 'op.execute("SELECT 1")'))
    ok = run_cli("migrate", cwd=root)
    assert ok.code == 0, ok.err
    assert "post-flight: index ix_t_1_name on t_1 is INVALID" in ok.err


# ---------------------------------------------------------------- policy parity


def _drop_revision(root: Path) -> None:
    add_revision(root, "r0002_drop.py", revision_source("r0002", "r0001", "drop t_1", 'op.drop_table("t_1")'))


@pytest.mark.parametrize("env_name", ["dev", "prod"])
@pytest.mark.parametrize("risk", ["LOW", "HIGH"])
def test_cli_asks_exactly_what_the_policy_requires(tmp_path, fresh_db, run_cli, psql_exec, env_name, risk) -> None:
    urls = {"dev": fresh_db(), "prod": fresh_db()}
    make_project(tmp_path, urls, revisions=1, protected=("prod",))
    _drop_revision(tmp_path)
    url = urls[env_name]
    if risk == "HIGH":  # the plan is r0001 → r0002, which drops a table
        assert run_cli("migrate", "r0001", "--env", env_name, "--force", "--no-backup", cwd=tmp_path).code == 0
    start = version(psql_exec, url)
    target = "r0001" if risk == "LOW" else "r0002"

    config = load_config(tmp_path / "syncdb.toml")
    env = resolve(config, env_name)
    plan = make_plan(Project.from_config(config), env, "upgrade", target, backup=False)
    assert plan.risk == risk
    req = requirements(env, plan.action, risk=plan.risk, findings=plan.findings(), backup=False)
    assert req.typed_name is (env_name == "prod" or risk == "HIGH")
    assert bool(req.acks) is (env_name == "prod" and risk == "HIGH")

    result = run_cli("migrate", target, "--env", env_name, "--no-backup", cwd=tmp_path)
    if req.typed_name:
        assert result.code == 3, result.err
        assert "--force" in result.err and version(psql_exec, url) == start
        if req.acks:
            assert "drop" in result.err.lower() and "HIGH" in result.err
        forced = run_cli("migrate", target, "--env", env_name, "--no-backup", "--force", cwd=tmp_path)
        assert forced.code == 0, forced.err
    else:
        assert result.code == 0, result.err
    assert version(psql_exec, url) == target


def test_protected_high_change_typed_prompt_lists_the_findings(tmp_path, fresh_db, run_cli, psql_exec) -> None:
    url = fresh_db()
    make_project(tmp_path, {"prod": url}, revisions=1, protected=("prod",))
    _drop_revision(tmp_path)
    assert run_cli("migrate", "r0001", "--force", "--no-backup", cwd=tmp_path).code == 0
    wrong = run_cli("migrate", "--no-backup", cwd=tmp_path, stdin="dev\n")
    assert wrong.code == 3 and version(psql_exec, url) == "r0001"
    typed = run_cli("migrate", "--no-backup", cwd=tmp_path, stdin="prod\n")
    assert typed.code == 0, typed.err
    assert "HIGH" in typed.err and "(r0002)" in typed.err and "acknowledgement" in typed.err
    assert version(psql_exec, url) == "r0002"


@pytest.mark.parametrize("env_name", ["dev", "prod"])
@pytest.mark.parametrize("risk", ["LOW", "HIGH"])
async def test_app_asks_exactly_what_the_policy_requires(tmp_path, fresh_db, psql_exec, env_name, risk) -> None:
    """The app's migrate (m) on the same plans: it asks for acknowledgements and the typed name when, and only
    when, the policy requires them, and runs at once otherwise."""
    import asyncio

    from fixtures_ui import settle

    from syncdb_tui.ui.app import SyncdbApp
    from syncdb_tui.ui.screens.confirm import ConfirmScreen
    from syncdb_tui.ui.screens.main import MainScreen

    urls = {"dev": fresh_db(), "prod": fresh_db()}
    make_project(tmp_path, urls, revisions=1, protected=("prod",))
    url = urls[env_name]
    config = load_config(tmp_path / "syncdb.toml")
    if risk == "HIGH":  # the plan is r0001 → r0002, which drops a table
        await asyncio.to_thread(_migrate_quietly, config, env_name, "r0001")
        _drop_revision(tmp_path)
    start = version(psql_exec, url)
    env = resolve(config, env_name)
    plan = await asyncio.to_thread(make_plan, Project.from_config(config), env, "upgrade", "head")
    assert plan.risk == risk
    req = requirements(env, plan.action, risk=plan.risk, findings=plan.findings())
    assert req.typed_name is (env_name == "prod" or risk == "HIGH")
    assert bool(req.acks) is (env_name == "prod" and risk == "HIGH")

    app = SyncdbApp(config, env=env_name)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("m")
        titles: list[str] = []
        for _ in range(600):
            await pilot.pause(0.05)
            titles = [notification.title for notification in app._notifications]
            if isinstance(app.screen, ConfirmScreen) or {"acknowledge HIGH findings", "migrate done"} & set(titles):
                break
        if req.acks:
            assert "acknowledge HIGH findings" in titles and isinstance(app.screen, MainScreen)
            assert version(psql_exec, url) == start
        elif req.typed_name:
            assert isinstance(app.screen, ConfirmScreen) and app.screen.env_name == env_name and app.screen.typed
            await pilot.press("escape")
            await settle(pilot, app)
            assert version(psql_exec, url) == start
        else:
            # nothing to type: the plan is shown, and one Enter runs it
            assert isinstance(app.screen, ConfirmScreen) and not app.screen.typed
            await pilot.press("enter")
            for _ in range(600):
                await pilot.pause(0.05)
                if "migrate done" in [notification.title for notification in app._notifications]:
                    break
            assert version(psql_exec, url) == "r0001"


def _migrate_quietly(config, env_name: str, target: str) -> None:  # type: ignore[no-untyped-def]
    from syncdb_tui.core.changes.executor import plan_and_apply

    plan_and_apply(Project.from_config(config), resolve(config, env_name), "upgrade", target)
