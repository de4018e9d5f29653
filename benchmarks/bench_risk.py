"""Benchmark: the risk engine on the offline SQL of a synthetic 1000-revision history, against squawk.

Synthesises Alembic-style offline SQL (BEGIN, "-- Running upgrade", varied DDL and data
changes, the alembic_version UPDATE, COMMIT) for N revisions, then in the same run:

- syncdb: ``analyse_sql`` on each revision's SQL (as ``syncdb status`` / ``risk`` do), in-process;
- squawk: the ``squawk`` binary (squawk-cli) on the same SQL, one file per revision, one process.

Prints statements per second for both and the time ratio. Target: 1000 revisions in < 2 s and
within 3x of squawk's time.

Then, whole commands as a user runs them (process start included), in the same run:

(a) ``syncdb risk FILE.sql --json`` on the whole history as one file (about 7,000 statements) against
    ``squawk --reporter json FILE.sql`` — target ≤ 2x — and the text form (plain lines, stdout not a
    terminal) against the JSON form — target ≤ 1.5x;
(b) a synthetic 300-revision Alembic history with branches, merges and data migrations:
    ``syncdb risk base:heads --json`` cold (no revision cache) and warm, against
    ``alembic upgrade base:heads --sql`` cold — targets cold ≤ 1.0x, warm ≤ 0.3 s. Alembic's offline
    mode stops at the first data migration, so its baseline runs on the same history with the
    data migrations' live reads removed (one pass over everything: the least rendering can cost);
    syncdb runs on the real one (it renders what each data migration shows before it stops, and
    judges it).

The last line is ``RESULT risk ratio=<(a) syncdb/squawk> target=2``.

    python benchmarks/bench_risk.py [--revisions 1000] [--repeat 3] [--history 300]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

TEMPLATES = [
    "CREATE TABLE t_{n} (id bigserial PRIMARY KEY, owner_id int NOT NULL REFERENCES t_{p} (id), "
    "name varchar(200) NOT NULL, meta jsonb DEFAULT '{{}}'::jsonb NOT NULL, "
    "created_at timestamptz DEFAULT now() NOT NULL);",
    "CREATE INDEX ix_t_{p}_name_{n} ON t_{p} (name);",
    "CREATE INDEX CONCURRENTLY ix_t_{p}_created_{n} ON t_{p} (created_at);",
    "ALTER TABLE t_{p} ADD COLUMN c_{n} text;",
    "ALTER TABLE t_{p} ADD COLUMN flag_{n} boolean DEFAULT false NOT NULL;",
    "ALTER TABLE t_{p} ADD COLUMN token_{n} uuid DEFAULT gen_random_uuid();",
    "ALTER TABLE t_{p} ALTER COLUMN name TYPE text;",
    "ALTER TABLE t_{p} ALTER COLUMN owner_id TYPE bigint;",
    "ALTER TABLE t_{p} ALTER COLUMN name SET NOT NULL;",
    "ALTER TABLE t_{p} ALTER COLUMN meta DROP NOT NULL;",
    "ALTER TABLE t_{p} RENAME COLUMN c_{q} TO d_{n};",
    "ALTER TABLE t_{p} DROP COLUMN IF EXISTS d_{q};",
    "ALTER TABLE t_{p} ADD CONSTRAINT fk_{n} FOREIGN KEY (owner_id) REFERENCES t_{q} (id) NOT VALID;",
    "ALTER TABLE t_{p} VALIDATE CONSTRAINT fk_{q};",
    "ALTER TABLE t_{p} ADD CONSTRAINT ck_{n} CHECK (length(name) < 500);",
    "ALTER TABLE t_{p} ADD CONSTRAINT uq_{n} UNIQUE (name);",
    "UPDATE t_{p} SET meta = '{{}}'::jsonb WHERE meta IS NULL;",
    "DELETE FROM t_{p} WHERE created_at < now() - interval '2 years';",
    "DROP INDEX ix_t_{q}_name_{q};",
    "COMMENT ON TABLE t_{p} IS 'revision {n}';",
    "INSERT INTO t_{p} (owner_id, name) VALUES (1, 'seed {n}');",
    "ALTER TYPE status_{q} ADD VALUE 'v{n}';",
]


def synthesise(revisions: int, seed: int = 7) -> list[str]:
    """The offline SQL of each revision of a linear history."""
    rng = random.Random(seed)
    out = []
    for n in range(1, revisions + 1):
        body = []
        for _ in range(rng.randint(2, 6)):
            template = TEMPLATES[rng.randrange(len(TEMPLATES))]
            body.append(template.format(n=n, p=max(1, n - rng.randint(1, 20)), q=max(1, n - rng.randint(1, 50))))
        previous = f"{n - 1:04d}"
        out.append(
            "BEGIN;\n\n"
            f"-- Running upgrade {previous} -> {n:04d}\n\n"
            + "\n\n".join(body)
            + f"\n\nUPDATE alembic_version SET version_num='{n:04d}' "
            f"WHERE alembic_version.version_num = '{previous}';\n\nCOMMIT;\n\n"
        )
    return out


def count_statements(sqls: list[str]) -> int:
    from pglast.parser import split

    return sum(len(split(sql)) for sql in sqls)


def run_syncdb(sqls: list[str]) -> tuple[float, int]:
    from syncdb_tui.core.risk.analysis import analyse_sql
    from syncdb_tui.core.risk.parse import parse

    parse.cache_clear()  # measure parsing too, not the cache of an earlier run
    start = time.perf_counter()
    findings = sum(len(analyse_sql(sql).findings) for sql in sqls)
    return time.perf_counter() - start, findings


def run_squawk(directory: Path) -> tuple[float, int]:
    binary = shutil.which("squawk") or str(Path(sys.executable).parent / "squawk")
    start = time.perf_counter()
    result = subprocess.run(
        [binary, "--reporter", "gcc", str(directory / "*.sql")], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise SystemExit(f"squawk failed ({result.returncode}): {result.stderr.strip()[:300]}")
    return elapsed, sum(1 for line in result.stdout.splitlines() if ": warning" in line or ": error" in line)


def _measured(argv: list[str], **kwargs: Any) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``argv``, its output captured.

    CPU time is the steadier figure on a busy machine: other processes stretch the wall time
    of both tools, not the work each does.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False, **kwargs)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_syncdb_cli(path: Path) -> tuple[float, float]:
    """Wall and CPU time of ``syncdb risk FILE --json`` as a user runs it (process start included)."""
    return _measured(
        [sys.executable, "-m", "syncdb_tui", "risk", str(path), "--json"], cwd=path.parent, env=_installed_env()
    )


def _installed_env() -> dict[str, str]:
    """The environment without PYTHONDONTWRITEBYTECODE: syncdb runs as installed, its bytecode cached."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def run_squawk_file(path: Path) -> tuple[float, float]:
    """Wall and CPU time of ``squawk --reporter json FILE``."""
    binary = shutil.which("squawk") or str(Path(sys.executable).parent / "squawk")
    return _measured([binary, "--reporter", "json", str(path)])


def run_syncdb_text(path: Path) -> tuple[float, float]:
    """Wall and CPU time of ``syncdb risk FILE`` (text, stdout a pipe: plain lines)."""
    return _measured([sys.executable, "-m", "syncdb_tui", "risk", str(path)], cwd=path.parent, env=_installed_env())


def bench_whole_file(sqls: list[str], repeat: int) -> dict[str, tuple[float, float]]:
    """(a): median (wall, CPU) of syncdb risk --json, syncdb risk (text) and squawk on the history as one file."""
    with tempfile.TemporaryDirectory() as tmp:
        whole = Path(tmp) / "history.sql"
        whole.write_text("".join(sqls))
        runs: dict[str, list[tuple[float, float]]] = {"json": [], "text": [], "squawk": []}
        for _ in range(repeat):  # alternately, so that load on the machine hits all three alike
            runs["json"].append(run_syncdb_cli(whole))
            runs["text"].append(run_syncdb_text(whole))
            runs["squawk"].append(run_squawk_file(whole))
    return {
        name: (_median([wall for wall, _ in items]), _median([cpu for _, cpu in items])) for name, items in runs.items()
    }


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def build_history(root: Path, revisions: int, *, live_reads: bool, seed: int = 3) -> None:
    """An Alembic project of ``revisions`` revisions: every 25th a branch of two and a merge, every 25th
    (offset) a data migration that renders a DROP TYPE and an index, then reads query results."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from alembic_factory import ENV_FILES, MAKO, revision_source, write_syncdb_toml

    rng = random.Random(seed)
    scripts = root / "migrations"
    versions = scripts / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (scripts / "env.py").write_text(ENV_FILES["shared"])
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
        if n % 25 == 17 and previous:
            read = 'rows = op.get_bind().execute(sa.text("SELECT 1")).fetchall()' if live_reads else "rows = []"
            body = (
                f'op.execute("DROP TYPE IF EXISTS old_{n}")\n    op.create_index("ix_d_{n}", "t_1", ["name"])\n'
                f'    {read}\n    op.execute("UPDATE t_1 SET name = name")'
            )
            (versions / f"{rid}.py").write_text(revision_source(rid, previous, "data migration", body))
            previous = rid
            continue
        choice = rng.randrange(5)
        if previous is None:
            body = 'op.create_table("t_1", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))'
        elif choice == 0:
            body = f'op.create_table("t_{n}", sa.Column("id", sa.Integer, primary_key=True))'
        elif choice == 1:
            body = f'op.add_column("t_1", sa.Column("c_{n}", sa.Text))'
        elif choice == 2:
            body = 'op.alter_column("t_1", "name", type_=sa.String(200))'
        elif choice == 3:
            body = 'op.execute("ALTER TABLE t_1 ALTER COLUMN name SET NOT NULL")'
        else:
            body = f'op.drop_column("t_1", "c_{max(1, n - 3)}")'
        (versions / f"{rid}.py").write_text(revision_source(rid, previous, f"revision {n}", body))
        previous = rid
    url = "postgresql://nobody@127.0.0.1:1/none"
    write_syncdb_toml(root, ['script_location = "migrations"', 'default_env = "dev"'], {"dev": url})
    (root / "alembic.ini").write_text(
        "[alembic]\nscript_location = migrations\nsqlalchemy.url = postgresql+asyncpg://nobody@127.0.0.1:1/none\n"
    )


def _timed(argv: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    elapsed, result, _ = _timed_cpu(argv, cwd)
    return elapsed, result


def _timed_cpu(argv: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str], float]:
    """(wall time, result, CPU time) of ``argv``; the CPU time (user + system) is the process's and its own
    children's (a forked renderer), as the kernel accounts them when they are reaped."""
    import resource

    # both tools run as installed: with their bytecode cached (PYTHONDONTWRITEBYTECODE would make
    # every edited syncdb module compile again in every run, which no user's install does)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, result, cpu


class HistoryTimes(NamedTuple):
    """Medians of ``bench_history``'s runs (seconds): wall and CPU time of each command."""

    cold: float
    warm: float
    base: float
    judged: int
    cold_cpu: float
    warm_cpu: float
    base_cpu: float


def bench_history(revisions: int, repeat: int) -> HistoryTimes:
    """Medians of syncdb cold, syncdb warm and alembic cold (wall, then CPU), and the revisions judged, for
    ``syncdb risk base:heads``; the three commands run in turn, ``repeat`` times, so that load on the
    machine hits them alike."""
    alembic = shutil.which("alembic") or str(Path(sys.executable).parent / "alembic")
    syncdb = [sys.executable, "-m", "syncdb_tui", "risk", "base:heads", "--json"]
    with tempfile.TemporaryDirectory() as tmp:
        real, baseline = Path(tmp) / "real", Path(tmp) / "baseline"
        build_history(real, revisions, live_reads=True)
        build_history(baseline, revisions, live_reads=False)
        cold, warm, base = [], [], []
        cold_cpu, warm_cpu, base_cpu = [], [], []
        judged = 0
        for _ in range(repeat):
            shutil.rmtree(real / ".syncdb", ignore_errors=True)
            elapsed, result, cpu = _timed_cpu(syncdb, real)
            if result.returncode != 0:
                raise SystemExit(f"syncdb risk failed: {result.stderr[-500:]}")
            cold.append(elapsed)
            cold_cpu.append(cpu)
            elapsed, result, cpu = _timed_cpu(syncdb, real)
            warm.append(elapsed)
            warm_cpu.append(cpu)
            elapsed, result, cpu = _timed_cpu([alembic, "upgrade", "base:heads", "--sql"], baseline)
            if result.returncode != 0:
                raise SystemExit(f"alembic failed: {result.stderr[-500:]}")
            base.append(elapsed)
            base_cpu.append(cpu)
            judged = len({f["revision"] for f in json.loads(_timed(syncdb, real)[1].stdout)})
    return HistoryTimes(
        _median(cold), _median(warm), _median(base), judged, _median(cold_cpu), _median(warm_cpu), _median(base_cpu)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each tool; the best is reported")
    parser.add_argument("--history", type=int, default=300, help="revisions of the synthetic Alembic history (b)")
    args = parser.parse_args()
    sqls = synthesise(args.revisions)
    statements = count_statements(sqls)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for index, sql in enumerate(sqls, 1):
            (directory / f"{index:04d}.sql").write_text(sql)
        run_syncdb(sqls[:20])  # warm-up: imports, pglast, caches
        syncdb_runs = [run_syncdb(sqls) for _ in range(args.repeat)]
        squawk_runs = [run_squawk(directory) for _ in range(args.repeat)]
    statements_whole = count_statements(["".join(sqls)])
    whole_runs = max(args.repeat, 9)  # a whole command lasts a third of a second: medians of more runs
    whole = bench_whole_file(sqls, whole_runs)
    (cli_time, cli_cpu), (text_time, _), (squawk_file_time, squawk_file_cpu) = (
        whole["json"],
        whole["text"],
        whole["squawk"],
    )
    syncdb_time, syncdb_findings = min(syncdb_runs)
    squawk_time, squawk_hits = min(squawk_runs)
    print(f"history: {args.revisions} revisions, {statements} statements ({len(''.join(sqls)) / 1e6:.2f} MB of SQL)")
    print(
        f"syncdb risk : {syncdb_time:6.3f} s  {statements / syncdb_time:9.0f} statements/s  "
        f"({syncdb_findings} findings; best of {args.repeat})"
    )
    print(
        f"squawk      : {squawk_time:6.3f} s  {statements / squawk_time:9.0f} statements/s  "
        f"({squawk_hits} warnings; one process over {args.revisions} files; best of {args.repeat})"
    )
    print(f"ratio syncdb/squawk: {syncdb_time / squawk_time:.2f}x  (target: < 2 s and <= 3x)")
    ratio = cli_time / squawk_file_time
    print(
        f"(a) one file of {statements_whole} statements, whole command (medians of {whole_runs}): "
        f"syncdb risk --json {cli_time:.3f} s, squawk --reporter json {squawk_file_time:.3f} s: "
        f"{ratio:.2f}x (target <= 2x); text {text_time:.3f} s = {text_time / cli_time:.2f}x the JSON form "
        f"(target <= 1.5x); CPU time syncdb {cli_cpu:.3f} s, squawk {squawk_file_cpu:.3f} s: "
        f"{cli_cpu / squawk_file_cpu:.2f}x"
    )
    times = bench_history(args.history, max(5, min(args.repeat, 9)))
    cold, warm, base = times.cold, times.warm, times.base
    print(
        f"(b) {args.history}-revision history with branches, merges and data migrations ({times.judged} revisions "
        f"with findings): syncdb risk base:heads cold {cold:.3f} s ({cold / base:.2f}x alembic upgrade base:heads "
        f"--sql {base:.3f} s; target <= 1.0x), warm {warm:.3f} s (target <= 0.3 s); CPU time cold "
        f"{times.cold_cpu:.3f} s ({times.cold_cpu / times.base_cpu:.2f}x alembic's {times.base_cpu:.3f} s), warm "
        f"{times.warm_cpu:.3f} s (medians of {max(5, min(args.repeat, 9))})"
    )
    print(f"RESULT risk ratio={ratio:.2f} target=2")


if __name__ == "__main__":
    main()
