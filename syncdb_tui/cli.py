"""The `syncdb` command: argument parsing → command module → output and exit code.

Each verb lives in ``syncdb_tui/commands/<module>.py`` with
``add_arguments(parser)`` and ``run(args, ctx) -> int``.  This module only
builds the parser, catches :class:`SyncdbError` once (one message on stderr,
the error's exit code) and opens the TUI when no verb is given.

``syncdb risk FILE.sql [--json | --format F] [--fail-on S]``, the CI call, skips
building the parser of every verb (:func:`_risk_args`): the same options become
the same namespace, and the same ``commands.risk.run`` prints the same output,
messages and exit codes; help and bad arguments go through the full parser. From the
command line, libpg_query may start on a large file in a thread first (:func:`_prefetch_sql`).
"""

from __future__ import annotations

import os
import sys

# Only os and sys at import: `syncdb risk FILE.sql` starts parsing the file (_prefetch_sql) before
# anything else loads; argparse, signal, threading and the rest are imported where they are used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import NoReturn

# verb -> (module in syncdb_tui.commands, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "status": ("status", "status of one environment (--json)"),
    "report": ("report", "the Database Sync Report in Markdown (-o FILE, --json)"),
    "generate": ("generate", "autogenerate a revision from the models (-m MSG)"),
    "migrate": ("migrate", "apply pending revisions (default: head)"),
    "downgrade": ("downgrade", "roll back to TARGET (-1, a revision, base)"),
    "rehearse": ("rehearse", "run the plan on a scratch copy; report locks taken and times (--json)"),
    "stamp": ("stamp", "set the version table without running migrations"),
    "check": ("check", "CI gate: pending, drift, multiple heads, risk over --max-risk"),
    "risk": ("risk", "risk findings of SQL or of pending revisions"),
    "push": ("push", "dev only: apply the models' schema directly"),
    "seed": ("seed", "fill the database with test data (never on protected environments)"),
    "diff": ("diff", "compare two environments' live schemas (--against ENV)"),
    "backup": ("backup", "pg_dump the environment's database"),
    "restore": ("restore", "restore a backup (pg_restore/psql)"),
    "backups": ("backups", "list backups with their manifests (--verify)"),
    "studio": ("studio", "open the TUI on the table explorer"),
    "psql": ("psql", "psql connected to the environment (-- ARGS)"),
    "history": ("history", "the ledger of changes applied to the environment (--json, --limit N)"),
    "init": ("init", "start a project (syncdb.toml + Alembic scripts) or adopt an existing alembic.ini"),
    "merge": ("merge", "write a merge revision joining the history's heads (-m MSG)"),
    "reset": ("reset", "dev only: drop and recreate the database, migrate it to head and seed it"),
    "demo": ("demo", "build the AI BotKit demo (embedded dev/staging/prod) and open the TUI"),
    "server": ("server", "the embedded server: status, or stop it now (it stops by itself when idle)"),
    "cache": ("cache", "the revision cache (.syncdb/cache): clear it, or show what it holds (status)"),
}


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    import argparse

    default = argparse.SUPPRESS if suppress else None
    flag_default = argparse.SUPPRESS if suppress else False
    parser.add_argument("--env", "-e", metavar="NAME", default=default, help="environment to act on")
    parser.add_argument("--config", "-c", metavar="PATH", default=default, help="config file to use")
    parser.add_argument(
        "--dry-run", action="store_true", default=flag_default, help="print what would run; change nothing"
    )
    parser.add_argument("--force", "-y", action="store_true", default=flag_default, help="skip typed confirmations")
    parser.add_argument("--json", action="store_true", default=flag_default, help="machine-readable output")
    parser.add_argument("--no-color", action="store_true", default=flag_default, help="plain output")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every available verb."""
    import argparse

    from syncdb_tui import __version__

    parser = argparse.ArgumentParser(
        prog="syncdb",
        description="Move a PostgreSQL schema safely from dev to staging to prod. "
        "Without a command, opens the full-screen app.",
    )
    parser.add_argument("--version", action="version", version=f"syncdb {__version__}")
    _global_options(parser, suppress=False)
    subparsers = parser.add_subparsers(dest="verb", metavar="COMMAND")
    for verb, (module_name, help_text) in VERBS.items():
        module = _command_module(module_name)
        if module is None:
            continue
        sub = subparsers.add_parser(verb, help=help_text, description=help_text)
        _global_options(sub, suppress=True)
        module.add_arguments(sub)
        sub.set_defaults(command_module=module_name)
    return parser


def _command_module(name: str):  # type: ignore[no-untyped-def]
    import importlib

    try:
        return importlib.import_module(f"syncdb_tui.commands.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"syncdb_tui.commands.{name}":
            return None
        raise


class _NotFast(Exception):
    """The one-verb parser does not take these arguments: the full parser will, with its own messages."""


def _one_verb_parser(prog: str) -> argparse.ArgumentParser:
    """A parser that raises :class:`_NotFast` where an ArgumentParser would print an error and exit."""
    import argparse

    class OneVerbParser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise _NotFast(message)

        def _get_formatter(self) -> argparse.HelpFormatter:
            # a fixed width: never prints help, and the terminal's size would import shutil
            return argparse.HelpFormatter(prog=self.prog, width=100)

    return OneVerbParser(prog=prog, add_help=False)


def _risk_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """The namespace the full parser gives ``syncdb risk …``, from a parser of that verb alone.

    Building the full parser imports every command module; ``syncdb risk FILE.sql`` in CI
    should cost little more than its analysis. The options are the same (the same
    ``_global_options`` and ``risk.add_arguments``), so the namespace is the same; for help
    or anything this parser rejects it returns None and the full parser answers.
    """
    if not argv or argv[0] != "risk":
        return None
    from syncdb_tui.commands import risk

    parser = _one_verb_parser("syncdb risk")
    _global_options(parser, suppress=False)
    risk.add_arguments(parser)
    try:
        args = parser.parse_args(argv[1:])
    except _NotFast:
        return None
    args.verb, args.command_module, args.passthrough = "risk", "risk", []
    return args


def _short_lived() -> None:
    """A process that judges a .sql file offline and exits: no cyclic garbage collection.

    Parse trees and findings hold no reference cycles; the collector would only walk them
    again and again while they are built. (Not for revisions: rendering them runs Alembic
    and env.py, whose garbage has cycles.) Such a process also leaves through :func:`_leave`.
    """
    import gc

    gc.disable()


def _leave(code: int) -> NoReturn:
    """End a short-lived process now: its atexit hooks run, its streams are flushed, then ``os._exit``.

    What is skipped is only the interpreter's teardown, which frees every object still alive one
    by one: for a large file, the parse trees and findings (≈ 30 ms after the output was written).
    Nothing of a short-lived process needs it: no connection, no child, no file left open; only
    when another non-daemon thread is still running does the interpreter end the usual way.
    """
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = code or EXIT_PIPE_CLOSED
    except OSError:
        code = code or 5
    try:
        sys.stderr.flush()
    except OSError:
        pass
    import threading

    if any(not thread.daemon for thread in threading.enumerate() if thread is not threading.main_thread()):
        raise SystemExit(code)
    os._exit(code)


EXIT_PIPE_CLOSED = 128 + 13
"""Exit code when the reader of stdout went away before the output was written (128 + SIGPIPE,
what a shell reports for a tool that SIGPIPE ended): nothing more is printed."""


def _pipe_closed() -> int:
    """The reader of stdout is gone (``syncdb … | head``): write nothing more, not even at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return EXIT_PIPE_CLOSED


def _prefetch_sql(argv: Sequence[str]) -> None:
    """For ``syncdb risk FILE.sql``: libpg_query may start on the file now, in a thread, outside the GIL.

    The file is then parsed while the parsers are built and the risk engine imported; ``parse()``
    takes the tree only for the text the command reads (``core.risk.pgquery.prefetch`` decides
    whether a thread is worth it). Started before the arguments are parsed, from a look at them
    (a ``risk`` command naming one ``.sql`` file): a wrong look costs a parse no one uses, never
    an output.
    """
    if len(argv) < 2 or argv[0] != "risk":
        return
    files = [a for a in argv[1:] if a.endswith(".sql") and not a.startswith("-")]
    if len(files) == 1:
        from syncdb_tui.core.risk.pgquery import prefetch

        prefetch(files[0])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `syncdb` console script; returns the exit code."""
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if from_command_line:
        _prefetch_sql(argv)
    fast = _risk_args(argv)
    if fast is not None and from_command_line and str(fast.target or "").endswith(".sql") and fast.env is None:
        _short_lived()
        _leave(_main(argv, fast))
    return _main(argv, fast)


def _main(argv: list[str], fast: argparse.Namespace | None) -> int:
    import importlib
    import signal
    import threading

    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.core.errors import SyncdbError

    if fast is not None:
        args = fast
    else:
        passthrough: list[str] = []
        if "--" in argv and "psql" in argv[: argv.index("--")]:
            index = argv.index("--")
            argv, passthrough = argv[:index], argv[index + 1 :]
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:
            return 0 if exit_.code in (0, None) else 2
        args.passthrough = passthrough
    # SIGTERM (timeout, CI cancel) exits like Ctrl+C does, so atexit hooks run and the
    # embedded server's list of users stays right
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ctx = CommandContext(args)
    try:
        if args.verb is None:
            return _open_tui(ctx)
        module = importlib.import_module(f"syncdb_tui.commands.{args.command_module}")
        return int(module.run(args, ctx) or 0)
    except SyncdbError as error:
        from syncdb_tui.core.secrets import redact  # here: a run without errors never needs it

        if os.environ.get("SYNCDB_DEBUG") == "1":
            import traceback

            sys.stderr.write(redact(traceback.format_exc()))
        sys.stderr.write(redact(error.render()) + "\n")
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted: stopped by Ctrl+C; anything unfinished was rolled back\n")
        return 130
    except BrokenPipeError as error:
        if _stdout_gone():
            return _pipe_closed()
        return _internal_error(error)
    except Exception as error:
        return _internal_error(error)


def _internal_error(error: Exception) -> int:
    """A bug: one message (the traceback with SYNCDB_DEBUG=1, called from an ``except`` clause), every
    password and URL syncdb has seen masked; exit code 5."""
    from syncdb_tui.core.secrets import redact

    if os.environ.get("SYNCDB_DEBUG") == "1":
        import traceback

        sys.stderr.write(redact(traceback.format_exc()))
        return 5
    sys.stderr.write(
        redact(
            f"error: internal error: {type(error).__name__}: {error}\n"
            "hint: this is a bug in syncdb; run again with SYNCDB_DEBUG=1 for the traceback and report it\n"
        )
    )
    return 5


def _stdout_gone() -> bool:
    """True when stdout is a pipe whose reader has gone (poll reports an error on its end), not when a
    BrokenPipeError came from anything else (a child's pipe, a socket)."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _open_tui(ctx: object) -> int:
    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.core.errors import UsageError

    assert isinstance(ctx, CommandContext)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            "the full-screen app needs a terminal, and stdin or stdout is not one",
            hint="use a command instead: syncdb status, syncdb report, … (syncdb --help)",
        )
    try:
        from syncdb_tui.ui.app import run_app
    except ModuleNotFoundError as error:
        raise UsageError(
            "the full-screen app is not available in this build",
            hint="use a command instead: syncdb status, syncdb migrate, … (syncdb --help)",
        ) from error
    return run_app(ctx.config, env=getattr(ctx.args, "env", None), dry_run=ctx.dry_run)
