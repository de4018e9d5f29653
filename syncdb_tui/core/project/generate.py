"""Autogenerate: a new revision file from the models against a database."""

from __future__ import annotations

from dataclasses import dataclass
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
    captured: list[Any] = []

    def directives_hook(context: Any, revision: Any, directives: list[Any]) -> None:
        captured.extend(directives)
        if dry_run:
            directives[:] = []

    def call(cfg: Any) -> Any:
        if project.config.target_metadata:
            cfg.attributes["target_metadata"] = load_target_metadata(project.config.target_metadata)
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
                    "autogenerate needs the models' MetaData, and none is configured",
                    hint='set target_metadata = "package.models:metadata" in syncdb.toml '
                    "(and use it as target_metadata in env.py)",
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
    return GeneratedRevision(revision, message, path, source, bool(empty), dry_run)


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
