"""The ranking chart as a self-contained SVG (built server-side, presentation attributes only, no
script or style element; the page embeds it and loads nothing from elsewhere).

One row per scored candidate, best first: a bar for the ranking score (linear-probe CV top-1 %), a tick for the
k-NN accuracy, and a dashed line at the from-scratch baseline, so negative transfer is visible at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

ROW_HEIGHT = 26
LABEL_WIDTH = 260
PLOT_WIDTH = 420
TOP, BOTTOM, RIGHT = 24, 30, 56


@dataclass(frozen=True)
class ChartRow:
    label: str
    score: float  # %
    knn: float | None = None  # %


def _x(value: float) -> float:
    return LABEL_WIDTH + PLOT_WIDTH * max(0.0, min(100.0, value)) / 100.0


def _axis(height: int) -> list[str]:
    parts = []
    for tick in range(0, 101, 20):
        x = _x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{height - BOTTOM}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - BOTTOM + 16}" text-anchor="middle">{tick}%</text>')
    return parts


def ranking_chart_svg(rows: list[ChartRow], baseline: float | None = None) -> str:
    """An SVG document (text) of the rows in the order given."""
    height = TOP + ROW_HEIGHT * max(1, len(rows)) + BOTTOM
    width = LABEL_WIDTH + PLOT_WIDTH + RIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-label="Transfer ranking: linear-probe accuracy per candidate" class="ranking-chart">',
        '<g font-family="sans-serif" font-size="12" fill="#222">',
        *_axis(height),
    ]
    for index, row in enumerate(rows):
        y = TOP + index * ROW_HEIGHT
        label = escape(row.label if len(row.label) <= 38 else row.label[:37] + "…")
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + 16}" text-anchor="end">{label}</text>')
        parts.append(
            f'<rect fill="#2456c9" x="{LABEL_WIDTH}" y="{y + 4}" width="{_x(row.score) - LABEL_WIDTH:.1f}" '
            f'height="{ROW_HEIGHT - 8}"><title>{label}: linear probe {row.score:.1f}%</title></rect>'
        )
        parts.append(f'<text x="{_x(row.score) + 4:.1f}" y="{y + 16}">{row.score:.1f}%</text>')
        if row.knn is not None:
            x = _x(row.knn)
            parts.append(
                f'<line stroke="#e08a00" stroke-width="3" x1="{x:.1f}" y1="{y + 2}" x2="{x:.1f}" '
                f'y2="{y + ROW_HEIGHT - 2}">'
                f"<title>k-NN {row.knn:.1f}%</title></line>"
            )
    if baseline is not None:
        x = _x(baseline)
        parts.append(
            f'<line stroke="#c62828" stroke-width="2" stroke-dasharray="5 4" x1="{x:.1f}" y1="{TOP - 8}" '
            f'x2="{x:.1f}" y2="{height - BOTTOM}">'
            f"<title>from scratch {baseline:.1f}%</title></line>"
        )
        parts.append(f'<text x="{x:.1f}" y="{TOP - 10}" text-anchor="middle" fill="#c62828">scratch</text>')
    parts.append("</g></svg>")
    return "".join(parts)
