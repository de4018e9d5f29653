"""CSV export of the explorer's filtered view, streamed through a server-side cursor.

Who calls what: the explorer screen calls :func:`export_csv` in a worker with
a progress callback. Rows flow cursor → csv line → file in batches, so memory
stays flat whatever the table's size; the file is written under a ``.part``
name and renamed only when complete, so a cancelled export never looks done.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import OperationError
from syncdb_tui.core.events import JobProgress, ProgressCallback, emit
from syncdb_tui.core.explorer.query import filtered_query
from syncdb_tui.core.explorer.session import ViewState, _close_quietly, ordering_keys, text_value, translate_errors

if TYPE_CHECKING:
    from syncdb_tui.core.explorer.catalog import TableInfo
    from syncdb_tui.core.explorer.session import ExplorerSession

BATCH_ROWS = 1000


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int
    bytes_written: int


def csv_field(value: Any) -> str:
    """One CSV field as PostgreSQL's COPY … CSV writes it: NULL empty and unquoted, '' as ``""``."""
    if value is None:
        return ""
    text = text_value(value)
    if text == "" or any(char in text for char in ',"\r\n') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_line(values: Any) -> str:
    return ",".join(csv_field(value) for value in values) + "\n"


async def export_csv(
    session: ExplorerSession,
    info: TableInfo,
    view: ViewState,
    path: Path,
    *,
    progress: ProgressCallback | None = None,
) -> ExportResult:
    """Write every row of ``view`` (filters and sort applied) to ``path`` as CSV with a header.

    Raises:
        OperationError: the file cannot be written, or the query failed.
        UsageError: a filter value does not fit its column.
    """
    keys = ordering_keys(info, view.sort)
    query = filtered_query(
        info.table, info.column_names, info.types, keys, view.filters, bool(view.sort and view.sort.descending)
    )
    total = await session.estimate(info, view)
    path = Path(path)
    partial = path.with_name(path.name + ".part")
    rows = 0
    phase = f"exporting {info.table}"
    emit(progress, JobProgress(phase, 0, total, "rows"))
    conn = await session.new_connection()
    try:
        with translate_errors(session, info.table), open_for_export(partial) as handle:
            handle.write(csv_line(info.column_names))
            async with conn.transaction(readonly=True):
                cursor = await conn.cursor(query.sql, *query.params)
                while True:
                    batch = await cursor.fetch(BATCH_ROWS)
                    if not batch:
                        break
                    handle.write("".join(csv_line(record.values()) for record in batch))
                    rows += len(batch)
                    emit(progress, JobProgress(phase, rows, max(total or 0, rows) or None, "rows"))
                    await asyncio.sleep(0)
        os.replace(partial, path)
    except asyncio.CancelledError:
        partial.unlink(missing_ok=True)
        await session.cancel_backend(conn)
        raise
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        await _close_quietly(conn)
    emit(progress, JobProgress(phase, rows, rows, "rows", detail=f"{rows:,} rows → {path}"))
    return ExportResult(path, rows, path.stat().st_size)


def open_for_export(path: Path) -> Any:
    """``path`` opened for writing, or an OperationError that names it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", encoding="utf-8", newline="")
    except OSError as error:
        raise OperationError(
            f"cannot write the export file {path}: {error.strerror}",
            hint="choose a directory you can write to",
            title="export failed",
        ) from error
