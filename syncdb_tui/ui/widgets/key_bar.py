"""The key bar: the footer line of every syncdb screen, fitted to the width, never cutting a key.

Textual's ``Footer`` lays every shown binding side by side and lets the line run off the
right edge (``… e▏^p palette`` at 120 columns).  This one takes the screen's active
bindings in the order Textual resolves them — the focused pane's first, then the
screen's, then the app's — keeps those that fit whole, and always ends with the help
and palette keys, so everything it had to leave out is one key away (``?`` lists
every key, ``ctrl+p`` every action by name).  A screen may leave actions out by
defining ``offered(action) -> bool`` (push and seed on a protected environment).
Clicking a key presses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.widget import Widget

if TYPE_CHECKING:
    from textual import events
    from textual.binding import Binding
    from textual.screen import Screen

TAIL_ACTIONS = ("help", "command_palette")
"""Always shown last: what the bar leaves out is behind these two."""
GAP = "  "


def key_label(app: Any, binding: Binding) -> str:
    """How a binding's key is written: ``?``, ``space``, ``^p``, ``f5``…"""
    label = str(app.get_key_display(binding))
    return {"question_mark": "?", "slash": "/"}.get(label, label)


def fit_keys(items: list[tuple[str, str, str]], tail: list[tuple[str, str, str]], width: int) -> list[int]:
    """Indices of ``items`` (key, description, key to press) that fit in ``width`` before ``tail``.

    Items are taken in order and skipped whole when they do not fit; the tail is always kept.
    """
    used = sum(len(key) + 1 + len(text) + len(GAP) for key, text, _ in tail)
    chosen: list[int] = []
    for index, (key, text, _) in enumerate(items):
        need = len(key) + 1 + len(text) + len(GAP)
        if used + need <= width:
            chosen.append(index)
            used += need
    return chosen


class KeyBar(Widget):
    """One line of ``key description`` pairs for the focused pane, the screen and the app."""

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-description-foreground;
    }
    KeyBar > .key-bar--key { color: $footer-key-foreground; text-style: bold; }
    KeyBar > .key-bar--disabled { color: $text-disabled; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"key-bar--key", "key-bar--disabled"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._spans: list[tuple[int, int, str]] = []
        self._shown: object = None
        """The entries last painted: a bindings update that changes none of them repaints nothing."""

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[Any]) -> None:
        # the bindings are updated after every key; most keys change nothing the bar shows
        if self.entries() != self._shown:
            self.refresh()

    def entries(self) -> tuple[list[tuple[str, str, str, bool]], list[tuple[str, str, str, bool]]]:
        """(items, tail): (key label, description, key, enabled) of the shown bindings, in chain order."""
        screen = self.screen
        offered = getattr(screen, "offered", None)
        seen: set[str] = set()
        items: list[tuple[str, str, str, bool]] = []
        tail: dict[str, tuple[str, str, str, bool]] = {}
        for _node, binding, enabled, _tooltip in screen.active_bindings.values():
            action = binding.action
            name = action.split("(")[0].rpartition(".")[2]
            if name in TAIL_ACTIONS:
                description = "Help" if name == "help" else "palette"
                tail.setdefault(name, (key_label(self.app, binding), description, binding.key.split(",")[0], enabled))
                continue
            if not binding.show or action in seen:
                continue
            seen.add(action)
            if offered is not None and not offered(name):
                continue
            items.append((key_label(self.app, binding), binding.description, binding.key.split(",")[0], enabled))
        return items, [tail[action] for action in TAIL_ACTIONS if action in tail]

    def render(self) -> Text:
        items, tail = self._shown = self.entries()
        width = self.size.width
        chosen = fit_keys([item[:3] for item in items], [item[:3] for item in tail], width - 1)
        key_style = self.get_component_rich_style("key-bar--key", partial=True)
        disabled_style = self.get_component_rich_style("key-bar--disabled", partial=True)
        text = Text(" ", no_wrap=True, overflow="crop")
        self._spans = []
        shown = [items[index] for index in chosen]
        for label, description, key, enabled in shown:
            start = len(text)
            text.append(label, style=key_style if enabled else disabled_style)
            text.append(f" {description}", style="" if enabled else disabled_style)
            self._spans.append((start, len(text), key))
            text.append(GAP)
        tail_width = sum(len(label) + 1 + len(description) + len(GAP) for label, description, _, _ in tail)
        padding = max(0, width - len(text) - tail_width + len(GAP))
        text.append(" " * padding)
        for label, description, key, _enabled in tail:
            start = len(text)
            text.append(label, style=key_style)
            text.append(f" {description}")
            self._spans.append((start, len(text), key))
            text.append(GAP)
        text.rstrip()
        return text

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
