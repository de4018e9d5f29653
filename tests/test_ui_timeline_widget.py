"""The Migration timeline widget alone: what a status, a badge or a cursor move repaints.

Loading a 1,000-revision history while badges and statuses arrive must not repaint (nor
re-render) rows that did not change; the cursor's colour follows focus.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Button

from syncdb_tui.ui.widgets.timeline import LINES_KEPT, MigrationTimeline

REVISIONS = 1000


def rev(n: int) -> str:
    return f"r{n:04d}"


def graph(count: int = REVISIONS) -> Any:
    """A linear history, newest first (the shape of ``RevisionGraph`` the widget reads)."""
    revisions = [
        SimpleNamespace(
            revision=rev(n),
            down_revisions=(rev(n - 1),) if n > 1 else (),
            is_merge=False,
            is_head=n == count,
            is_branch_point=False,
            branch_labels=(),
            message=f"create table t{n}",
        )
        for n in range(count, 0, -1)
    ]
    return SimpleNamespace(revisions=revisions)


def status(applied: int, count: int = REVISIONS) -> Any:
    """An environment at ``rev(applied)``: the rest pending, not judged yet."""
    return SimpleNamespace(
        reachable=True,
        current=(rev(applied),),
        unknown=(),
        applied=tuple(rev(n) for n in range(1, applied + 1)),
        pending=tuple(
            SimpleNamespace(revision=rev(n), needs_live_reason="", findings=(), risk="")
            for n in range(applied + 1, count + 1)
        ),
    )


class TimelineApp(App[None]):
    def compose(self) -> ComposeResult:
        yield MigrationTimeline(id="timeline")
        yield Button("elsewhere")


class Rendered:
    """Counts the rows the widget renders (builds a line of text for)."""

    def __init__(self, timeline: MigrationTimeline, monkeypatch: Any) -> None:
        self.rows: list[str] = []
        original = MigrationTimeline._row_text

        def counting(widget: MigrationTimeline, row: Any, width: int) -> Any:
            self.rows.append(row.revision)
            return original(widget, row, width)

        monkeypatch.setattr(MigrationTimeline, "_row_text", counting)


async def loaded(pilot: Any) -> MigrationTimeline:
    timeline = pilot.app.query_one(MigrationTimeline)
    timeline.show_graph(graph())
    timeline.show_status(status(10))
    timeline.focus()
    await pilot.pause()
    return timeline


async def test_a_badge_off_screen_renders_nothing_and_one_on_screen_renders_its_row(monkeypatch: Any) -> None:
    async with TimelineApp().run_test(size=(100, 30)) as pilot:
        timeline = await loaded(pilot)
        rendered = Rendered(timeline, monkeypatch)
        timeline.set_risk(rev(5), "HIGH")  # far below the visible rows
        await pilot.pause()
        assert rendered.rows == []
        timeline.set_risk(rev(REVISIONS - 3), "HIGH")  # the fourth row from the top
        await pilot.pause()
        assert rendered.rows == [rev(REVISIONS - 3)]
        assert "HIGH" in timeline.render_line(4).text


async def test_a_new_status_renders_only_the_rows_it_changes_on_screen(monkeypatch: Any) -> None:
    async with TimelineApp().run_test(size=(100, 30)) as pilot:
        timeline = await loaded(pilot)
        rendered = Rendered(timeline, monkeypatch)
        timeline.show_status(status(10))  # the same status again
        timeline.show_status(status(11))  # r0010 applied, r0011 current: both far below
        await pilot.pause()
        assert rendered.rows == []
        timeline.show_status(status(REVISIONS - 3))  # every row shown changes
        await pilot.pause()
        rendered.rows.clear()
        timeline.show_status(status(REVISIONS - 2))  # r0997 applied, r0998 current
        await pilot.pause()
        assert sorted(rendered.rows) == [rev(REVISIONS - 3), rev(REVISIONS - 2)]
        assert "current" in timeline.render_line(3).text


async def test_moving_the_cursor_within_the_page_renders_two_rows(monkeypatch: Any) -> None:
    async with TimelineApp().run_test(size=(100, 30)) as pilot:
        timeline = await loaded(pilot)
        rendered = Rendered(timeline, monkeypatch)
        await pilot.press("down")
        await pilot.pause()
        assert timeline.selected_revision == rev(REVISIONS - 1)
        assert len(rendered.rows) <= 2  # the row it reached (the one it left was drawn before)


async def test_scrolling_the_whole_history_keeps_a_bounded_number_of_rendered_rows() -> None:
    async with TimelineApp().run_test(size=(100, 30)) as pilot:
        timeline = await loaded(pilot)
        for _ in range(REVISIONS // 20):
            await pilot.press("pagedown")
        assert timeline.selected_revision == rev(1)
        assert len(timeline._lines) <= max(LINES_KEPT, 3 * timeline.size.height)
        assert "r0001" in "".join(timeline.render_line(y).text for y in range(timeline.size.height))


async def test_the_cursor_colour_follows_focus() -> None:
    async with TimelineApp().run_test(size=(100, 30)) as pilot:
        timeline = await loaded(pilot)

        def cursor_background() -> object:
            strip = timeline.render_line(timeline.cursor_row - int(timeline.scroll_offset.y) + 1)
            return next(iter(strip)).style.bgcolor if strip.cell_length else None

        focused = timeline.get_component_rich_style("timeline--cursor").bgcolor
        assert cursor_background() == focused
        pilot.app.query_one(Button).focus()
        await pilot.pause()
        blurred = timeline.get_component_rich_style("timeline--cursor").bgcolor
        assert blurred != focused
        assert cursor_background() == blurred
        timeline.focus()
        await pilot.pause()
        assert cursor_background() == focused
