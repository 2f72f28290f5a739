"""The leaderboard's columns as text (one definition serves the table, the CSV export and the API's CSV) and its
Pareto plot as server-rendered SVG."""

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

from catalog.leaderboard.selectors import SPEEDS, FrontPlot, Leaderboard, LeaderboardRow
from core.verdict import VerdictStatus

MISSING = "—"  # shown in the table for a missing value; the CSV leaves the cell empty


def _fixed(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _speed(row: LeaderboardRow, column: str) -> str:
    speed = row.speeds.get(column)
    return "" if speed is None else f"{speed.samples_per_sec:.1f}"


def verdict_text(row: LeaderboardRow) -> str:
    if row.verdict == VerdictStatus.VERIFIED:
        return f"verified (within ±{row.tolerance:g} pt)"
    if row.verdict == VerdictStatus.DISAGREES:
        return f"disagrees ({row.delta:+.2f} pt)"
    if row.verdict == VerdictStatus.UNVERIFIABLE:
        return "unverifiable (dataset not on this hub)"
    return "not measured yet"


@dataclass(frozen=True)
class Column:
    key: str  # the sort key (selectors.SORT_KEYS), or "verdict", which sorts with "verified"
    header: str
    cell: Callable[[LeaderboardRow], str]
    numeric: bool = True
    sortable: bool = True


def columns(*, label: str) -> list[Column]:
    """The board's columns, headers naming the dataset and the unit."""
    gpu, cpu = SPEEDS["gpu_speed"], SPEEDS["cpu_speed"]
    return [
        Column("model", "Model", lambda row: row.model_id, numeric=False),
        Column("top1", f"Claimed top-1 on {label} (%)", lambda row: _fixed(row.top1, 3)),
        Column("top5", f"Claimed top-5 on {label} (%)", lambda row: _fixed(row.top5, 3)),
        Column("verified", "Verified top-1 (%)", lambda row: _fixed(row.verified, 2)),
        Column("verdict", "Verdict", verdict_text, numeric=False, sortable=False),
        Column("params", "Parameters (M)", lambda row: _fixed(row.num_params and row.num_params / 1e6, 2)),
        Column("gmacs", "GMACs", lambda row: _fixed(row.gmacs, 2)),
        Column("img_size", "Image size (px)", lambda row: "" if row.img_size is None else str(row.img_size)),
        Column(
            "gpu_speed",
            f"Published samples/s, {gpu.hardware} ({gpu.precision.upper()})",
            lambda row: _speed(row, "gpu_speed"),
        ),
        Column(
            "cpu_speed",
            f"Published samples/s, {cpu.hardware} ({cpu.precision})",
            lambda row: _speed(row, "cpu_speed"),
        ),
    ]


def table_cells(board: Leaderboard) -> tuple[list[Column], list[list[str]]]:
    """The header and every row's cells as text, in the order shown."""
    cols = columns(label=board.label)
    return cols, [[column.cell(row) for column in cols] for row in board.rows]


def table_body(board: Leaderboard, rows: list[list[str]]) -> SafeString:
    """The table's rows as HTML, built in Python: 500 cells through template tags cost more than the SQL."""
    cols = columns(label=board.label)
    parts = []
    for row, cells in zip(board.rows, rows, strict=True):
        parts.append("<tr>")
        for column, cell in zip(cols, cells, strict=True):
            text = escape(cell or MISSING)
            if column.key == "model":
                parts.append(f'<td><a href="/models/{escape(row.model_id)}/">{text}</a></td>')
            elif column.key == "verdict":
                parts.append(f'<td><span class="badge {escape(row.verdict)}">{text}</span></td>')
            elif column.key == "verified" and row.run is not None:
                parts.append(
                    f'<td class="num"><a href="{escape(row.run.get_absolute_url())}">{text}</a></td>'
                )
            else:
                parts.append(f'<td class="num">{text}</td>')
        parts.append("</tr>")
    if not board.rows:
        parts.append(
            f'<tr><td colspan="{len(cols)}" class="muted">No model here matches these filters.</td></tr>'
        )
    return mark_safe("".join(parts))  # every interpolated text above is escaped


def csv_text(board: Leaderboard) -> str:
    cols, rows = table_cells(board)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([column.header for column in cols])
    writer.writerows(rows)
    return out.getvalue()


def csv_filename(board: Leaderboard) -> str:
    return f"leaderboard-{board.dataset}-{board.sort.replace('-', 'desc-')}-page{board.page}.csv"


# --- the Pareto plot -------------------------------------------------------------------------------------

PLOT_STYLE = (
    "<style>text{font:11px system-ui,sans-serif;fill:#3b4252}.axis{stroke:#9aa1b1}.grid{stroke:#eef0f4}"
    ".other{fill:#4a6fd1}.front{fill:#b45309;stroke:#1d2330;stroke-width:1}.front-line{fill:none;"
    "stroke:#b45309;stroke-width:1.5;stroke-dasharray:4 3}a:focus circle,a:focus path,a:hover circle,"
    "a:hover path{stroke:#1d2330;stroke-width:2}</style>"
)
WIDTH, HEIGHT = 720, 380
LEFT, RIGHT, TOP, BOTTOM = 64, WIDTH - 16, 16, HEIGHT - 56


def x_axis_label(axis: str) -> str:
    if axis == "params":
        return "Parameters (millions, log scale)"
    table = SPEEDS[axis]
    return f"Published inference samples/s on {table.hardware}, {table.precision} (log scale)"


def _x_value_text(axis: str, x: float) -> str:
    return f"{x / 1e6:.2f}M parameters" if axis == "params" else f"{x:.1f} samples/s"


def _tick_text(axis: str, value: float) -> str:
    return f"{value / 1e6:g}" if axis == "params" else f"{value:g}"


def _diamond(x: float, y: float, r: float = 5.5) -> str:
    return f"M{x} {round(y - r, 1)}L{round(x + r, 1)} {y}L{x} {round(y + r, 1)}L{round(x - r, 1)} {y}Z"


def pareto_svg(plot: FrontPlot, *, label: str) -> SafeString:
    """Claimed top-1 against log x; front points are diamonds (other points circles) joined by a dashed line.

    Every point is a link to its model with an accessible name saying its values and whether it is on the front.
    """
    y_label = f"Claimed top-1 on {label} (%)"
    title = f"{y_label} against {x_axis_label(plot.axis).split(' (')[0].lower()}: Pareto front"
    if not plot.points:
        return mark_safe(
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} 60" role="img" '
            f'aria-label="{escape(title)}: no model here has both values">{PLOT_STYLE}'
            f'<text x="{WIDTH // 2}" y="30" text-anchor="middle">No model here has both values.</text></svg>'
        )
    logs = [math.log10(point.x) for point in plot.points]
    lo_x, hi_x = math.floor(min(logs)), math.ceil(max(logs))
    hi_x = max(hi_x, lo_x + 1)
    values = [point.top1 for point in plot.points]
    lo_y = max(0.0, math.floor(min(values) / 10) * 10)
    hi_y = min(100.0, math.ceil(max(values) / 10) * 10)
    if hi_y - lo_y < 10:
        lo_y, hi_y = max(0.0, hi_y - 10), max(10.0, hi_y)

    def sx(log_value: float) -> float:
        return round(LEFT + (log_value - lo_x) / (hi_x - lo_x) * (RIGHT - LEFT), 1)

    def sy(value: float) -> float:
        return round(BOTTOM - (value - lo_y) / (hi_y - lo_y) * (BOTTOM - TOP), 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="group" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        PLOT_STYLE,
        f'<line x1="{LEFT}" y1="{BOTTOM}" x2="{RIGHT}" y2="{BOTTOM}" class="axis"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{BOTTOM}" class="axis"/>',
    ]
    for exponent in range(lo_x, hi_x + 1):
        x = sx(exponent)
        parts.append(
            f'<line x1="{x}" y1="{BOTTOM}" x2="{x}" y2="{TOP}" class="grid"/>'
            f'<text x="{x}" y="{BOTTOM + 16}" text-anchor="middle">'
            f"{escape(_tick_text(plot.axis, 10.0**exponent))}</text>"
        )
    step = 10 if hi_y - lo_y > 30 else 5
    for value in range(int(lo_y), int(hi_y) + 1, step):
        y = sy(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{y}" x2="{RIGHT}" y2="{y}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y}" text-anchor="end" dominant-baseline="middle">{value}</text>'
        )
    front = sorted((point for point in plot.points if point.on_front), key=lambda point: point.x)
    if len(front) > 1:
        line = " ".join(f"{sx(math.log10(point.x))},{sy(point.top1)}" for point in front)
        parts.append(f'<polyline points="{line}" class="front-line" aria-hidden="true"/>')
    # Front points last, so they are drawn above the others.
    for point in sorted(plot.points, key=lambda point: point.on_front):
        x, y = sx(math.log10(point.x)), sy(point.top1)
        name = (
            f"{point.model_id}: {point.top1:.3f}% top-1 on {label}, {_x_value_text(plot.axis, point.x)}"
            + (", on the Pareto front" if point.on_front else "")
        )
        shape = (
            f'<path d="{_diamond(x, y)}" class="front"/>'
            if point.on_front
            else f'<circle cx="{x}" cy="{y}" r="3.5" class="other"/>'
        )
        parts.append(
            f'<a href="/models/{escape(point.model_id)}/" aria-label="{escape(name)}">'
            f"<title>{escape(name)}</title>{shape}</a>"
        )
    legend_y = HEIGHT - 12
    parts += [
        f'<text x="{(LEFT + RIGHT) // 2}" y="{BOTTOM + 34}" text-anchor="middle" class="axis-label">'
        f"{escape(x_axis_label(plot.axis))}</text>",
        f'<text transform="translate(14 {(TOP + BOTTOM) // 2}) rotate(-90)" text-anchor="middle" '
        f'class="axis-label">{escape(y_label)}</text>',
        f'<g aria-hidden="true"><path d="{_diamond(LEFT + 6, legend_y - 4)}" class="front"/>'
        f'<text x="{LEFT + 16}" y="{legend_y}">on the Pareto front</text>'
        f'<circle cx="{LEFT + 160}" cy="{legend_y - 4}" r="3.5" class="other"/>'
        f'<text x="{LEFT + 168}" y="{legend_y}">dominated (another model is at least as good on both axes)</text></g>',
        "</svg>",
    ]
    return mark_safe("".join(parts))  # every interpolated text above is escaped or a number
