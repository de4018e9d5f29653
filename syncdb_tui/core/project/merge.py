"""Merging the heads of a branched history (Alembic's ``merge``): one new revision file.

Who calls what: ``commands/merge.py`` and the app's merge key call :func:`merge_heads`; the
new revision is then judged like any other (its offline SQL through the risk engine).
Writing the file changes no database, so it needs no plan or confirmation; applying it
is an ordinary ``migrate``.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import UsageError
from syncdb_tui.core.project.generate import project_graph_reset, refuse_packaged_scripts
from syncdb_tui.core.project.revisions import ALEMBIC_LOCK, translate_script_errors

if TYPE_CHECKING:
    from syncdb_tui.core.project.revisions import Project


@dataclass(frozen=True)
class MergeResult:
    """The merge revision written (or, with ``dry_run``, the heads it would join)."""

    revision: str
    heads: tuple[str, ...]
    message: str
    path: str
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision or None,
            "merges": list(self.heads),
            "message": self.message,
            "path": self.path or None,
            "dry_run": self.dry_run,
        }


def merge_heads(
    project: Project, message: str = "", *, dry_run: bool = False, rev_id: str | None = None
) -> MergeResult:
    """Write a merge revision whose parents are every head of the history (blocking).

    Raises:
        UsageError: the history has fewer than two heads, or the scripts are inside syncdb's package.
        ConfigError: the scripts are broken.
    """
    from alembic import command

    heads = project.graph().heads
    if len(heads) < 2:
        raise UsageError(
            f"the history has {len(heads)} head{'s' if len(heads) != 1 else ''} ({', '.join(heads) or 'none'}): "
            "nothing to merge",
            hint="merge is for a history with several heads (two branches merged in version control)",
            title="nothing to merge",
        )
    text = message.strip() or f"merge {', '.join(sorted(heads))}"
    if dry_run:
        return MergeResult("", tuple(sorted(heads)), text, "", True)
    refuse_packaged_scripts(project)
    cfg = project.alembic_config()
    cfg.stdout = io.StringIO()
    with (
        ALEMBIC_LOCK,
        translate_script_errors(project.script_location, roots=project.config.import_paths),
        contextlib.redirect_stdout(cfg.stdout),
    ):
        script = command.merge(cfg, revisions=list(heads), message=text, rev_id=rev_id)
    project_graph_reset(project)
    written = script[0] if isinstance(script, list) else script
    if written is None:
        raise UsageError("Alembic wrote no merge revision", title="merge failed")
    return MergeResult(written.revision, tuple(sorted(heads)), text, str(written.path), False)
