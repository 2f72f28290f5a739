from django import template
from django.http import QueryDict

register = template.Library()


@register.filter
def count(value: int | None) -> str:
    """11689512 -> 11.7M"""
    if value is None:
        return "—"
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= threshold:
            return f"{value / threshold:.1f}{suffix}"
    return str(value)


@register.filter
def megabytes(value: int | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1_000_000:.1f} MB" if value >= 100_000 else f"{value / 1000:.1f} kB"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}%"


@register.simple_tag
def query_with(query: QueryDict, key: str, value: object) -> str:
    """The current query string with one parameter set (or removed when value is empty), page reset."""
    updated = query.copy()
    updated.pop("page", None)
    if value in (None, ""):
        updated.pop(key, None)
    else:
        updated[key] = str(value)
    encoded = updated.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag
def page_link(query_without_page: str, number: int) -> str:
    return f"?{query_without_page}&page={number}" if query_without_page else f"?page={number}"


@register.filter
def get_item_safe(mapping: QueryDict, key: str) -> str:
    return mapping.get(key, "")


@register.filter
def intcomma_safe(value: int) -> str:
    return f"{value:,}"
