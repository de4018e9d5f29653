"""Running an Alembic command that writes, safely, from a thread.

Each call runs on its own event loop in the calling thread (never the UI's):
it takes the migration advisory lock, sets ``lock_timeout``, watches for
blocking sessions, and runs the command with the connection-sharing recipe when
the project's env.py accepts ``config.attributes["connection"]``; otherwise
env.py opens its own connection (and may call ``asyncio.run`` itself, which is
why this runs off any running loop).  A lock timeout is retried with backoff;
the last one names the session in the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.envs.sessions import (
    MIGRATE_APPLICATION_NAME,
    BlockerWatch,
    QueueSample,
    acquire_advisory_lock,
)
from syncdb_tui.core.errors import OperationError, SyncdbError, UsageError
from syncdb_tui.core.events import JobProgress, ProgressCallback, emit
from syncdb_tui.core.project.revisions import ALEMBIC_LOCK, Project, translate_script_errors
from syncdb_tui.core.secrets import redact

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

    from syncdb_tui.core.envs.environments import Environment

AlembicCall = Callable[["AlembicConfig"], Any]


@dataclass(frozen=True)
class RunOutcome:
    """What a command run produced."""

    value: Any
    attempts: int
    seconds: float
    log: str
    aborts: tuple[str, ...] = ()
    """Statements the lock-queue guard cancelled (each then retried)."""


def _sqlstate(error: BaseException) -> str | None:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for attr in ("sqlstate", "pgcode"):
            value = getattr(current, attr, None)
            if isinstance(value, str):
                return value
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def pg_message(error: BaseException) -> str:
    current: BaseException = error
    orig = getattr(error, "orig", None)
    if orig is not None:
        current = orig
    text = str(current).strip()
    for marker in ("<class '", "[SQL:"):
        if marker in text and text.index(marker) > 0:
            text = text[: text.index(marker)].strip()
    if text.startswith("<class '"):
        text = text.split(">: ", 1)[-1]
    return redact(text.splitlines()[0] if text else type(error).__name__)


def run_alembic(
    project: Project,
    env: Environment,
    call: AlembicCall,
    *,
    action: str,
    revision_after_failure: Callable[[], str] | None = None,
    progress: ProgressCallback | None = None,
    retry_on_lock_timeout: bool = True,
    on_version: Callable[[tuple[str, ...]], None] | None = None,
    take_lock: bool = True,
    on_sample: Callable[[QueueSample], None] | None = None,
) -> RunOutcome:
    """Run ``call(alembic_config)`` against ``env`` under the migration lock (blocking).

    ``take_lock=False``: the caller already holds the migration lock (the executor).

    Raises:
        OperationError: the lock is held elsewhere, a lock timeout persisted after the
            retries (naming the blocker), or PostgreSQL rejected a statement.
        UnreachableError: the database cannot be reached.
    """
    config = project.config
    attempts = 0
    started = time.monotonic()
    aborts: list[str] = []
    while True:
        attempts += 1
        try:
            value, log = asyncio.run(
                _run_once(
                    project,
                    env,
                    call,
                    progress=progress,
                    on_version=on_version,
                    take_lock=take_lock,
                    on_sample=on_sample,
                )
            )
            return RunOutcome(value, attempts, time.monotonic() - started, log, tuple(aborts))
        except _LockTimeout as timeout:
            aborts += timeout.aborts
            if not retry_on_lock_timeout or attempts > config.lock_retries:
                if timeout.aborts:
                    message = (
                        f"{action} on {env.name} gave up after {attempts} attempt(s): the lock-queue guard "
                        f"stopped it each time; last: {timeout.aborts[-1]}"
                    )
                else:
                    message = (
                        f"{action} on {env.name} gave up after {attempts} attempt(s): a statement waited "
                        f"longer than lock_timeout ({config.lock_timeout:g} s) for a lock held by "
                        f"{timeout.blockers}"
                    )
                error = OperationError(
                    message,
                    hint="let that session finish or stop it, then run again (nothing of the blocked "
                    "revision was applied)",
                    title="migration blocked",
                )
                error.aborts = tuple(aborts)  # type: ignore[attr-defined]
                raise error from None
            delay = min(2 ** (attempts - 1), 8)
            why = f"guard: {timeout.aborts[-1]}" if timeout.aborts else f"blocked by {timeout.blockers}"
            emit(
                progress,
                JobProgress(
                    phase=f"{why}; retrying in {delay} s",
                    detail=f"attempt {attempts + 1} of {config.lock_retries + 1}",
                ),
            )
            time.sleep(delay)
        except SyncdbError:
            raise
        except Exception as error:
            where = revision_after_failure() if revision_after_failure else ""
            raise OperationError(
                f"{action} on {env.name} failed{where}: {pg_message(error)}",
                hint="see PostgreSQL's message above; SYNCDB_DEBUG=1 shows the traceback",
                title=f"{action} failed",
            ) from error


class _LockTimeout(Exception):
    def __init__(self, blockers: str, aborts: tuple[str, ...] = ()) -> None:
        super().__init__(blockers)
        self.blockers = blockers
        self.aborts = aborts


async def _run_once(
    project: Project,
    env: Environment,
    call: AlembicCall,
    *,
    progress: ProgressCallback | None,
    on_version: Callable[[tuple[str, ...]], None] | None = None,
    take_lock: bool = True,
    on_sample: Callable[[QueueSample], None] | None = None,
) -> tuple[Any, str]:
    from syncdb_tui.core.envs.environments import connect

    config = project.config
    lock_conn = await connect(env, server_settings={"application_name": "syncdb lock"})
    guard = config.guard
    watch = BlockerWatch(
        env,
        on_version=on_version,
        on_sample=on_sample,
        interval=guard.interval_ms / 1000,
        max_queued=guard.max_queued,
        max_queue_wait_ms=guard.max_queue_wait_ms,
    )
    try:
        if take_lock:
            await acquire_advisory_lock(lock_conn, env.database, config.migrate_lock_wait)
        await watch.start()
        settings = _session_settings(project, lock_conn.get_server_version().major)
        if project.env_py_shares_connection:
            return await _run_shared(project, env, call, watch, settings)
        return await _run_unshared(project, env, call, settings)
    except Exception as error:
        state = _sqlstate(error)
        if state == "55P03":
            raise _LockTimeout(watch.describe()) from error
        if state == "57014" and watch.guard_tripped:  # query_canceled by the lock-queue guard
            raise _LockTimeout(watch.describe(), tuple(watch.aborts)) from error
        raise
    finally:
        await watch.stop()
        try:
            await lock_conn.close()
        except Exception:
            pass


def _lock_timeout_ms(project: Project) -> int:
    return max(1, int(project.config.lock_timeout * 1000))


def _session_settings(project: Project, server_major: int) -> dict[str, str]:
    """Settings of the migration's session: lock_timeout, and (PostgreSQL 14+) a check that the client is alive.

    ``client_connection_check_interval`` makes the server abort a running statement soon after
    syncdb dies (kill -9, a dropped SSH session), instead of running it to the end with its
    locks held and rolling it back only then.
    """
    settings = {"lock_timeout": f"{_lock_timeout_ms(project)}ms"}
    if server_major >= 14:
        settings["client_connection_check_interval"] = "1000ms"
    return settings


async def _run_shared(
    project: Project, env: Environment, call: AlembicCall, watch: BlockerWatch, settings: dict[str, str]
) -> tuple[Any, str]:
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    url = env.conninfo.sqlalchemy_url("asyncpg")
    engine = create_async_engine(
        url,
        poolclass=NullPool,
        connect_args={
            "server_settings": {
                "application_name": MIGRATE_APPLICATION_NAME,
                **settings,
            }
        },
    )
    stdout = io.StringIO()
    try:
        async with engine.connect() as conn:
            pid = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
            await conn.commit()
            watch.pids.append(int(pid or 0))
            cfg = project.alembic_config(env, driver="asyncpg")
            cfg.stdout = stdout

            def run(sync_conn: Any) -> Any:
                cfg.attributes["connection"] = sync_conn
                with (
                    ALEMBIC_LOCK,
                    translate_script_errors(project.script_location, commands=False, roots=project.config.import_paths),
                    contextlib.redirect_stdout(stdout),
                ):
                    project.prepare_imports()
                    return call(cfg)

            value = await conn.run_sync(run)
            if conn.in_transaction():
                await conn.commit()
            return value, stdout.getvalue()
    finally:
        await engine.dispose()


async def _run_unshared(
    project: Project, env: Environment, call: AlembicCall, settings: dict[str, str]
) -> tuple[Any, str]:
    stdout = io.StringIO()
    cfg = project.alembic_config(env)
    cfg.stdout = stdout

    def run() -> Any:
        saved = {key: os.environ.get(key) for key in ("PGOPTIONS", "PGAPPNAME")}
        os.environ["PGOPTIONS"] = " ".join(f"-c {key}={value}" for key, value in settings.items())
        os.environ["PGAPPNAME"] = MIGRATE_APPLICATION_NAME
        try:
            with (
                ALEMBIC_LOCK,
                translate_script_errors(project.script_location, commands=False, roots=project.config.import_paths),
                contextlib.redirect_stdout(stdout),
            ):
                project.prepare_imports()
                return call(cfg)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    value = await asyncio.to_thread(run)
    return value, stdout.getvalue()


def check_multiple_heads(project: Project, target: str) -> None:
    """Refuse ``head`` when the history has several heads.

    Raises:
        UsageError: more than one head and the target is ``head``.
    """
    heads = project.graph().heads
    if target == "head" and len(heads) > 1:
        raise UsageError(
            f"the history has {len(heads)} heads ({', '.join(heads)}), so 'head' is ambiguous",
            hint="migrate to one of them, or to 'heads' for all; or merge them with "
            f"`alembic merge -m merge {' '.join(heads)}`",
            title="multiple heads",
        )
