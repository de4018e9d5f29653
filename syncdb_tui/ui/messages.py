"""Worker-result messages that several widgets (or the screen and the app) use.

Who posts what: the main screen's workers post :class:`StatusLoaded` per
environment and the job messages (:class:`JobStarted`, :class:`JobProgressed`,
:class:`JobFinished`, :class:`JobFailed`); the main screen handles them and calls
intent methods on its panes (environments, timeline, risk, jobs).  Workers may
run in threads: ``post_message`` is the thread-safe route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from syncdb_tui.core.events import JobProgress
    from syncdb_tui.core.status import EnvironmentStatus


@dataclass
class StatusLoaded(Message):
    """The status of one environment arrived (reachable or not)."""

    env_name: str
    status: EnvironmentStatus


@dataclass
class StatusFailed(Message):
    """The status of one environment could not be read (config or script error)."""

    env_name: str
    title: str
    message: str
    hint: str = ""


@dataclass
class JobStarted(Message):
    """A long job began; the jobs pane adds a row."""

    job_id: int
    kind: str
    """``migrate``, ``downgrade``, ``backup``, ``restore``, ``seed``, ``push``, ``generate``, ``report``."""
    env_name: str
    description: str
    cancellable: bool = True


@dataclass
class JobProgressed(Message):
    """A step of a running job (a core ``JobProgress`` event)."""

    job_id: int
    progress: JobProgress


@dataclass
class JobFinished(Message):
    """A job ended well; ``summary`` is the one line the jobs pane shows."""

    job_id: int
    summary: str
    result: Any = None


@dataclass
class JobFailed(Message):
    """A job ended with an error (or was cancelled); ``summary`` is its one line."""

    job_id: int
    summary: str
    cancelled: bool = False
