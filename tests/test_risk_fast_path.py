"""`syncdb risk FILE.sql`: the CLI's fast path (one-verb parser, no heavy imports) prints what the full path prints."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from syncdb_tui.cli import _risk_args, build_parser
from syncdb_tui.core.jsontext import dumps_indented, json_default

SQL = """BEGIN;
CREATE INDEX idx_users_email ON users (email);
-- syncdb: ignore drop-column the app stopped reading it in release 42
ALTER TABLE users DROP COLUMN legacy;
ALTER TABLE orders ADD COLUMN note text;
UPDATE accounts SET flag = true;
COMMIT;
ALTER TABLE users ADD COLUM broken int;
"""

HEAVY = ("alembic", "sqlalchemy", "textual", "rich")


@pytest.mark.parametrize(
    "argv",
    [
        ["risk", "a.sql"],
        ["risk", "a.sql", "--json"],
        ["risk", "--format", "sarif", "a.sql", "--fail-on", "high"],
        ["risk", "--format=github", "a.sql", "--no-color", "-y", "--dry-run"],
        ["risk", "a.sql", "--js"],
        ["risk", "-c", "syncdb.toml", "a.sql"],
        ["risk", "-e", "dev", "a.sql"],
        ["risk", "head"],
        ["risk"],
    ],
)
def test_one_verb_parser_gives_the_full_parsers_namespace(argv: list[str]) -> None:
    full = build_parser().parse_args(argv)
    full.passthrough = []
    assert _risk_args(argv) == full


@pytest.mark.parametrize(
    "argv",
    [["risk", "--help"], ["risk", "-h"], ["risk", "a.sql", "b.sql"], ["risk", "--format", "xml", "a.sql"], ["status"]],
)
def test_help_and_bad_arguments_go_to_the_full_parser(argv: list[str]) -> None:
    assert _risk_args(argv) is None


def _run(monkeypatch: pytest.MonkeyPatch, argv: list[str], *, fast: bool) -> tuple[int, str, str]:
    from syncdb_tui import cli

    out, err = io.StringIO(), io.StringIO()
    with monkeypatch.context() as patch:
        patch.setattr("sys.stdout", out)
        patch.setattr("sys.stderr", err)
        patch.setattr("sys.stdin", io.StringIO(""))
        if not fast:
            patch.setattr(cli, "_risk_args", lambda argv: None)
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    "options",
    [
        ["--json"],
        [],
        ["--format", "text"],
        ["--format", "sarif"],
        ["--format", "github"],
        ["--json", "--fail-on", "medium"],
        ["--fail-on", "HIGH"],
        ["--fail-on", "CRITICAL"],
    ],
)
def test_fast_and_full_paths_print_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: list[str]
) -> None:
    (tmp_path / "change.sql").write_text(SQL)
    monkeypatch.chdir(tmp_path)
    argv = ["risk", "change.sql", *options]
    fast = _run(monkeypatch, argv, fast=True)
    full = _run(monkeypatch, argv, fast=False)
    assert fast == full
    assert fast[0] in (0, 1, 2)


def test_fast_and_full_paths_fail_alike_on_a_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fast = _run(monkeypatch, ["risk", "nope.sql", "--json"], fast=True)
    assert fast == _run(monkeypatch, ["risk", "nope.sql", "--json"], fast=False)
    assert fast[0] == 2 and "does not exist" in fast[2]


@pytest.mark.parametrize("options", [["--json"], [], ["--format", "sarif"], ["--format", "github"]])
def test_risk_file_in_a_fresh_process_imports_no_alembic_sqlalchemy_textual_or_rich(
    tmp_path: Path, options: list[str]
) -> None:
    (tmp_path / "change.sql").write_text(SQL)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "syncdb_tui", "risk", "change.sql", *options],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "create-index" in result.stdout
    imported = {
        line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    assert "syncdb_tui.core.risk.analysis" in imported
    heavy = sorted(name for name in imported if name.split(".")[0] in HEAVY)
    assert heavy == [], f"syncdb risk FILE.sql imported {heavy}"


def test_a_file_that_parses_is_judged_without_importing_the_pglast_package(tmp_path: Path) -> None:
    """libpg_query's JSON comes straight from the library pglast ships (its package import costs more)."""
    clean = "\n".join(SQL.splitlines()[:-1]) + "\nCREATE UNIQUE INDEX ix_a ON accounts (email);\n"
    (tmp_path / "clean.sql").write_text(clean)
    code = (
        "import sys\n"
        "from syncdb_tui.cli import main\n"
        "code = main(['risk', 'clean.sql', '--json'])\n"
        "print(code, 'pglast' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert result.stderr.strip().splitlines()[-1] == "0 False", result.stderr[-2000:]
    findings = json.loads(result.stdout)
    index = next(f for f in findings if f["rule"] == "create-index" and f["table"] == "accounts")
    assert "CREATE UNIQUE INDEX CONCURRENTLY ix_a ON accounts (email);" in index["mitigation"]
    assert any(f["rule"] == "create-index" and f["table"] == "users" for f in findings)


def test_thousands_of_findings_at_a_terminal_are_plain_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncdb_tui.cli import main
    from syncdb_tui.core.risk.output import RICH_TABLE_LIMIT

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    statements = "".join(f"CREATE INDEX ix_{n} ON users (c{n});\n" for n in range(RICH_TABLE_LIMIT + 1))
    (tmp_path / "many.sql").write_text(statements)
    out = Tty()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    monkeypatch.chdir(tmp_path)
    assert main(["risk", "many.sql"]) == 0
    text = out.getvalue()
    assert "Severity" not in text and "many.sql:1: MEDIUM create-index [SHARE]" in text


def test_dumps_indented_is_json_dumps_with_indent_2() -> None:
    import datetime as dt
    import enum
    import random

    class Level(enum.IntEnum):
        LOW = 1

    rng = random.Random(5)

    def value(depth: int) -> object:
        choice = rng.randrange(11 if depth < 4 else 6)
        scalars: list[object] = [None, True, False, 0, -7, 10**20, 0.5, -1e300, float("nan"), float("inf"), Level.LOW]
        if choice == 0:
            return rng.choice(scalars)
        if choice in (1, 2):
            return "".join(
                chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x3000), 0x1F600, 10, 34, 92]))
                for _ in range(rng.randrange(6))
            )
        if choice == 3:
            return dt.date(2024, 1, 2)
        if choice in (4, 5):
            return rng.choice(scalars)
        if choice in (6, 7):
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        if choice == 8:
            return tuple(value(depth + 1) for _ in range(rng.randrange(3)))
        keys: list[object] = ["a", "é", 'q"', 1, 2.5, True, None]
        return {rng.choice(keys): value(depth + 1) for _ in range(rng.randrange(4))}

    for _ in range(2000):
        data = value(0)
        assert dumps_indented(data) == json.dumps(data, indent=2, default=json_default)


class _Source:
    def __init__(self, label: str, revision: str | None) -> None:
        self.label, self.revision, self.path, self.not_rendered = label, revision, label, ""


def test_json_text_is_json_dumps_of_the_findings() -> None:
    """``--json`` is written from a template: the same text json.dumps gives, escapes and all."""
    from syncdb_tui.core.risk.analysis import analyse_sql
    from syncdb_tui.core.risk.output import findings_json, json_text

    odd = (
        'ALTER TABLE "ta\\"b é😀" DROP COLUMN "c\tx";\n'
        'UPDATE "naïve" SET v = \'a\\b "q" \x01\';  -- syncdb: ignore update-without-where ü reason\n'
        'DROP TABLE "x\ny";\n'
    )
    results = [
        (_Source("a.sql", None), analyse_sql(SQL + odd)),
        (_Source("r1", "abcé"), analyse_sql(SQL, session_lock_timeout=True)),
        (_Source("r2", "r2"), analyse_sql("SELECT 1;")),
    ]
    findings = findings_json(results)
    assert any(f["suppressed"] for f in findings) and any(f["table"] is None for f in findings)
    assert json_text(results) == json.dumps(findings, default=json_default)
    assert json_text(results, end="\n") == json.dumps(findings, default=json_default) + "\n"
    assert json_text(results[1:2]) == json.dumps(findings_json(results[1:2]))
    assert json_text([]) == json.dumps([]) == "[]" and json_text([], end="\n") == "[]\n"


def test_prefetched_parse_serves_only_the_same_text(tmp_path: Path) -> None:
    """libpg_query may start on the file in threads; parse() takes those trees only for the very same text."""
    clean = "\n".join(SQL.splitlines()[:-1]) + "\nSELECT 'é';\n"  # no syntax error
    (tmp_path / "change.sql").write_text(clean)
    (tmp_path / "crlf.sql").write_bytes(clean.replace("\n", "\r\n").encode())
    code = (
        "import os\n"
        "from syncdb_tui.core.risk import pgquery\n"
        "pgquery.PREFETCH_MIN_BYTES = 0\n"
        "os.getloadavg = lambda: (0.0, 0.0, 0.0)\n"
        "sql = open('change.sql', encoding='utf-8').read()\n"
        "print(pgquery.prefetch('change.sql'))\n"
        "pieces = pgquery.take(sql)\n"  # a small file: one piece, the whole tree
        "print(pieces == [(pgquery.tree(sql.encode()).decode(), 0, len(sql.encode()))])\n"
        "pgquery.prefetch('change.sql')\n"
        "print(pgquery.take(sql + ' ') is None, pgquery.take(sql) is None)\n"
        "pgquery.prefetch('crlf.sql')\n"  # read as text, its line ends are not the file's bytes
        "print(pgquery.take(open('crlf.sql', encoding='utf-8').read()) is None)\n"
        "print(pgquery.prefetch('missing.sql') is False, pgquery.take(sql) is None)\n"
        "os.mkfifo('pipe.sql')\n"  # a named pipe is left for the command to read
        "print(pgquery.prefetch('pipe.sql') is False)\n"
        "os.getloadavg = lambda: (9.0, 9.0, 9.0)\n"  # no idle core: no thread
        "print(pgquery.prefetch('change.sql') is False)\n"
        "os.getloadavg, pgquery.PREFETCH_MIN_BYTES = (lambda: (0.0, 0.0, 0.0)), 10**9\n"  # a small file: no thread
        "print(pgquery.prefetch('change.sql') is False)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert result.stdout.split() == ["True"] * 10, result.stderr[-2000:]


# Semicolons at line ends where the whole text has no statement boundary: in strings, quoted names,
# dollar-quoted bodies, block and line comments, CREATE RULE's actions and a BEGIN ATOMIC body.
TRICKY = """\
INSERT INTO notes VALUES ('one;
two');
CREATE FUNCTION f_{n}() RETURNS void LANGUAGE plpgsql AS $body$
BEGIN
  PERFORM 1;
  UPDATE users SET name = 'x';
END $body$;
/* a block comment;
   over lines; */
SELECT "odd;
name" FROM users; -- a trailing comment;
-- a comment line;
ALTER TABLE users ADD COLUMN c_{n} text; -- ends here;
CREATE RULE r_{n} AS ON INSERT TO users DO ALSO (INSERT INTO audit VALUES (1);
INSERT INTO audit VALUES (2));
CREATE FUNCTION g_{n}() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1;
SELECT 2;
END;
SELECT E'it\\'s;
 here', 'é';
DO $$ BEGIN RAISE NOTICE 'x;
'; END $$;
CREATE INDEX ix_{n} ON users (name);
"""


def test_a_cut_where_the_whole_has_no_statement_boundary_leaves_a_piece_that_does_not_parse(tmp_path: Path) -> None:
    """What makes parsing in pieces safe (pgquery.cut_points): at every ``;`` ending a line without ``--``,
    either the whole text has a statement boundary there, or libpg_query rejects the text before it."""
    (tmp_path / "tricky.sql").write_text(TRICKY.format(n=1))
    code = (
        "import json\n"
        "from syncdb_tui.core.risk import pgquery\n"
        "data = open('tricky.sql', 'rb').read()\n"
        "stmts = json.loads(pgquery.tree(data))['stmts']\n"
        "ends = {s.get('stmt_location', 0) + s['stmt_len'] for s in stmts}\n"
        "at = data.find(b';\\n')\n"
        "while at >= 0:\n"
        "    line = data[data.rfind(b'\\n', 0, at) + 1 : at]\n"
        "    if b'--' not in line:\n"
        "        print(at in ends, pgquery.tree(data[: at + 1]) is not None)\n"
        "    at = data.find(b';\\n', at + 1)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    pairs = [line.split() for line in result.stdout.splitlines()]
    assert result.returncode == 0 and pairs, result.stderr[-2000:]
    assert all(boundary == parses for boundary, parses in pairs), pairs
    assert {boundary for boundary, _ in pairs} == {"True", "False"}  # both kinds of cut were tried


@pytest.mark.parametrize(
    ("block", "tail"),
    [
        (TRICKY, ""),
        (TRICKY, "SELECT 'last, with no semicolon'"),
        (TRICKY, "ALTER TABLE users ADD COLUMN;\n"),
        ("\n".join(SQL.replace("{", "{{").replace("}", "}}").splitlines()[:-1]) + "\nSELECT 'é{n}';\n", ""),
    ],
)
def test_a_file_parsed_in_pieces_gives_the_statements_of_the_whole(tmp_path: Path, block: str, tail: str) -> None:
    """Cut into many pieces parsed in parallel, a file gives exactly the statements (kinds, trees, texts,
    positions, errors) of its parse as a whole; when a piece does not parse, the whole text is parsed."""
    (tmp_path / "big.sql").write_text("".join(block.format(n=n) for n in range(60)) + tail)
    code = (
        "import json, os, re\n"
        "from syncdb_tui.core.risk import parse, pgquery\n"
        "os.getloadavg, os.cpu_count = (lambda: (0.0, 0.0, 0.0)), (lambda: 64)\n"
        "pgquery.PREFETCH_MIN_BYTES, pgquery.PIECE_MIN_BYTES, pgquery.MAX_PIECES = 0, 1, 16\n"
        "sql = open('big.sql', encoding='utf-8').read()\n"
        "used = []\n"
        "take = pgquery.take\n"
        "pgquery.take = lambda text: used.append(take(text)) or used[-1]\n"
        "assert pgquery.prefetch('big.sql')\n"
        "pieces = parse._parse(sql)\n"
        "whole = parse._parse(sql)\n"
        # the trees' own "location" fields count from the start of the text parsed (see parse.Statement)
        "unplaced = lambda statements: re.sub(r'\"location\": \\d+', '', json.dumps(statements))\n"
        "print(len(used[0] or ()), used[1] is None, unplaced(pieces) == unplaced(whole),\n"
        "      sum(bool(s.error) for s in whole))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    count, second_is_whole, same, errors = result.stdout.split()
    assert second_is_whole == "True" and same == "True", result.stdout
    if tail.startswith("ALTER"):
        assert count == "0" and int(errors) >= 1  # the last piece does not parse: the whole is parsed, errors and all
    if block is not TRICKY:
        assert int(count) == 16  # the trees came from all the pieces


def test_a_large_file_parsed_in_a_thread_prints_what_it_prints_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncdb_tui.core.risk.pgquery import PREFETCH_MIN_BYTES

    body = "".join(
        f"BEGIN;\nCREATE INDEX ix_{n} ON users (c{n});\nALTER TABLE t_{n} ADD COLUMN c int NOT NULL;\n"
        f"UPDATE t_{n} SET c = 1;\nCOMMIT;\n"
        for n in range(PREFETCH_MIN_BYTES // 100)
    )
    (tmp_path / "big.sql").write_text(body)
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(monkeypatch, ["risk", "big.sql", "--json"], fast=True)
    script = (
        "import os, sys\n"
        "os.getloadavg = lambda: (0.0, 0.0, 0.0)\n"
        "sys.argv = ['syncdb', 'risk', 'big.sql', '--json']\n"
        "from syncdb_tui.core.risk import pgquery\n"
        "started = []\n"
        "prefetch = pgquery.prefetch\n"
        "pgquery.prefetch = lambda path: started.append(prefetch(path))\n"
        # the command leaves through os._exit after its atexit hooks (cli._leave): report from one
        "import atexit\n"
        "atexit.register(lambda: sys.stderr.write(f'started={started}\\n'))\n"
        "from syncdb_tui.cli import main\n"
        "raise SystemExit(main())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert result.stderr.endswith("started=[True]\n"), result.stderr[-2000:]
    assert (result.returncode, result.stdout, result.stderr.removesuffix("started=[True]\n")) == (code, out, err)


@pytest.mark.parametrize("options", [["--json"], [], ["--format", "sarif"], ["--fail-on", "low"], ["--json", "-x"]])
def test_the_command_in_a_fresh_process_prints_what_it_prints_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: list[str]
) -> None:
    """From the command line (no cyclic GC, the JSON written from its template): the same output."""
    (tmp_path / "change.sql").write_text(SQL + "SELECT 'é';\n")
    monkeypatch.chdir(tmp_path)
    argv = ["risk", "change.sql", *options]
    code, out, err = _run(monkeypatch, argv, fast=True)
    result = subprocess.run(
        [sys.executable, "-m", "syncdb_tui", *argv], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (code, out, err)
    # it leaves with os._exit (cli._leave): the exit code of a --fail-on gate or a usage error still comes out
    assert result.returncode == {"low": 1, "-x": 2}.get(options[-1] if options else "", 0)


def test_a_reader_that_stops_reading_ends_the_command_quietly(tmp_path: Path) -> None:
    """``syncdb risk FILE.sql | head``: the closed pipe is not an internal error, nothing more is written,
    and the exit code is the one a shell reports for a tool SIGPIPE ended (128 + 13)."""
    (tmp_path / "change.sql").write_text(SQL * 200)
    for argv in (["risk", "change.sql", "--json"], ["risk", "change.sql", "--json", "--fail-on", "low"]):
        process = subprocess.Popen(
            [sys.executable, "-m", "syncdb_tui", *argv],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader is gone before anything was written
        err = process.stderr.read().decode()
        code = process.wait(timeout=60)
        assert "internal error" not in err and "Traceback" not in err and "BrokenPipe" not in err, err
        assert code == 141, (code, err)


def test_a_broken_pipe_that_is_not_stdout_is_an_internal_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a closed stdout ends a command quietly (141); a BrokenPipeError from anything else is a bug."""
    from syncdb_tui.commands import risk

    def broken(args: object, ctx: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    (tmp_path / "a.sql").write_text("SELECT 1;\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(risk, "run", broken)
    code, out, err = _run(monkeypatch, ["risk", "a.sql"], fast=True)
    assert (code, out) == (5, "") and "internal error: BrokenPipeError" in err


def test_a_nul_byte_is_refused_not_silently_cut(tmp_path: Path) -> None:
    """libpg_query reads C strings: it would stop at a NUL and drop every statement after it."""
    from syncdb_tui.core.risk.analysis import analyse_sql

    (tmp_path / "nul.sql").write_bytes(b"DROP TABLE a;\n\x00;\nDROP TABLE important;\n")
    result = _syncdb(tmp_path, "risk", "./nul.sql", "--fail-on", "high")
    assert result.returncode == 2 and result.stdout == "", result.stderr
    assert "nul.sql holds a NUL character (line 2)" in result.stderr and "./nul.sql" not in result.stderr
    analysis = analyse_sql("DROP TABLE a;\n\x00;\nDROP TABLE important;\n")
    assert [f.rule for f in analysis.findings] == ["unparseable-statement"]  # never "no findings"


def test_the_file_is_named_as_a_normal_path(tmp_path: Path) -> None:
    (tmp_path / "change.sql").write_text("DROP TABLE users;\n")
    result = _syncdb(tmp_path, "risk", ".//change.sql")
    assert result.stdout.startswith("change.sql: risk HIGH"), result.stdout


def _syncdb(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``syncdb ARGV`` from the command line (a fresh process), in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "syncdb_tui", *argv], capture_output=True, text=True, cwd=cwd, check=False
    )
