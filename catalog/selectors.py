"""Reads of the catalog, shared by pages and the API."""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, QuerySet

from catalog.filters import CatalogFilterSet, unknown_parameters
from catalog.models import AccuracyClaim, ModelEntry

PAGE_PARAMETERS = ("page", "page_size")
FACET_FIELDS = ("domain", "task", "library", "license")


def model_queryset() -> QuerySet[ModelEntry]:
    # List views never show the card or the search column; leaving them out keeps rows small.
    return ModelEntry.objects.defer("card", "search_text").order_by("namespace", "name")


def model_list(
    *, query: Mapping[str, str], allowed_extra: tuple[str, ...] = PAGE_PARAMETERS
) -> QuerySet[ModelEntry]:
    """The filtered, searched and ordered catalog. Raises ValidationError keyed by each bad parameter."""
    unknown = unknown_parameters(query.keys(), allowed_extra=allowed_extra)
    if unknown:
        raise ValidationError({name: "Unknown query parameter." for name in unknown})
    filterset = CatalogFilterSet(data=query, queryset=model_queryset())
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filterset.qs


def with_claims(queryset: QuerySet[ModelEntry]) -> QuerySet[ModelEntry]:
    """One extra query for all claims of a page, whatever the page size."""
    return queryset.prefetch_related(
        Prefetch("claims", queryset=AccuracyClaim.objects.order_by("dataset", "metric"))
    )


def model_get(*, namespace: str, name: str) -> ModelEntry:
    """Raises ModelEntry.DoesNotExist."""
    return with_claims(ModelEntry.objects.select_related("weights")).get(namespace=namespace, name=name)


def models_by_ids(*, model_ids: list[str]) -> tuple[list[ModelEntry], list[str]]:
    """Models in the order asked for, and the ids that matched nothing."""
    found: dict[str, ModelEntry] = {}
    for model_id in model_ids:
        namespace, _, name = model_id.partition("/")
        model = (
            with_claims(ModelEntry.objects.select_related("weights"))
            .filter(namespace=namespace, name=name)
            .first()
        )
        if model is not None:
            found[model_id] = model
    missing = [model_id for model_id in model_ids if model_id not in found]
    return [found[model_id] for model_id in model_ids if model_id in found], missing


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int


@dataclass(frozen=True)
class FacetSummary:
    count: int  # rows in the filtered catalog: the facet scan counts them, so pages need no COUNT query
    facets: dict[str, list[FacetValue]]


def catalog_facets(*, queryset: QuerySet[ModelEntry], limit: int = 12) -> FacetSummary:
    """Value counts per facet over the filtered catalog, most common first, and the total."""
    # One grouped scan for all facets: the filtered set is read once, not once per facet.
    combinations = list(queryset.order_by().values(*FACET_FIELDS).annotate(count=Count("id")))
    totals: dict[str, Counter] = {field_name: Counter() for field_name in FACET_FIELDS}
    for row in combinations:
        for field_name in FACET_FIELDS:
            if row[field_name]:
                totals[field_name][row[field_name]] += row["count"]
    facets: dict[str, list[FacetValue]] = {}
    for field_name in FACET_FIELDS:
        choices = dict(ModelEntry._meta.get_field(field_name).choices or [])
        ranked = sorted(totals[field_name].items(), key=lambda item: (-item[1], item[0]))[:limit]
        facets[field_name] = [
            FacetValue(value=value, label=choices.get(value, value), count=count) for value, count in ranked
        ]
    return FacetSummary(count=sum(row["count"] for row in combinations), facets=facets)


def scatter_points(*, queryset: QuerySet[ModelEntry], limit: int = 400) -> list[dict]:
    """(params, top-1) points for the accuracy-vs-size plot: verified where measured, else claimed."""
    rows = (
        queryset.filter(num_params__gt=0)
        .exclude(claimed_top1__isnull=True, verified_top1__isnull=True)
        .values("namespace", "name", "num_params", "claimed_top1", "verified_top1", "verification")[:limit]
    )
    return [
        {
            "model_id": f"{row['namespace']}/{row['name']}",
            "num_params": row["num_params"],
            "top1": row["verified_top1"] if row["verified_top1"] is not None else row["claimed_top1"],
            "verified": row["verified_top1"] is not None,
            "verification": row["verification"],
        }
        for row in rows
    ]
