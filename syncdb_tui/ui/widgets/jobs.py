"""The Jobs pane: running and recent work with a progress bar, elapsed time and result.

The screen calls :meth:`JobsPane.add_job`, :meth:`progress`, :meth:`finish` as job
messages arrive; the cancel key (``jobs`` scope of the registry) runs on the
screen, which asks :attr:`JobsPane.selected_job_id` which job to stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from syncdb_tui.core.events import JobProgress
from syncdb_tui.ui.actions import bindings

BAR_WIDTH = 14


@dataclass
class JobRow:
    """What the pane knows of one job."""

    job_id: int
    kind: str
    env_name: str
    description: str
    started: float
    cancellable: bool = True
    progress: JobProgress | None = None
    ended: float | None = None
    result: str = ""
    failed: bool = False

    @property
    def running(self) -> bool:
        return self.ended is None


def progress_bar(progress: JobProgress | None, running: bool, failed: bool) -> Text:
    """A fixed-width text bar: ``█████░░░░ 45%``, an indeterminate ``▒▒▒`` or the final state."""
    if not running:
        if failed:
            return Text("✗".ljust(BAR_WIDTH + 5), style="bold red")
        return Text("█" * BAR_WIDTH + " 100%", style="green")
    if progress is None or not progress.total:
        return Text("▒" * BAR_WIDTH + "  ...", style="cyan")
    fraction = max(0.0, min(1.0, progress.done / progress.total))
    filled = round(fraction * BAR_WIDTH)
    return Text.assemble(("█" * filled, "cyan"), ("░" * (BAR_WIDTH - filled), "dim"), f" {fraction * 100:3.0f}%")


def format_elapsed(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


class JobsPane(DataTable[Text]):
    """Running and recent jobs (newest first)."""

    BINDINGS = bindings("jobs")
    clock: Callable[[], float] = staticmethod(time.monotonic)
    """Source of time (tests pin it so elapsed times are stable)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.jobs: dict[int, JobRow] = {}

    def on_mount(self) -> None:
        self.add_column("#", key="id", width=3)
        self.add_column("job", key="job", width=26)
        self.add_column("env", key="env", width=9)
        self.add_column("progress", key="progress", width=BAR_WIDTH + 5)
        self.add_column("elapsed", key="elapsed", width=7)
        self.add_column("result", key="result", width=60)
        self.set_interval(1.0, self._tick)

    @property
    def selected_job_id(self) -> int | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        return int(key) if key is not None else None

    @property
    def running_jobs(self) -> list[JobRow]:
        return [job for job in self.jobs.values() if job.running]

    def add_job(self, job_id: int, kind: str, env_name: str, description: str, cancellable: bool) -> None:
        job = JobRow(job_id, kind, env_name, description, self.clock(), cancellable)
        self.jobs[job_id] = job
        self.add_row(*self._cells(job), key=str(job_id))
        self.sort("id", key=lambda cell: -int(cell.plain), reverse=False)
        self.move_cursor(row=0, animate=False)

    def progress(self, job_id: int, event: JobProgress) -> None:
        job = self.jobs.get(job_id)
        if job is None or not job.running:
            return
        job.progress = event
        job.result = event.detail or event.phase
        self._update(job)

    def finish(self, job_id: int, summary: str, *, failed: bool = False) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return
        job.ended = self.clock()
        job.result = summary
        job.failed = failed
        self._update(job)

    def _cells(self, job: JobRow) -> list[Text]:
        end = job.ended if job.ended is not None else self.clock()
        style = "bold red" if job.failed else ("" if job.running else "green")
        return [
            Text(str(job.job_id)),
            Text(job.description),
            Text(job.env_name),
            progress_bar(job.progress, job.running, job.failed),
            Text(format_elapsed(end - job.started)),
            Text(job.result, style=style),
        ]

    def _update(self, job: JobRow) -> None:
        key = str(job.job_id)
        if key not in self.rows:
            return
        for column, cell in zip(("id", "job", "env", "progress", "elapsed", "result"), self._cells(job), strict=True):
            self.update_cell(key, column, cell)

    def _tick(self) -> None:
        for job in self.running_jobs:
            self.update_cell(str(job.job_id), "elapsed", Text(format_elapsed(self.clock() - job.started)))
