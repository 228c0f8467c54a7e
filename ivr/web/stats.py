"""Figures for the staff statistics page: listening per section, and where calls ended."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ivr.content import Content
from ivr.store import Listening

# The drop-off chart's geometry, in SVG user units (the SVG scales to the page's width).
CHART_WIDTH = 640
BAR_MAX = 540
ROW_HEIGHT = 46
LABEL_Y = 17
BAR_Y = 24
BAR_HEIGHT = 14


@dataclass(frozen=True)
class SectionRow:
    """One section's listening: calls that reached it, and calls that reached its last part."""

    node: str
    title: str
    parts: int
    reached: int
    finished: int
    bar: float  # reached, as a share of the most-reached section (0..1)


@dataclass(frozen=True)
class DropOffRow:
    """Calls that ended at one node, with where the chart draws them."""

    node: str
    name: str
    calls: int
    percent: int  # of every ended call with a journey
    y: int
    bar_width: int


@dataclass(frozen=True)
class DropOffChart:
    """The drop-off figures and the chart's size."""

    rows: list[DropOffRow]
    total: int
    width: int
    height: int
    summary: str
    label_y: int = LABEL_Y
    bar_y: int = BAR_Y
    bar_height: int = BAR_HEIGHT


def listening_rows(content: Content, listening: Listening) -> list[SectionRow]:
    """Every section, in menu order, with how many calls listened to it and to its end."""
    tree = content.tree
    sections = [node for node in tree.below(tree.root) if node in tree.sections]
    most = max((listening.calls_at_node.get(node, 0) for node in sections), default=0)
    rows = []
    for node in sections:
        parts = tree.part_count(node)
        reached = listening.calls_at_node.get(node, 0)
        rows.append(
            SectionRow(
                node=node,
                title=tree.title(node, content.default_language).strip().rstrip("."),
                parts=parts,
                reached=reached,
                finished=listening.calls_at_part.get((node, parts - 1), 0),
                bar=reached / most if most else 0.0,
            )
        )
    return rows


def drop_off_chart(drop_offs: dict[str, int], name_of: Callable[[str], str]) -> DropOffChart:
    """Where ended calls were when they ended, most first, laid out as a horizontal bar chart."""
    ranked = sorted(drop_offs.items(), key=lambda item: (-item[1], item[0]))
    total = sum(drop_offs.values())
    most = ranked[0][1] if ranked else 0
    rows = [
        DropOffRow(
            node=node,
            name=name_of(node),
            calls=calls,
            percent=round(100 * calls / total),
            y=i * ROW_HEIGHT,
            bar_width=max(2, round(BAR_MAX * calls / most)),
        )
        for i, (node, calls) in enumerate(ranked)
    ]
    if rows:
        top = rows[0]
        summary = (
            f"Bar chart of {total} ended calls by where they ended. Most ended at {top.name}: "
            f"{top.calls} calls, {top.percent}%. The table below has every figure."
        )
    else:
        summary = "No ended calls with a journey yet."
    return DropOffChart(rows, total, CHART_WIDTH, max(len(rows), 1) * ROW_HEIGHT, summary)
