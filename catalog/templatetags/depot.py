from django import template
from django.http import QueryDict

from catalog.rendering import (
    drop_class,
    format_count,
    format_gmacs,
    format_megabytes,
    format_percent,
    format_value,
)

register = template.Library()


# The same formatting as the catalog rows built in Python (catalog.rendering).
register.filter("count", format_count)
register.filter("megabytes", format_megabytes)
register.filter("percent", format_percent)
register.filter("gmacs", format_gmacs)
register.filter("drop_class", drop_class)
register.filter("human", format_value)


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
