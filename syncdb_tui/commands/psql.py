"""`syncdb psql [-- ARGS]`: psql connected to the environment, password via the environment."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncdb_tui.commands.context import CommandContext
    from syncdb_tui.core.envs.environments import Environment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--write",
        action="store_true",
        help="on a protected environment: open read-write (asks for the environment's name; recorded in its ledger)",
    )
    parser.epilog = (
        "Arguments after -- go to psql, e.g. syncdb psql --env staging -- -c 'SELECT 1'. "
        "On a protected environment psql opens read-only unless --write is given (before the --)."
    )


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    import asyncio
    import os
    import shlex
    import sys

    from syncdb_tui.core.changes.policy import PSQL_READ_ONLY_SETTING, psql_read_only, requirements
    from syncdb_tui.core.envs.tools import locate_tool
    from syncdb_tui.core.errors import OperationError

    env = ctx.environment()
    write = bool(getattr(args, "write", False))
    read_only = psql_read_only(env, write=write)
    # a write session on a protected environment is a change: the policy asks, the ledger records it
    write_req = requirements(env, "psql-write") if env.protected and write else None
    tool = asyncio.run(locate_tool("psql", env))
    argv = [str(tool.path), *args.passthrough]
    environ = env.conninfo.libpq_env()
    if read_only:
        environ["PGOPTIONS"] = read_only_pgoptions(environ.get("PGOPTIONS") or os.environ.get("PGOPTIONS"))
    if ctx.dry_run:
        has_password = bool(environ.get("PGPASSWORD"))
        how = "password passed in its environment, never on its command line" if has_password else "no password set"
        mode = ""
        if read_only:
            mode = f", read-only ({PSQL_READ_ONLY_SETTING} in PGOPTIONS)"
        elif write_req is not None:
            mode = ", read-write after the environment's name is typed (or --force), recorded in its ledger"
        ctx.note(f"dry run: would run {shlex.join(argv)} on {env.display_url} ({how}{mode})")
        return 0
    if write_req is not None:
        ctx.satisfy(write_req)
    if read_only:
        ctx.note(
            f"{env.name} is protected: psql opens read-only ({PSQL_READ_ONLY_SETTING}); "
            f"to change data run `syncdb psql --env {env.name} --write` (asks for the environment's name)"
        )
    row_id = asyncio.run(_ledger_start(env, args.passthrough)) if write_req is not None else None
    sys.stdout.flush()
    returncode = _run_psql(argv, environ)
    if row_id is not None:
        problem = asyncio.run(_ledger_finish(env, row_id, returncode))
        if problem:
            ctx.note(f"warning: the write session could not be completed in {env.name}'s ledger: {problem}")
    if returncode != 0:
        raise OperationError(
            f"psql on {env.name} exited with status {returncode}",
            hint="see psql's message above"
            + ("; to change data, run it with --write (before the --)" if read_only else ""),
            title="psql failed",
        )
    return 0


def read_only_pgoptions(existing: str | None) -> str:
    """``PGOPTIONS`` with ``default_transaction_read_only=on`` added last (so it wins over an earlier setting)."""
    from syncdb_tui.core.changes.policy import PSQL_READ_ONLY_SETTING

    option = f"-c {PSQL_READ_ONLY_SETTING}"
    return f"{existing.strip()} {option}" if existing and existing.strip() else option


_SCRIPTED = ("-c", "-f", "--command", "--file")
"""psql arguments that run commands instead of an interactive session."""


async def _ledger_start(env: Environment, passthrough: list[str]) -> int:
    """Record the write session in ``env``'s ledger before psql starts (result ``running`` until it ends).

    Raises:
        OperationError: the ledger cannot be written (the session does not start).
    """
    import asyncpg

    from syncdb_tui.core.changes import ledger
    from syncdb_tui.core.envs.environments import connection
    from syncdb_tui.core.errors import OperationError
    from syncdb_tui.core.project.versions import current_revisions

    try:
        async with connection(env) as conn:
            revisions = await current_revisions(conn) or ()
            return await ledger.start(
                conn,
                action="psql-write",
                environment=env.name,
                from_revisions=revisions,
                to_revisions=revisions,
                application_name="syncdb psql",
                # never the arguments themselves: a -c may carry a password
                details={"interactive": not any(arg.startswith(_SCRIPTED) for arg in passthrough)},
            )
    except asyncpg.PostgresError as error:
        raise OperationError(
            f"cannot record the write session in {env.name}'s ledger ({ledger.TABLE}): {error}",
            hint="a write session on a protected environment is recorded first; let the user create the "
            f"{ledger.SCHEMA} schema, or run the change as a migration",
            title="psql --write refused",
        ) from None


async def _ledger_finish(env: Environment, row_id: int, returncode: int) -> str:
    """Complete the session's ledger row; returns a problem to show (empty when recorded)."""
    from syncdb_tui.core.changes import ledger
    from syncdb_tui.core.envs.environments import connection
    from syncdb_tui.core.project.versions import current_revisions
    from syncdb_tui.core.secrets import redact

    try:
        async with connection(env) as conn:
            revisions = await current_revisions(conn) or ()
            await ledger.finish(
                conn,
                row_id,
                ok=returncode == 0,
                to_revisions=revisions,
                error="" if returncode == 0 else f"psql exited with status {returncode}",
            )
    except Exception as error:
        return redact(str(error)) or type(error).__name__
    return ""


def _run_psql(argv: list[str], environ: dict[str, str]) -> int:
    """Run psql in the foreground; Ctrl+C belongs to psql (it cancels the running query).

    ``subprocess.run`` would kill psql on the first Ctrl+C (KeyboardInterrupt in the
    parent), ending an interactive session when the user only meant to cancel a query.
    """
    import subprocess

    process = subprocess.Popen(argv, env=environ)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue
