"""Benchmark: the risk engine on the offline SQL of a synthetic 1000-revision history, against squawk.

Synthesises Alembic-style offline SQL (BEGIN, "-- Running upgrade", varied DDL and data
changes, the alembic_version UPDATE, COMMIT) for N revisions, then in the same run:

- syncdb: ``analyse_sql`` on each revision's SQL (as ``syncdb status`` / ``risk`` do), in-process;
- squawk: the ``squawk`` binary (squawk-cli) on the same SQL, one file per revision, one process.

Prints statements per second for both and the time ratio. Target: 1000 revisions in < 2 s and
within 3x of squawk's time.

    python benchmarks/bench_risk.py [--revisions 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def run_syncdb_cli(path: Path) -> float:
    """Wall time of ``syncdb risk FILE --json`` as a user runs it (process start included)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "syncdb_tui", "risk", str(path), "--json"],
        capture_output=True,
        check=False,
        cwd=path.parent,
    )
    return time.perf_counter() - start


def run_squawk_file(path: Path) -> float:
    binary = shutil.which("squawk") or str(Path(sys.executable).parent / "squawk")
    start = time.perf_counter()
    subprocess.run([binary, "--reporter", "json", str(path)], capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each tool; the best is reported")
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
        whole = directory / "whole" / "history.sql"
        whole.parent.mkdir()
        whole.write_text("".join(sqls))
        cli_time = min(run_syncdb_cli(whole) for _ in range(args.repeat))
        squawk_file_time = min(run_squawk_file(whole) for _ in range(args.repeat))
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
    print(
        f"whole history as one file, process start included: syncdb risk --json {cli_time:.3f} s, "
        f"squawk {squawk_file_time:.3f} s ({cli_time / squawk_file_time:.1f}x; Python start-up and imports "
        "dominate syncdb's figure)"
    )


if __name__ == "__main__":
    main()
