"""Command-palette provider: every registry action by its ``area: verb`` name, offered by state."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from syncdb_tui.ui.actions import palette_actions

if TYPE_CHECKING:
    from textual.screen import Screen


class SyncdbCommands(Provider):
    """Actions of the main screen and environment switching; hidden when ``check_action`` says no."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        from syncdb_tui.ui.screens.main import MainScreen

        screen = self.screen
        main: Screen[Any] | None = next((s for s in self.app.screen_stack if isinstance(s, MainScreen)), None)
        found: list[tuple[str, str, Callable[[], Any]]] = []
        for spec in palette_actions():
            namespace, _, action = spec.action.rpartition(".")
            target: Any = self.app if namespace == "app" else main
            if target is None:
                continue
            name = action.split("(")[0]
            if target is main and main is not screen and main is not None:
                continue
            offered = getattr(target, "offered", None)
            if (offered(name) if offered is not None else target.check_action(name, ())) is not True:
                continue
            found.append((spec.palette, spec.tooltip, partial(target.run_action, action)))
        if isinstance(screen, MainScreen):
            for env_name in screen.config.environments:
                if env_name != screen.env_name:
                    found.append(
                        (
                            f"environment: switch to {env_name}",
                            f"Make {env_name} the target of every action.",
                            partial(screen.select_environment, env_name),
                        )
                    )
        return found

    async def discover(self) -> Hits:
        # sorted by name, so the entries stand grouped by area (backup:, dev:, migrate:, view: …)
        for name, help_text, callback in sorted(self._commands(), key=lambda command: command[0]):
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
