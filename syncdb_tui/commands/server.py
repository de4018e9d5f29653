"""`syncdb server status|stop`: the project's embedded PostgreSQL (kept up for an idle grace period)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from syncdb_tui.commands.context import quiet_logs

if TYPE_CHECKING:
    from pathlib import Path

    from syncdb_tui.commands.context import CommandContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=("status", "stop"),
        help="status: is it running, who uses it, when it stops; stop: stop it now (--force even if in use)",
    )


def server_status(data_dir: Path, configured_idle_stop: float | None = None) -> dict[str, Any]:
    """What ``syncdb server status`` reports; starts nothing (``configured_idle_stop``: ``[embedded] idle_stop``)."""
    import time

    from syncdb_tui.core.envs.embedded import idle_stop_seconds, postmaster_pid, read_keeper_state, server_users

    pgdata = data_dir / "pgdata"
    pid = postmaster_pid(pgdata)
    users = server_users(pgdata) if pid is not None else []
    state = read_keeper_state(data_dir) if pid is not None else None
    idle_stop = (
        float(state["idle_stop"])
        if state and state.get("idle_stop") is not None
        else idle_stop_seconds(configured=configured_idle_stop)
    )
    idle_since = state.get("idle_since") if state else None
    stops_in = None
    if pid is not None and not users and isinstance(idle_since, int | float):
        stops_in = round(max(0.0, idle_since + idle_stop - time.time()), 1)
    elif pid is not None and not users and state is not None:
        # the keeper has not looked since the last user left: at most the whole grace period
        stops_in = round(idle_stop, 1)
    return {
        "pgdata": str(pgdata),
        "initialised": (pgdata / "PG_VERSION").is_file(),
        "running": pid is not None,
        "pid": pid,
        "users": users,
        "keeper_pid": state["pid"] if state else None,
        "idle_stop": idle_stop,
        "stops_in": stops_in,
    }


def _describe(status: dict[str, Any]) -> str:
    if not status["initialised"]:
        return f"no embedded server here yet ({status['pgdata']}); it starts with the first command that needs it"
    if not status["running"]:
        return f"embedded server: stopped ({status['pgdata']})"
    lines = [f"embedded server: running, pid {status['pid']} ({status['pgdata']})"]
    users = status["users"]
    if users:
        lines.append(f"in use by {len(users)} syncdb process(es): {', '.join(str(pid) for pid in users)}")
    elif status["stops_in"] is not None:
        lines.append(f"idle: stops in {status['stops_in']:g} s (idle grace period {status['idle_stop']:g} s)")
    if status["keeper_pid"] is None:
        lines.append("no keeper: it stops when its last user exits")
    return "\n".join(lines)


@quiet_logs
def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from syncdb_tui.core.errors import RefusedError

    data_dir = ctx.config.data_dir
    status = server_status(data_dir, ctx.config.embedded_idle_stop)
    if args.action == "status":
        if ctx.json:
            ctx.write_json(status)
        else:
            ctx.write(_describe(status))
        return 0
    if not status["running"]:
        if ctx.json:
            ctx.write_json({**status, "stopped": False})
        else:
            ctx.write("embedded server: not running")
        return 0
    if status["users"] and not ctx.force:
        raise RefusedError(
            f"the embedded server is in use by {len(status['users'])} syncdb process(es) "
            f"({', '.join(str(pid) for pid in status['users'])})",
            hint="close them first, or pass --force to stop it under them",
            title="server in use",
        )
    if ctx.dry_run:
        ctx.write(f"dry run: would stop the embedded server (pid {status['pid']})")
        return 0
    from syncdb_tui.core.envs.embedded import stop_server

    stopped = stop_server(data_dir)
    if ctx.json:
        ctx.write_json({**server_status(data_dir, ctx.config.embedded_idle_stop), "stopped": stopped})
    else:
        ctx.write("embedded server: stopped" if stopped else "embedded server: not running")
    return 0
