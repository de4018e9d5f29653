"""The SQL preview: a revision's (or a range's) offline SQL, syntax-highlighted.

Rendered with rich's ``Syntax`` (Pygments, always installed) inside a scrolling
``Static``; the screen calls :meth:`show_sql`, :meth:`show_loading` and
:meth:`show_note`.  The direction key lives in the ``sql`` scope of the actions
registry and runs on the screen, which owns the view state.
"""

from __future__ import annotations

import io
import threading

from rich.console import Console, Group
from rich.syntax import Syntax
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from syncdb_tui.ui.actions import bindings

_warming: threading.Thread | None = None


class HighlightedSql(Syntax):
    """SQL highlighted once: Textual renders a ``Static`` to measure its height and again to paint
    it (and again on every resize); rich's ``Syntax`` runs Pygments over the whole text each time."""

    def highlight(self, code: str, line_range: tuple[int | None, int | None] | None = None) -> Text:
        cache: dict[tuple[str, object], Text] = self.__dict__.setdefault("_highlighted", {})
        key = (code, line_range)
        text = cache.get(key)
        if text is None:
            text = cache[key] = super().highlight(code, line_range)
        return text.copy()  # callers may change the text they get


def _warm_syntax() -> None:
    """Highlight a line of SQL in both themes: Pygments' SQL lexer (its regexes compiled on first use)
    and the theme styles are imported and built here, not by the first preview on the event loop
    (about 60 ms there, several times that while workers compete for the interpreter)."""
    console = Console(file=io.StringIO(), width=40, color_system="truecolor")
    for theme in ("monokai", "default"):
        console.print(HighlightedSql("SELECT 1;", "sql", theme=theme, word_wrap=True, background_color="default"))


def warm_syntax() -> None:
    """Start :func:`_warm_syntax` in a daemon thread, once per process."""
    global _warming
    if _warming is None:
        _warming = threading.Thread(target=_warm_syntax, name="syncdb-warm-syntax", daemon=True)
        _warming.start()


class SqlPreview(VerticalScroll):
    """Offline SQL of the selected revision (or of everything pending)."""

    BINDINGS = bindings("sql")
    can_focus = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._body = Static(Text("select a revision", style="dim"), id="sql-body")
        self.sql = ""

    def compose(self):  # type: ignore[no-untyped-def]
        yield self._body

    def on_mount(self) -> None:
        warm_syntax()  # the SQL shows once every environment answered: by then the lexer is ready

    def show_loading(self, title: str) -> None:
        self.border_subtitle = title
        self._body.update(Text("rendering SQL…", style="dim"))

    def show_note(self, title: str, note: str) -> None:
        """A line in place of SQL (nothing selected, needs a live database…)."""
        self.sql = ""
        self.border_subtitle = title
        self._body.update(Text(note, style="italic yellow"))

    def show_sql(self, title: str, sql: str, notes: tuple[str, ...] = ()) -> None:
        """Show ``sql`` highlighted, with ``notes`` (e.g. revisions that need a live database) above it."""
        self.sql = sql
        self.border_subtitle = title
        parts: list[Text | Syntax] = [Text(note, style="italic yellow") for note in notes]
        if sql.strip():
            theme = "monokai" if self.app.current_theme.dark else "default"
            parts.append(HighlightedSql(sql.rstrip(), "sql", theme=theme, word_wrap=True, background_color="default"))
        elif not notes:
            parts.append(Text("-- no SQL: the revision runs no statements", style="dim"))
        self._body.update(Group(*parts))
        self.scroll_home(animate=False)
