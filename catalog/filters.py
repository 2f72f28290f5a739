"""The catalog query language, shared by the REST API and the pages: one FilterSet validates and applies it.

Every bad value becomes a form error keyed by the parameter's name, which the API turns into a 400 and the
pages show beside the form. Unknown parameters are refused too: a typo must not silently widen a result.
"""

import math
import re
from collections.abc import Iterable
from decimal import Decimal

import django_filters
from django import forms
from django.db import connections
from django.db.models import BooleanField, Case, Expression, F, FilteredRelation, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce, Collate

from catalog.models import DEFAULT_TOP1_DATASET, DatasetTop1Claim, Domain, Library, ModelEntry, Task
from core import search
from core.verdict import VerdictStatus

_SUFFIXES = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9}
# Digits bounded so every accepted count fits a bigint: up to 18 digits bare, 9 before a k/M/B suffix.
COUNT_REGEX = r"^(?:|\d{1,18}(?:\.\d{1,6})?|\d{1,9}(?:\.\d{1,6})?[kKmMbBgG])$"
_COUNT_PATTERN = re.compile(r"^(\d+(?:\.\d+)?)([kmbg]?)$", re.IGNORECASE)
# The largest value a database integer column holds (PostgreSQL bigint); larger counts are refused.
MAX_COUNT = 2**63 - 1
MAX_SIZE_MB = 1e12  # an exabyte: times 10^6 it still fits a bigint byte count


def parse_count(value: str) -> int:
    """'5M' -> 5_000_000. Raises ValidationError for anything not a bounded, non-negative count."""
    text = str(value).strip()
    match = _COUNT_PATTERN.match(text) if re.match(COUNT_REGEX, text) else None
    if not match:
        # The user's text goes in params, never into the message itself: the message is a %-format string
        # (Django and django-filter both apply `message % params`), so a typed "%s" would be read as a
        # placeholder and crash the formatting.
        raise forms.ValidationError(
            "Enter a number such as 5000000 or 5M, not %(value)s.", params={"value": repr(str(value)[:40])}
        )
    # Decimal: exact for every accepted digit string (a float would round 18-digit counts).
    count = Decimal(match.group(1)) * int(_SUFFIXES[match.group(2).lower()])
    if count > MAX_COUNT:
        raise forms.ValidationError("Enter a count of at most %(limit)s.", params={"limit": MAX_COUNT})
    return int(count)


def check_finite_number(number: float | None) -> float | None:
    """Refuse NaN and infinities ("1e999" parses as inf): they compare with nothing and convert to no integer."""
    if number is not None and not math.isfinite(number):
        raise forms.ValidationError("Enter a finite number.")
    return number


class CountField(forms.Field):
    """A non-negative count with an optional k/M/B suffix: 10M = 10,000,000."""

    def to_python(self, value: str | None) -> int | None:
        if value in (None, ""):
            return None
        return parse_count(value)


class CountFilter(django_filters.Filter):
    field_class = CountField


class FiniteNumberField(forms.FloatField):
    def to_python(self, value: str | None) -> float | None:
        return check_finite_number(super().to_python(value))


class NumberFilter(django_filters.Filter):
    field_class = FiniteNumberField


class BooleanChoiceFilter(django_filters.Filter):
    field_class = forms.TypedChoiceField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        kwargs.setdefault("empty_value", None)
        super().__init__(*args, **kwargs)


# The size of a model without stored weights is its estimate (num_params x bytes per parameter).
SIZE_OR_ESTIMATE = Coalesce("weights_size_bytes", "size_estimate_bytes")
# Annotations every filtered list carries: the dataset its accuracy is on (claim_dataset, else
# DEFAULT_TOP1_DATASET), the best top-1 claimed there and the hub's measurement of that claim.
DATASET_ANNOTATION = "top1_dataset"
CLAIM_ANNOTATION = "claim_top1"
VERIFIED_ANNOTATION = "claim_verified_top1"
VERIFICATION_ANNOTATION = "claim_verification"

# ordering value -> column or expression; missing values sort last in both directions. Accuracy orderings are on
# the list's one dataset: a model without a top-1 on it sorts after every model with one.
ORDERING_FIELDS = {
    "name": "name",
    "num_params": "num_params",
    "size": SIZE_OR_ESTIMATE,
    "gmacs": "gmacs",
    "claimed_top1": CLAIM_ANNOTATION,
    "verified_top1": VERIFIED_ANNOTATION,
    "downloads": "downloads",
    "created": "created",
    "claim": CLAIM_ANNOTATION,  # the name it had when it needed claim_dataset; the same as claimed_top1
}
ORDERING_CHOICES = [(key, key) for key in ORDERING_FIELDS] + [
    (f"-{key}", f"-{key}") for key in ORDERING_FIELDS
]


def datasets_with_claims() -> list[str]:
    return sorted(DatasetTop1Claim.objects.order_by().values_list("dataset", flat=True).distinct())


def _unknown_dataset(dataset: str) -> forms.ValidationError:
    # Both the typed dataset and the stored names are data, so both go in params (see parse_count).
    return forms.ValidationError(
        "No model claims a top-1 on %(dataset)s. Datasets with claims: %(known)s.",
        params={"dataset": repr(dataset), "known": ", ".join(datasets_with_claims()) or "none yet"},
    )


class CatalogFilterForm(forms.Form):
    """Checks that need the database: a claim_dataset must be one somebody claims a top-1 on."""

    def clean(self) -> dict:
        cleaned = super().clean()
        dataset = cleaned.get("claim_dataset")
        if dataset and not DatasetTop1Claim.objects.filter(dataset=dataset).exists():
            self.add_error("claim_dataset", _unknown_dataset(dataset))
        return cleaned


class CatalogFilterSet(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search", max_length=200, help_text="Words in name, title, summary or tags."
    )
    domain = django_filters.ChoiceFilter(choices=Domain.choices)
    task = django_filters.ChoiceFilter(choices=Task.choices)
    library = django_filters.ChoiceFilter(choices=Library.choices)
    license = django_filters.CharFilter(field_name="license", lookup_expr="iexact", max_length=64)
    pretrained_on = django_filters.CharFilter(
        field_name="pretrained_on", lookup_expr="iexact", max_length=96, help_text="The pretraining data."
    )
    fine_tuned_on = django_filters.CharFilter(
        field_name="fine_tuned_on",
        lookup_expr="iexact",
        max_length=96,
        help_text="The dataset the weights were last fine-tuned on (the one their head and claims refer to).",
    )
    base_model = django_filters.CharFilter(
        field_name="base_model",
        lookup_expr="exact",
        max_length=200,
        help_text="Models fine-tuned from this one (namespace/name, as a Hugging Face card's base_model).",
    )
    architecture = django_filters.CharFilter(field_name="architecture", lookup_expr="iexact", max_length=96)
    namespace = django_filters.CharFilter(field_name="namespace", lookup_expr="exact", max_length=96)
    params_min = CountFilter(
        field_name="num_params", lookup_expr="gte", help_text="At least this many parameters (5M, 5000000)."
    )
    params_max = CountFilter(
        field_name="num_params", lookup_expr="lte", help_text="At most this many parameters."
    )
    size_mb_max = NumberFilter(
        method="filter_size_mb_max",
        min_value=0,
        max_value=MAX_SIZE_MB,
        help_text="Weights file at most this many MB (10^6 bytes); the estimate where no weights are stored.",
    )
    gmacs_max = NumberFilter(field_name="gmacs", lookup_expr="lte", min_value=0)
    min_top1 = NumberFilter(
        method="filter_min_top1",
        min_value=0,
        max_value=100,
        help_text="Top-1 claimed or verified on the list's dataset (claim_dataset, else imagenet-1k) at least "
        "this (percent).",
    )
    claim_dataset = django_filters.CharFilter(
        method="filter_claim_dataset",
        max_length=96,
        help_text="The dataset accuracy is on: only models with a top-1 claim on it (imagenet-1k, imagenet-real, "
        "imagenetv2-matched-frequency, imagenet-sketch, imagenet-a, imagenet-r, ...). Without it, accuracy is "
        "on imagenet-1k and models without a claim there are listed after those with one.",
    )
    min_claim = NumberFilter(
        method="filter_min_claim",
        min_value=0,
        max_value=100,
        help_text="Top-1 claimed on the list's dataset (claim_dataset, else imagenet-1k) at least this (percent).",
    )
    verified = BooleanChoiceFilter(
        method="filter_verified", help_text="true: only models whose headline claim the hub verified."
    )
    ordering = django_filters.ChoiceFilter(
        method="filter_ordering",
        choices=ORDERING_CHOICES,
        help_text="Prefix with - for descending. Missing values sort last. claimed_top1, verified_top1 and "
        "claim (the same as claimed_top1) are on the list's dataset: claim_dataset, else imagenet-1k.",
    )

    class Meta:
        model = ModelEntry
        fields: list[str] = []
        form = CatalogFilterForm

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # The accuracy annotations first: min_top1, min_claim and the orderings read them, in any order.
        dataset = self.form.cleaned_data.get("claim_dataset")
        queryset = with_top1_on(queryset, dataset=dataset or DEFAULT_TOP1_DATASET, only_claimed=bool(dataset))
        queryset = super().filter_queryset(queryset)
        # The search last, on everything else: without an ordering its matches are ranked by relevance, and the
        # ranking's first tier is read from the filtered rows without the word match (which that tier implies).
        words = search.query_words(self.form.cleaned_data.get("search") or "")
        if not words:
            return queryset
        if self.form.cleaned_data.get("ordering"):
            return search_filter(queryset, query_words=words)
        return ranked_search(queryset, query_words=words)

    def filter_claim_dataset(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset  # applied first, in filter_queryset

    def filter_min_claim(self, queryset: QuerySet, name: str, value: float) -> QuerySet:
        return queryset.filter(**{f"{CLAIM_ANNOTATION}__gte": value})

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset  # applied last, in filter_queryset

    def filter_size_mb_max(self, queryset: QuerySet, name: str, value: float) -> QuerySet:
        limit = int(value * 1_000_000)
        return queryset.filter(
            Q(weights_size_bytes__lte=limit)
            | Q(weights_size_bytes__isnull=True, size_estimate_bytes__lte=limit)
        )

    def filter_min_top1(self, queryset: QuerySet, name: str, value: float) -> QuerySet:
        return queryset.filter(
            Q(**{f"{CLAIM_ANNOTATION}__gte": value}) | Q(**{f"{VERIFIED_ANNOTATION}__gte": value})
        )

    def filter_verified(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        if value:
            return queryset.filter(verification=VerdictStatus.VERIFIED)
        return queryset.exclude(verification=VerdictStatus.VERIFIED)

    def filter_ordering(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.order_by(*ordering_expressions(value))


class MatchesSearchVector(Expression):
    """PostgreSQL: the row's `search_vector` (migration 0004's generated tsvector, under a GIN index) matches a
    to_tsquery text. The column is not in Django's model state, so it is named here on the query's own alias
    (which a subquery relabels)."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, tsquery: str):
        super().__init__()
        self.tsquery = tsquery

    def as_sql(self, compiler, connection):
        alias = compiler.quote_name_unless_alias(compiler.query.get_initial_alias())
        return f"{alias}.\"search_vector\" @@ to_tsquery('simple'::regconfig, %s)", [self.tsquery]


def search_filter(queryset: QuerySet, *, query_words: list[str]) -> QuerySet:
    """Entries with every one of `query_words` (core.search): each starts a word of the entry, or lies inside a
    word of its name. PostgreSQL asks the GIN index; SQLite scans with one LIKE per word (same answers)."""
    words = query_words
    if not words:
        return queryset
    if connections[queryset.db].vendor == "postgresql":
        return queryset.filter(MatchesSearchVector(search.tsquery(words)))
    for word in words:
        # search_text starts with a space and separates words by one: " " + word matches at a word's start.
        queryset = queryset.filter(search_text__contains=f" {word}")
    return queryset


def _byte_ordered(queryset: QuerySet) -> Expression:
    """search_name in byte order, the ranking's order within a tier: SQLite's default collation already is; on
    PostgreSQL "C", the collation of migration 0007's index (a database's own, e.g. C.UTF-8, may not be)."""
    if connections[queryset.db].vendor == "postgresql":
        return Collate(F("search_name"), "C")
    return F("search_name")


RANK_NAME = "search_name_bytes"


class RankedSearchQuerySet(QuerySet):
    """A search's matches by relevance (core.search: tier, then the name's words), read a slice at a time in two
    steps: first the names that start with the query (tier 0, one index range in rank order, no word match or
    ranking needed), then, only when a slice reaches past them, the other matches ranked. Every other use (count,
    facets, plot, a further filter or order_by) is a clone without the two steps: the one ranked query, the
    same rows in the same order."""

    _ranked_parts: "tuple[QuerySet, QuerySet] | None" = None

    def __getitem__(self, key):
        if not isinstance(key, slice) or self._ranked_parts is None or key.step is not None:
            return super().__getitem__(key)
        start, stop = key.start or 0, key.stop
        if start < 0 or stop is None or stop < 0:
            return super().__getitem__(key)
        first_tier, others = self._ranked_parts
        rows = list(first_tier[start:stop])
        if len(rows) == stop - start:
            return rows
        # Fewer names start with the query than this slice reaches: how many do tells where the others begin.
        in_first_tier = start + len(rows) if rows or start == 0 else first_tier.count()
        rest_start = max(0, start - in_first_tier)
        return rows + list(others[rest_start : stop - in_first_tier])


def ranked_search(queryset: QuerySet, *, query_words: list[str]) -> QuerySet:
    """The entries matching every query word, by relevance (core.search's tiers), ties by id."""
    key = search.query_key(query_words)
    queryset = queryset.annotate(**{RANK_NAME: _byte_ordered(queryset)})
    starts_name = Q(**{f"{RANK_NAME}__startswith": key})
    words_start_name_words = Q(*[Q(search_name__contains=f" {word}") for word in query_words])
    tier = Case(When(starts_name, then=0), When(words_start_name_words, then=1), default=2)
    order = [RANK_NAME, "namespace", "name"]
    matches = search_filter(queryset, query_words=query_words)
    ranked = matches.order_by(tier, *order)
    result = RankedSearchQuerySet(model=ranked.model, query=ranked.query.chain(), using=ranked.db)
    result._ranked_parts = (
        queryset.filter(starts_name).order_by(*order),  # starting the name implies matching every word
        matches.exclude(starts_name).order_by(tier, *order),
    )
    return result


def with_top1_on(queryset: QuerySet, *, dataset: str, only_claimed: bool) -> QuerySet:
    """The rows annotated with the dataset, the best top-1 claimed on it and the hub's measurement of that claim
    (null where the model has none); `only_claimed`: only models with a claim there.

    On DEFAULT_TOP1_DATASET the values are the entry's own in1k_* columns (indexed, no join); on another, one join
    on the (model, dataset) summary, an inner one, since that list only holds models claiming on it."""
    queryset = queryset.annotate(**{DATASET_ANNOTATION: Value(dataset)})
    if dataset == DEFAULT_TOP1_DATASET:
        queryset = queryset.annotate(
            **{
                CLAIM_ANNOTATION: F("in1k_claimed_top1"),
                VERIFIED_ANNOTATION: F("in1k_verified_top1"),
                VERIFICATION_ANNOTATION: F("in1k_verification"),
            }
        )
        return queryset.filter(in1k_claimed_top1__isnull=False) if only_claimed else queryset
    return (
        queryset.annotate(
            dataset_claim=FilteredRelation(
                "dataset_top1_claims", condition=Q(dataset_top1_claims__dataset=dataset)
            )
        )
        .annotate(
            **{
                CLAIM_ANNOTATION: F("dataset_claim__value"),
                VERIFIED_ANNOTATION: F("dataset_claim__verified_value"),
                VERIFICATION_ANNOTATION: F("dataset_claim__verification"),
            }
        )
        .filter(**{f"{CLAIM_ANNOTATION}__isnull": False})
    )


def ordering_expressions(value: str) -> list:
    descending = value.startswith("-")
    target = ORDERING_FIELDS[value.lstrip("-")]
    column = F(target) if isinstance(target, str) else target
    primary = column.desc(nulls_last=True) if descending else column.asc(nulls_last=True)
    # A unique tie-breaker keeps pages stable: no row appears twice or goes missing across pages.
    return [primary, "namespace", "name"]


def unknown_parameters(params: Iterable[str], *, allowed_extra: Iterable[str]) -> list[str]:
    allowed = set(CatalogFilterSet.base_filters) | set(allowed_extra)
    return sorted(set(params) - allowed)
