"""Presentation helpers for pages: sanitised Markdown and the server-side accuracy-vs-size SVG plot."""

import math
from dataclasses import dataclass

import markdown as markdown_lib
import nh3

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li",
    "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul", "img", "span", "sup", "sub",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
}


def render_markdown(text: str) -> str:
    """Markdown to HTML with scripts, event handlers, styles and javascript: URLs removed."""
    html = markdown_lib.markdown(text, extensions=["fenced_code", "tables"], output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


@dataclass(frozen=True)
class PlotPoint:
    x: float
    y: float
    label: str
    href: str
    verified: bool
    num_params: int
    top1: float


@dataclass(frozen=True)
class ScatterPlot:
    width: int
    height: int
    points: list[PlotPoint]
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    left: int
    bottom: int
    right: int
    top: int


def _format_count(value: float) -> str:
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= threshold:
            return f"{value / threshold:g}{suffix}"
    return f"{value:g}"


def scatter_plot(points: list[dict], *, width: int = 640, height: int = 300) -> ScatterPlot | None:
    """Lay out top-1 against log10(parameters). Returns None when there is nothing to draw."""
    if not points:
        return None
    left, right, top, bottom = 56, width - 16, 16, height - 40
    logs = [math.log10(point["num_params"]) for point in points]
    lo_x, hi_x = math.floor(min(logs)), math.ceil(max(logs))
    hi_x = max(hi_x, lo_x + 1)
    values = [point["top1"] for point in points]
    lo_y = max(0.0, math.floor(min(values) / 10) * 10)
    hi_y = min(100.0, math.ceil(max(values) / 10) * 10)
    if hi_y <= lo_y:
        lo_y, hi_y = max(0.0, lo_y - 10), min(100.0, hi_y + 10) if hi_y < 100 else 100.0
        lo_y = min(lo_y, hi_y - 10)

    def sx(log_value: float) -> float:
        return round(left + (log_value - lo_x) / (hi_x - lo_x) * (right - left), 1)

    def sy(value: float) -> float:
        return round(bottom - (value - lo_y) / (hi_y - lo_y) * (bottom - top), 1)

    plotted = [
        PlotPoint(
            x=sx(log_value),
            y=sy(point["top1"]),
            label=point["model_id"],
            href=f"/models/{point['model_id']}/",
            verified=point["verified"],
            num_params=point["num_params"],
            top1=point["top1"],
        )
        for point, log_value in zip(points, logs, strict=True)
    ]
    x_ticks = [(sx(exponent), _format_count(10**exponent)) for exponent in range(lo_x, hi_x + 1)]
    step = 10 if hi_y - lo_y > 30 else 5
    y_ticks = [(sy(value), f"{value:g}%") for value in range(int(lo_y), int(hi_y) + 1, step)]
    return ScatterPlot(width, height, plotted, x_ticks, y_ticks, left, bottom, right, top)
