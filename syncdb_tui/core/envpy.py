"""What a project's Alembic setup says, read without running it: alembic.ini, pyproject's
``[tool.alembic]`` and env.py.

Who calls what: ``config.py`` asks :func:`metadata_from_env_py` for the models when the
syncdb config names none (so drift, ``check`` and ``generate`` use the same models that
``alembic check`` would); ``core.project.init`` reads :func:`read_env_py` and
:func:`ini_settings` to adopt an existing project; :class:`Project` asks whether env.py
is async and whether it accepts a passed connection.

env.py is parsed with :mod:`ast`, never imported here: ``target_metadata = Base.metadata``
after ``from myapp.models import Base`` gives ``myapp.models:Base.metadata``.  An
assignment that cannot be followed statically (a function call, a list of MetaData)
gives :data:`FROM_ENV_PY`: the models are then read by running env.py offline
(``core.project.models``).
"""

from __future__ import annotations

import ast
import configparser
import tomllib
from dataclasses import dataclass
from pathlib import Path

FROM_ENV_PY = "env.py"
"""``target_metadata`` value meaning: whatever env.py's ``target_metadata`` is, found by running it offline."""

ASYNC_MARKERS = ("async_engine_from_config", "create_async_engine", "AsyncEngine", "asyncio.run(")
CONNECTION_MARKERS = (
    'attributes.get("connection"',
    "attributes.get('connection'",
    'attributes["connection"]',
    "attributes['connection']",
)


@dataclass(frozen=True)
class EnvPyFacts:
    """What env.py does, as far as its text tells."""

    path: Path
    exists: bool
    is_async: bool
    """It builds an async engine (asyncpg URL wanted); otherwise a sync driver is wanted."""
    shares_connection: bool
    """It uses a connection passed in ``config.attributes["connection"]`` (Alembic's cookbook recipe)."""
    target_metadata: str | None
    """``module:attribute`` of its target_metadata, :data:`FROM_ENV_PY` when set but not followable, None when None."""
    metadata_expression: str = ""
    """The right-hand side as written (for messages)."""


def read_env_py(path: Path) -> EnvPyFacts:
    """Read ``path`` (an env.py) without importing it."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return EnvPyFacts(path, False, False, False, None)
    is_async = any(marker in text for marker in ASYNC_MARKERS)
    shares = any(marker in text for marker in CONNECTION_MARKERS)
    spec, expression = _metadata_spec(text)
    return EnvPyFacts(path, True, is_async, shares, spec, expression)


def _metadata_spec(text: str) -> tuple[str | None, str]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return FROM_ENV_PY, ""
    imported: dict[str, tuple[str, str]] = {}
    value: ast.expr | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                imported[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imported[alias.asname] = (alias.name, "")
                else:
                    imported[alias.name.split(".")[0]] = (alias.name.split(".")[0], "")
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(target, ast.Name) and target.id == "target_metadata" for target in node.targets)
        ) or (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "target_metadata"
            and node.value is not None
        ):
            value = node.value
    if value is None:
        return None, ""
    expression = ast.unparse(value)
    if isinstance(value, ast.Constant) and value.value is None:
        return None, expression
    candidates = value.values if isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or) else [value]
    for candidate in reversed(candidates):
        spec = _follow(candidate, imported)
        if spec:
            return spec, expression
    if all(_is_passed_in(candidate) for candidate in candidates):
        # config.attributes.get("target_metadata"): whatever syncdb passes, i.e. the syncdb config's models
        return None, expression
    return FROM_ENV_PY, expression


def _is_passed_in(node: ast.expr) -> bool:
    """``config.attributes.get(...)`` / ``config.attributes[...]`` (a value the caller of Alembic passes) or None."""
    if isinstance(node, ast.Constant) and node.value is None:
        return True
    return "attributes" in ast.unparse(node) and isinstance(node, ast.Call | ast.Subscript)


def _follow(node: ast.expr, imported: dict[str, tuple[str, str]]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in imported:
        return None
    module, name = imported[node.id]
    if name:
        return f"{module}:{'.'.join([name, *parts])}"
    if not parts:
        return None
    return f"{module}:{'.'.join(parts)}"


@dataclass(frozen=True)
class IniSettings:
    """The settings of an alembic.ini (and its pyproject.toml ``[tool.alembic]``) that syncdb uses."""

    path: Path
    script_location: Path | None
    prepend_sys_path: tuple[Path, ...]
    toml_file: Path | None
    """pyproject.toml beside the ini when it has ``[tool.alembic]`` (Alembic's ``pyproject`` template)."""


def ini_settings(ini: Path) -> IniSettings:
    """Read script_location and prepend_sys_path from ``ini`` (or the pyproject.toml beside it).

    Relative paths are resolved against the ini's directory (``%(here)s``), which is where
    ``alembic`` itself is run from.
    """
    here = ini.parent.resolve()
    parser = configparser.ConfigParser(defaults={"here": str(here)}, interpolation=configparser.BasicInterpolation())
    section: dict[str, str] = {}
    try:
        parser.read(ini)
        if parser.has_section("alembic"):
            section = {
                key: parser.get("alembic", key)
                for key in ("script_location", "prepend_sys_path", "path_separator")
                if parser.has_option("alembic", key)
            }
    except (configparser.Error, OSError, UnicodeDecodeError):
        section = {}
    toml_file: Path | None = None
    toml: dict[str, object] = {}
    pyproject = here / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text())
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
            data = {}
        tool = data.get("tool", {})
        found = tool.get("alembic") if isinstance(tool, dict) else None
        if isinstance(found, dict):
            toml_file, toml = pyproject, found
    location_text = section.get("script_location") or _toml_text(toml.get("script_location"), here)
    location = _resolve(location_text, here) if location_text else None
    raw_paths: list[str] = []
    if section.get("prepend_sys_path"):
        separator = {"os": ":", "space": " ", "newline": "\n", "semicolon": ";", "colon": ":"}.get(
            section.get("path_separator", ""), ""
        )
        text = section["prepend_sys_path"]
        raw_paths = text.split(separator) if separator else text.replace(",", " ").replace(":", " ").split()
    else:
        listed = toml.get("prepend_sys_path")
        if isinstance(listed, list):
            raw_paths = [_toml_text(item, here) for item in listed]
    paths = tuple(_resolve(item.strip(), here) for item in raw_paths if item and item.strip())
    return IniSettings(ini, location, paths, toml_file)


def _toml_text(value: object, here: Path) -> str:
    return str(value).replace("%(here)s", str(here)) if isinstance(value, str) else ""


def _resolve(text: str, here: Path) -> Path:
    if ":" in text and not text.startswith("/") and not Path(text).exists():
        # a package resource (``myapp:migrations``): Alembic resolves it; leave it to Alembic
        return Path(text)
    path = Path(text).expanduser()
    return path if path.is_absolute() else (here / path).resolve()


def metadata_from_env_py(script_location: Path | None) -> str | None:
    """The models env.py uses as ``module:attribute`` (or :data:`FROM_ENV_PY`), None when it sets none."""
    if script_location is None:
        return None
    return read_env_py(script_location / "env.py").target_metadata
