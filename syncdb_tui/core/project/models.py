"""The project's models (its SQLAlchemy ``MetaData``), read fresh from disk every time.

Who calls what: drift, push and ``check`` call :func:`load_models` (through
``core.schema.drift.load_metadata``); ``generate`` passes the result to env.py in
``config.attributes["target_metadata"]``.  The models come from the config's
``target_metadata``, else from env.py's own ``target_metadata`` (the way ``alembic check``
finds them): followed statically when env.py imports them plainly, else by running env.py
in offline mode and reading what it passed to ``context.configure`` — no database is
contacted.  Every load happens under :data:`IMPORT_LOCK` after
:func:`prepare_project_imports`, so an edited models file is seen without a restart.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.envpy import FROM_ENV_PY
from syncdb_tui.core.errors import ConfigError
from syncdb_tui.core.imports import IMPORT_LOCK, import_object, prepare_project_imports, remember_project_modules

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from syncdb_tui.config import Config


def has_models(config: Config) -> bool:
    """Whether the project names its models anywhere (the config, or env.py's target_metadata)."""
    return bool(config.target_metadata)


def load_models(config: Config) -> Any:
    """The models' ``MetaData`` as the files are now; None when neither the config nor env.py names any.

    Raises:
        ConfigError: the models' module cannot be imported (the message names the file and the
            missing module), or env.py fails.
    """
    spec = config.target_metadata
    if not spec:
        return None
    with IMPORT_LOCK:
        prepare_project_imports(config.import_paths)
        try:
            if spec == FROM_ENV_PY:
                value = _from_env_py(config)
            else:
                value = import_object(
                    spec,
                    key="target_metadata",
                    example="myapp.models:Base.metadata",
                    expected="your models' MetaData",
                    roots=config.import_paths,
                )
        finally:
            remember_project_modules(config.import_paths)
    return value


def check_metadata(value: Any, spec: str) -> MetaData:
    """``value`` if it is a MetaData (a list of them, as env.py may give, is not supported here).

    Raises:
        ConfigError: it is something else.
    """
    from sqlalchemy import MetaData

    if isinstance(value, MetaData):
        return value
    if isinstance(value, list | tuple) and len(value) == 1 and isinstance(value[0], MetaData):
        return value[0]
    raise ConfigError(
        f"target_metadata {spec!r} is a {type(value).__name__}, not a SQLAlchemy MetaData",
        hint="point it at your models' MetaData, e.g. Base.metadata",
        title="invalid target_metadata",
    )


def _from_env_py(config: Config) -> Any:
    """Run env.py offline and return the target_metadata it hands to ``context.configure``."""
    from alembic.runtime.environment import EnvironmentContext

    from syncdb_tui.core.project.revisions import Project, translate_script_errors

    project = Project.from_config(config)
    script = project.script()
    cfg = project.alembic_config(None)
    cfg.output_buffer = io.StringIO()
    cfg.stdout = io.StringIO()
    found: list[Any] = []

    def capture(rev: Any, context: Any) -> list[Any]:
        found.append(context.opts.get("target_metadata"))
        return []

    with (
        translate_script_errors(project.script_location, roots=config.import_paths),
        EnvironmentContext(cfg, script, fn=capture, as_sql=True, starting_rev=None, destination_rev="heads"),
    ):
        script.run_env()
    return found[0] if found else None


def env_py_path(config: Config) -> Path | None:
    location = config.alembic_script_dir
    return location / "env.py" if location is not None else None
