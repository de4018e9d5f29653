"""What every headless command receives: parsed options, config, output and prompts.

Command modules (``syncdb_tui/commands/<verb>.py``) each define
``add_arguments(parser)`` and ``run(args, ctx) -> int``; they call core
functions, write data to ``ctx.out`` (stdout: JSON, Markdown, SQL) and human
progress/notes to ``ctx.err`` (stderr), and raise ``SyncdbError`` for every
failure (``cli.py`` turns it into one message and the exit code).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TextIO

from syncdb_tui.core.errors import RefusedError
from syncdb_tui.core.jsontext import json_default

if TYPE_CHECKING:
    from rich.console import Console

    from syncdb_tui.config import Config
    from syncdb_tui.core.changes.policy import Requirements
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.events import JobProgress, ProgressCallback
    from syncdb_tui.core.project.revisions import Project


class CommandContext:
    """Shared state of one CLI invocation: its options, and the streams it writes to and reads from
    (the process's own unless given)."""

    def __init__(
        self,
        args: argparse.Namespace,
        out: TextIO | None = None,
        err: TextIO | None = None,
        stdin: TextIO | None = None,
    ) -> None:
        self.args = args
        self.out: TextIO = sys.stdout if out is None else out
        self.err: TextIO = sys.stderr if err is None else err
        self.stdin: TextIO = sys.stdin if stdin is None else stdin

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def dry_run(self) -> bool:
        return bool(getattr(self.args, "dry_run", False))

    @property
    def force(self) -> bool:
        return bool(getattr(self.args, "force", False))

    @cached_property
    def config(self) -> Config:
        from syncdb_tui.config import load_config

        return load_config(getattr(self.args, "config", None))

    @cached_property
    def project(self) -> Project:
        """The Alembic project of the config (scripts and revision graph)."""
        from syncdb_tui.core.project.revisions import Project

        return Project.from_config(self.config)

    def environment(self, name: str | None = None) -> Environment:
        """The environment named by ``--env`` (or ``name``), resolved (starts embedded servers)."""
        from syncdb_tui.core.envs.environments import resolve
        from syncdb_tui.core.errors import UsageError

        chosen = name or getattr(self.args, "env", None)
        if chosen is not None and not chosen.strip():
            raise UsageError(
                "--env was given an empty name",
                hint="name an environment of the config (syncdb status lists them), or leave --env out for the default",
            )
        return resolve(self.config, chosen)

    @cached_property
    def console(self) -> Console:
        """A rich console on stderr for tables, progress and notes."""
        from rich.console import Console

        no_color = bool(getattr(self.args, "no_color", False)) or "NO_COLOR" in os.environ
        return Console(file=self.err, no_color=no_color, highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        """A human line on stderr (never mixed into data on stdout)."""
        self.err.write(text.rstrip("\n") + "\n")
        self.err.flush()

    def write(self, text: str) -> None:
        """Data on stdout."""
        self.out.write(text if text.endswith("\n") else text + "\n")
        self.out.flush()

    @property
    def pretty(self) -> bool:
        """Indented JSON: ``--pretty``, ``SYNCDB_JSON_PRETTY=1``, or stdout is a terminal (a person reads it)."""
        if getattr(self.args, "pretty", False) or os.environ.get("SYNCDB_JSON_PRETTY", "") in ("1", "true", "yes"):
            return True
        try:
            return bool(self.out.isatty())
        except (AttributeError, ValueError):
            return False

    def write_json(self, data: Any) -> None:
        """Data on stdout as JSON: one line for programs (json's C encoder: cheap for thousands of findings),
        indented when :attr:`pretty`."""
        if self.pretty:
            from syncdb_tui.core.jsontext import dumps_indented

            self.write(dumps_indented(data))
        else:
            self.write(json.dumps(data, default=json_default))

    @property
    def interactive(self) -> bool:
        """True when a person can answer a prompt."""
        try:
            return self.stdin.isatty()
        except (AttributeError, ValueError):
            return False

    def confirm_typed(self, env_name: str, action: str, reasons: list[str]) -> None:
        """Ask for ``env_name`` typed back before ``action``; ``--force`` skips the prompt.

        Raises:
            RefusedError: no terminal and no --force, or the name typed does not match.
        """
        if self.force:
            return
        why = "; ".join(reasons)
        if not self.interactive:
            raise RefusedError(
                f"{action} on {env_name} needs a typed confirmation ({why}), and there is no terminal to ask",
                hint="run it in a terminal and type the environment's name, or pass --force",
                title="confirmation needed",
            )
        self.err.write(f"{action} on {env_name}: {why}.\nType the environment's name ({env_name}) to go on: ")
        self.err.flush()
        answer = self.stdin.readline().strip()
        if answer != env_name:
            raise RefusedError(
                f"{action} on {env_name} was not confirmed (typed {answer!r})",
                hint=f"type exactly {env_name!r}, or pass --force",
                title="not confirmed",
            )

    def satisfy(self, req: Requirements, *, acked: list[str] | None = None) -> None:
        """Ask what the policy's requirements ``req`` ask for (``--force`` answers all).

        Raises:
            RefusedError: refused outright, no terminal to ask and no --force, or not confirmed.
        """
        from syncdb_tui.core.changes.policy import check_refusal, check_satisfied, missing_acks

        check_refusal(req)
        if self.force:
            return
        given = list(acked or [])
        missing = missing_acks(req, given)
        if not req.typed_name and not missing:
            return
        why = "; ".join(req.reasons)
        if not self.interactive:
            listed = "".join(f"\n  {finding.describe()}" for finding in missing)
            raise RefusedError(
                f"{req.action} on {req.environment} needs a typed confirmation ({why}), and there is no terminal "
                "to ask" + (f"; HIGH findings not acknowledged:{listed}" if missing else ""),
                hint="run it in a terminal and type the environment's name, or pass --force",
                title="confirmation needed",
            )
        lines = [f"{req.action} on {req.environment}: {why}."]
        if missing:
            lines.append("These HIGH-risk findings need your acknowledgement (typing the name acknowledges them):")
            lines += [f"  {finding.describe()}" for finding in missing]
        if req.backup:
            lines.append(f"A backup of {req.environment} is taken first.")
        self.err.write("\n".join(lines) + f"\nType the environment's name ({req.environment}) to go on: ")
        self.err.flush()
        answer = self.stdin.readline().strip()
        if answer != req.environment:
            raise RefusedError(
                f"{req.action} on {req.environment} was not confirmed (typed {answer!r}); nothing was changed",
                hint=f"type exactly {req.environment!r}, or pass --force",
                title="not confirmed",
            )
        check_satisfied(req, confirmed=True, acked=given + [finding.key for finding in missing])

    def progress_printer(self, *, log: bool = False) -> ProgressCallback:
        """A progress callback that draws a single updating line on stderr (or nothing in JSON mode).

        ``log``: one timestamped line per change of state instead (``--watch``), even on a terminal.
        """
        import time

        last: list[str] = [""]
        if log:

            def log_line(event: JobProgress) -> None:
                if self.json:
                    return
                line = f"{event.phase} {event.detail}".strip()
                if line != last[0]:
                    last[0] = line
                    self.err.write(time.strftime("%H:%M:%S ") + line + "\n")
                    self.err.flush()

            return log_line

        def show(event: JobProgress) -> None:
            if self.json:
                return
            if event.total:
                pct = f"{100 * event.done / event.total:5.1f}% "
            else:
                pct = ""
            line = f"{pct}{event.phase} {event.detail}".strip()
            if line != last[0]:
                last[0] = line
                if self.err.isatty():
                    self.err.write("\r\x1b[2K" + line[:200])
                else:
                    self.err.write(line + "\n")
                self.err.flush()

        return show


def quiet_logs(run: Callable[[argparse.Namespace, CommandContext], int]) -> Callable[..., int]:
    """Decorate a command's ``run`` so library INFO logs stay off stderr while it runs.

    A project's env.py usually calls ``fileConfig(alembic.ini)``, which prints Alembic's
    "Running upgrade a -> b" for every offline SQL preview: during a read-only
    ``status`` that reads as if something ran.  Warnings still show; ``SYNCDB_DEBUG=1``
    shows everything.
    """

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace, ctx: CommandContext) -> int:
        if os.environ.get("SYNCDB_DEBUG") == "1":
            return run(args, ctx)
        import logging  # here: `syncdb risk FILE.sql` never needs it

        previous = logging.root.manager.disable
        logging.disable(logging.INFO)
        try:
            return run(args, ctx)
        finally:
            logging.disable(previous)

    return wrapper
