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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.project.revisions import ALEMBIC_LOCK, Project, translate_script_errors

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment

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


def _render(project: Project, env: Environment | None, start: Any, dest: Any, direction: str) -> str:
    from alembic.runtime.environment import EnvironmentContext

    script = project.script()
    cfg = project.alembic_config(env)
    if env is None:
        from sqlalchemy.engine import make_url

        # offline rendering only needs the dialect; no database is contacted
        cfg.attributes.setdefault("sqlalchemy_url", make_url("postgresql+asyncpg://"))
        if not cfg.get_main_option("sqlalchemy.url"):
            cfg.set_main_option("sqlalchemy.url", "postgresql+asyncpg://")
    buffer = io.StringIO()
    cfg.output_buffer = buffer
    cfg.stdout = io.StringIO()

    def upgrade(rev: Any, context: Any) -> Any:
        return script._upgrade_revs(dest, rev)

    def downgrade(rev: Any, context: Any) -> Any:
        return script._downgrade_revs(dest, rev)

    with (
        ALEMBIC_LOCK,
        translate_script_errors(project.script_location),
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
        script.run_env()
    return buffer.getvalue()


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


def _needs_live(error: Exception, direction: str = "upgrade") -> str:
    text = str(error).strip() or type(error).__name__
    return f"its {direction}() cannot run without a database ({type(error).__name__}: {text.splitlines()[0]})"


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
    project: Project, revision: str, direction: str = "upgrade", env: Environment | None = None
) -> RevisionSQL:
    """The SQL of one ``revision`` (``direction`` "upgrade" or "downgrade").

    Raises:
        UsageError: unknown revision.
        ConfigError: broken scripts.
    """
    project.resolve_target(revision)
    info = project.graph().by_id.get(revision)
    downs = info.down_revisions if info else ()
    try:
        if direction == "upgrade":
            # a merge revision starts from all of its parents at once
            start_rev: Any = (downs[0] if len(downs) == 1 else tuple(downs)) if downs else None
            sql = _render(project, env, start_rev, revision, "upgrade")
        else:
            # to its (first) parent: for a merge, Alembic undoes only the merge itself
            target = downs[0] if downs else "base"
            sql = _render(project, env, revision, target, "downgrade")
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
        return RevisionSQL(revision, direction, "", _needs_live(error, direction))
    return RevisionSQL(revision, direction, sql)


def offline_range(
    project: Project,
    revisions: list[str],
    direction: str = "upgrade",
    env: Environment | None = None,
) -> list[RevisionSQL]:
    """The SQL of each of ``revisions`` (a contiguous path in upgrade order).

    Rendered in one pass when possible; on failure, revision by revision so that one
    data migration does not hide the SQL of the others.
    """
    if not revisions:
        return []
    graph = project.graph()
    first = graph.by_id.get(revisions[0])
    linear = all(len(graph.by_id[rev].down_revisions) <= 1 for rev in revisions if rev in graph.by_id)
    if first is not None and linear and direction == "upgrade":
        start = first.down_revisions[0] if first.down_revisions else None
        try:
            sql = _render(project, env, start, revisions[-1], "upgrade")
            chunks = split_by_revision(sql, "upgrade")
            if all(rev in chunks for rev in revisions):
                return [RevisionSQL(rev, direction, chunks[rev]) for rev in revisions]
        except Exception as error:  # fall back to one revision at a time
            from syncdb_tui.core.errors import SyncdbError

            if isinstance(error, SyncdbError):
                raise
    return [offline_sql(project, rev, direction, env) for rev in revisions]
