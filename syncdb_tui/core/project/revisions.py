"""The project's Alembic scripts: configuration and the revision graph.

Who calls what: :class:`Project` is built once per config (``Project.from_config``)
and shared; ``migrations.py`` asks it for the graph and for an Alembic
``Config`` bound to an environment; ``offline.py`` renders SQL from its cached
``ScriptDirectory``.  Reading the graph runs no Alembic command, so it needs no
lock beyond the one that guards script loading.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import ConfigError, UsageError
from syncdb_tui.core.imports import IMPORT_LOCK, describe_import_error, prepare_project_imports

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from syncdb_tui.config import Config
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.cache import RevisionCache

ALEMBIC_LOCK = IMPORT_LOCK
"""Held around every Alembic call: Alembic swaps module globals per command (and env.py imports
the project's code, so it is the same lock that guards reloading it)."""

SYNC_DRIVERS = ("psycopg2", "psycopg", "pg8000")
ASYNC_DRIVERS = ("asyncpg", "psycopg_async")


@dataclass(frozen=True)
class RevisionInfo:
    """One revision of the history."""

    revision: str
    down_revisions: tuple[str, ...]
    branch_labels: tuple[str, ...]
    message: str
    date: str
    path: str
    is_head: bool
    is_base: bool
    is_merge: bool
    is_branch_point: bool


@dataclass(frozen=True)
class RevisionGraph:
    """The whole history, newest first."""

    revisions: tuple[RevisionInfo, ...]
    heads: tuple[str, ...]
    bases: tuple[str, ...]

    @cached_property
    def by_id(self) -> dict[str, RevisionInfo]:
        return {info.revision: info for info in self.revisions}

    def ancestors(self, revisions: list[str] | tuple[str, ...]) -> set[str]:
        """``revisions`` and everything below them (what is applied when they are current)."""
        seen: set[str] = set()
        stack = [rev for rev in revisions if rev in self.by_id]
        while stack:
            rev = stack.pop()
            if rev in seen:
                continue
            seen.add(rev)
            stack.extend(self.by_id[rev].down_revisions)
        return seen

    def to_json(self) -> dict[str, Any]:
        """The graph as the revision cache keeps it (:meth:`from_json` reads it back)."""
        return {
            "revisions": [
                {
                    "revision": info.revision,
                    "down_revisions": list(info.down_revisions),
                    "branch_labels": list(info.branch_labels),
                    "message": info.message,
                    "date": info.date,
                    "path": info.path,
                    "is_head": info.is_head,
                    "is_base": info.is_base,
                    "is_merge": info.is_merge,
                    "is_branch_point": info.is_branch_point,
                }
                for info in self.revisions
            ],
            "heads": list(self.heads),
            "bases": list(self.bases),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RevisionGraph:
        """The graph :meth:`to_json` wrote.

        Raises:
            KeyError, TypeError: not such a graph.
        """
        infos = tuple(
            RevisionInfo(
                revision=str(item["revision"]),
                down_revisions=tuple(item["down_revisions"]),
                branch_labels=tuple(item["branch_labels"]),
                message=str(item["message"]),
                date=str(item["date"]),
                path=str(item["path"]),
                is_head=bool(item["is_head"]),
                is_base=bool(item["is_base"]),
                is_merge=bool(item["is_merge"]),
                is_branch_point=bool(item["is_branch_point"]),
            )
            for item in data["revisions"]
        )
        return cls(revisions=infos, heads=tuple(data["heads"]), bases=tuple(data["bases"]))

    def upgrade_order(self) -> list[str]:
        """Every revision, oldest first (parents before children)."""
        return [info.revision for info in reversed(self.revisions)]

    def between(self, start: str | None, end: str) -> list[str]:
        """The revisions after ``start`` up to ``end`` (inclusive), oldest first, through every parent of a merge.

        ``start`` None means from base. Empty when ``start`` is ``end``.

        Raises:
            UsageError: ``start`` is not an ancestor of ``end``.
        """
        reach = self.ancestors([end])
        if start is not None and start not in reach:
            raise UsageError(
                f"{start} is not an ancestor of {end}",
                hint="a range A:B runs from an older revision A to a newer one B",
                title="bad range",
            )
        below = self.ancestors([start]) if start is not None else set()
        return [rev for rev in self.upgrade_order() if rev in reach and rev not in below]


def _syntax_message(error: SyntaxError) -> str:
    where = f"{error.filename}, line {error.lineno}" if error.filename else f"line {error.lineno}"
    return f"{where}: {error.msg}"


@contextmanager
def translate_script_errors(
    project_dir: Path | str, *, commands: bool = True, roots: tuple[Path, ...] = ()
) -> Iterator[None]:
    """Turn errors from loading revision files into one clear :class:`ConfigError`.

    With ``commands=False`` Alembic's ``CommandError`` passes through (the caller
    knows better what a refusal of a running command means).
    """
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    class _Never(Exception):
        pass

    command_error: type[Exception] = CommandError if commands else _Never
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught_now:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                caught.extend(caught_now)
    except SyntaxError as error:
        raise ConfigError(
            f"a revision file has a syntax error: {_syntax_message(error)}",
            hint="fix the file (python -m py_compile FILE shows the same error), then run syncdb again",
            title="broken revision file",
        ) from None
    except (RevisionError, KeyError) as error:
        text = "; ".join(str(w.message) for w in caught if "is not present" in str(w.message)) or str(error).strip(
            "'\""
        )
        raise ConfigError(
            f"the revision history in {project_dir} is inconsistent: {text}",
            hint="check each revision's down_revision: it must name an existing revision id",
            title="broken revision history",
        ) from None
    except command_error as error:
        raise ConfigError(
            f"Alembic cannot read the scripts in {project_dir}: {error}",
            hint="check script_location / alembic.ini in your syncdb config",
            title="broken Alembic project",
        ) from None
    except ImportError as error:
        search = (*roots, Path(project_dir).resolve(), Path.cwd())
        raise ConfigError(
            describe_import_error(error, search),
            hint="install the missing package, or fix the import (the config's directory and alembic.ini's "
            "prepend_sys_path are on the import path)",
            title="import failed",
        ) from None


class Project:
    """The Alembic project of a syncdb config: its scripts and its revision graph."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._script: ScriptDirectory | None = None
        self._graph: RevisionGraph | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config) -> Project:
        return cls(config)

    @property
    def script_location(self) -> Path:
        location = self.config.alembic_script_dir
        if location is not None:
            return location
        return (self.config.root / "migrations").resolve()

    def prepare_imports(self) -> None:
        """The project's directories on sys.path, its edited modules forgotten (under :data:`ALEMBIC_LOCK`)."""
        with ALEMBIC_LOCK:
            prepare_project_imports(self.config.import_paths)

    def alembic_config(self, env: Environment | None = None, *, driver: str | None = None) -> AlembicConfig:
        """A fresh Alembic ``Config`` for this project, pointed at ``env``'s database.

        Without ``env`` (offline rendering) ``sqlalchemy.url`` names only the dialect and the driver
        env.py wants, never alembic.ini's own URL (a placeholder, or somebody's database).
        """
        from alembic.config import Config as AlembicConfig

        if self.config.alembic_ini is not None:
            from syncdb_tui.core.envpy import ini_settings

            ini = self.config.alembic_ini
            settings = ini_settings(ini)
            cfg = AlembicConfig(str(ini), toml_file=str(settings.toml_file) if settings.toml_file else None)
            cfg.set_main_option("script_location", str(self.script_location))
        else:
            cfg = AlembicConfig()
            cfg.set_main_option("script_location", str(self.config.script_location))
        if env is None:
            cfg.set_main_option("sqlalchemy.url", f"postgresql+{self.offline_driver}://")
        if env is not None:
            url = env.conninfo.sqlalchemy_url(driver or self.preferred_driver(env))
            cfg.attributes["sqlalchemy_url"] = url
            cfg.attributes["syncdb_environment"] = env.name
            rendered = url.render_as_string(hide_password=False).replace("%", "%%")
            cfg.set_main_option("sqlalchemy.url", rendered)
        return cfg

    @cached_property
    def env_py_text(self) -> str:
        path = self.script_location / "env.py"
        try:
            return path.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def env_py_is_async(self) -> bool:
        from syncdb_tui.core.envpy import ASYNC_MARKERS

        return any(marker in self.env_py_text for marker in ASYNC_MARKERS)

    @property
    def env_py_shares_connection(self) -> bool:
        """Whether env.py uses a connection passed in ``config.attributes["connection"]``."""
        from syncdb_tui.core.envpy import CONNECTION_MARKERS

        return any(marker in self.env_py_text for marker in CONNECTION_MARKERS)

    @property
    def offline_driver(self) -> str:
        """A driver name for offline rendering that fits env.py (the dialect is all that is used)."""
        return "asyncpg" if self.env_py_is_async else "psycopg2"

    def preferred_driver(self, env: Environment) -> str:
        """The SQLAlchemy driver for ``env`` that fits env.py: async env.py (``async_engine_from_config``)
        gets asyncpg (or the URL's own async driver), a synchronous one psycopg2 (syncdb's dependency;
        or the URL's own sync driver, psycopg 3 or pg8000)."""
        named = env.conninfo.driver
        if self.env_py_is_async:
            return named if named in ASYNC_DRIVERS else "asyncpg"
        if named in SYNC_DRIVERS:
            return named
        for module, driver in (("psycopg2", "psycopg2"), ("psycopg", "psycopg")):
            try:
                __import__(module)
            except ImportError:
                continue
            return driver
        raise ConfigError(
            "env.py builds a synchronous engine (engine_from_config), and no synchronous PostgreSQL driver "
            "is installed",
            hint="pip install psycopg2-binary (a dependency of syncdb-tui), or make env.py async "
            "(alembic init -t async)",
            title="no sync driver",
        )

    def script(self) -> ScriptDirectory:
        """The cached ``ScriptDirectory`` (revision files are read once)."""
        with self._lock:
            if self._script is None:
                from alembic.script import ScriptDirectory

                if not self.script_location.is_dir():
                    raise ConfigError(
                        f"the Alembic script directory {self.script_location} does not exist",
                        hint="fix script_location in your syncdb config",
                        title="missing script directory",
                    )
                with ALEMBIC_LOCK, translate_script_errors(self.script_location, roots=self.config.import_paths):
                    prepare_project_imports(self.config.import_paths)
                    self._script = ScriptDirectory.from_config(self.alembic_config())
            return self._script

    def graph(self) -> RevisionGraph:
        """The revision graph (loaded once per process): from the revision cache when no script file
        changed since it was stored (nothing of Alembic imported), else by :meth:`load_graph`.

        Raises:
            ConfigError: a revision file does not compile or a down_revision points nowhere.
        """
        with self._lock:
            if self._graph is not None:
                return self._graph
        graph = self.current_graph()
        with self._lock:
            self._graph = graph
        return graph

    def current_graph(self, cache: RevisionCache | None = None) -> RevisionGraph:
        """The graph as the script files are now (not the one :meth:`graph` remembers): from the revision
        cache when no file changed since it was stored, else by :meth:`load_graph` (and stored).

        Raises:
            ConfigError: a revision file does not compile or a down_revision points nowhere.
        """
        from syncdb_tui.core.project.cache import open_cache

        cache = cache or open_cache(self)
        graph: RevisionGraph | None = None
        if cache is not None:
            stored = cache.graph_data()
            if stored is not None:
                try:
                    graph = RevisionGraph.from_json(stored)
                except (KeyError, TypeError, ValueError):
                    graph = None
        if graph is None:
            graph = self.load_graph()
            if cache is not None:
                cache.store_graph_data(graph.to_json())
        with self._lock:
            self._graph = graph  # the newest look is what graph() remembers
        return graph

    def load_graph(self) -> RevisionGraph:
        """The revision graph as Alembic reads it from the scripts (the revision cache's miss path).

        Raises:
            ConfigError: a revision file does not compile or a down_revision points nowhere.
        """
        script = self.script()
        with ALEMBIC_LOCK, translate_script_errors(self.script_location, roots=self.config.import_paths):
            revision_map = script.revision_map
            heads = tuple(revision_map.heads)
            bases = tuple(revision_map.bases)
            infos = []
            for rev in script.walk_revisions("base", "heads"):
                down = rev.down_revision
                downs = tuple(down) if isinstance(down, tuple | list) else ((down,) if down else ())
                infos.append(
                    RevisionInfo(
                        revision=rev.revision,
                        down_revisions=downs,
                        branch_labels=tuple(sorted(rev.branch_labels or ())),
                        message=(rev.doc or "").strip().splitlines()[0] if rev.doc else "",
                        date=_revision_date(rev),
                        path=str(rev.path),
                        is_head=rev.is_head,
                        is_base=rev.is_base,
                        is_merge=rev.is_merge_point,
                        is_branch_point=rev.is_branch_point,
                    )
                )
        return RevisionGraph(revisions=tuple(infos), heads=heads, bases=bases)

    def resolve_target(self, target: str) -> str:
        """Check that ``target`` names something Alembic knows.

        Raises:
            UsageError: no revision matches (the message lists the heads).
        """
        from alembic.script.revision import RevisionError
        from alembic.util import CommandError

        if target in ("head", "heads", "base") or target.startswith(("-", "+")):
            return target
        script = self.script()
        try:
            with ALEMBIC_LOCK:
                found = script.get_revisions(target)
        except (RevisionError, CommandError, KeyError) as error:
            heads = ", ".join(self.graph().heads) or "(none)"
            raise UsageError(
                f"there is no revision {target!r} in {self.script_location}: {error}",
                hint=f"use a revision id, a unique prefix of one, 'head' or 'base' (heads: {heads})",
                title="unknown revision",
            ) from None
        if not found:
            raise UsageError(f"there is no revision {target!r}", title="unknown revision")
        return target


def _revision_date(rev: object) -> str:
    module = getattr(rev, "module", None)
    doc = getattr(module, "__doc__", "") or ""
    for line in doc.splitlines():
        if line.strip().lower().startswith("create date:"):
            return line.split(":", 1)[1].strip()
    create_date = getattr(module, "create_date", None)
    if isinstance(create_date, datetime):
        return create_date.isoformat()
    return ""
