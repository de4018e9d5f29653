"""Offline SQL: what a revision (or a range) really runs, rendered by Alembic's --sql mode.

The ScriptDirectory is loaded once per project; a range is rendered in one
pass of env.py and split per revision at Alembic's ``-- Running upgrade A -> B``
markers.  A revision whose ``upgrade()`` needs a live database (it queries or
commits) cannot be rendered: it comes back with ``needs_live_reason`` set, and
the others still render.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.project.revisions import ALEMBIC_LOCK, Project, translate_script_errors

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.cache import RevisionCache

_MARKER = re.compile(r"^-- Running (upgrade|downgrade) (.*?) -> (.*?)\s*$")


@dataclass(frozen=True)
class RevisionSQL:
    """The offline SQL of one revision in one direction."""

    revision: str
    direction: str
    sql: str
    needs_live_reason: str = ""
    """Why the SQL could not be rendered offline ("" when it was)."""
    irreversible_reason: str = ""
    """Why this revision's downgrade() always fails ("" when it does not, or is not known to)."""

    @property
    def rendered(self) -> bool:
        return not self.needs_live_reason and not self.irreversible_reason


def _render(
    project: Project,
    env: Environment | None,
    start: Any,
    dest: Any,
    direction: str,
    buffer: io.StringIO | None = None,
    guard: Guard | None = None,
) -> str:
    """The offline SQL from ``start`` to ``dest``; on failure ``buffer`` keeps what rendered before it.

    With ``guard`` (upgrades), an ``upgrade()`` of one of its revisions that fails (a data migration
    reading query results offline) does not stop the pass: the failure and the buffer's position at
    that moment are recorded in the guard, and the following revisions render on.
    """
    from alembic.runtime.environment import EnvironmentContext

    script = project.script()
    cfg = project.alembic_config(env)
    if env is None:
        from sqlalchemy.engine import make_url

        # offline rendering only needs the dialect; no database is contacted
        cfg.attributes.setdefault("sqlalchemy_url", make_url(f"postgresql+{project.offline_driver}://"))
    buffer = buffer if buffer is not None else io.StringIO()
    cfg.output_buffer = buffer
    cfg.stdout = io.StringIO()

    def upgrade(rev: Any, context: Any) -> Any:
        return script._upgrade_revs(dest, rev)

    def downgrade(rev: Any, context: Any) -> Any:
        return script._downgrade_revs(dest, rev)

    with (
        ALEMBIC_LOCK,
        translate_script_errors(project.script_location, roots=project.config.import_paths),
        EnvironmentContext(
            cfg,
            script,
            fn=upgrade if direction == "upgrade" else downgrade,
            as_sql=True,
            starting_rev=start,
            destination_rev=dest,
            tag=None,
        ),
    ):
        project.prepare_imports()
        with _guarded(script, guard, buffer):
            script.run_env()
    return buffer.getvalue()


class Guard:
    """The revisions of a pass whose ``upgrade()`` may fail without stopping it, and what failed."""

    def __init__(self, revisions: set[str]) -> None:
        self.revisions = revisions
        self.failures: dict[str, tuple[BaseException, int]] = {}
        """Revision → (the error its upgrade() raised, the output buffer's position when it did)."""


@contextmanager
def _guarded(script: Any, guard: Guard | None, buffer: io.StringIO) -> Iterator[None]:
    """Wrap the ``upgrade()`` of ``guard``'s revisions for the length of a pass (under ALEMBIC_LOCK)."""
    if guard is None:
        yield
        return
    import functools

    from syncdb_tui.core.errors import SyncdbError

    def wrap(revision: str, upgrade: Any) -> Any:
        @functools.wraps(upgrade)  # Alembic's "-- Running upgrade a -> b" marker names the function
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return upgrade(*args, **kwargs)
            except (SyntaxError, ImportError, SyncdbError):
                raise
            except Exception as error:
                guard.failures[revision] = (error, buffer.tell())
                return None

        return guarded

    patched: list[tuple[Any, Any]] = []
    try:
        for revision in guard.revisions:
            module = script.revision_map.get_revision(revision).module
            original = getattr(module, "upgrade", None)
            if original is not None:
                patched.append((module, original))
                module.upgrade = wrap(revision, original)
        yield
    finally:
        for module, original in patched:
            module.upgrade = original


def split_by_revision(sql: str, direction: str) -> dict[str, str]:
    """Split a range's offline SQL into one chunk per revision (keyed by the revision applied).

    For upgrades the key is the revision reached; for downgrades, the revision undone.
    """
    chunks: dict[str, list[str]] = {}
    prefix: list[str] = []
    current: list[str] | None = None
    for line in sql.splitlines():
        match = _MARKER.match(line)
        if match:
            key = match.group(3) if direction == "upgrade" else match.group(2)
            key = key.split(",")[0].strip()
            carried: list[str] = []
            source = current if current is not None else prefix
            while source and source[-1].strip() in ("", "BEGIN;"):
                carried.insert(0, source.pop())
            current = (prefix if not chunks else []) + carried
            if not chunks:
                prefix = []
            chunks[key] = current
            current.append(line)
            continue
        (current if current is not None else prefix).append(line)
    return {key: "\n".join(lines).strip() + "\n" for key, lines in chunks.items()}


def _needs_live(error: BaseException, direction: str = "upgrade", revision_path: str = "") -> str:
    """Why ``direction``() cannot render offline, in plain words, with the line of the revision that stopped it."""
    import traceback

    text = str(error)
    if "commit" in text or "rollback" in text:
        what = f"{direction}() commits or rolls back by itself"
    elif isinstance(error, AttributeError | TypeError | IndexError) or "NoneType" in text or "Mock" in text:
        what = f"{direction}() reads query results (offline there are none) or commits"
    else:
        what = f"{direction}() needs a live database ({_error_text(error)})"
    where = ""
    if revision_path:
        for frame in reversed(traceback.extract_tb(error.__traceback__)):
            try:
                same = Path(frame.filename).resolve() == Path(revision_path).resolve()
            except OSError:
                same = False
            if same:
                code = (frame.line or "").strip()
                where = f" at line {frame.lineno} of {Path(revision_path).name}" + (f": {code}" if code else "")
                break
    return what + where


def _partial(buffer: io.StringIO, revision: str, direction: str) -> str:
    """What ``revision`` rendered before its failure ("" when nothing)."""
    chunk = split_by_revision(buffer.getvalue(), direction).get(revision, "")
    return chunk if _has_statements(chunk) else ""


def _partial_before(sql: str, position: int, revision: str) -> str:
    """``revision``'s chunk of a pass's ``sql`` as it stood at ``position`` (where its upgrade() failed):
    split from the marker before its own (so its BEGIN is carried as in a whole split), not from the top."""
    own = sql.rfind("\n-- Running upgrade", 0, position)
    previous = sql.rfind("\n-- Running upgrade", 0, own) if own > 0 else -1
    return split_by_revision(sql[previous + 1 if previous > 0 else 0 : position], "upgrade").get(revision, "")


def _has_statements(chunk: str) -> bool:
    """True when ``chunk`` holds SQL beyond Alembic's marker comment and BEGIN."""
    return any(line.strip() and not line.startswith("--") and line.strip() != "BEGIN;" for line in chunk.splitlines())


def _error_text(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return f"{type(error).__name__}: {text.splitlines()[0]}"


def fails_unconditionally(error: BaseException, revision_path: str) -> bool:
    """True when an offline render failed for a reason a live database would not change.

    A data migration fails offline because the mock connection returns nothing
    (``'NoneType' object has no attribute 'fetchall'``, a missing ``commit``): that
    needs a live database.  An exception raised by the revision's own code
    (``raise RuntimeError("irreversible")``), or an Alembic/SQLAlchemy compile error
    (an unnamed constraint, a duplicate column), fails the same way online.
    """
    import traceback

    from sqlalchemy import exc as sa_exc

    if isinstance(error, AttributeError | TypeError):
        return False
    if isinstance(error, sa_exc.CompileError | sa_exc.ArgumentError | NotImplementedError):
        return True
    frames = traceback.extract_tb(error.__traceback__)
    if frames and revision_path:
        last = frames[-1]
        try:
            same = Path(last.filename).resolve() == Path(revision_path).resolve()
        except OSError:
            same = False
        if same and (last.line or "").lstrip().startswith("raise"):
            return True
    from alembic.util import CommandError

    return isinstance(error, CommandError | ValueError | KeyError | LookupError)


def offline_sql(
    project: Project,
    revision: str,
    direction: str = "upgrade",
    env: Environment | None = None,
    *,
    cache: RevisionCache | None = None,
) -> RevisionSQL:
    """The SQL of one ``revision`` (``direction`` "upgrade" or "downgrade").

    An upgrade comes from the revision cache when its file, env.py and the tools are the same
    (:func:`offline_range`); a downgrade is rendered each time.

    Raises:
        UsageError: unknown revision.
        ConfigError: broken scripts.
    """
    if direction == "upgrade" and revision in project.graph().by_id:
        return offline_range(project, [revision], "upgrade", env, cache=cache)[0]
    return _render_one(project, revision, direction, env)


def _render_one(project: Project, revision: str, direction: str, env: Environment | None) -> RevisionSQL:
    """:func:`offline_sql` rendered by Alembic (no cache)."""
    project.resolve_target(revision)
    info = project.graph().by_id.get(revision)
    downs = info.down_revisions if info else ()
    buffer = io.StringIO()
    try:
        if direction == "upgrade":
            # a merge revision starts from all of its parents at once
            start_rev: Any = (downs[0] if len(downs) == 1 else tuple(downs)) if downs else None
            sql = _render(project, env, start_rev, revision, "upgrade", buffer)
        else:
            # to its (first) parent: for a merge, Alembic undoes only the merge itself
            target = downs[0] if downs else "base"
            sql = _render(project, env, revision, target, "downgrade", buffer)
    except (SyntaxError, ImportError):
        raise
    except Exception as error:
        from syncdb_tui.core.errors import SyncdbError

        if isinstance(error, SyncdbError):
            raise
        if direction == "downgrade" and fails_unconditionally(error, info.path if info else ""):
            return RevisionSQL(
                revision, direction, "", irreversible_reason=f"downgrade() fails with {_error_text(error)}"
            )
        partial = _partial(buffer, revision, direction)
        return RevisionSQL(revision, direction, partial, _needs_live(error, direction, info.path if info else ""))
    return RevisionSQL(revision, direction, sql)


def offline_range(
    project: Project,
    revisions: list[str],
    direction: str = "upgrade",
    env: Environment | None = None,
    *,
    cache: RevisionCache | None = None,
) -> list[RevisionSQL]:
    """The SQL of each of ``revisions`` (a contiguous path in upgrade order).

    Upgrades come from the revision cache (``cache``, or the project's as its files are now)
    where their files, env.py and the tools are unchanged; the others are rendered in one pass
    when possible, on failure revision by revision so that one data migration does not hide the
    SQL of the others, and stored.
    """
    if not revisions:
        return []
    if direction != "upgrade":
        return [_render_one(project, rev, direction, env) for rev in revisions]
    from syncdb_tui.core.project.cache import open_cache

    graph = project.graph()
    if not all(rev in graph.by_id for rev in revisions):
        return [_render_one(project, rev, direction, env) for rev in revisions]
    cache = cache or open_cache(project)
    done: dict[str, RevisionSQL] = {}
    if cache is not None:
        for rev in revisions:
            hit = cache.sql(rev, graph.by_id[rev].path, env)
            if hit is not None:
                done[rev] = RevisionSQL(rev, "upgrade", hit[0], hit[1])
    missing = [rev for rev in revisions if rev not in done]
    if missing:
        # only the revisions not cached are rendered: they are contiguous in the graph when a
        # suffix of the range was edited; otherwise a pass renders them with their neighbours
        fresh = _render_passes(project, missing, env)
        fresh |= {rev: _render_one(project, rev, direction, env) for rev in missing if rev not in fresh}
        done |= fresh
        if cache is not None:
            cache.store(
                [(rev, graph.by_id[rev].path, item.sql, item.needs_live_reason) for rev, item in fresh.items()],
                env,
            )
    return [done[rev] for rev in revisions]


def _render_passes(project: Project, revisions: list[str], env: Environment | None) -> dict[str, RevisionSQL]:
    """Render ``revisions`` (every branch, merges included) in as few passes of env.py as possible.

    One pass from the revisions below the range to its heads; a data migration whose upgrade()
    fails offline keeps what it rendered before the failure (judged, with ``needs_live_reason``)
    and the pass goes on (:class:`Guard`). When something else stops a pass, the revisions before
    it keep their SQL and the next pass starts after it.
    """
    from syncdb_tui.core.errors import SyncdbError

    graph = project.graph()
    done: dict[str, RevisionSQL] = {}
    while len(done) < len(revisions):
        remaining = [rev for rev in revisions if rev not in done]
        inside = set(remaining)
        below = graph.ancestors(remaining) - inside
        parents_below = {down for rev in below for down in graph.by_id[rev].down_revisions}
        start = tuple(sorted(below - parents_below))
        parents_inside = {down for rev in remaining for down in graph.by_id[rev].down_revisions}
        dest = tuple(rev for rev in remaining if rev not in parents_inside)
        buffer = io.StringIO()
        start_arg: Any = (start[0] if len(start) == 1 else start) if start else None
        dest_arg: Any = dest[0] if len(dest) == 1 else dest
        # a data migration's failure does not stop the pass: one pass renders the whole range
        guard = Guard(inside)
        try:
            sql = _render(project, env, start_arg, dest_arg, "upgrade", buffer, guard)
        except (SyntaxError, ImportError, SyncdbError):
            raise
        except Exception as error:
            chunks = split_by_revision(buffer.getvalue(), "upgrade")
            failed = next(reversed(chunks), None) if chunks else None
            if failed is None or failed not in inside:
                return done  # failed before any revision ran (env.py): one at a time shows why
            for rev in remaining:
                if rev in chunks and rev != failed:
                    done[rev] = RevisionSQL(rev, "upgrade", chunks[rev])
            partial = chunks[failed] if _has_statements(chunks[failed]) else ""
            done[failed] = RevisionSQL(
                failed, "upgrade", partial, _needs_live(error, "upgrade", graph.by_id[failed].path)
            )
            continue
        chunks = split_by_revision(sql, "upgrade")
        for rev in remaining:
            if rev in guard.failures:
                # what it rendered before it stopped, as when a pass ends there
                failure, position = guard.failures[rev]
                partial = _partial_before(sql, position, rev)
                done[rev] = RevisionSQL(
                    rev,
                    "upgrade",
                    partial if _has_statements(partial) else "",
                    _needs_live(failure, "upgrade", graph.by_id[rev].path),
                )
            elif rev in chunks:
                done[rev] = RevisionSQL(rev, "upgrade", chunks[rev])
        break
    return done
