"""Importing the project's own code: the objects a config names as ``module:attribute``
(target_metadata, seed), always as the files are on disk now.

Who calls what: every import of the project's code (target_metadata, seed, and each Alembic
run, whose env.py imports the models) happens under :data:`IMPORT_LOCK` after
:func:`prepare_project_imports`: the project's directories go on ``sys.path`` and any of the
project's modules whose file changed since it was imported is dropped from ``sys.modules``
(with every other module of the project, which may hold a reference to it), so the app
that stays open sees an edited ``models.py`` the next time it compares or generates.
Modules of syncdb itself and of installed packages are never dropped.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from syncdb_tui.core.errors import ConfigError

IMPORT_LOCK = threading.RLock()
"""Held while the project's code is (re)imported, and around every Alembic call (which runs env.py)."""

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent) + os.sep
_seen: dict[str, tuple[int, int]] = {}
"""source file -> (mtime_ns, size) when its module was last seen imported."""


def _project_modules(roots: Iterable[Path]) -> dict[str, str]:
    """Module name -> source file, for modules whose file lies under one of ``roots``."""
    prefixes = tuple(str(root) + os.sep for root in roots)
    found: dict[str, str] = {}
    for name, module in list(sys.modules.items()):
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str) or not filename.startswith(prefixes) or name == "__main__":
            continue
        if filename.startswith(_PACKAGE_DIR) or f"{os.sep}site-packages{os.sep}" in filename:
            continue
        found[name] = filename
    return found


def _stamp(filename: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(filename)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def prepare_project_imports(paths: Iterable[Path]) -> None:
    """Put ``paths`` (the project's directories) first on ``sys.path``, and forget the project's
    modules when one of their files changed since it was imported.  Call it under :data:`IMPORT_LOCK`.
    """
    ordered = [str(path) for path in paths]
    for path in reversed(ordered):
        if path not in sys.path:
            sys.path.insert(0, path)
    roots = [Path(path) for path in ordered]
    modules = _project_modules(roots)
    changed = [filename for filename in modules.values() if _seen.get(filename, _stamp(filename)) != _stamp(filename)]
    if changed:
        for name in modules:
            sys.modules.pop(name, None)
        for filename in changed:
            _drop_bytecode(filename)
            _seen.pop(filename, None)
        importlib.invalidate_caches()
    for filename in _project_modules(roots).values():
        stamp = _stamp(filename)
        if stamp is not None:
            _seen.setdefault(filename, stamp)


def remember_project_modules(paths: Iterable[Path]) -> None:
    """Record the files of the project's modules imported now (what :func:`prepare_project_imports` compares)."""
    for filename in _project_modules([Path(path) for path in paths]).values():
        stamp = _stamp(filename)
        if stamp is not None:
            _seen[filename] = stamp


def _drop_bytecode(filename: str) -> None:
    """Remove the cached bytecode of an edited file (its mtime may fall in the same second as the cache's)."""
    import importlib.util

    try:
        os.unlink(importlib.util.cache_from_source(filename))
    except (OSError, ValueError, NotImplementedError):
        pass


def failing_file(error: BaseException, roots: Iterable[Path]) -> str:
    """The project file whose import failed: the innermost traceback frame under one of ``roots``."""
    prefixes = tuple(str(root) + os.sep for root in roots)
    found = ""
    for frame in traceback.extract_tb(error.__traceback__):
        name = frame.filename
        if name.startswith(prefixes) and not name.startswith(_PACKAGE_DIR) and "site-packages" not in name:
            found = name
    return found


def describe_import_error(error: ImportError, roots: Iterable[Path]) -> str:
    """``env.py imports 'myapp', which is missing (No module named 'myapp')`` or the like."""
    roots = list(roots)
    where = failing_file(error, roots)
    shown = where
    for root in roots:
        if where.startswith(str(root) + os.sep):
            shown = os.path.relpath(where, root)
            break
    missing = getattr(error, "name", None)
    what = f"the module {missing!r}" if missing else "something"
    subject = shown or "the project's code"
    return f"{subject} imports {what}, which cannot be imported: {error}"


def import_object(spec: str, *, key: str, example: str, expected: str, roots: Iterable[Path] = ()) -> Any:
    """Import ``module:attribute`` (the attribute may be dotted, e.g. ``Base.metadata``).

    ``key`` names the config key in messages, ``example`` shows a valid value and
    ``expected`` says what the attribute should be.  The working directory is on
    the import path, as it is for ``alembic`` itself.

    Raises:
        ConfigError: the value is malformed, or the module or attribute cannot be imported.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(
            f"{key} is {spec!r}; it must be 'module:attribute'",
            hint=f"e.g. {key} = {example!r}",
            title=f"invalid {key}",
        )
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as error:
        search = [*roots, Path.cwd()]
        inner = f" ({describe_import_error(error, search)})" if failing_file(error, search) else ""
        raise ConfigError(
            f"{key} names the module {module_name!r}, which cannot be imported: {error}{inner}",
            hint="check the module path, and run syncdb from the project's directory "
            "(the config's directory and alembic.ini's prepend_sys_path are on the import path)",
            title=f"invalid {key}",
        ) from None
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise ConfigError(
                f"{key}: {module_name} has no attribute {attribute!r}",
                hint=f"point it at {expected}",
                title=f"invalid {key}",
            )
        value = getattr(value, part)
    return value
