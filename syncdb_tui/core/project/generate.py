"""Autogenerate: a new revision file from the models against a database."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.errors import ConfigError, OperationError, UsageError
from syncdb_tui.core.project.runner import run_alembic

if TYPE_CHECKING:
    from syncdb_tui.core.envs.environments import Environment
    from syncdb_tui.core.project.revisions import Project


@dataclass(frozen=True)
class GeneratedRevision:
    """A revision produced by autogenerate."""

    revision: str
    message: str
    path: str
    """The file written ("" with dry_run)."""
    source: str
    """The revision file's Python text (upgrade and downgrade bodies with dry_run)."""
    empty: bool
    dry_run: bool
    upgrade_ops: Any = field(default=None, compare=False, repr=False)
    """Alembic's ``UpgradeOps`` that autogenerate found (for ``generate --safe``)."""


def generate(
    project: Project,
    env: Environment,
    message: str,
    *,
    dry_run: bool = False,
    rev_id: str | None = None,
) -> GeneratedRevision:
    """Autogenerate a revision from the models against ``env``'s database (blocking).

    With ``dry_run`` nothing is written: the revision's source comes back.

    Raises:
        ConfigError: no target_metadata (in syncdb.toml or env.py).
        OperationError: the database is not at head (Alembic refuses), or autogenerate failed.
    """
    from alembic import command
    from alembic.autogenerate import render_python_code
    from alembic.util import CommandError

    if not message.strip():
        raise UsageError("a revision needs a message", hint="pass -m 'what the change does'")
    if not dry_run:
        refuse_packaged_scripts(project)
    captured: list[Any] = []

    def directives_hook(context: Any, revision: Any, directives: list[Any]) -> None:
        captured.extend(directives)
        if dry_run:
            directives[:] = []

    def call(cfg: Any) -> Any:
        if project.config.target_metadata:
            from syncdb_tui.core.project.models import load_models

            cfg.attributes["target_metadata"] = load_models(project.config)
        return command.revision(
            cfg,
            message=message,
            autogenerate=True,
            rev_id=rev_id,
            process_revision_directives=directives_hook,
        )

    try:
        outcome = run_alembic(project, env, call, action="generate", retry_on_lock_timeout=False)
    except OperationError as error:
        cause = error.__cause__
        if isinstance(cause, CommandError):
            text = str(cause)
            if "MetaData" in text or "target_metadata" in text:
                raise ConfigError(
                    "autogenerate needs the models' MetaData, and env.py's target_metadata is None",
                    hint="set target_metadata = Base.metadata in env.py (import your models there); "
                    "syncdb init writes an env.py that also takes target_metadata from syncdb.toml",
                    title="missing target_metadata",
                ) from None
            raise OperationError(
                f"generate on {env.name} failed: {text}",
                hint="run `syncdb migrate` first if the database is not up to date",
                title="generate failed",
            ) from None
        raise
    project_graph_reset(project)
    if not captured:
        raise OperationError("autogenerate produced nothing", title="generate failed")
    directive = captured[0]
    upgrade_ops = directive.upgrade_ops
    empty = upgrade_ops.is_empty() if hasattr(upgrade_ops, "is_empty") else not upgrade_ops.ops
    script = outcome.value
    scripts = script if isinstance(script, list) else [script]
    path = ""
    source = ""
    revision = directive.rev_id or ""
    if not dry_run and scripts and scripts[0] is not None:
        path = str(scripts[0].path)
        revision = scripts[0].revision
        source = Path(path).read_text()
    else:
        # render_python_code does not indent its first line
        source = (
            f"# revision {revision}: {message}\n\n\ndef upgrade():\n    "
            + render_python_code(upgrade_ops)
            + "\n\n\ndef downgrade():\n    "
            + render_python_code(directive.downgrade_ops)
            + "\n"
        )
    return GeneratedRevision(revision, message, path, source, bool(empty), dry_run, upgrade_ops=upgrade_ops)


def refuse_packaged_scripts(project: Project) -> None:
    """Refuse to write a revision into syncdb's own package (the demo's scripts as shipped).

    Raises:
        UsageError: the script directory lies inside the installed syncdb_tui package.
    """
    package = Path(__file__).resolve().parents[2]
    try:
        inside = project.script_location.resolve().is_relative_to(package)
    except OSError:
        inside = False
    if inside:
        raise UsageError(
            f"the script directory {project.script_location} is inside syncdb's own package; "
            "new revisions are never written there",
            hint="run `syncdb demo` (it writes a demo project to ./syncdb-demo) and work in that directory",
            title="read-only scripts",
        )


def project_graph_reset(project: Project) -> None:
    """Forget the cached scripts (after a new revision file was written)."""
    with project._lock:
        project._script = None
        project._graph = None


def load_target_metadata(spec: str) -> Any:
    """Import ``module:attribute`` and return it (the models' MetaData).

    Raises:
        ConfigError: the module or attribute cannot be imported.
    """
    from syncdb_tui.core.imports import import_object

    return import_object(
        spec, key="target_metadata", example="myapp.models:Base.metadata", expected="your models' MetaData"
    )
