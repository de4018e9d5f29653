"""Lane layout of a revision history, newest first, drawn with box characters.

A private helper of ``timeline.py``: each revision gets one line of glyphs, one
column per open lane (``●`` the revision, ``│`` a lane passing by, ``┐`` a lane a
merge opens towards its second parent, ``┘`` a lane that ends because a branch
point gathers it), so a branched history reads like ``git log --graph``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class _Revision(Protocol):
    @property
    def revision(self) -> str: ...
    @property
    def down_revisions(self) -> tuple[str, ...]: ...
    @property
    def is_merge(self) -> bool: ...


def _free_slot(lanes: list[str | None]) -> int:
    for index, lane in enumerate(lanes):
        if lane is None:
            return index
    lanes.append(None)
    return len(lanes) - 1


def layout(revisions: Sequence[_Revision], max_lanes: int = 6) -> dict[str, str]:
    """Revision id → its graph glyphs (all the same width, at most ``max_lanes`` lanes)."""
    lanes: list[str | None] = []
    rows: list[tuple[str, list[str]]] = []
    for info in revisions:
        mine = [index for index, lane in enumerate(lanes) if lane == info.revision]
        if mine:
            column = mine[0]
        else:
            column = _free_slot(lanes)
        closing = set(mine[1:])
        for index in closing:
            lanes[index] = None
        parents = list(info.down_revisions)
        lanes[column] = parents[0] if parents else None
        opening: set[int] = set()
        for parent in parents[1:]:
            if parent in lanes:
                continue
            slot = _free_slot(lanes)
            lanes[slot] = parent
            opening.add(slot)
        width = max(len(lanes), column + 1, *(i + 1 for i in closing | opening))
        edge = max(closing | opening, default=column)
        cells: list[str] = []
        for index in range(width):
            if index == column:
                cells.append("◆" if info.is_merge else "●")
            elif index in closing:
                cells.append("┘")
            elif index in opening:
                cells.append("┐")
            elif column < index < edge:
                cells.append("┼" if index < len(lanes) and lanes[index] is not None else "─")
            elif index < len(lanes) and lanes[index] is not None:
                cells.append("│")
            else:
                cells.append(" ")
        rows.append((info.revision, cells))
        while lanes and lanes[-1] is None:
            lanes.pop()
    width = min(max((len(cells) for _, cells in rows), default=1), max_lanes)
    out: dict[str, str] = {}
    for revision, cells in rows:
        if len(cells) > width:
            cells = [*cells[: width - 1], "…"]
        out[revision] = "".join(cells).ljust(width)
    return out
