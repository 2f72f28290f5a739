"""Presentation helpers for pages: sanitised Markdown and the server-side accuracy-vs-size SVG plot."""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

import markdown as markdown_lib
import nh3
from django.utils.safestring import SafeString, mark_safe

from core.hfconfig import strip_front_matter
from core.verdict import VerdictStatus

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
    html = markdown_lib.markdown(
        strip_front_matter(text), extensions=["fenced_code", "tables"], output_format="html"
    )
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


_HEADING_TAG = re.compile(r"<(/?)h([1-6])>")
_TABLE_TAG = re.compile(r"<(/?)table>")


def render_card(text: str) -> str:
    """A model card as HTML for its page, under the page's own <h1>: its headings one level down (h1 -> h2, h6
    stays h6) and its tables in boxes that scroll on their own, so a wide one never widens the page (the box
    takes a Tab stop, so the keyboard can scroll it too)."""
    html = _HEADING_TAG.sub(lambda tag: f"<{tag[1]}h{min(int(tag[2]) + 1, 6)}>", render_markdown(text))
    # render_markdown's sanitiser leaves headings and tables without attributes, so these are all of them.
    return _TABLE_TAG.sub(
        lambda tag: (
            "</table></div>"
            if tag[1]
            else '<div class="table-scroll" role="region" aria-label="Table from the model card" tabindex="0"><table>'
        ),
        html,
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
    verification: str = ""


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
            verification=point.get("verification", ""),
        )
        for point, log_value in zip(points, logs, strict=True)
    ]
    x_ticks = [(sx(exponent), _format_count(10**exponent)) for exponent in range(lo_x, hi_x + 1)]
    step = 10 if hi_y - lo_y > 30 else 5
    y_ticks = [(sy(value), f"{value:g}%") for value in range(int(lo_y), int(hi_y) + 1, step)]
    return ScatterPlot(width, height, plotted, x_ticks, y_ticks, left, bottom, right, top)


def _format_point_title(point: PlotPoint) -> str:
    source = (point.verification or "measured") if point.verified else "claimed"
    return f"{point.label}: {point.top1:.2f}% top-1, {_format_count(point.num_params)} params ({source})"


SVG = "image/svg+xml"
SVG_OPEN = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="{label}">'
# A standalone document does not see the page's stylesheet.
# Marks differ in shape as well as colour, each at 3:1 or more against white (WCAG 1.4.11): claimed a hollow
# ring, verified a filled disc, disagreeing a filled disc crossed out.
SVG_STYLE = (
    "<style>text{font:11px system-ui,sans-serif;fill:#575e70}.axis{stroke:#767d8f}.grid{stroke:#eef0f4}"
    ".claimed{fill:#fff;stroke:#3b63c4;stroke-width:1.75}.verified{fill:#1a7f45}.disagrees{fill:#b42318}"
    ".cross{stroke:#fff;stroke-width:1.5;pointer-events:none}"
    "a:hover circle,a:focus circle{stroke:#1d2330;stroke-width:2.5}</style>"
)


def empty_svg(message: str, *, width: int = 640, height: int = 60) -> str:
    return (
        SVG_OPEN.format(w=width, h=height, label=escape(message))
        + SVG_STYLE
        + f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle">{escape(message)}</text></svg>'
    )


def scatter_svg(plot: ScatterPlot, *, dataset: str, standalone: bool = False) -> SafeString:
    """The plot as SVG, its accuracy axis naming `dataset`. Built in Python: hundreds of points through template
    tags cost ~100 ms."""
    target = ' target="_top"' if standalone else ""
    title = f"Top-1 on {dataset} against parameter count"
    parts = [
        SVG_OPEN.format(w=plot.width, h=plot.height, label=escape(title)),
        SVG_STYLE if standalone else "",
        f'<line x1="{plot.left}" y1="{plot.bottom}" x2="{plot.right}" y2="{plot.bottom}" class="axis"/>',
        f'<line x1="{plot.left}" y1="{plot.top}" x2="{plot.left}" y2="{plot.bottom}" class="axis"/>',
    ]
    for x, label in plot.x_ticks:
        parts.append(
            f'<line x1="{x}" y1="{plot.bottom}" x2="{x}" y2="{plot.top}" class="grid"/>'
            f'<text x="{x}" y="{plot.bottom + 16}" text-anchor="middle">{escape(label)}</text>'
        )
    for y, label in plot.y_ticks:
        parts.append(
            f'<line x1="{plot.left}" y1="{y}" x2="{plot.right}" y2="{y}" class="grid"/>'
            f'<text x="{plot.left - 6}" y="{y}" text-anchor="end" dominant-baseline="middle">{escape(label)}</text>'
        )
    for point in plot.points:
        css = (
            (VerdictStatus.DISAGREES if point.verification == VerdictStatus.DISAGREES else "verified")
            if point.verified
            else "claimed"
        )
        cross = (
            f'<path d="M{point.x - 2.5},{point.y - 2.5}l5,5m0,-5l-5,5" class="cross"/>'
            if css == VerdictStatus.DISAGREES
            else ""
        )
        # Out of the Tab order: the table beside the plot links the same models, so the keyboard reaches them
        # there instead of through hundreds of points (the mouse still follows the links).
        parts.append(
            f'<a href="{escape(point.href)}"{target} tabindex="-1"><circle cx="{point.x}" cy="{point.y}" r="4" '
            f'class="{css}"><title>{escape(_format_point_title(point))}</title></circle>{cross}</a>'
        )
    parts.append(
        f'<text x="12" y="{(plot.top + plot.bottom) // 2}" text-anchor="middle" class="axis-label" '
        f'transform="rotate(-90 12 {(plot.top + plot.bottom) // 2})">top-1 on {escape(dataset)} (%)</text>'
        f'<text x="{plot.right}" y="{plot.bottom + 32}" text-anchor="end" class="axis-label">'
        "parameters (log scale)</text></svg>"
    )
    return mark_safe("".join(parts))  # every interpolated text above is escaped


def results_bars_svg(results: list[Any], *, width: int = 360) -> SafeString:
    """Horizontal bars of top-1 on each test set, labelled with the drop from ImageNet-1k (the first bar)."""
    row_height, label_width, value_width = 22, 118, 92
    height = row_height * len(results) + 8
    bar_space = width - label_width - value_width
    parts = [
        SVG_OPEN.format(
            w=width, h=height, label="Claimed top-1 on each test set and its drop from ImageNet-1k"
        ),
        "<style>text{font:11px system-ui,sans-serif;fill:#3b4252}.bar{fill:#5b7bd5}.base{fill:#2456c9}"
        ".drop-worse{fill:#b42318}.drop-better{fill:#11613a}</style>",
    ]
    for index, result in enumerate(results):
        y = 4 + index * row_height
        length = round(bar_space * max(0.0, min(result.top1, 100.0)) / 100, 1)
        css = "base" if index == 0 else "bar"
        drop = "" if index == 0 or result.drop is None else f"{result.drop:+.1f}"
        parts.append(
            f'<text x="0" y="{y + 14}">{escape(result.label)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{length}" height="14" class="{css}">'
            f"<title>{escape(result.label)}: {result.top1:.2f}% top-1</title></rect>"
            f'<text x="{label_width + length + 4}" y="{y + 14}">{result.top1:.1f}%</text>'
            f'<text x="{width}" y="{y + 14}" text-anchor="end" class="{drop_class(result.drop)}">'
            f"{escape(drop)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every interpolated text above is escaped or a number


@dataclass(frozen=True)
class CatalogRow:
    """One catalog table row, formatted once in Python (template filters per cell cost more than the SQL)."""

    href: str
    model_id: str
    summary: str
    task: str
    library: str
    license: str
    params: str
    size: str
    size_is_estimate: bool
    gmacs: str
    claimed: str  # the best top-1 claimed on the list's dataset
    verified: str  # the hub's measurement of that claim, "" without one
    verification: str  # the verdict on that claim: verified, disagrees or ""
    downloads: int


def format_percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}%"


def format_megabytes(value: int | None) -> str:
    """A byte count in decimal units, three significant figures from a megabyte up: 4939800000 -> 4.94 GB."""
    if value is None:
        return "—"
    if value >= 1e9:
        return f"{_three_figures(value / 1e9)} GB"
    if value >= 100_000:
        return f"{_three_figures(value / 1e6)} MB"
    return f"{value / 1000:.1f} kB"


def _three_figures(number: float) -> str:
    # .3g alone turns 999.6 into "1e+03"
    return f"{number:,.0f}" if number >= 100 else f"{number:.3g}"


def format_gmacs(value: float | None) -> str:
    """GMACs as people write them: 1370.2 -> 1,370; 11.53 -> 11.5; 1.814 -> 1.81; never in e-notation."""
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.01:
        return f"{value:.2f}"
    return "< 0.01" if value > 0 else "0"


def drop_class(drop: float | None) -> str:
    """The colour of a change in top-1 against ImageNet-1k: red when worse, green when better."""
    if drop is None or drop == 0:
        return "drop-none"
    return "drop-worse" if drop < 0 else "drop-better"


def format_value(value: Any) -> str:
    """A config or provenance value as text for a page, not a Python repr: lists comma-separated, mappings as
    "key: value" pairs, None as "default", booleans as yes/no."""
    if value is None:
        return "default"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {format_value(item)}" for key, item in value.items()) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(item) for item in value) or "none"
    return str(value)


def format_size(model: Any) -> tuple[str, bool]:
    """The stored weights' size, else the estimate marked with "≈" (and True: it is an estimate)."""
    if model.weights_size_bytes is not None or model.size_estimate_bytes is None:
        return format_megabytes(model.weights_size_bytes), False
    return f"≈{format_megabytes(model.size_estimate_bytes)}", True


def catalog_row(model: Any) -> CatalogRow:
    """A row of a model_list result: its accuracy is on the list's dataset (the claim_top1 and
    claim_verified_top1 annotations of catalog.filters.with_top1_on)."""
    size, size_is_estimate = format_size(model)
    claimed, measured = model.claim_top1, model.claim_verified_top1
    verdict = model.claim_verification if measured is not None else ""
    return CatalogRow(
        href=f"/models/{model.namespace}/{model.name}/",
        model_id=model.model_id,
        summary=model.summary,
        task=model.get_task_display(),
        library=model.get_library_display(),
        license=model.license,
        params=format_count(model.num_params),
        size=size,
        size_is_estimate=size_is_estimate,
        gmacs=format_gmacs(model.gmacs),
        claimed=format_percent(claimed),
        verified="" if measured is None else format_percent(measured),
        verification=verdict,
        downloads=model.downloads,
    )


def format_count(value: int | None) -> str:
    """11689512 -> 11.7M"""
    if value is None:
        return "—"
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= threshold:
            return f"{value / threshold:.1f}{suffix}"
    return str(value)


# The catalog page's table body and facet lists are built here rather than in the template: 25 rows and some 70
# facet links through template tags cost several milliseconds a page, more than the database's share of most lists.
NO_MATCH_ROW = '<tr><td colspan="8" class="muted">No model matches these filters.</td></tr>'


def catalog_rows_html(rows: list[CatalogRow], *, dataset: str) -> SafeString:
    """The catalog table's rows; accuracy columns are labelled with the list's `dataset` (for phone layouts)."""
    if not rows:
        return mark_safe(NO_MATCH_ROW)
    on = escape(dataset)
    return mark_safe("\n".join(_catalog_row_html(row, on) for row in rows))


def _catalog_row_html(row: CatalogRow, on: str) -> str:
    meta = escape(row.library) + (f" · {escape(row.license)}" if row.license else "")
    size = escape(row.size)
    if row.size_is_estimate:
        size = (
            '<span class="estimate" title="estimate from the parameter count (float32); no weights stored">'
            f'{size}<span class="visually-hidden"> (estimate)</span></span>'
        )
    verified = "—"
    if row.verified:
        verdict = escape(row.verification)
        verified = (
            f'<span class="badge {verdict}">{escape(row.verified)}'
            f'<span class="visually-hidden"> {verdict}</span></span>'
        )
    return (
        f'<tr><td><a href="{escape(row.href)}" class="model-id">{escape(row.model_id)}</a>'
        f'<div class="summary">{escape(row.summary)}</div></td>'
        f'<td data-label="Task">{escape(row.task)}<div class="muted">{meta}</div></td>'
        f'<td class="num" data-label="Params">{escape(row.params)}</td>'
        f'<td class="num" data-label="Size">{size}</td>'
        f'<td class="num" data-label="GMACs">{escape(row.gmacs)}</td>'
        f'<td class="num" data-label="Claimed top-1 on {on}">{escape(row.claimed)}</td>'
        f'<td class="num" data-label="Verified top-1 on {on}">{verified}</td>'
        f'<td class="num" data-label="Downloads">{row.downloads}</td></tr>'
    )


def facet_lists_html(
    facets: Mapping[str, list[Any]],
    *,
    chosen: Mapping[str, str],
    link: Any,
    labels: Mapping[str, str],
) -> SafeString:
    """One section per facet: its values (FacetValue) as links that add the filter, the chosen one with a link
    that removes it, each with its count where it was counted. `link(facet, value)` is the query string for a
    value ("" removes it)."""
    sections = []
    for facet, values in facets.items():
        label = labels.get(facet) or facet
        items = []
        for item in values:
            name = escape(str(item.label))
            if chosen.get(facet, "") == item.value:
                value = (
                    f'<strong>{name}</strong> <a href="{escape(link(facet, ""))}" title="Remove this filter">'
                    f'<span aria-hidden="true">\u00d7</span><span class="visually-hidden">Remove the filter {name}'
                    "</span></a>"
                )
            else:
                value = f'<a href="{escape(link(facet, item.value))}">{name}</a>'
            count = "" if item.count is None else f' <span class="n">{item.count:,}</span>'
            items.append(f"<li>{value}{count}</li>")
        sections.append(
            f'<section class="facet"><h2>{escape(label[:1].upper() + label[1:])}</h2><ul>'
            + ("".join(items) or '<li class="muted">none</li>')
            + "</ul></section>"
        )
    return mark_safe("\n".join(sections))
