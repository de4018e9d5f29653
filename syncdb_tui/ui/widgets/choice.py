"""A radio button whose state shows without colour."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import RadioButton

if TYPE_CHECKING:
    from textual.content import Content


class Choice(RadioButton):
    """``●`` when chosen, blank when not: Textual's radio button tells the two apart by colour
    alone, which NO_COLOR and monochrome terminals drop (every option then reads as chosen)."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "●" if self.value else " "
        return super()._button
