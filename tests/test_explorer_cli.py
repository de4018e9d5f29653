"""`syncdb studio` (issue 6): refuses without a terminal, rejects unknown environments, opens the explorer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncdb_tui.config import load_config


def test_studio_needs_a_terminal(demo_project: Any, run_cli: Callable[..., Any]) -> None:
    result = run_cli("studio", "--env", "dev", cwd=demo_project.root)
    assert result.code == 2
    assert "error: no terminal: syncdb studio is a full-screen explorer and needs a terminal" in result.err
    assert result.out == ""


def test_studio_rejects_an_unknown_environment(demo_project: Any, run_cli: Callable[..., Any]) -> None:
    result = run_cli("studio", "--env", "nowhere", "--table", "x", cwd=demo_project.root)
    assert result.code == 2
    assert "there is no environment named 'nowhere'" in result.err


async def test_the_app_opens_on_the_explorer_with_a_table(
    demo_project: Any, psql_exec: Callable[[str, str], str], shop_sql: str
) -> None:
    from syncdb_tui.ui.app import SyncdbApp
    from syncdb_tui.ui.screens.explorer import ExplorerScreen

    psql_exec(demo_project.urls["dev"], shop_sql)
    config = load_config(demo_project.config_path)
    app = SyncdbApp(config, "dev", start="explorer")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ExplorerScreen)
        app.pop_screen()
        app.open_explorer("dev", "customers")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ExplorerScreen)
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        assert screen.page is not None and [row[0] for row in screen.page.rows][:3] == [1, 2, 3]


async def test_studio_table_option_opens_that_table(
    demo_project: Any, psql_exec: Callable[[str, str], str], shop_sql: str
) -> None:
    from syncdb_tui.ui.app import SyncdbApp
    from syncdb_tui.ui.screens.explorer import ExplorerScreen

    psql_exec(demo_project.urls["staging"], shop_sql)
    app = SyncdbApp(load_config(demo_project.config_path), "staging", start="explorer", table="public.orders")
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
        screen = app.screen
        assert isinstance(screen, ExplorerScreen) and screen.env_name == "staging"
        assert screen.info is not None and str(screen.info.table) == "public.orders"
