"""Loading and validating syncdb's configuration.

Who calls what: ``cli.py`` and ``ui/app.py`` call :func:`load_config` once;
every core function receives the resulting :class:`Config` (or an
``Environment`` built from it by ``core.environments``).

Sources, first match wins: ``--config PATH``; ``syncdb.toml`` or a
``[tool.syncdb]`` table in ``pyproject.toml`` found by walking up from the
working directory; otherwise a single ``dev`` environment from
``DATABASE_URL``/``POSTGRES_URL`` with ``./alembic.ini``.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncdb_tui.core.errors import ConfigError

CONFIG_FILE_NAME = "syncdb.toml"

TOP_LEVEL_KEYS = {
    "script_location",
    "alembic_ini",
    "target_metadata",
    "seed",
    "backup_dir",
    "default_env",
    "environments",
    "lock_timeout",
    "lock_retries",
    "migrate_lock_wait",
    "risk",
    "explorer",
    "tui",
    "backup",
    "guard",
    "embedded",
}
ENVIRONMENT_KEYS = {"url", "protected", "backup_before_migrate", "database", "description"}
RISK_KEYS = {"large_table_rows", "large_table_bytes", "medium_table_rows", "long_running_seconds"}
EXPLORER_KEYS = {"statement_timeout", "page_size"}
TUI_KEYS = {"refresh_interval", "theme"}
EMBEDDED_KEYS = {"idle_stop"}
BACKUP_KEYS = {"compression", "format", "parallel_above"}
BACKUP_FORMATS = ("auto", "custom", "plain", "directory")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4}
GUARD_KEYS = {"max_queued", "max_queue_wait_ms", "interval_ms"}

ENVIRONMENT_ALIASES: dict[str, tuple[str, ...]] = {
    "prod": ("prod", "production", "prd", "live"),
    "staging": ("staging", "stage", "stg", "preprod"),
    "dev": ("dev", "development", "develop", "local"),
    "test": ("test", "testing", "qa", "ci"),
}

_VAR_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class EnvironmentConfig:
    """One ``[environments.NAME]`` table."""

    name: str
    url: str
    """The URL after ``${VAR}`` expansion, or ``"embedded"``. May hold a password: never print it."""
    protected: bool = False
    """Changes need a typed confirmation (or --force); push and seed are refused."""
    backup_before_migrate: bool | None = None
    """Take a backup before `migrate`; ``None`` means: only on protected environments."""
    database: str | None = None
    """For ``url = "embedded"``: the database name (default: the environment's name)."""
    description: str = ""
    unresolved: ConfigError | None = field(default=None, compare=False, repr=False)
    """Why the URL could not be built (an unset ``${VAR}``); raised only when this
    environment is used, so one unset production variable does not block dev."""

    @property
    def is_embedded(self) -> bool:
        return self.url == "embedded"

    @property
    def wants_backup_before_migrate(self) -> bool:
        if self.backup_before_migrate is None:
            return self.protected
        return self.backup_before_migrate


@dataclass(frozen=True)
class RiskThresholds:
    """Table sizes above which live context raises a finding's severity."""

    medium_table_rows: int = 100_000
    """Estimated rows from which index builds and validations become MEDIUM."""
    large_table_rows: int = 1_000_000
    """Estimated rows from which they become HIGH."""
    large_table_bytes: int = 1_000_000_000
    """Total relation size from which they become HIGH, whatever the row count."""
    long_running_seconds: float = 60.0
    """A session running or idle in transaction longer than this is reported as a blocker."""


@dataclass(frozen=True)
class GuardSettings:
    """The lock-queue guard: when a migration's lock request makes application sessions queue, stop it.

    While a migration runs, syncdb samples ``pg_stat_activity`` + ``pg_blocking_pids()``; when more
    than ``max_queued`` sessions wait behind the migration, or the oldest of them has waited longer
    than ``max_queue_wait_ms``, the migration's statement is cancelled and retried with backoff
    (like a lock timeout), so a stuck ALTER never takes the application down. 0 turns a limit off.
    """

    max_queued: int = 20
    max_queue_wait_ms: int = 2000
    interval_ms: int = 250
    """How often the lock queue is sampled."""


@dataclass(frozen=True)
class Config:
    """The whole configuration of one project."""

    root: Path
    """Directory of the config file (or the working directory when there is none)."""
    path: Path | None
    """The file the configuration came from, ``None`` for the environment-variable fallback."""
    environments: dict[str, EnvironmentConfig]
    default_env: str
    script_location: Path | None = None
    alembic_ini: Path | None = None
    target_metadata: str | None = None
    """``module:attribute`` of the SQLAlchemy ``MetaData`` the models define (from the config, else
    from env.py's ``target_metadata``; ``"env.py"`` when env.py sets it in a way only running it tells)."""
    target_metadata_source: str = ""
    """Where ``target_metadata`` came from: the config file's name, ``"env.py"``, or "" (none)."""
    seed: str | None = None
    """``module:function`` of the project's seed callable."""
    backup_dir: Path = Path("backups")
    lock_timeout: float = 5.0
    """Seconds a migration statement may wait for a lock before it is retried."""
    lock_retries: int = 3
    migrate_lock_wait: float = 10.0
    """Seconds a second syncdb waits for the migration advisory lock before giving up."""
    risk: RiskThresholds = field(default_factory=RiskThresholds)
    guard: GuardSettings = field(default_factory=GuardSettings)
    explorer_statement_timeout: float = 10.0
    explorer_page_size: int = 100
    refresh_interval: float = 30.0
    theme: str = ""
    embedded_idle_stop: float | None = None
    """``[embedded] idle_stop``: seconds the embedded server stays up after its last syncdb exits (0: stop with
    it; None: ``$SYNCDB_EMBEDDED_IDLE_STOP`` or the default). The variable, when set, wins over the file."""
    backup_compression: str = "gzip:1"
    backup_format: str = "auto"
    backup_parallel_above: int = 256 * 1000**2
    """``[backup] parallel_above``: from this database size (bytes) up, the ``auto`` format dumps in parallel."""

    @property
    def alembic_script_dir(self) -> Path | None:
        """The Alembic script directory (script_location, or the one alembic.ini names)."""
        if self.script_location is not None:
            return self.script_location
        if self.alembic_ini is not None:
            from syncdb_tui.core.envpy import ini_settings

            return ini_settings(self.alembic_ini).script_location
        return None

    @property
    def import_paths(self) -> tuple[Path, ...]:
        """Directories put on ``sys.path`` for the project's code: Alembic's ``prepend_sys_path``
        (relative to alembic.ini), the config's directory and alembic.ini's."""
        paths: list[Path] = []
        if self.alembic_ini is not None:
            from syncdb_tui.core.envpy import ini_settings

            paths += ini_settings(self.alembic_ini).prepend_sys_path
            paths.append(self.alembic_ini.parent.resolve())
        paths.append(self.root)
        return tuple(dict.fromkeys(paths))

    @property
    def data_dir(self) -> Path:
        """Where syncdb keeps its own state (the embedded server, markers)."""
        return self.root / ".syncdb"

    def environment(self, name: str | None) -> EnvironmentConfig:
        """The environment called ``name`` (or an alias of it), else the default.

        Raises:
            ConfigError: no environment has that name; the message lists the known ones.
        """
        wanted = name or self.default_env
        if wanted in self.environments:
            return self.environments[wanted]
        for canonical, aliases in ENVIRONMENT_ALIASES.items():
            if wanted.lower() in aliases:
                for candidate in aliases:
                    if candidate in self.environments:
                        return self.environments[candidate]
                if canonical in self.environments:
                    return self.environments[canonical]
        known = ", ".join(self.environments) or "(none)"
        raise ConfigError(
            f"there is no environment named {wanted!r}; known environments: {known}",
            hint=f"pass one of them with --env, or add [environments.{wanted}] to {self.path or CONFIG_FILE_NAME}",
            title="unknown environment",
        )


def find_config_file(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """Walk up from ``start`` to the first syncdb.toml or pyproject.toml with [tool.syncdb].

    ``SYNCDB_CONFIG_CEILING`` (a directory) stops the walk there, as git's
    ``GIT_CEILING_DIRECTORIES`` does.
    """
    ceiling = os.environ.get("SYNCDB_CONFIG_CEILING")
    ceiling_path = Path(ceiling).resolve() if ceiling else None
    for directory in [start, *start.parents]:
        if ceiling_path is not None and directory != start and not directory.is_relative_to(ceiling_path):
            break
        candidate = directory / CONFIG_FILE_NAME
        if candidate.is_file():
            return candidate, _read_toml(candidate)
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            data = _read_toml(pyproject)
            section = data.get("tool", {}).get("syncdb")
            if isinstance(section, dict):
                return pyproject, section
    return None


def load_config(path: Path | str | None = None, *, cwd: Path | None = None) -> Config:
    """Load the configuration from ``path``, by discovery, or from the environment.

    Raises:
        ConfigError: the file is missing or not valid TOML, a key is unknown or has the
            wrong type, a ``${VAR}`` is not set, or the script directory does not exist.
    """
    cwd = (cwd or Path.cwd()).resolve()
    if path is not None:
        file_path = Path(path).expanduser()
        if not file_path.is_absolute():
            file_path = cwd / file_path
        if not file_path.is_file():
            raise ConfigError(
                f"the config file {file_path} does not exist",
                hint="check the path given to --config",
            )
        data = _read_toml(file_path)
        if file_path.name == "pyproject.toml":
            data = data.get("tool", {}).get("syncdb", {})
        return _build(data, file_path, file_path.parent.resolve())
    found = find_config_file(cwd)
    if found is not None:
        file_path, data = found
        return _build(data, file_path, file_path.parent.resolve())
    return _fallback(cwd)


def _fallback(cwd: Path) -> Config:
    url = os.environ.get("DATABASE_URL") or os.environ.get("POSTGRES_URL")
    if not url:
        raise ConfigError(
            f"no {CONFIG_FILE_NAME} (or [tool.syncdb] in pyproject.toml) was found from {cwd} "
            "upwards, and neither DATABASE_URL nor POSTGRES_URL is set",
            hint="run `syncdb demo` to try the demo, create a syncdb.toml, or set DATABASE_URL",
            title="no configuration",
        )
    alembic_ini = cwd / "alembic.ini"
    if not alembic_ini.is_file():
        raise ConfigError(
            f"there is no syncdb.toml and no alembic.ini in {cwd}",
            hint="run syncdb from your project's directory, or pass --config",
            title="no Alembic project",
        )
    environment = EnvironmentConfig(name="dev", url=url)
    metadata, source = _env_py_metadata(None, alembic_ini)
    return Config(
        root=cwd,
        path=None,
        environments={"dev": environment},
        default_env="dev",
        alembic_ini=alembic_ini,
        target_metadata=metadata,
        target_metadata_source=source,
    )


def _env_py_metadata(script_path: Path | None, ini_path: Path | None) -> tuple[str | None, str]:
    """env.py's target_metadata (the way ``alembic check`` finds the models) and its source."""
    from syncdb_tui.core.envpy import ini_settings, metadata_from_env_py

    location = script_path
    if location is None and ini_path is not None:
        location = ini_settings(ini_path).script_location
    spec = metadata_from_env_py(location)
    return spec, ("env.py" if spec else "")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"{path} is not valid TOML: {error}",
            hint="fix the syntax at the position named above",
            title="invalid config file",
        ) from error
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}", title="invalid config file") from error


def _check_keys(table: dict[str, Any], allowed: set[str], where: str, file_path: Path) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            suggestion = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"{file_path}: unknown key {key!r} in {where}",
                hint=f"{suggestion}known keys: {', '.join(sorted(allowed))}",
                title="unknown config key",
            )


def _typed(value: Any, kind: type | tuple[type, ...], key: str, file_path: Path) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        ok = False
    else:
        ok = isinstance(value, kind)
    if not ok:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(
            f"{file_path}: {key} must be a {names}, not {value!r}",
            hint=f"fix the value of {key}",
            title="invalid config value",
        )
    return value


def expand_variables(value: str, key: str, file_path: Path | None) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` from the process environment.

    Raises:
        ConfigError: a variable is not set and has no default.
    """

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if key.endswith("url"):
            from syncdb_tui.core.secrets import register_secret_variable

            register_secret_variable(name)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{file_path or 'config'}: {key} uses ${{{name}}}, but {name} is not set",
            hint=f"export {name}=... before running syncdb, or write ${{{name}:-default}}",
            title="missing environment variable",
        )

    return _VAR_PATTERN.sub(replace, value)


def _build(data: dict[str, Any], file_path: Path, root: Path) -> Config:
    _check_keys(data, TOP_LEVEL_KEYS, "the top level", file_path)

    def text(key: str) -> str | None:
        if key not in data:
            return None
        return expand_variables(_typed(data[key], str, key, file_path), key, file_path)

    environments = _build_environments(data.get("environments"), file_path)
    default_env = text("default_env") or ("dev" if "dev" in environments else next(iter(environments)))
    if default_env not in environments:
        raise ConfigError(
            f"{file_path}: default_env is {default_env!r}, but there is no such environment",
            hint=f"use one of: {', '.join(environments)}",
        )

    script_location = text("script_location")
    alembic_ini = text("alembic_ini")
    script_path = (root / script_location) if script_location else None
    ini_path = (root / alembic_ini) if alembic_ini else None
    if script_path is None and ini_path is None:
        if (root / "alembic.ini").is_file():
            ini_path = root / "alembic.ini"
        elif (root / "migrations").is_dir():
            script_path = root / "migrations"
    if script_path is not None and not (script_path / "env.py").is_file():
        raise ConfigError(
            f"{file_path}: script_location is {script_location!r}, but {script_path} "
            + ("has no env.py" if script_path.is_dir() else "does not exist"),
            hint="point script_location at your Alembic script directory (the one with env.py)",
            title="missing script directory",
        )
    if ini_path is not None and not ini_path.is_file():
        raise ConfigError(
            f"{file_path}: alembic_ini is {alembic_ini!r}, but {ini_path} does not exist",
            hint="point alembic_ini at your project's alembic.ini",
            title="missing alembic.ini",
        )
    if script_path is None and ini_path is None:
        raise ConfigError(
            f"{file_path}: neither script_location nor alembic_ini is set, and {root} has "
            "no alembic.ini or migrations/ directory",
            hint='add script_location = "migrations" (your Alembic script directory)',
            title="missing script directory",
        )

    kwargs: dict[str, Any] = {}
    for key, kind in (
        ("lock_timeout", (int, float)),
        ("migrate_lock_wait", (int, float)),
        ("lock_retries", int),
    ):
        if key in data:
            kwargs[key] = _typed(data[key], kind, key, file_path)
    kwargs.update(_sections(data, file_path))

    target_metadata = text("target_metadata")
    metadata_source = file_path.name if target_metadata else ""
    if not target_metadata:
        target_metadata, metadata_source = _env_py_metadata(script_path, ini_path)
    return Config(
        root=root,
        path=file_path,
        environments=environments,
        default_env=default_env,
        script_location=script_path,
        alembic_ini=ini_path,
        target_metadata=target_metadata,
        target_metadata_source=metadata_source,
        seed=text("seed"),
        backup_dir=root / (text("backup_dir") or "backups"),
        **kwargs,
    )


def _sections(data: dict[str, Any], file_path: Path) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    risk = _typed(data.get("risk", {}), dict, "risk", file_path)
    _check_keys(risk, RISK_KEYS, "[risk]", file_path)
    thresholds = {key: _typed(value, (int, float), f"risk.{key}", file_path) for key, value in risk.items()}
    kwargs["risk"] = RiskThresholds(**thresholds)
    guard = _typed(data.get("guard", {}), dict, "guard", file_path)
    _check_keys(guard, GUARD_KEYS, "[guard]", file_path)
    limits = {key: _typed(value, int, f"guard.{key}", file_path) for key, value in guard.items()}
    for key, value in limits.items():
        if value < 0 or (key == "interval_ms" and value < 50):
            raise ConfigError(
                f"{file_path}: guard.{key} = {value} is out of range",
                hint="limits are 0 (off) or positive; interval_ms is at least 50",
                title="invalid [guard] setting",
            )
    kwargs["guard"] = GuardSettings(**limits)
    explorer = _typed(data.get("explorer", {}), dict, "explorer", file_path)
    _check_keys(explorer, EXPLORER_KEYS, "[explorer]", file_path)
    if "statement_timeout" in explorer:
        kwargs["explorer_statement_timeout"] = _typed(
            explorer["statement_timeout"], (int, float), "explorer.statement_timeout", file_path
        )
    if "page_size" in explorer:
        kwargs["explorer_page_size"] = _typed(explorer["page_size"], int, "explorer.page_size", file_path)
    tui = _typed(data.get("tui", {}), dict, "tui", file_path)
    _check_keys(tui, TUI_KEYS, "[tui]", file_path)
    if "refresh_interval" in tui:
        kwargs["refresh_interval"] = _typed(tui["refresh_interval"], (int, float), "tui.refresh_interval", file_path)
    if "theme" in tui:
        kwargs["theme"] = _typed(tui["theme"], str, "tui.theme", file_path)
    embedded = _typed(data.get("embedded", {}), dict, "embedded", file_path)
    _check_keys(embedded, EMBEDDED_KEYS, "[embedded]", file_path)
    if "idle_stop" in embedded:
        kwargs["embedded_idle_stop"] = _seconds(embedded["idle_stop"], "embedded.idle_stop", file_path)
    backup = _typed(data.get("backup", {}), dict, "backup", file_path)
    _check_keys(backup, BACKUP_KEYS, "[backup]", file_path)
    if "compression" in backup:
        kwargs["backup_compression"] = _typed(backup["compression"], str, "backup.compression", file_path)
    if "format" in backup:
        fmt = _typed(backup["format"], str, "backup.format", file_path)
        if fmt not in BACKUP_FORMATS:
            raise ConfigError(
                f"{file_path}: backup.format = {fmt!r} is not a backup format",
                hint=f"use one of: {', '.join(BACKUP_FORMATS)} (auto: custom, or a parallel directory dump "
                "for a database over parallel_above)",
                title="invalid [backup] setting",
            )
        kwargs["backup_format"] = fmt
    if "parallel_above" in backup:
        kwargs["backup_parallel_above"] = _size(backup["parallel_above"], "backup.parallel_above", file_path)
    return kwargs


def _size(value: Any, key: str, file_path: Path) -> int:
    """A size in bytes from ``1000000``, ``"256MB"`` or ``"1.5 GB"`` (decimal units)."""
    match = _SIZE.match(value) if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if match is not None:
        return int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()])
    raise ConfigError(
        f"{file_path}: {key} = {value!r} is not a size",
        hint=f'write bytes (268435456) or a size with a unit ("256MB", "1GB"): {key} = "1GB"',
        title="invalid config value",
    )


def _seconds(value: Any, key: str, file_path: Path) -> float:
    """A duration in seconds, 0 or more: ``180``, ``2.5``, or a string with a unit (``"90s"``, ``"5m"``, ``"1h"``)."""
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$", value) if isinstance(value, str) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if match is not None:
        return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]
    raise ConfigError(
        f"{file_path}: {key} = {value!r} is not a duration",
        hint=f'write seconds, 0 or more (180), or a duration with a unit ("90s", "5m", "1h"): {key} = 300',
        title="invalid config value",
    )


def _build_environments(raw: Any, file_path: Path) -> dict[str, EnvironmentConfig]:
    if raw is None or raw == {}:
        raise ConfigError(
            f"{file_path}: no environments are defined",
            hint='add at least one, e.g. [environments.dev] with url = "embedded"',
            title="no environments",
        )
    _typed(raw, dict, "environments", file_path)
    environments: dict[str, EnvironmentConfig] = {}
    for name, table in raw.items():
        where = f"environments.{name}"
        _typed(table, dict, where, file_path)
        _check_keys(table, ENVIRONMENT_KEYS, f"[{where}]", file_path)
        if "url" not in table:
            raise ConfigError(
                f"{file_path}: [{where}] has no url",
                hint='add url = "postgresql://user@host/db", url = "${DATABASE_URL}" or url = "embedded"',
            )
        raw_url = _typed(table["url"], str, f"{where}.url", file_path)
        unresolved: ConfigError | None = None
        try:
            url = expand_variables(raw_url, f"{where}.url", file_path)
        except ConfigError as error:
            url, unresolved = "", error
        if unresolved is None and url != "embedded" and not re.match(r"^postgres(ql)?(\+[a-z0-9_]+)?://", url):
            raise ConfigError(
                f"{file_path}: {where}.url is not a PostgreSQL URL (it must start with postgresql://)",
                hint='write postgresql://user@host:5432/dbname, or "embedded"',
                title="invalid config value",
            )
        backup_before = table.get("backup_before_migrate")
        if backup_before is not None:
            _typed(backup_before, bool, f"{where}.backup_before_migrate", file_path)
        database = table.get("database")
        if database is not None:
            _typed(database, str, f"{where}.database", file_path)
        environments[name] = EnvironmentConfig(
            name=name,
            url=url,
            protected=_typed(table.get("protected", False), bool, f"{where}.protected", file_path),
            backup_before_migrate=backup_before,
            database=database,
            description=_typed(table.get("description", ""), str, f"{where}.description", file_path),
            unresolved=unresolved,
        )
    return environments
