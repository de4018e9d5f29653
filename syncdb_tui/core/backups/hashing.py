"""Checksums of a backup computed while pg_dump writes it.

Who calls what: ``core/backups/backup.py`` creates a :class:`LiveChecksum` for the
archive it is about to write, feeds it pg_dump's verbose lines and awaits
:meth:`LiveChecksum.result` once pg_dump has exited.  The result is exactly what
:func:`syncdb_tui.core.backups.manifest.checksum` computes afterwards; only less of
the work is left for the end:

- plain format: pg_dump writes the file front to back, so a thread follows the
  growing file and hashes each chunk as it lands;
- directory format: each table's data file is closed by its pg_dump worker before
  the leader prints ``finished item N TABLE DATA …``; that file is hashed then, in
  a thread (several at once), and the rest (``toc.dat``, large objects) at the end,
  in parallel.  A file whose size or mtime changed after it was hashed is hashed again;
- custom format: pg_dump rewrites the table of contents near the start of the file
  when it closes it, so the file can only be hashed at the end (one pass, off the loop).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from syncdb_tui.core.backups.manifest import checksum

_FINISHED_ITEM = re.compile(r"finished item (?P<id>\d+) TABLE DATA ")
_CHUNK = 1 << 20
_POLL = 0.05


def _hash_file(path: Path) -> tuple[str, int, int]:
    """``(sha256, size, mtime_ns)`` of a file, the stat taken before reading."""
    stat = path.stat()
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return digest, stat.st_size, stat.st_mtime_ns


class LiveChecksum:
    """``(size, sha256)`` of a backup being written, computed as it is written."""

    def __init__(self, path: Path, fmt: str, *, workers: int | None = None) -> None:
        self.path = path
        self.fmt = fmt
        self._workers = max(1, workers or min(4, os.cpu_count() or 1))
        self._pool: ThreadPoolExecutor | None = None
        self._files: dict[str, Future[tuple[str, int, int]]] = {}
        self._done = threading.Event()
        self._follower: asyncio.Future[tuple[int, str]] | None = None

    def start(self) -> None:
        """Begin following a plain dump (call once pg_dump has been started)."""
        if self.fmt == "plain" and self._follower is None:
            self._follower = asyncio.ensure_future(asyncio.to_thread(self._follow))

    def on_line(self, line: str) -> None:
        """A pg_dump --verbose line: a finished table of a directory archive is hashed now."""
        if self.fmt != "directory":
            return
        finished = _FINISHED_ITEM.search(line)
        if finished is None or not self.path.is_dir():
            return
        number = finished.group("id")
        for child in self.path.iterdir():
            name = child.name
            if (name == f"{number}.dat" or name.startswith(f"{number}.dat.")) and name not in self._files:
                self._files[name] = self._executor().submit(_hash_file, child)

    async def result(self) -> tuple[int, str]:
        """The archive's ``(size, sha256)``, once pg_dump has exited."""
        self._done.set()
        if self.fmt == "plain" and self._follower is not None:
            return await self._follower
        if self.fmt == "directory" and self.path.is_dir():
            return await asyncio.to_thread(self._directory)
        return await asyncio.to_thread(checksum, self.path)

    def close(self) -> None:
        """Stop any work still running (the backup failed or was cancelled)."""
        self._done.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="syncdb-hash")
        return self._pool

    def _follow(self) -> tuple[int, str]:
        digest = hashlib.sha256()
        size = 0
        with self.path.open("rb") as handle:
            while True:
                chunk = handle.read(_CHUNK)
                if chunk:
                    digest.update(chunk)
                    size += len(chunk)
                    continue
                if self._done.is_set():
                    # pg_dump has exited: whatever is left was written before that
                    rest = handle.read()
                    digest.update(rest)
                    size += len(rest)
                    break
                self._done.wait(_POLL)
        if size != self.path.stat().st_size:  # never expected: fall back to reading it whole
            return checksum(self.path)
        return size, digest.hexdigest()

    def _directory(self) -> tuple[int, str]:
        files = sorted(p for p in self.path.rglob("*") if p.is_file())
        pool = self._executor()
        pending: dict[Path, Future[tuple[str, int, int]]] = {}
        for child in files:
            early = self._files.get(child.name) if child.parent == self.path else None
            pending[child] = early if early is not None else pool.submit(_hash_file, child)
        lines: list[str] = []
        total = 0
        for child in files:
            digest, size, mtime = pending[child].result()
            stat = child.stat()
            if (stat.st_size, stat.st_mtime_ns) != (size, mtime):
                digest, size, _ = _hash_file(child)
            lines.append(f"{digest}  {child.relative_to(self.path).as_posix()}\n")
            total += size
        return total, hashlib.sha256("".join(lines).encode()).hexdigest()
