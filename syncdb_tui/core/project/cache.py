"""The revision cache under ``.syncdb/cache``: the graph and each revision's offline SQL, by file hash.

Who calls what: :meth:`Project.graph` reads the graph through the cache (``current_graph``);
``offline.offline_range`` / ``offline_sql`` ask :meth:`RevisionCache.sql` before rendering
a revision and :meth:`RevisionCache.store` after; ``risk.judge`` keeps what it computes from
a revision's SQL alone (the tables it touches, the findings without live context, and the
findings with one environment's live context keyed by the facts they used) with
:meth:`RevisionCache.derived`. On a hit neither Alembic nor SQLAlchemy is imported.

Keys: the graph's key is the hash of every ``*.py`` file under the script directory
(revision files and env.py, by content; the files' own hashes are kept too, so a new
process reads a file again only when its size or mtime changed), the directory's path,
alembic.ini, and the Alembic and SQLAlchemy versions; a revision's SQL is keyed by its
own file's hash, env.py's and alembic.ini's hashes, those versions and the environment
it was rendered for (its name and driver).
Editing a revision file, env.py or alembic.ini, or upgrading Alembic or SQLAlchemy,
misses; nothing cached depends on the server except the live-context findings, whose
key holds the server version and the sizes they were judged with.

Safe under concurrent processes: a write takes an advisory lock on ``.lock``, merges
its new entries into the file as it is on disk now (so two processes adding different
revisions both keep theirs), writes a temporary file in the same directory and replaces
the cache file atomically (a reader sees a whole file or none, and never waits).
``syncdb cache clear`` (:func:`clear`) removes the directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from syncdb_tui.config import Config
    from syncdb_tui.core.envs.environments import Environment

FORMAT = 1
FILE_NAME = "revisions.json"
LOCK_NAME = ".lock"
SECTIONS = ("sql", "derived", "files")
"""The tables of the file beside ``graph``: ``sql`` and ``derived`` map a name to ``{"key": …, …}``;
``files`` maps a script file to ``[mtime_ns, size, sha256]``."""
_lock = threading.RLock()
G_co = TypeVar("G_co", covariant=True)


class ProjectFiles(Protocol):
    """What the cache needs of a project (``revisions.Project`` is one; this module never imports it)."""

    @property
    def config(self) -> Config: ...

    @property
    def script_location(self) -> Path: ...


class GraphProject(ProjectFiles, Protocol[G_co]):
    """A project that reads its revision graph through the cache (``revisions.Project``)."""

    def current_graph(self, cache: RevisionCache | None = None) -> G_co: ...


def cache_dir(project: ProjectFiles) -> Path:
    return Path(project.config.root) / ".syncdb" / "cache"


def enabled() -> bool:
    return os.environ.get("SYNCDB_NO_CACHE", "") not in ("1", "true", "yes")


@lru_cache(maxsize=8)
def _tool_versions() -> str:
    """Alembic's and SQLAlchemy's installed versions, from their dist-info directories (nothing imported)."""
    from importlib.machinery import PathFinder  # finds without importing (importlib.util costs more)

    parts = []
    for name in ("alembic", "sqlalchemy"):
        version = "?"
        spec = PathFinder.find_spec(name)
        if spec is None:  # installed some other way (an editable finder): ask every finder
            import importlib.util

            spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            site = Path(spec.origin).parent.parent
            prefix = f"{name}-"
            try:
                found = sorted(e for e in os.listdir(site) if e.lower().startswith(prefix) and e.endswith(".dist-info"))
            except OSError:
                found = []
            if found:
                version = ",".join(entry[len(prefix) : -len(".dist-info")] for entry in found)
        parts.append(f"{name}={version}")
    return ";".join(parts)


def _file_hash(path: str) -> str:
    try:
        with open(path, "rb", buffering=0) as handle:  # no pathlib, no buffer: ~2x faster on 300 small files
            data = handle.readall()
    except OSError:
        return ""
    return hashlib.sha256(data).hexdigest()


RACY_SECONDS = 2.0
"""A file modified this recently may change again within its mtime's granularity: its hash is not
remembered across processes (the next process reads it again), as git does with racily clean files."""


class _Files:
    """Hashes of the script directory's Python files, validated by stat (size and mtime).

    Read once per process; the cache file also keeps them (section ``files``), so a new process
    reads a revision file again only when its size or mtime changed.
    """

    def __init__(self) -> None:
        self.by_stat: dict[str, tuple[int, int, str]] = {}
        self.fresh: dict[str, list[Any]] = {}
        """Hashes computed by this process, safe to keep in the cache file (not racy)."""

    def hash_of(self, path: str) -> str:
        """``path``'s sha256, hashed again only when its size or mtime changed ("" when unreadable)."""
        try:
            st = os.stat(path)
        except OSError:
            return ""
        known = self.by_stat.get(path)
        if known and known[:2] == (st.st_mtime_ns, st.st_size):
            return known[2]
        digest = _file_hash(path)
        self.by_stat[path] = (st.st_mtime_ns, st.st_size, digest)
        if digest and st.st_mtime_ns < (time.time() - RACY_SECONDS) * 1e9:
            self.fresh[path] = [st.st_mtime_ns, st.st_size, digest]
        return digest

    def seed(self, stored: Any) -> None:
        """Take the hashes a cache file kept (``path -> [mtime_ns, size, sha256]``) for files not seen yet."""
        if not isinstance(stored, dict):
            return
        for path, item in stored.items():
            if path not in self.by_stat and isinstance(item, list) and len(item) == 3:
                self.by_stat[path] = (int(item[0]), int(item[1]), str(item[2]))

    def hashes(self, root: Path) -> dict[str, str]:
        out: dict[str, str] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    digest = self.hash_of(path)
                    if digest:
                        out[path] = digest
        return out


_FILES = _Files()


def file_hash(path: str | Path) -> str:
    """sha256 of a file, remembered per process while its size and mtime stay the same."""
    return _FILES.hash_of(str(path))


_SNAPSHOTS: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}
"""The cache file as last read or written by this process, by its stat signature (shared by its RevisionCache
objects, parsed once per version)."""


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _read(path: Path) -> dict[str, Any]:
    """The cache file's content ({} when missing, unreadable or of another format); parsed once per version."""
    signature = _signature(path)
    if signature is None:
        return {}
    known = _SNAPSHOTS.get(path)
    if known is not None and known[0] == signature:
        return known[1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {}
    _SNAPSHOTS[path] = (signature, data)
    return data


@contextmanager
def _file_lock(directory: Path) -> Iterator[None]:
    """An exclusive advisory lock between processes writing the cache (readers never take it)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: atomic replace alone (the last writer wins)
        yield
        return
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _sql_name(revision: str, env: Environment | None) -> str:
    """Where a revision's SQL is kept: rendered for the dialect alone, or for one environment (env.py may
    tell them apart), each kept beside the other."""
    return revision if env is None else f"{revision}@{env.name}"


class RevisionCache:
    """One process's view of the cache file; new entries are merged into the file on :meth:`flush`."""

    def __init__(self, project: ProjectFiles) -> None:
        self.project = project
        self.path = cache_dir(project) / FILE_NAME
        self.data = _read(self.path)
        _FILES.seed(self.data.get("files"))
        self.hashes = _FILES.hashes(project.script_location)
        ini = project.config.alembic_ini
        self.env_py = self.hashes.get(str(project.script_location / "env.py"), "") + (
            f"+{file_hash(ini)}" if ini is not None else ""
        )
        # the graph holds the files' absolute paths: a project copied elsewhere (cache and all) misses
        location = str(project.script_location)
        lines = [f"{path[len(location) + 1 :]}={digest}\n" for path, digest in sorted(self.hashes.items())]
        head = f"{location}|{_tool_versions()}|{self.env_py}\n"
        self.graph_key = hashlib.sha256((head + "".join(lines)).encode()).hexdigest()
        self.pending: dict[str, dict[str, Any]] = {}
        """New entries not yet written: section ("graph", "sql", "derived", "files") → name → entry."""
        known = self.data.get("files") or {}
        new_hashes = {
            path: item for path, item in _FILES.fresh.items() if path in self.hashes and known.get(path) != item
        }
        if new_hashes:
            # files touched since (a checkout) are read once more, not in every process from now on
            self.pending["files"] = new_hashes
            if self.data:
                self.flush()

    @property
    def dirty(self) -> bool:
        return bool(self.pending)

    def _get(self, section: str, name: str) -> Any:
        new = self.pending.get(section, {})
        if name in new:
            return new[name]
        return self.data.get(section, {}).get(name)

    def _put(self, section: str, name: str, entry: Any) -> None:
        self.pending.setdefault(section, {})[name] = entry

    def sql_key(self, path: str, env: Environment | None) -> str:
        own = self.hashes.get(path) or file_hash(path)
        target = f"{env.name}:{env.conninfo.driver or ''}" if env is not None else ""
        text = f"{own}|{self.env_py}|{_tool_versions()}|{target}"
        return hashlib.sha256(text.encode()).hexdigest()

    def sql(self, revision: str, path: str, env: Environment | None) -> tuple[str, str] | None:
        """``(sql, needs_live_reason)`` of an upgrade of ``revision`` rendered earlier from the same files."""
        item = self._get("sql", _sql_name(revision, env))
        if isinstance(item, dict) and item.get("key") == self.sql_key(path, env):
            return str(item.get("sql", "")), str(item.get("needs_live", ""))
        return None

    def store(self, items: list[tuple[str, str, str, str]], env: Environment | None, *, flush: bool = True) -> None:
        """Remember ``(revision, path, sql, needs_live_reason)`` of upgrades just rendered; write the file unless
        ``flush=False`` (the caller's next :meth:`flush` writes them)."""
        for revision, path, sql, needs_live in items:
            entry = {"key": self.sql_key(path, env), "sql": sql, "needs_live": needs_live}
            self._put("sql", _sql_name(revision, env), entry)
        if flush:
            self.flush()

    def derived(self, revision: str, name: str, key: str) -> Any:
        """Something computed from ``revision``'s SQL alone (``name``: what it is), stored under ``key``."""
        item = self._get("derived", f"{name}:{revision}")
        return item.get("value") if isinstance(item, dict) and item.get("key") == key else None

    def store_derived(self, items: list[tuple[str, str, str, Any]], *, flush: bool = True) -> None:
        """Remember ``(revision, name, key, value)`` (JSON values); write the file unless ``flush=False``."""
        for revision, name, key, value in items:
            self._put("derived", f"{name}:{revision}", {"key": key, "value": value})
        if flush:
            self.flush()

    def graph_data(self) -> dict[str, Any] | None:
        """The graph stored for the script files as they are now (None: not stored, or they changed)."""
        stored = self.pending.get("graph", {}).get("graph") or self.data.get("graph")
        if isinstance(stored, dict) and stored.get("key") == self.graph_key:
            return stored
        return None

    def store_graph_data(self, data: dict[str, Any]) -> None:
        """Remember the graph (``RevisionGraph.to_json()``) for the script files as they are now."""
        self._put("graph", "graph", {**data, "key": self.graph_key})
        self.flush()

    def flush(self) -> None:
        """Merge the new entries into the file as it is on disk now, and replace it atomically."""
        if not self.pending:
            return
        directory = self.path.parent
        with _lock:
            try:
                directory.mkdir(parents=True, exist_ok=True)
                with _file_lock(directory):
                    current = _read(self.path)
                    merged: dict[str, Any] = {
                        "format": FORMAT,
                        "graph": current.get("graph"),
                        **{section: dict(current.get(section) or {}) for section in SECTIONS},
                    }
                    for section, entries in self.pending.items():
                        if section == "graph":
                            merged["graph"] = entries["graph"]
                        else:
                            merged[section].update(entries)
                    # only the script files there are now (a deleted revision's hash goes)
                    merged["files"] = {path: item for path, item in merged["files"].items() if path in self.hashes}
                    import tempfile

                    fd, temp = tempfile.mkstemp(prefix=".revisions.", suffix=".tmp", dir=directory)
                    try:
                        # dumps, not dump: json.dump streams through the pure-Python encoder (10x slower)
                        text = json.dumps(merged, separators=(",", ":"))
                        with os.fdopen(fd, "w", encoding="utf-8") as handle:
                            handle.write(text)
                        os.replace(temp, self.path)
                    except BaseException:
                        Path(temp).unlink(missing_ok=True)
                        raise
                    signature = _signature(self.path)
                    if signature is not None:
                        _SNAPSHOTS[self.path] = (signature, merged)
            except OSError:
                return  # a cache that cannot be written is only slower
            self.data = merged
            self.pending = {}


def open_cache(project: ProjectFiles) -> RevisionCache | None:
    """The cache as the files are now (None when disabled with ``SYNCDB_NO_CACHE=1``).

    Each call re-reads the script directory's stat (and hashes only files whose size or
    mtime changed), so a long-running process never uses SQL of a file edited since.
    """
    if not enabled():
        return None
    with _lock:
        return RevisionCache(project)


def cached_graph(project: GraphProject[G_co], cache: RevisionCache | None = None) -> G_co:
    """The revision graph as the script files are now: from the cache when none changed since it was
    stored (nothing of Alembic imported), else loaded by Alembic and stored (``Project.current_graph``).

    Raises:
        ConfigError: a revision file does not compile or a down_revision points nowhere (a miss only).
    """
    return project.current_graph(cache)


def clear(project: ProjectFiles) -> bool:
    """Remove the cache directory; True when there was one."""
    import shutil

    with _lock:
        _FILES.by_stat.clear()
        _FILES.fresh.clear()
        _SNAPSHOTS.clear()
        directory = cache_dir(project)
        if not directory.exists():
            return False
        shutil.rmtree(directory, ignore_errors=True)
        return True


class CacheInfo:
    """What ``syncdb cache status`` shows: where the cache is and what it holds (a plain class: this
    module is imported by every warm command, and a dataclass costs its creation at import)."""

    def __init__(
        self,
        directory: Path,
        exists: bool,
        size_bytes: int,
        revisions_with_sql: int,
        graph_current: bool,
        fingerprints: int,
    ) -> None:
        self.directory = directory
        self.exists = exists
        self.size_bytes = size_bytes
        self.revisions_with_sql = revisions_with_sql
        self.graph_current = graph_current
        """The stored graph matches the script files as they are now."""
        self.fingerprints = fingerprints

    @property
    def size_text(self) -> str:
        size = float(self.size_bytes)
        for unit in ("B", "KB", "MB"):
            if size < 1024 or unit == "MB":
                return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
            size /= 1024
        return f"{size:.1f} GB"  # pragma: no cover - the loop returns

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "exists": self.exists,
            "size_bytes": self.size_bytes,
            "revisions_with_sql": self.revisions_with_sql,
            "graph_current": self.graph_current,
            "fingerprints": self.fingerprints,
        }

    def describe(self) -> str:
        if not self.exists:
            return f"no revision cache at {self.directory} (the next command that needs it builds it)"
        graph = "current" if self.graph_current else "stale or missing (rebuilt on the next use)"
        return (
            f"revision cache {self.directory}: {self.size_text}; offline SQL of {self.revisions_with_sql} "
            f"revision(s); graph {graph}; {self.fingerprints} schema fingerprint(s)"
        )


def cache_info(project: ProjectFiles) -> CacheInfo:
    """The cache's directory, size and contents (reads the file; hashes the script files to tell if the
    graph is current; imports nothing of Alembic)."""
    directory = cache_dir(project)
    if not directory.is_dir():
        return CacheInfo(directory, False, 0, 0, False, 0)
    size = 0
    fingerprints = 0
    for dirpath, _, filenames in os.walk(directory):
        for name in filenames:
            try:
                size += os.stat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
            if os.path.basename(dirpath) == "fingerprints" and name.endswith(".json"):
                fingerprints += 1
    data = _read(directory / FILE_NAME)
    revisions = {name.split("@", 1)[0] for name in (data.get("sql") or {})}
    current = False
    try:
        current = RevisionCache(project).graph_data() is not None
    except OSError:
        pass
    return CacheInfo(directory, True, size, len(revisions), current, fingerprints)
