"""Offline SQL: what a revision (or a range) really runs, rendered by Alembic's --sql mode.

The ScriptDirectory is loaded once per project; a range is rendered in one
pass of env.py and split per revision at Alembic's ``-- Running upgrade A -> B``
markers.  A revision whose ``upgrade()`` needs a live database (it queries or
commits) cannot be rendered: it comes back with ``needs_live_reason`` set, and
the others still render.  A long pass is rendered by two processes when a CPU
is idle (:class:`_Split`: the parent and a forked child each render part of it),
with the same result as one process.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.forks import child_exit, fork_quietly, kill, may_fork, reap, receive
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


class Derived:
    """A value the caller computes from each rendered revision's SQL alone (the risk judge's analysis without
    live context), worked out while a split pass renders (:class:`_Split`): the parent computes it for its
    part before it waits for the child, the child for its own part after rendering it, and sends it back
    (encoded to JSON by ``encode``, decoded by the parent with ``decode``). :meth:`get` gives a value only
    for the very SQL and reason it was computed from (the whole pass's split decides); a revision without
    one (rendered by one process, or from the cache) is left to the caller, so the result is the same as
    computing it afterwards.

    ``compute`` must be a pure function of the items (the child never writes the cache or the terminal);
    ``prepare`` runs just before a pass is split (imports made there are shared by both processes, and not
    made at all when nothing renders).
    """

    def __init__(
        self,
        compute: Callable[[list[RevisionSQL]], list[Any]],
        encode: Callable[[Any], Any],
        decode: Callable[[Any], Any],
        prepare: Callable[[], object] | None = None,
    ) -> None:
        self.compute = compute
        self.encode = encode
        self.decode = decode
        self.prepare = prepare
        self._known: dict[str, tuple[str, str, Any, bool]] = {}
        """Revision → (its SQL, its needs-live reason, the value, True when still encoded)."""

    def add(self, items: list[RevisionSQL]) -> None:
        """Compute the value of ``items`` (this process's part of a split pass)."""
        for item, value in zip(items, self.compute(items), strict=True):
            self._known[item.revision] = (item.sql, item.needs_live_reason, value, False)

    def encoded(self, items: list[RevisionSQL]) -> dict[str, list[Any]]:
        """The value of ``items`` as the child sends it: revision → [sql, needs-live reason, encoded value]."""
        values = self.compute(items)
        return {
            item.revision: [item.sql, item.needs_live_reason, self.encode(value)]
            for item, value in zip(items, values, strict=True)
        }

    def take(self, payload: Any) -> None:
        """Keep what a child sent (:meth:`encoded`); anything malformed is left out (computed by the caller)."""
        if not isinstance(payload, dict):
            return
        for revision, entry in payload.items():
            if isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str) and isinstance(entry[1], str):
                self._known[str(revision)] = (entry[0], entry[1], entry[2], True)

    def get(self, item: RevisionSQL) -> Any:
        """The value computed for ``item``'s revision from exactly ``item``'s SQL and reason (None when not)."""
        known = self._known.get(item.revision)
        if known is None or known[0] != item.sql or known[1] != item.needs_live_reason:
            return None
        if not known[3]:
            return known[2]
        try:
            return self.decode(known[2])
        except Exception:
            return None


def _render(
    project: Project,
    env: Environment | None,
    start: Any,
    dest: Any,
    direction: str,
    buffer: io.StringIO | None = None,
    guard: Guard | None = None,
    split: _Split | None = None,
) -> str:
    """The offline SQL from ``start`` to ``dest``; on failure ``buffer`` keeps what rendered before it.

    With ``guard`` (upgrades), an ``upgrade()`` of one of its revisions that fails (a data migration
    reading query results offline) does not stop the pass: the failure and the buffer's position at
    that moment are recorded in the guard, and the following revisions render on.

    With ``split`` (upgrades, with ``guard``), a long pass may be rendered by two processes
    (:class:`_Split`); the SQL returned is the same as one process's.
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
        steps = script._upgrade_revs(dest, rev)
        return steps if split is None else split.steps(steps, rev, context, buffer)

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
            if split is None:
                script.run_env()
            else:
                try:
                    split.run(script.run_env, buffer)
                finally:
                    split.close()
    if split is not None and split.joined:
        return split.whole(buffer)
    return buffer.getvalue()


class Guard:
    """The revisions of a pass whose ``upgrade()`` may fail without stopping it, and what failed."""

    def __init__(self, revisions: set[str]) -> None:
        self.revisions = revisions
        self.failures: dict[str, tuple[BaseException, int]] = {}
        """Revision → (the error its upgrade() raised, the output buffer's position when it did)."""
        self.reasons: dict[str, tuple[str, int]] = {}
        """Failures seen by a forked renderer (:class:`_Split`): revision → (:func:`_needs_live`'s reason,
        the position in the pass's whole SQL)."""


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
    derived: Derived | None = None,
    flush: bool = True,
) -> list[RevisionSQL]:
    """The SQL of each of ``revisions`` (a contiguous path in upgrade order).

    Upgrades come from the revision cache (``cache``, or the project's as its files are now)
    where their files, env.py and the tools are unchanged; the others are rendered in one pass
    when possible, on failure revision by revision so that one data migration does not hide the
    SQL of the others, and stored (written to the cache file now, or with ``flush=False`` by the
    caller's next ``cache.flush()``). With ``derived``, a pass rendered by two processes also computes
    the caller's value of the revisions it rendered (:class:`Derived`).
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
        fresh = _render_passes(project, missing, env, derived)
        fresh |= {rev: _render_one(project, rev, direction, env) for rev in missing if rev not in fresh}
        done |= fresh
        if cache is not None:
            cache.store(
                [(rev, graph.by_id[rev].path, item.sql, item.needs_live_reason) for rev, item in fresh.items()],
                env,
                flush=flush,
            )
    return [done[rev] for rev in revisions]


def _render_passes(
    project: Project, revisions: list[str], env: Environment | None, derived: Derived | None = None
) -> dict[str, RevisionSQL]:
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
        split = _Split(guard, {rev: graph.by_id[rev].path for rev in remaining}, derived)
        try:
            sql = _render(project, env, start_arg, dest_arg, "upgrade", buffer, guard, split)
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
        failures = {
            rev: (_needs_live(failure, "upgrade", graph.by_id[rev].path), position)
            for rev, (failure, position) in guard.failures.items()
        }
        done |= _items(sql, remaining, guard.reasons | failures)
        break
    return done


def _items(sql: str, revisions: Iterable[str], failures: dict[str, tuple[str, int]]) -> dict[str, RevisionSQL]:
    """The SQL of each of ``revisions`` found in a pass's ``sql`` (or a part of it); ``failures``: revision →
    (why its upgrade() failed, the position in ``sql`` where it did), for what it rendered before it stopped."""
    chunks = split_by_revision(sql, "upgrade")
    done: dict[str, RevisionSQL] = {}
    for rev in revisions:
        if rev in failures:
            # what it rendered before it stopped, as when a pass ends there
            reason, position = failures[rev]
            partial = _partial_before(sql, position, rev)
            done[rev] = RevisionSQL(rev, "upgrade", partial if _has_statements(partial) else "", reason)
        elif rev in chunks:
            done[rev] = RevisionSQL(rev, "upgrade", chunks[rev])
    return done


MIN_SPLIT_STEPS = 50
"""A pass of fewer revisions is rendered by one process (a fork costs more than it saves)."""
CHILD_SHARE = 0.48
"""The share of a split pass's revisions (its last ones) that the forked process renders."""


class _Split:
    """One pass of env.py rendered by two processes: the parent renders the first revisions, a forked
    child the rest, and the parent puts the child's SQL after its own.

    The fork happens when Alembic asks for the pass's revisions (env.py has run up to
    ``run_migrations()``; all its imports are shared). The child sets Alembic's heads to what they are
    after the parent's part (worked out without rendering) and renders the rest of the pass, to its end:
    from where the parent stops, its SQL is what one process would have written next, byte for byte.
    It sends that SQL and the reasons of its failed data migrations through a pipe as JSON, and leaves
    with ``os._exit`` (it never writes the cache or the terminal). With a :class:`Derived`, each process
    also computes the caller's value of the revisions it rendered (the parent before it waits for the
    child, the child before it sends its part), so that the caller's work on the SQL overlaps the rendering.
    When the child fails in any way the parent renders the rest of the pass itself; when the parent's part
    stops the pass, the child is killed and its work dropped. No split without ``os.fork`` (or on macOS),
    with other threads running, for fewer than :data:`MIN_SPLIT_STEPS` revisions, when env.py asks for a callback per
    revision (``on_version_apply``), or when no CPU is idle (``forks.may_fork``); ``SYNCDB_FORK=0``
    never splits, ``SYNCDB_FORK=1`` splits whenever it can, busy CPUs or not.
    """

    def __init__(self, guard: Guard, paths: dict[str, str], derived: Derived | None = None) -> None:
        self.guard = guard
        self.paths = paths
        """Revision → its file (for :func:`_needs_live`'s text: the child sends text, not the error), in
        the pass's order."""
        self.derived = derived
        self.state = "idle"
        """idle (not split yet), parent (rendering its part), joined (the child rendered the rest),
        child (the forked process), or serial (one process renders everything)."""
        self.pid = 0
        self.fd = -1
        self.seam = 0
        """The parent's output position where the child's SQL goes."""
        self.child_seam = 0
        self.child_sql = ""

    @property
    def joined(self) -> bool:
        return self.state == "joined"

    def steps(self, steps: list[Any], heads: Any, context: Any, buffer: io.StringIO) -> Iterator[Any]:
        """The steps this process renders (Alembic's ``run_migrations`` iterates them one by one)."""
        if self.state == "joined":
            return  # the child rendered the rest of the pass: what this process writes now is dropped
        if self.state == "parent":
            # env.py runs its migrations once more after the parent's part stopped: one process
            self._kill()
            self.state = "serial"
        if self.state != "idle":
            yield from steps
            return
        cut = len(steps) - max(1, int(len(steps) * CHILD_SHARE))
        after: set[str] = set()
        try:
            maintainer = self._maintainer(sys._getframe(1), heads)
            if maintainer is not None and self._can_fork(steps, context, buffer):
                after = _heads_after(steps[:cut], maintainer.heads, context)
            else:
                maintainer = None
        except Exception:  # anything unexpected in Alembic's state: one process, as without a split
            maintainer = None
        if maintainer is not None and self.derived is not None and self.derived.prepare is not None:
            try:
                self.derived.prepare()
            except Exception:
                self.derived = None  # the caller computes its values afterwards, as without a split
        if maintainer is None or not self._fork():
            self.state = "serial"
            yield from steps
            return
        if self.state == "child":
            maintainer.heads.clear()
            maintainer.heads.update(after)
            self.child_seam = buffer.tell()
            yield from steps[cut:]
            return
        yield from steps[:cut]
        self.seam = buffer.tell()
        if self.derived is not None:
            self._derive(buffer.getvalue(), self._reasons(0))  # while the child renders the rest
        if self._join():
            self.state = "joined"
            return
        self.state = "serial"  # the child failed: render its revisions here
        yield from steps[cut:]

    @staticmethod
    def _maintainer(frame: Any, heads: Any) -> Any:
        """Alembic's ``HeadMaintainer`` of the running pass (a local of ``run_migrations``), or None."""
        from alembic.runtime.migration import HeadMaintainer

        maintainer = frame.f_locals.get("head_maintainer") if frame is not None else None
        if not isinstance(maintainer, HeadMaintainer) or maintainer.heads != set(heads or ()):
            return None
        return maintainer

    @staticmethod
    def _can_fork(steps: list[Any], context: Any, buffer: io.StringIO) -> bool:
        return (
            len(steps) >= MIN_SPLIT_STEPS
            and getattr(context, "as_sql", False)
            and getattr(getattr(context, "impl", None), "output_buffer", None) is buffer
            and not getattr(context, "on_version_apply_callbacks", ())
            and may_fork()
        )

    def _fork(self) -> bool:
        """Fork; True in both processes when it worked (``state`` tells which one this is)."""
        forked = fork_quietly()
        if forked is None:
            return False
        pid, read, write = forked
        if pid == 0:
            self.state, self.fd = "child", write
        else:
            self.state, self.pid, self.fd = "parent", pid, read
        return True

    def run(self, run_env: Callable[[], None], buffer: io.StringIO) -> None:
        """Run env.py; the child leaves here (never returns) with its part of the SQL sent."""
        try:
            run_env()
        except BaseException as error:
            if self.state == "child":
                self._send(None)
            if self.state != "joined" or not isinstance(error, Exception):
                raise
            # the parent's env.py failed after its part, with the child's part skipped: the SQL is the child's
        if self.state == "child":
            self._send(buffer)

    def _reasons(self, start: int) -> dict[str, tuple[str, int]]:
        """This process's failed data migrations: revision → (:func:`_needs_live`'s reason, the position in
        its part of the SQL, which begins at ``start`` in its buffer)."""
        return {
            rev: (_needs_live(error, "upgrade", self.paths.get(rev, "")), position - start)
            for rev, (error, position) in self.guard.failures.items()
        }

    def _derive(self, part: str, reasons: dict[str, tuple[str, int]]) -> dict[str, list[Any]]:
        """The :class:`Derived` value of the revisions of this process's ``part`` of the SQL (``reasons``:
        :meth:`_reasons`): kept by the parent, returned encoded by the child ({} on any error: the caller
        computes them afterwards)."""
        if self.derived is None:
            return {}
        try:
            items = list(_items(part, self.paths, reasons).values())
            if self.state == "child":
                return self.derived.encoded(items)
            self.derived.add(items)
        except Exception:
            pass
        return {}

    def _send(self, buffer: io.StringIO | None) -> None:
        """The child's end: its SQL from the seam, its failures and its :class:`Derived` values through the
        pipe, then ``os._exit``."""

        def payload() -> bytes | None:
            if buffer is None:
                return None
            part = buffer.getvalue()[self.child_seam :]
            failures = self._reasons(self.child_seam)
            derived = self._derive(part, failures)
            return json.dumps({"sql": part, "failures": failures, "derived": derived}).encode()

        child_exit(payload, self.fd)

    def _join(self) -> bool:
        """Wait for the child; True when it rendered its part (kept for :meth:`whole`)."""
        data = receive(self.fd)
        self.fd = -1
        status = self._wait()
        if status != 0 or not data:
            return False
        try:
            payload = json.loads(data)
            sql = payload["sql"]
            failures = {str(rev): (str(item[0]), int(item[1])) for rev, item in payload["failures"].items()}
        except (ValueError, KeyError, TypeError, IndexError):
            return False
        if not isinstance(sql, str) or any(rev not in self.guard.revisions for rev in failures):
            return False
        self.child_sql = sql
        for rev, (reason, position) in failures.items():
            self.guard.reasons[rev] = (reason, self.seam + position)
        if self.derived is not None:
            self.derived.take(payload.get("derived"))
        return True

    def _wait(self) -> int:
        """Reap the child: its exit status (-1 when killed by a signal or lost)."""
        pid, self.pid = self.pid, 0
        return reap(pid)

    def _kill(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.pid:
            pid, self.pid = self.pid, 0
            kill(pid)

    def close(self) -> None:
        """The parent's end of the pass: a child still running (the parent's part stopped the pass) is killed."""
        if self.state != "child":
            self._kill()

    def whole(self, buffer: io.StringIO) -> str:
        """The pass's SQL as one process writes it: the parent's part, then the child's."""
        return buffer.getvalue()[: self.seam] + self.child_sql


def _heads_after(steps: list[Any], heads: set[str], context: Any) -> set[str]:
    """Alembic's heads after ``steps`` (upgrade steps) from ``heads``, worked out without writing SQL."""
    from alembic.runtime.migration import HeadMaintainer

    class _Dry(HeadMaintainer):
        def _insert_version(self, version: str) -> None:
            self.heads.add(version)

        def _delete_version(self, version: str) -> None:
            self.heads.remove(version)

        def _update_version(self, from_: str, to_: str) -> None:
            self.heads.remove(from_)
            self.heads.add(to_)

    dry = _Dry(context, heads)
    for step in steps:
        dry.update_to_step(step)
    return dry.heads
