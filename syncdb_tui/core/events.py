"""Progress events shared by the CLI and the TUI.

Long core operations accept ``progress: ProgressCallback | None`` and call it
with small immutable events; the CLI draws a rich progress bar, a TUI worker
posts them as messages.  Callbacks must be cheap and must not raise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class JobProgress:
    """One step of a long job."""

    phase: str
    """What is happening now, e.g. ``"dumping public.aibotkit_messages"``."""
    done: float = 0
    """Units done so far (tables, bytes, rows, revisions)."""
    total: float | None = None
    """Units in all, when known."""
    unit: str = ""
    """What ``done``/``total`` count: ``"bytes"``, ``"rows"``, ``"tables"``…"""
    detail: str = ""
    """A free-form line for the log (e.g. ``"12/40 tables, 34.1 MB/s"``)."""


ProgressCallback = Callable[[JobProgress], None]


def emit(progress: ProgressCallback | None, event: JobProgress) -> None:
    """Call ``progress`` with ``event`` if there is a callback."""
    if progress is not None:
        progress(event)
