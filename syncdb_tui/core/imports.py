"""Importing the objects a config names as ``module:attribute`` (target_metadata, seed)."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from syncdb_tui.core.errors import ConfigError


def import_object(spec: str, *, key: str, example: str, expected: str) -> Any:
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
        raise ConfigError(
            f"{key} names the module {module_name!r}, which cannot be imported: {error}",
            hint="check the module path, and run syncdb from the project's directory",
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
