"""Severity as text that reads without colour: a word in a fixed column, styled by level.

Every pane (environments, timeline, risk checklist) draws a risk level through
:func:`severity_text`, so HIGH looks the same everywhere: white on red in colour,
bold reverse video under ``NO_COLOR`` (Textual then strips every colour, and a red
word alone would turn into one more grey).  An empty revision has no level: "—".
"""

from __future__ import annotations

from rich.text import Text

WIDTH = 6
"""Columns of the badge: the longest word, ``MEDIUM``."""
NONE = "—"
"""The badge of a revision without findings (an empty or merge revision)."""

COLOUR_STYLES = {"HIGH": "bold white on red", "MEDIUM": "bold yellow", "LOW": "green", NONE: "dim"}
MONO_STYLES = {"HIGH": "bold reverse", "MEDIUM": "bold underline", "LOW": "", NONE: "dim"}


def severity_style(level: str, *, no_color: bool = False) -> str:
    """The style of ``level`` (``HIGH``, ``MEDIUM``, ``LOW``, ``—``)."""
    return (MONO_STYLES if no_color else COLOUR_STYLES).get(level, "")


def severity_text(level: str, *, no_color: bool = False, width: int = WIDTH) -> Text:
    """``level`` padded to ``width`` cells; only the word itself is styled."""
    text = Text(level, style=severity_style(level, no_color=no_color))
    text.pad_right(max(0, width - len(level)))
    return text


def badge(findings_count: int, level: str) -> str:
    """A revision's badge: its worst level, or "—" when it has no findings."""
    return level if findings_count else NONE


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells, ending with "…" when cut."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"
