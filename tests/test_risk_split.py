"""`syncdb risk FILE.sql` on a large file judged in two processes (analysis._Analyser._run_split): the
parent judges the first third, a forked child the rest from the parent's state at the seam. The output
must be byte for byte what one process prints, whatever the file holds and whatever happens to the child.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from syncdb_tui.core.risk.pgquery import PREFETCH_MIN_BYTES

# The child's part depends on what the parent's part created, set or left unvalidated: tables
# created early and changed late (is_new), NOT VALID constraints validated later, a session
# lock_timeout set early and reset late, enum types, indexes named by DROP INDEX, a DO block.
REVISION = """BEGIN;
CREATE TABLE t_{n} (id bigserial PRIMARY KEY, owner_id int REFERENCES t_{p} (id), name varchar(80), note text);
CREATE INDEX ix_t_{n}_name ON t_{n} (name);
ALTER TABLE t_{p} ADD COLUMN c_{n} text;
ALTER TABLE t_{q} ALTER COLUMN name TYPE text;
ALTER TABLE t_{q} ADD CONSTRAINT ck_{n} CHECK (note IS NOT NULL) NOT VALID;
ALTER TABLE t_{r} VALIDATE CONSTRAINT ck_{s};
ALTER TABLE t_{r} ALTER COLUMN note SET NOT NULL;
DROP INDEX ix_t_{q}_name;
ALTER TABLE users ADD COLUMN u_{n} int;
UPDATE t_{q} SET note = 'x' WHERE note IS NULL;
DO $$ BEGIN UPDATE t_{p} SET name = 'é'; END $$;
UPDATE alembic_version SET version_num='{n:04d}' WHERE alembic_version.version_num = '{p:04d}';
COMMIT;
"""


def _history(count: int, *, around: tuple[str, str] = ("", "")) -> str:
    body = "".join(
        REVISION.format(n=n, p=max(1, n - 1), q=max(1, n // 2), r=max(1, n // 3), s=max(1, n // 3 - 1))
        for n in range(1, count + 1)
    )
    return around[0] + body + around[1]


def _run(tmp_path: Path, name: str, fork: str, extra: str = "") -> tuple[int, str, str, str]:
    """``syncdb risk NAME --json`` from the command line, with SYNCDB_FORK=fork; also how the file was judged."""
    script = (
        "import atexit, os, sys\n"
        "from syncdb_tui.core.risk import analysis\n"
        "how = []\n"
        "pid = os.getpid()\n"
        "take, run_split = analysis._Analyser._take_half, analysis._Analyser._run_split\n"
        "def take_half(self, data):\n"
        "    taken = take(self, data)\n"
        "    how.extend(['child'] * taken)\n"
        "    return taken\n"
        "analysis._Analyser._take_half = take_half\n"
        "analysis._Analyser._run_split = lambda self, pieces: how.append('split') or run_split(self, pieces)\n"
        "atexit.register(lambda: os.getpid() == pid and sys.stderr.write(f'\\nhow={how}'))\n"
        # a machine that is busy now would parse in line and judge in one process: say it is idle, two cores
        "os.getloadavg, os.cpu_count = (lambda: (0.0, 0.0, 0.0)), (lambda: 2)\n"
        f"{extra}"
        f"sys.argv = ['syncdb', 'risk', {name!r}, '--json']\n"
        "from syncdb_tui.cli import main\n"
        "raise SystemExit(main())\n"
    )
    env = {
        **__import__("os").environ,
        "SYNCDB_FORK": fork,
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, check=False
    )
    err, _, how = result.stderr.rpartition("\nhow=")
    return result.returncode, result.stdout, err, how


@pytest.mark.parametrize(
    "around",
    [
        ("", ""),
        ("SET lock_timeout = '5s';\n", "RESET lock_timeout;\nALTER TABLE t_1 ADD COLUMN late int;\n"),
        ("CREATE TYPE mood AS ENUM ('a');\n", "ALTER TYPE mood ADD VALUE 'b';\nDROP TABLE t_2;\n"),
    ],
)
def test_a_large_file_judged_in_two_processes_prints_what_one_process_prints(
    tmp_path: Path, around: tuple[str, str]
) -> None:
    sql = _history(700, around=around)
    assert len(sql.encode()) > PREFETCH_MIN_BYTES * 1.5
    (tmp_path / "history.sql").write_text(sql)
    serial = _run(tmp_path, "history.sql", "0")
    split = _run(tmp_path, "history.sql", "1")
    assert serial[3] == "[]" and split[3] == "['split', 'child']", (serial[3], split[3], split[2][-2000:])
    assert split[:3] == serial[:3]
    assert serial[0] == 0 and serial[1].count('"rule"') > 2000


def test_a_seam_inside_a_transaction_leaves_the_file_to_one_process(tmp_path: Path) -> None:
    """One transaction around everything: no point between the parts where nothing is open."""
    sql = _history(700).replace("BEGIN;\n", "").replace("COMMIT;\n", "")
    (tmp_path / "one.sql").write_text("BEGIN;\n" + sql + "COMMIT;\n")
    serial = _run(tmp_path, "one.sql", "0")
    split = _run(tmp_path, "one.sql", "1")
    assert split[3] == "['split']"  # tried, the child dropped: the parent judged the rest
    assert split[:3] == serial[:3]


@pytest.mark.parametrize(
    "failure",
    [
        "os._exit(3)",
        "os.kill(os.getpid(), 9)",
        "raise RuntimeError('the child broke')",
        "return b'not marshal data'",
        "return None",
    ],
)
def test_whatever_happens_to_the_child_the_output_is_the_same(tmp_path: Path, failure: str) -> None:
    (tmp_path / "history.sql").write_text(_history(700))
    serial = _run(tmp_path, "history.sql", "0")
    broken = (
        "half = analysis._Analyser._child_half\n"
        "def child_half(self, pieces, read):\n"
        "    half(self, pieces, read)\n"  # its work done, then it fails before (or instead of) sending it
        f"    {failure}\n"
        "analysis._Analyser._child_half = child_half\n"
    )
    split = _run(tmp_path, "history.sql", "1", broken)
    assert split[3] == "['split']", split[2][-2000:]  # the parent judged the child's part itself
    assert split[:3] == serial[:3]


def test_no_split_when_forking_is_off_or_the_file_is_small(tmp_path: Path) -> None:
    (tmp_path / "history.sql").write_text(_history(700))
    (tmp_path / "small.sql").write_text(_history(5))
    assert _run(tmp_path, "history.sql", "0")[3] == "[]"
    assert _run(tmp_path, "small.sql", "1")[3] == "[]"


def test_ctrl_c_while_waiting_for_the_child_leaves_no_child_behind(tmp_path: Path) -> None:
    (tmp_path / "history.sql").write_text(_history(700))
    interrupted = (
        "from syncdb_tui.core import forks\n"
        "real_receive = analysis.receive\n"
        "def receive(fd):\n"
        "    if os.getpid() == pid:\n"  # the parent, waiting for the child's findings
        "        raise KeyboardInterrupt\n"
        "    return real_receive(fd)\n"
        "analysis.receive = receive\n"
        "def children():\n"
        "    try:\n"
        "        return os.waitpid(-1, os.WNOHANG)\n"
        "    except ChildProcessError:\n"
        "        return 'none'\n"
        "atexit.register(lambda: os.getpid() == pid and sys.stderr.write(f'\\nchildren={children()}'))\n"
    )
    code, _out, err, how = _run(tmp_path, "history.sql", "1", interrupted)
    assert code == 130 and "interrupted" in err and how == "['split']", (code, err[-2000:])
    assert err.endswith("children=none"), err[-500:]  # killed and reaped, not a zombie
