"""A second process for work that splits in two: when to fork, and the child's pipes in and out.

Who calls what: ``project/offline.py`` (a long offline rendering pass: the child renders the second
half) and ``risk/analysis.py`` (a large .sql file: the child judges the second half) call
:func:`may_fork`, then :func:`fork_quietly`; each side then :func:`send` / :func:`receive` whole
payloads through its pipes, and the parent :func:`reap` s (or :func:`kill` s) the child. Whatever
goes wrong in a child (an exception, its exit, a kill) reaches the parent as an empty payload or a
non-zero status, and the parent does the child's part itself: a split never changes a result.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # no typing module at run time: ``syncdb risk FILE.sql`` loads this early
if TYPE_CHECKING:
    from collections.abc import Callable


def fork_setting() -> str:
    """``SYNCDB_FORK``: "never" (0, no, false), "always" (1, yes, true) or "auto" (anything else)."""
    setting = os.environ.get("SYNCDB_FORK", "auto").strip().lower()
    if setting in ("0", "no", "never", "false"):
        return "never"
    if setting in ("1", "yes", "always", "true"):
        return "always"
    return "auto"


def may_fork() -> bool:
    """Whether this process may fork a helper now: ``os.fork`` exists (not on macOS, where system
    frameworks do not survive it), no other thread runs (a fork copies only this one, with whatever
    locks the others held), ``SYNCDB_FORK`` does not say never, and a CPU is idle (:func:`idle_cpu`)
    unless it says always."""
    import threading

    setting = fork_setting()
    return (
        setting != "never"
        and hasattr(os, "fork")
        and sys.platform != "darwin"
        and threading.active_count() == 1
        and (setting == "always" or idle_cpu())
    )


def idle_cpu() -> bool:
    """True when a CPU is free for a forked helper: fewer runnable tasks than CPUs, this process included
    (on a busy machine the child would only take turns with the parent and add the cost of the fork)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return False
    try:
        with open("/proc/loadavg", "rb") as handle:  # "0.52 0.61 0.70 1/345 6789": runnable/total now
            running = int(handle.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0] < cpus - 0.5
        except (AttributeError, OSError):
            return True
    return running < cpus


def fork_quietly(to_child: bool = False) -> tuple[int, int, int] | None:
    """Fork with a pipe from the child to the parent (and one from the parent to the child if asked).

    Returns ``(pid, read_fd, write_fd)`` in each process: in the parent the child's pid, the end it
    reads the child's payload from and the end it writes to the child (-1 without ``to_child``); in
    the child 0, the end it reads the parent's payload from (-1 without) and the end it writes its
    own to. In the child, stdin, stdout and stderr are /dev/null (it never writes to the terminal)
    and the objects it inherited are frozen for its collections (the pages it shares with the
    parent stay shared). None, in the parent only, when a pipe or the fork failed.
    """
    import gc

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    opened: list[int] = []
    try:
        up = os.pipe()
        opened += up
        down = os.pipe() if to_child else (-1, -1)
        opened += [fd for fd in down if fd >= 0]
        pid = os.fork()
    except OSError:
        for fd in opened:
            os.close(fd)
        return None
    if pid == 0:
        gc.freeze()
        os.close(up[0])
        if down[1] >= 0:
            os.close(down[1])
        try:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
        except OSError:
            os._exit(1)
        return 0, down[0], up[1]
    os.close(up[1])
    if down[0] >= 0:
        os.close(down[0])
    return pid, up[0], down[1]


def send(fd: int, data: bytes) -> bool:
    """Write all of ``data`` to the pipe ``fd`` and close it; False when the other side is gone."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def receive(fd: int) -> bytes:
    """Everything written to the pipe ``fd`` until its writer closed it (or died); the pipe is closed."""
    chunks = []
    try:
        while True:
            data = os.read(fd, 1 << 16)
            if not data:
                break
            chunks.append(data)
    except OSError:
        chunks = []
    finally:
        os.close(fd)
    return b"".join(chunks)


def reap(pid: int) -> int:
    """Wait for the child ``pid``: its exit status (-1 when a signal ended it or it is lost)."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return -1
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1


def kill(pid: int) -> None:
    """End the child ``pid`` now (SIGKILL) and reap it."""
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    reap(pid)


def child_exit(work: Callable[[], bytes | None], fd: int) -> None:
    """In the child: ``work()``'s payload to the parent through ``fd``, then ``os._exit`` (0 when sent).

    Never returns, whatever ``work`` does: no atexit hook, no buffered output, no cleanup of what the
    parent still owns runs in the child.
    """
    code = 1
    try:
        payload = work()
        if payload is not None and send(fd, payload):
            code = 0
    except BaseException:
        code = 1
    finally:
        os._exit(code)
