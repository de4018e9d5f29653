"""Offline rendering split over two processes (offline._Split): a long pass is rendered by the parent
and a forked child, and the result is the one process's, byte for byte (issue 13).

Real Alembic projects (no database: offline SQL only), with branches, merges and data migrations,
for an env.py with one transaction per revision and for one with a single transaction around the
pass; a child that dies, raises or writes to the terminal; a parent whose own part fails.
"""

from __future__ import annotations

import gc
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from syncdb_tui.config import load_config
from syncdb_tui.core.errors import ConfigError
from syncdb_tui.core.project import cache as revision_cache
from syncdb_tui.core.project import offline
from syncdb_tui.core.project.offline import RevisionSQL, offline_range
from syncdb_tui.core.project.revisions import Project

from alembic_factory import ENV_FILES, MAKO, revision_source, write_syncdb_toml

PARENT = "SYNCDB_TEST_PARENT_PID"
"""Revisions below act differently in a forked child: its pid is not this one."""
IN_CHILD = f'os.environ.get("{PARENT}") and str(os.getpid()) != os.environ["{PARENT}"]'
IN_PARENT = f'str(os.getpid()) == os.environ.get("{PARENT}")'


def build(root: Path, revisions: int, *, env_style: str = "shared", special: dict[int, str] | None = None) -> Project:
    """A history of about ``revisions`` revisions: every 25th a branch of two and a merge, every 25th
    (offset) a data migration that renders some SQL then reads query results; ``special`` gives the
    body of chosen revisions (by number)."""
    scripts = root / "migrations"
    versions = scripts / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (scripts / "env.py").write_text(ENV_FILES[env_style])
    (scripts / "script.py.mako").write_text(MAKO)
    previous: str | None = None
    n = 0
    while n < revisions:
        n += 1
        rid = f"r{n:04d}"
        if n % 25 == 10 and previous:
            a, b, m = f"{rid}a", f"{rid}b", f"{rid}m"
            add = f'op.add_column("t_1", sa.Column("ba_{n}", sa.Text))'
            (versions / f"{a}.py").write_text(revision_source(a, previous, "branch a", add))
            index = f'op.create_index("ix_b_{n}", "t_1", ["name"])'
            (versions / f"{b}.py").write_text(revision_source(b, previous, "branch b", index))
            (versions / f"{m}.py").write_text(revision_source(m, (a, b), "merge", "pass"))
            previous, n = m, n + 2
            continue
        if special and n in special:
            body = special[n]
        elif n % 25 == 17 and previous:
            body = (
                f'op.execute("DROP TYPE IF EXISTS old_{n}")\n    op.create_index("ix_d_{n}", "t_1", ["name"])\n'
                '    rows = op.get_bind().execute(sa.text("SELECT 1")).fetchall()'
            )
        elif previous is None:
            body = 'op.create_table("t_1", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))'
        elif n % 3 == 0:
            body = f'op.create_table("t_{n}", sa.Column("id", sa.Integer, primary_key=True))'
        elif n % 3 == 1:
            body = f'op.add_column("t_1", sa.Column("c_{n}", sa.Text))'
        else:
            body = 'op.execute("ALTER TABLE t_1 ALTER COLUMN name SET NOT NULL")'
        (versions / f"{rid}.py").write_text("import os\n" + revision_source(rid, previous, f"revision {n}", body))
        previous = rid
    write_syncdb_toml(
        root, ['script_location = "migrations"', 'default_env = "dev"'], {"dev": "postgresql://nobody@127.0.0.1:1/x"}
    )
    return Project.from_config(load_config(root / "syncdb.toml"))


class Spy:
    """Which passes were split, the children's pids, and whether each child's part was used."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pids: list[int] = []
        self.joins: list[bool] = []
        fork, join = offline._Split._fork, offline._Split._join
        me = os.getpid()

        def spy_fork(split: Any) -> bool:
            done = fork(split)
            if os.getpid() == me and split.state == "parent":
                self.pids.append(split.pid)
            return done

        def spy_join(split: Any) -> bool:
            joined = join(split)
            self.joins.append(joined)
            return joined

        monkeypatch.setattr(offline._Split, "_fork", spy_fork)
        monkeypatch.setattr(offline._Split, "_join", spy_join)


@pytest.fixture(autouse=True)
def _parent_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PARENT, str(os.getpid()))
    monkeypatch.setenv("SYNCDB_NO_CACHE", "1")
    if threading.active_count() != 1:
        pytest.skip("other threads are running: offline rendering does not fork")


def render(project: Project, monkeypatch: pytest.MonkeyPatch, *, fork: bool) -> list[RevisionSQL]:
    monkeypatch.setenv("SYNCDB_FORK", "1" if fork else "0")
    return offline_range(project, project.graph().upgrade_order())


@pytest.mark.parametrize("env_style", ["shared", "sync"])
def test_split_pass_gives_the_one_process_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_style: str
) -> None:
    """Per-revision transactions (shared) and one transaction around the whole pass (sync): the seam
    between the parent's SQL and the child's is invisible; data migrations in both parts keep what
    they rendered before they stopped, with the same reason."""
    project = build(tmp_path, 130, env_style=env_style)
    serial = render(project, monkeypatch, fork=False)
    spy = Spy(monkeypatch)
    parallel = render(project, monkeypatch, fork=True)
    assert spy.pids and spy.joins == [True]
    assert parallel == serial
    assert [item.revision for item in parallel] == project.graph().upgrade_order()
    partial = [item for item in parallel if item.needs_live_reason]
    half = len(parallel) // 2
    assert [item.revision for item in partial] == ["r0017", "r0042", "r0067", "r0092", "r0117"]
    assert all("DROP TYPE IF EXISTS" in item.sql for item in partial)
    assert any(parallel.index(item) < half for item in partial) and any(parallel.index(item) > half for item in partial)
    with pytest.raises(ChildProcessError):
        os.waitpid(spy.pids[0], os.WNOHANG)  # reaped


def test_the_revision_cache_is_written_by_the_parent_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCDB_NO_CACHE")
    project = build(tmp_path, 80)
    stored = tmp_path / ".syncdb" / "cache" / "revisions.json"
    serial = render(project, monkeypatch, fork=False)
    before = json.loads(stored.read_text())["sql"]
    revision_cache.clear(project)
    spy = Spy(monkeypatch)
    parallel = render(project, monkeypatch, fork=True)
    assert spy.joins == [True] and parallel == serial
    assert json.loads(stored.read_text())["sql"] == before
    assert render(project, monkeypatch, fork=True) == serial  # from the cache: nothing forked
    assert spy.joins == [True]


@pytest.mark.parametrize(
    "child_body",
    [
        f"if {IN_CHILD}:\n        os._exit(7)",  # dies
        f'if {IN_CHILD}:\n        raise ImportError("only in the child")',  # stops its pass
        f"if {IN_CHILD}:\n        os.kill(os.getpid(), 9)",  # killed
    ],
    ids=["exits", "raises", "killed"],
)
def test_a_failed_child_leaves_its_revisions_to_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child_body: str
) -> None:
    project = build(tmp_path, 100, special={95: child_body + '\n    op.execute("SELECT 95")'})
    serial = render(project, monkeypatch, fork=False)
    spy = Spy(monkeypatch)
    parallel = render(project, monkeypatch, fork=True)
    assert spy.pids and spy.joins == [False]
    assert parallel == serial
    assert "SELECT 95" in {item.revision: item for item in parallel}["r0095"].sql


def test_the_child_never_writes_to_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    body = f'if {IN_CHILD}:\n        os.write(1, b"CHILD OUT\\n")\n        os.write(2, b"CHILD ERR\\n")\n    pass'
    project = build(tmp_path, 100, special={90: body})
    serial = render(project, monkeypatch, fork=False)
    spy = Spy(monkeypatch)
    assert render(project, monkeypatch, fork=True) == serial and spy.joins == [True]
    out, err = capfd.readouterr()
    assert "CHILD" not in out and "CHILD" not in err


def test_a_failure_in_the_parents_part_stops_the_pass_and_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = build(tmp_path, 100, special={5: f'if {IN_PARENT}:\n        raise ImportError("no such module")'})
    with pytest.raises(ConfigError):
        render(project, monkeypatch, fork=False)
    spy = Spy(monkeypatch)
    with pytest.raises(ConfigError):
        render(project, monkeypatch, fork=True)
    assert spy.pids and spy.joins == []
    with pytest.raises(ChildProcessError):
        os.waitpid(spy.pids[0], os.WNOHANG)  # killed and reaped


def test_a_short_history_is_rendered_by_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = build(tmp_path, 30)
    spy = Spy(monkeypatch)
    items = render(project, monkeypatch, fork=True)
    assert len(items) == 30 and spy.pids == []


def _derived(calls: list[tuple[int, int]]) -> offline.Derived:
    """A Derived value that tells which process computed it: [pid, length of the SQL, the reason]."""

    def compute(items: list[RevisionSQL]) -> list[Any]:
        calls.append((os.getpid(), len(items)))
        return [[os.getpid(), len(item.sql), item.needs_live_reason] for item in items]

    return offline.Derived(compute, list, list)


def test_derived_values_are_computed_by_both_processes_for_the_final_sql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent computes its part's values before it waits for the child, the child its own part's and
    sends them; each value is the one of the revision's SQL as the whole pass splits it."""
    project = build(tmp_path, 130)
    serial = render(project, monkeypatch, fork=False)
    calls: list[tuple[int, int]] = []
    derived = _derived(calls)
    spy = Spy(monkeypatch)
    monkeypatch.setenv("SYNCDB_FORK", "1")
    parallel = offline_range(project, project.graph().upgrade_order(), derived=derived)
    assert spy.joins == [True] and parallel == serial
    assert calls == [(os.getpid(), calls[0][1])]  # the parent's part, computed here once
    values = [derived.get(item) for item in parallel]
    assert all(value is not None for value in values)
    assert [value[1:] for value in values] == [[len(item.sql), item.needs_live_reason] for item in serial]
    pids = [value[0] for value in values]
    first_child = pids.index(spy.pids[0])
    assert set(pids[:first_child]) == {os.getpid()} and set(pids[first_child:]) == {spy.pids[0]}
    assert calls[0][1] == first_child and any(item.needs_live_reason for item in parallel[first_child:])


def test_derived_values_without_a_split_are_left_to_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = build(tmp_path, 80)
    calls: list[tuple[int, int]] = []
    derived = _derived(calls)
    monkeypatch.setenv("SYNCDB_FORK", "0")
    items = offline_range(project, project.graph().upgrade_order(), derived=derived)
    assert calls == [] and all(derived.get(item) is None for item in items)


def test_a_derived_value_is_given_only_for_the_sql_it_was_computed_from() -> None:
    derived = offline.Derived(lambda items: [item.sql.upper() for item in items], str, str.lower)
    derived.add([RevisionSQL("a", "upgrade", "select 1;\n"), RevisionSQL("b", "upgrade", "", "reads results")])
    derived.take({"c": ["select 3;\n", "", "SELECT 3;\n"], "d": "malformed", "e": [1, "", "x"]})
    assert derived.get(RevisionSQL("a", "upgrade", "select 1;\n")) == "SELECT 1;\n"
    assert derived.get(RevisionSQL("a", "upgrade", "select 2;\n")) is None
    assert derived.get(RevisionSQL("b", "upgrade", "", "reads results")) == ""
    assert derived.get(RevisionSQL("b", "upgrade", "", "another reason")) is None
    assert derived.get(RevisionSQL("c", "upgrade", "select 3;\n")) == "select 3;\n"  # decoded
    assert derived.get(RevisionSQL("d", "upgrade", "")) is None and derived.get(RevisionSQL("e", "upgrade", "")) is None


def test_a_child_whose_derived_values_fail_still_renders_its_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = build(tmp_path, 100)
    serial = render(project, monkeypatch, fork=False)
    me = os.getpid()

    def compute(items: list[RevisionSQL]) -> list[Any]:
        if os.getpid() != me:
            raise RuntimeError("only in the child")
        return [item.sql for item in items]

    derived = offline.Derived(compute, str, str)
    spy = Spy(monkeypatch)
    monkeypatch.setenv("SYNCDB_FORK", "1")
    parallel = offline_range(project, project.graph().upgrade_order(), derived=derived)
    assert spy.joins == [True] and parallel == serial
    known = [derived.get(item) is not None for item in parallel]
    assert known[0] and not known[-1] and known == sorted(known, reverse=True)


def test_risk_of_a_range_is_judged_while_it_renders_with_the_one_process_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Any
) -> None:
    """``syncdb risk base:heads --json`` cold: the same output and the same cache file, byte for byte, whether
    the analyses were made by two processes while rendering or after by one; the parent judges nothing again."""
    from syncdb_tui.core.risk import judge

    project = build(tmp_path, 130)
    stored = tmp_path / ".syncdb" / "cache" / "revisions.json"
    ready: list[list[Any]] = []
    analyse_cached = judge.analyse_cached

    def spy_analyse(*args: Any, **kwargs: Any) -> Any:
        ready.append(list(kwargs.get("ready", ())))
        return analyse_cached(*args, **kwargs)

    results = []
    threshold = gc.get_threshold()
    for fork in ("0", "1"):
        revision_cache.clear(project)
        monkeypatch.delenv("SYNCDB_NO_CACHE", raising=False)
        monkeypatch.setenv("SYNCDB_FORK", fork)
        monkeypatch.setenv(PARENT, str(os.getpid()))
        monkeypatch.setattr(judge, "analyse_cached", spy_analyse)
        result = run_cli("risk", "base:heads", "--json", cwd=tmp_path)  # undoes the monkeypatches
        assert result.code == 0, result.err
        results.append((result.out, result.err, stored.read_bytes()))
    assert results[0] == results[1]
    assert gc.get_threshold() == threshold  # raised while the command ran, for it alone
    assert len(json.loads(results[0][0])) > 100
    assert all(item is None for item in ready[0]) and all(item is not None for item in ready[1])
