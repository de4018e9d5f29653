"""The revision cache under ``.syncdb/cache``: the graph and each revision's offline SQL, by file hash.

Who calls what: ``offline.offline_range`` asks :func:`cached_sql` before rendering a
revision and :func:`store_sql` after; ``commands/risk.py`` asks :func:`cached_graph`
for the revision graph. On a hit neither Alembic nor SQLAlchemy is imported.

Keys: the graph's key is the hash of every ``*.py`` file under the script directory
(revision files and env.py, by content) plus the Alembic and SQLAlchemy versions; a
revision's SQL is keyed by its own file's hash, env.py's hash, those versions and the
environment it was rendered for. Editing a revision file, env.py, or upgrading Alembic
or SQLAlchemy misses; nothing cached depends on the server (offline SQL is rendered for
the dialect only, and findings with live context are never cached).

Safe under concurrent processes: each write goes to a temporary file in the same
directory and replaces the cache file atomically (the last writer wins; a reader sees
a whole file or none). ``syncdb cache clear`` (:func:`clear`) removes the directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.revisions import Project, RevisionGraph

FORMAT = 1
FILE_NAME = "revisions.json"
_lock = threading.Lock()


def cache_dir(project: Project) -> Path:
    return Path(project.config.root) / ".syncdb" / "cache"


def enabled() -> bool:
    return os.environ.get("SYNCDB_NO_CACHE", "") not in ("1", "true", "yes")


@lru_cache(maxsize=8)
def _tool_versions() -> str:
    """Alembic's and SQLAlchemy's installed versions, from their dist-info directories (nothing imported)."""
    import importlib.util

    parts = []
    for name in ("alembic", "sqlalchemy"):
        version = "?"
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            site = Path(spec.origin).parent.parent
            prefix = f"{name}-"
            try:
                found = [e for e in os.listdir(site) if e.lower().startswith(prefix) and e.endswith(".dist-info")]
            except OSError:
                found = []
            if found:
                version = found[0][len(prefix) : -len(".dist-info")]
        parts.append(f"{name}={version}")
    return ";".join(parts)


def _file_hash(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


class _Files:
    """Hashes of the script directory's Python files, read once per process and validated by stat."""

    def __init__(self) -> None:
        self.by_stat: dict[str, tuple[int, int, str]] = {}

    def hashes(self, root: Path) -> dict[str, str]:
        out: dict[str, str] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in filenames:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(dirpath, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                known = self.by_stat.get(path)
                if known and known[:2] == (st.st_mtime_ns, st.st_size):
                    out[path] = known[2]
                    continue
                digest = _file_hash(Path(path))
                self.by_stat[path] = (st.st_mtime_ns, st.st_size, digest)
                out[path] = digest
        return out


_FILES = _Files()


def _load(project: Project) -> dict[str, Any]:
    try:
        data = json.loads((cache_dir(project) / FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == FORMAT else {}


def _save(project: Project, data: dict[str, Any]) -> None:
    directory = cache_dir(project)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".revisions.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"))
        os.replace(temp, directory / FILE_NAME)
    except OSError:
        pass  # a cache that cannot be written is only slower


class RevisionCache:
    """One process's view of the cache file (read once, written back when changed)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.hashes = _FILES.hashes(project.script_location)
        self.env_py = self.hashes.get(str(project.script_location / "env.py"), "")
        digest = hashlib.sha256(_tool_versions().encode())
        for path in sorted(self.hashes):
            digest.update(f"{os.path.relpath(path, project.script_location)}={self.hashes[path]}\n".encode())
        self.graph_key = digest.hexdigest()
        self.data = _load(project)
        self.dirty = False

    def sql_key(self, path: str, env: Environment | None) -> str:
        own = self.hashes.get(path) or _file_hash(Path(path))
        text = f"{own}|{self.env_py}|{_tool_versions()}|{env.name if env else ''}"
        return hashlib.sha256(text.encode()).hexdigest()

    def sql(self, revision: str, path: str, env: Environment | None) -> tuple[str, str] | None:
        """``(sql, needs_live_reason)`` of an upgrade of ``revision`` rendered earlier from the same files."""
        item = self.data.get("sql", {}).get(revision)
        if isinstance(item, dict) and item.get("key") == self.sql_key(path, env):
            return str(item.get("sql", "")), str(item.get("needs_live", ""))
        return None

    def store(self, items: list[tuple[str, str, str, str]], env: Environment | None) -> None:
        """Remember ``(revision, path, sql, needs_live_reason)`` of upgrades just rendered, and write the file."""
        if not items:
            return
        table = self.data.setdefault("sql", {})
        for revision, path, sql, needs_live in items:
            table[revision] = {"key": self.sql_key(path, env), "sql": sql, "needs_live": needs_live}
        self.dirty = True
        self.flush()

    def derived(self, revision: str, name: str, key: str) -> Any:
        """Something computed from ``revision``'s SQL alone (``name``: what it is), stored under ``key``."""
        item = self.data.get("derived", {}).get(f"{name}:{revision}")
        return item.get("value") if isinstance(item, dict) and item.get("key") == key else None

    def store_derived(self, items: list[tuple[str, str, str, Any]]) -> None:
        """Remember ``(revision, name, key, value)`` (JSON values) and write the file."""
        if not items:
            return
        table = self.data.setdefault("derived", {})
        for revision, name, key, value in items:
            table[f"{name}:{revision}"] = {"key": key, "value": value}
        self.dirty = True
        self.flush()

    def flush(self) -> None:
        if self.dirty:
            self.data["format"] = FORMAT
            _save(self.project, self.data)
            self.dirty = False


def open_cache(project: Project) -> RevisionCache | None:
    """The cache as the files are now (None when disabled with ``SYNCDB_NO_CACHE=1``).

    Each call re-reads the script directory's stat (and hashes only files whose size or
    mtime changed), so a long-running process never uses SQL of a file edited since.
    """
    if not enabled():
        return None
    with _lock:
        return RevisionCache(project)


def cached_graph(project: Project, cache: RevisionCache | None = None) -> RevisionGraph:
    """The revision graph, from the cache when no script file changed; else loaded (and stored)."""
    from syncdb_tui.core.project.revisions import RevisionGraph, RevisionInfo

    cache = cache or open_cache(project)
    if cache is None:
        return project.graph()
    stored = cache.data.get("graph")
    if isinstance(stored, dict) and stored.get("key") == cache.graph_key:
        try:
            infos = tuple(
                RevisionInfo(
                    **{
                        **item,
                        "down_revisions": tuple(item["down_revisions"]),
                        "branch_labels": tuple(item["branch_labels"]),
                    }
                )
                for item in stored["revisions"]
            )
            return RevisionGraph(revisions=infos, heads=tuple(stored["heads"]), bases=tuple(stored["bases"]))
        except (KeyError, TypeError):
            pass
    graph = project.graph()
    cache.data["graph"] = {
        "key": cache.graph_key,
        "revisions": [asdict(info) for info in graph.revisions],
        "heads": list(graph.heads),
        "bases": list(graph.bases),
    }
    cache.dirty = True
    cache.flush()
    return graph


def clear(project: Project) -> bool:
    """Remove the cache directory; True when there was one."""
    import shutil

    _FILES.by_stat.clear()
    directory = cache_dir(project)
    if not directory.exists():
        return False
    shutil.rmtree(directory, ignore_errors=True)
    return True
