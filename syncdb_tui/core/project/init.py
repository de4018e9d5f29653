"""`syncdb init`: start a project, or adopt an existing Alembic project as it is.

Who calls what: ``commands/init.py`` calls :func:`plan_init` (what would be written, and
what was found in an existing project), shows it, and calls :func:`write_init` to write
it.  Nothing is ever overwritten: a file that exists is kept and reported.

- **New project** (no alembic.ini): ``syncdb.toml`` (or ``[tool.syncdb]`` appended to an
  existing pyproject.toml), ``alembic.ini`` and a script directory whose env.py works
  both under ``alembic`` and under syncdb: it uses a connection passed in
  ``config.attributes["connection"]`` (Alembic's connection-sharing recipe, which syncdb
  uses), else builds its own engine, sync (``--template sync``, psycopg2) or async
  (``--template async``, asyncpg), from ``sqlalchemy.url`` or ``$DATABASE_URL``.
- **Existing project** (alembic.ini found): only the syncdb config is written; the
  script directory, env.py and revisions are used as they are.  What was found
  (script_location, sync or async env.py, whether it accepts a passed connection,
  its target_metadata) comes back in :attr:`InitPlan.findings`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from syncdb_tui.core.envpy import FROM_ENV_PY, ini_settings, read_env_py
from syncdb_tui.core.errors import ConfigError, UsageError

CONFIG_NAME = "syncdb.toml"
TEMPLATES = ("async", "sync")


@dataclass(frozen=True)
class InitPlan:
    """What `syncdb init` found and would write."""

    root: Path
    adopting: bool
    """An existing Alembic project (alembic.ini) is adopted: only the syncdb config is written."""
    config_path: Path
    config_text: str
    """The syncdb config (a whole syncdb.toml, or the ``[tool.syncdb]`` table appended to pyproject.toml)."""
    files: dict[Path, str] = field(default_factory=dict)
    """Other files to write (new project: alembic.ini, env.py, script.py.mako), path -> text."""
    directories: tuple[Path, ...] = ()
    findings: tuple[str, ...] = ()
    """What was found in an existing project, one sentence each."""
    kept: tuple[Path, ...] = ()
    """Files that exist already and are left as they are."""
    already: bool = False
    """A syncdb config exists already: nothing to do."""


@dataclass(frozen=True)
class InitResult:
    written: tuple[Path, ...]
    kept: tuple[Path, ...]


def _metadata_parts(spec: str) -> tuple[str, str]:
    """``myapp.models:Base.metadata`` -> (``from myapp.models import Base``, ``Base.metadata``)."""
    module, _, attribute = spec.partition(":")
    if not module or not attribute or not re.fullmatch(r"[A-Za-z_][\w.]*", module + "." + attribute):
        raise UsageError(
            f"--metadata {spec!r} is not 'module:attribute'",
            hint="e.g. --metadata myapp.models:Base.metadata",
        )
    first = attribute.split(".")[0]
    return f"from {module} import {first}", attribute


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _config_lines(
    *,
    location_key: str,
    location: str,
    metadata: str | None,
    urls: dict[str, str],
    protected: tuple[str, ...],
) -> list[str]:
    lines = [f"{location_key} = {_toml_string(location)}"]
    if metadata:
        lines.append(f"target_metadata = {_toml_string(metadata)}")
    else:
        lines.append('# target_metadata = "myapp.models:Base.metadata"   # or set target_metadata in env.py')
    lines += ['backup_dir = "backups"', f"default_env = {_toml_string(next(iter(urls)))}", ""]
    for name, url in urls.items():
        lines += [f"[environments.{name}]", f"url = {_toml_string(url)}"]
        if name in protected:
            lines.append("protected = true")
        lines.append("")
    return lines


def _parse_urls(entries: list[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """``NAME=URL`` entries (a ``!`` after the name marks it protected: ``prod!=${PROD_URL}``)."""
    urls: dict[str, str] = {}
    protected: list[str] = []
    for entry in entries:
        name, sep, url = entry.partition("=")
        name = name.strip()
        if name.endswith("!"):
            name = name[:-1]
            protected.append(name)
        if not sep or not re.fullmatch(r"[A-Za-z][\w-]*", name) or not url.strip():
            raise UsageError(
                f"--env-url expects NAME=URL, not {entry!r}" if "://" not in entry else "--env-url expects NAME=URL",
                hint='e.g. --env-url dev=embedded --env-url "staging=${STAGING_URL}" --env-url "prod!=${PROD_URL}"',
            )
        urls[name] = url.strip()
    if not urls:
        urls["dev"] = "embedded"
    return urls, tuple(protected)


def existing_config(root: Path) -> Path | None:
    """The syncdb config already in ``root`` (syncdb.toml, or pyproject.toml with [tool.syncdb])."""
    candidate = root / CONFIG_NAME
    if candidate.is_file():
        return candidate
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text())
        except (tomllib.TOMLDecodeError, OSError):
            return None
        tool = data.get("tool", {})
        if isinstance(tool, dict) and isinstance(tool.get("syncdb"), dict):
            return pyproject
    return None


def plan_init(
    root: Path,
    *,
    template: str = "async",
    metadata: str | None = None,
    env_urls: list[str] | None = None,
    directory: str = "migrations",
    in_pyproject: bool = False,
) -> InitPlan:
    """Decide what `syncdb init` writes in ``root`` (nothing is written here).

    Raises:
        UsageError: a bad --template, --metadata or --env-url.
    """
    if template not in TEMPLATES:
        raise UsageError(f"--template must be one of {', '.join(TEMPLATES)}, not {template!r}")
    root = root.resolve()
    urls, protected = _parse_urls(env_urls or [])
    found = existing_config(root)
    config_path = root / ("pyproject.toml" if in_pyproject else CONFIG_NAME)
    if found is not None:
        return InitPlan(root, False, found, "", already=True, findings=(f"{found.name} already configures syncdb",))
    if metadata is not None:
        _metadata_parts(metadata)
    ini = root / "alembic.ini"
    if ini.is_file():
        return _plan_adopt(root, ini, config_path, metadata, urls, protected)
    scripts = root / directory
    if (scripts / "env.py").is_file():
        # a script directory without alembic.ini: adopt it by script_location
        return _plan_adopt(root, None, config_path, metadata, urls, protected, scripts=scripts)
    return _plan_new(root, config_path, template, metadata, urls, protected, directory)


def _plan_adopt(
    root: Path,
    ini: Path | None,
    config_path: Path,
    metadata: str | None,
    urls: dict[str, str],
    protected: tuple[str, ...],
    *,
    scripts: Path | None = None,
) -> InitPlan:
    findings: list[str] = []
    if ini is not None:
        settings = ini_settings(ini)
        scripts = settings.script_location
        findings.append(f"alembic.ini: script_location is {_shown(scripts, root)}")
        if settings.toml_file is not None:
            findings.append(
                "pyproject.toml has [tool.alembic] (Alembic's pyproject template): used as Alembic reads it"
            )
        if settings.prepend_sys_path:
            shown = ", ".join(_shown(path, root) for path in settings.prepend_sys_path)
            findings.append(f"prepend_sys_path: {shown} (put on the import path for every syncdb command)")
    if scripts is None or not (scripts / "env.py").is_file():
        raise ConfigError(
            f"alembic.ini names the script directory {scripts}, which has no env.py",
            hint="fix script_location in alembic.ini (alembic init DIR creates one)",
            title="missing script directory",
        )
    facts = read_env_py(scripts / "env.py")
    if facts.is_async:
        findings.append("env.py is async (async_engine_from_config): syncdb hands it an asyncpg URL")
    else:
        findings.append("env.py is synchronous (engine_from_config): syncdb hands it a psycopg2 URL")
    if facts.shares_connection:
        findings.append(
            'env.py accepts a passed connection (config.attributes["connection"]): syncdb runs migrations on '
            "its own session (lock_timeout, blocker watch)"
        )
    else:
        findings.append(
            "env.py opens its own connection: syncdb passes lock_timeout through PGOPTIONS; for the blocker "
            'watch on every driver, use config.attributes["connection"] when given (Alembic\'s cookbook recipe)'
        )
    written_metadata = metadata
    if metadata is not None:
        findings.append(f"target_metadata: {metadata} (from --metadata)")
    elif facts.target_metadata and facts.target_metadata != FROM_ENV_PY:
        findings.append(f"target_metadata: {facts.target_metadata} (from env.py: {facts.metadata_expression})")
        written_metadata = facts.target_metadata
    elif facts.target_metadata == FROM_ENV_PY:
        findings.append(
            f"target_metadata: env.py sets it ({facts.metadata_expression}); syncdb reads it by running env.py offline"
        )
    else:
        findings.append(
            "target_metadata: none (env.py's is None): syncdb check fails until you set it (or pass --no-models); "
            "set target_metadata = Base.metadata in env.py, or target_metadata in the syncdb config"
        )
    if ini is not None:
        location_key, location = "alembic_ini", _relative(ini, root)
    else:
        assert scripts is not None
        location_key, location = "script_location", _relative(scripts, root)
    lines = _config_lines(
        location_key=location_key, location=location, metadata=written_metadata, urls=urls, protected=protected
    )
    header = "# syncdb configuration (written by `syncdb init`, adopting the existing Alembic project)"
    text = _config_text(config_path, header, lines)
    return InitPlan(root, True, config_path, text, findings=tuple(findings))


def _plan_new(
    root: Path,
    config_path: Path,
    template: str,
    metadata: str | None,
    urls: dict[str, str],
    protected: tuple[str, ...],
    directory: str,
) -> InitPlan:
    scripts = root / directory
    if metadata:
        import_line, expression = _metadata_parts(metadata)
        metadata_block = f"{import_line}\n\ntarget_metadata = {expression}"
    else:
        metadata_block = (
            "# your models' MetaData, for autogenerate and drift, e.g.:\n"
            "#   from myapp.models import Base\n#   target_metadata = Base.metadata\n"
            "target_metadata = None"
        )
    env_text = (ENV_ASYNC if template == "async" else ENV_SYNC).replace("{metadata_block}", metadata_block)
    files = {
        root / "alembic.ini": ALEMBIC_INI.replace("{directory}", directory),
        scripts / "env.py": env_text,
        scripts / "script.py.mako": SCRIPT_MAKO,
    }
    kept = tuple(path for path in files if path.exists())
    files = {path: text for path, text in files.items() if not path.exists()}
    lines = _config_lines(
        location_key="alembic_ini", location="alembic.ini", metadata=metadata, urls=urls, protected=protected
    )
    header = f"# syncdb configuration (written by `syncdb init --template {template}`)"
    text = _config_text(config_path, header, lines)
    return InitPlan(
        root,
        False,
        config_path,
        text,
        files=files,
        directories=(scripts, scripts / "versions"),
        kept=kept,
    )


def _config_text(config_path: Path, header: str, lines: list[str]) -> str:
    if config_path.name == "pyproject.toml":
        body = []
        section = "tool.syncdb"
        for line in lines:
            if line.startswith("[environments."):
                line = f"[{section}.{line[1:]}"
            body.append(line)
        return "\n" + header + f"\n[{section}]\n" + "\n".join(body).rstrip() + "\n"
    return header + "\n" + "\n".join(lines).rstrip() + "\n"


def write_init(plan: InitPlan) -> InitResult:
    """Write what ``plan`` says; never overwrites a file (a pyproject.toml is appended to).

    Raises:
        ConfigError: a file cannot be written.
    """
    if plan.already:
        return InitResult((), (plan.config_path,))
    written: list[Path] = []
    try:
        for directory in plan.directories:
            directory.mkdir(parents=True, exist_ok=True)
        for path, text in plan.files.items():
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
        if plan.config_path.name == "pyproject.toml" and plan.config_path.exists():
            with plan.config_path.open("a") as handle:
                handle.write(plan.config_text)
        elif not plan.config_path.exists():
            plan.config_path.write_text(plan.config_text)
        written.append(plan.config_path)
    except OSError as error:
        raise ConfigError(
            f"cannot write {error.filename}: {error.strerror}", hint="check the directory's permissions"
        ) from None
    return InitResult(tuple(written), plan.kept)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def _shown(path: Path | None, root: Path) -> str:
    return _relative(path, root) if path is not None else "(not set)"


ALEMBIC_INI = """\
# Alembic configuration (written by `syncdb init`).  syncdb reads it too (alembic_ini in
# syncdb.toml), and hands env.py the environment's database; plain `alembic` commands use
# sqlalchemy.url below, or $DATABASE_URL when it is empty.
[alembic]
script_location = %(here)s/{directory}
prepend_sys_path = .
path_separator = os
sqlalchemy.url =

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""

_ENV_COMMON = '''
config = context.config
if config.config_file_name is not None and config.file_config.has_section("loggers"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

{metadata_block}
if config.attributes.get("target_metadata") is not None:
    # syncdb passes the models it read fresh from disk (the same ones, re-imported after an edit)
    target_metadata = config.attributes["target_metadata"]


def database_url() -> URL:
    """syncdb passes the environment's URL; plain `alembic` uses sqlalchemy.url or $DATABASE_URL."""
    given = (
        config.attributes.get("sqlalchemy_url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("DATABASE_URL")
    )
    if not given:
        raise RuntimeError("no database URL: set sqlalchemy.url in alembic.ini or DATABASE_URL")
    return make_url(given) if isinstance(given, str) else given


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: render the SQL without a database."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
'''

ENV_ASYNC = (
    '''"""Alembic environment (written by `syncdb init --template async`): asyncpg through SQLAlchemy's async engine.

A connection passed in ``config.attributes["connection"]`` is used as it is (Alembic's
connection-sharing recipe: syncdb runs migrations on its own session that way).
"""

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
'''
    + _ENV_COMMON
    + """

async def run_async_migrations() -> None:
    url = database_url()
    if url.get_driver_name() != "asyncpg":
        url = url.set(drivername="postgresql+asyncpg")
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection", None)
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
"""
)

ENV_SYNC = (
    '''"""Alembic environment (written by `syncdb init --template sync`): a synchronous engine (psycopg2).

A connection passed in ``config.attributes["connection"]`` is used as it is (Alembic's
connection-sharing recipe: syncdb runs migrations on its own session that way).
"""

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL, Connection, make_url
'''
    + _ENV_COMMON
    + """

def run_migrations_online() -> None:
    connection = config.attributes.get("connection", None)
    if connection is not None:
        do_run_migrations(connection)
        return
    url = database_url()
    if url.get_driver_name() in ("asyncpg", "psycopg_async"):
        url = url.set(drivername="postgresql+psycopg2")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            do_run_migrations(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
"""
)

SCRIPT_MAKO = '''"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''
