"""One JSON encoder for everything syncdb prints or stores as JSON (CLI output, explorer exports)."""

from __future__ import annotations

import enum
from typing import Any


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` for the values syncdb's data holds; anything else as its text."""
    # imported here: a command that prints only plain JSON values (syncdb risk) needs none of them
    import dataclasses
    import datetime as dt
    import decimal
    import uuid
    from pathlib import PurePath

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, decimal.Decimal | uuid.UUID | PurePath):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps_indented(value: Any) -> str:
    """``json.dumps(value, indent=2, default=json_default)``, the same text, faster.

    With ``indent`` the standard library encodes in pure Python, one generator frame per
    value; here each string goes through the C escaper and each container is one loop.
    """
    import json.encoder

    escape = json.encoder.encode_basestring_ascii
    if escape is None:  # pragma: no cover - CPython always has the C escaper
        import json

        return json.dumps(value, indent=2, default=json_default)
    out: list[str] = []
    _encode(value, "\n", out, escape)
    return "".join(out)


def _scalar(value: Any) -> str | None:
    """The JSON text of a number, a boolean or null as ``json`` writes it; None for anything else."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    return None


def _encode(value: Any, newline: str, out: list[str], escape: Any) -> None:
    """Append the indented JSON of ``value`` to ``out``; ``newline`` is a newline and the current indentation."""
    kind = type(value)
    if kind is str or isinstance(value, str):
        out.append(escape(value))
        return
    text = _scalar(value)
    if text is not None:
        out.append(text)
        return
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        separator = "[" + inner
        for item in value:
            if type(item) is str:
                out.append(separator + escape(item))
            else:
                out.append(separator)
                _encode(item, inner, out, escape)
            separator = "," + inner
        out.append(newline + "]")
        return
    if kind is dict or isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        separator = "{" + inner
        for key, item in value.items():
            if type(key) is not str:
                key_text = key if isinstance(key, str) else _scalar(key)
                if key_text is None:
                    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
                key = key_text
            if type(item) is str:
                out.append(separator + escape(key) + ": " + escape(item))
            else:
                out.append(separator + escape(key) + ": ")
                _encode(item, inner, out, escape)
            separator = "," + inner
        out.append(newline + "}")
        return
    _encode(json_default(value), newline, out, escape)
