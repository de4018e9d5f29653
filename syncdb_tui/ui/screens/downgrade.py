"""Chooses the revision to roll an environment back to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from syncdb_tui.core.project.revisions import RevisionInfo


class DowngradeScreen(ModalScreen[str | None]):
    """Lists ``-1``, every applied revision below the current one, and ``base``; dismisses with the target."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="syncdb.downgrade.cancel")]

    def __init__(self, env_name: str, current: tuple[str, ...], below: list[RevisionInfo]) -> None:
        super().__init__()
        self.env_name = env_name
        self.current = current
        self.below = below

    def compose(self) -> ComposeResult:
        options = [Option(Text.assemble(("-1", "bold"), "  one step back"), id="-1")]
        options += [
            Option(Text.assemble((info.revision[:12].ljust(13), "bold"), info.message), id=info.revision)
            for info in self.below
        ]
        options.append(Option(Text.assemble(("base", "bold"), "  undo every revision"), id="base"))
        with Vertical(id="downgrade-dialog", classes="dialog"):
            yield Label(
                f"downgrade {self.env_name} (now at {', '.join(self.current) or 'base'}) to:",
                classes="dialog-title",
            )
            yield OptionList(*options, id="downgrade-targets")
            yield Label("Enter chooses, Esc cancels; the plan and its SQL come next.", classes="dialog-help")

    @on(OptionList.OptionSelected)
    def _choose(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
