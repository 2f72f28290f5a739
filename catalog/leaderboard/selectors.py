"""Reads for the leaderboard: one dataset's claims, ranked, beside what the hub verified.

A page is a fixed handful of queries whatever its size or the catalog's: the claim check, the hub's runs on the
dataset and its dataset names (through catalog.measurements), the count, the page's rows (sorted in SQL, so
pagination and sorting agree), then the page's top-1/top-5 claims and published speeds in one query each.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import (
    Exists,
    Expression,
    F,
    FloatField,
    IntegerField,
    Max,
    Min,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Abs, Cast, Coalesce

from catalog import measurements
from catalog.filters import CLAIM_ANNOTATION, CatalogFilterSet
from catalog.measurements import MeasuredRun
from catalog.models import AccuracyClaim, ClaimSource, DatasetTop1Claim, Metric, ModelEntry, SpeedClaim
from catalog.selectors import claim_verdict
from core.pareto import pareto_front
from core.timm_results import SPEED_TABLES, TEST_SETS
from core.verdict import TOP1_METRICS, judge_claim

DEFAULT_DATASET = TEST_SETS[0].dataset
DEFAULT_SORT = "-top1"
PAGE_SIZE = 50
# The catalog's filters that still mean something on one dataset's board (min_claim: top-1 here at least).
FILTERS = (
    "search", "domain", "task", "library", "license", "architecture", "namespace", "pretrained_on",
    "params_min", "params_max", "gmacs_max", "size_mb_max", "min_claim",
)  # fmt: skip
# The two published speed tables, by the column names the board uses for them.
SPEEDS = {"gpu_speed": SPEED_TABLES[1], "cpu_speed": SPEED_TABLES[0]}
PLOT_AXES = ("params", *SPEEDS)
PLOT_LIMIT = 1000


class UnknownDataset(Exception):
    def __init__(self, dataset: str):
        super().__init__(f"No model claims a top-1 on {dataset!r}: there is no leaderboard for it.")
        self.dataset = dataset


class PageNotFound(Exception):
    pass


def dataset_label(dataset: str) -> str:
    return next((test_set.label for test_set in TEST_SETS if test_set.dataset == dataset), dataset)


def image_side(input_size: list) -> int | None:
    """input_size[2] in Python: what _side reads in SQL."""
    side = input_size[2] if isinstance(input_size, list) and len(input_size) > 2 else None
    return side if isinstance(side, int) else None


def _side(input_size: Expression | str) -> Expression:
    """input_size[2], the image side in pixels, as an integer (NULL without an input size)."""
    return Cast(KeyTextTransform("2", input_size), IntegerField())


# Larger than any image side: a model without an input size gets the largest size listed (as the model page).
NO_SIZE = 1_000_000


def _distance(outer: type[OuterRef] | None = None) -> Expression:
    side = _side(OuterRef(OuterRef("input_size")) if outer else OuterRef("input_size"))
    return Abs(F("img_size") - Coalesce(side, Value(NO_SIZE)))


def _speed_subquery(hardware: str) -> Subquery:
    """The published samples/s at the model's input size, else the nearest size listed, the larger on a tie
    (the model page's rule, selectors.speed_claims_for). The nearest distance is matched in WHERE, not sorted
    on: SQLite cannot see an outer column inside a correlated subquery's ORDER BY."""
    nearest = (
        SpeedClaim.objects.filter(architecture=OuterRef(OuterRef("architecture")), hardware=hardware)
        .annotate(distance=_distance(OuterRef))
        .order_by()
        .values("hardware")
        .annotate(nearest=Min("distance"))
        .values("nearest")
    )
    chosen = (
        SpeedClaim.objects.filter(architecture=OuterRef("architecture"), hardware=hardware)
        .annotate(distance=_distance())
        .filter(distance=Subquery(nearest))
        .order_by("-img_size")
        .values("samples_per_sec")[:1]
    )
    return Subquery(chosen, output_field=FloatField())


def _top5_subquery(dataset: str) -> Subquery:
    best = (
        AccuracyClaim.objects.filter(model=OuterRef("pk"), dataset=dataset, metric=Metric.TOP5)
        .order_by()
        .values("model")
        .annotate(best=Max("value"))
        .values("best")
    )
    return Subquery(best, output_field=FloatField())


def sort_expression(*, key: str, dataset: str) -> Expression:
    """The SQL value a column sorts by (verified sorts apart: _verified_page). Raises KeyError for any other."""
    if key in SPEEDS:
        return _speed_subquery(SPEEDS[key].hardware)
    return {
        "top1": F(CLAIM_ANNOTATION),
        "top5": _top5_subquery(dataset),
        "params": F("num_params"),
        "gmacs": F("gmacs"),
        "img_size": _side("input_size"),
    }[key]


SORT_KEYS = ("model", "top1", "top5", "verified", "params", "gmacs", "img_size", *SPEEDS)


SORT_VALUE = "lb_sort_value"  # annotation: the value the page is sorted by


def sorted_board(queryset: QuerySet[ModelEntry], *, sort: str, dataset: str) -> QuerySet[ModelEntry]:
    """`queryset` in the board's order: the sort value, missing values last both ways, then by id."""
    descending, key = sort.startswith("-"), sort.lstrip("-")
    if key == "model":
        return queryset.order_by(*(["-namespace", "-name"] if descending else ["namespace", "name"]))
    # Selected, then sorted by its alias: SQLite cannot resolve an outer column inside a subquery's own ORDER
    # BY when that subquery sits in the outer ORDER BY (the speed subquery's nearest-size rule is one).
    queryset = queryset.annotate(**{SORT_VALUE: sort_expression(key=key, dataset=dataset)})
    value = F(SORT_VALUE)
    primary = value.desc(nulls_last=True) if descending else value.asc(nulls_last=True)
    # By id after the value: pages are stable, and equal values read in the same order every time.
    return queryset.order_by(primary, "namespace", "name")


def _verified_page(
    queryset: QuerySet[ModelEntry], measured: Mapping[int, float], *, descending: bool, offset: int, size: int
) -> list[ModelEntry]:
    """A page sorted by the verified top-1: the measured models first, by value (sorted here: they are few),
    then every other model by id. Two or three queries at any size, where a CASE over every measured model in
    SQL would be evaluated for every row of the board."""
    found = list(queryset.filter(pk__in=list(measured)).values_list("pk", "namespace", "name"))
    by_value = sorted(
        found, key=lambda row: (-measured[row[0]] if descending else measured[row[0]], row[1], row[2])
    )
    head = [pk for pk, _, _ in by_value[offset : offset + size]]
    models = {model.pk: model for model in queryset.filter(pk__in=head)} if head else {}
    page = [models[pk] for pk in head if pk in models]
    rest_offset = max(0, offset - len(by_value))
    if len(page) < size:
        others = queryset.exclude(pk__in=[pk for pk, _, _ in found]).order_by("namespace", "name")
        page += list(others[rest_offset : rest_offset + size - len(page)])
    return page


def _check_query(query: Mapping[str, str], allowed_extra: Iterable[str]) -> str:
    unknown = sorted(set(query) - set(FILTERS) - set(allowed_extra) - {"sort"})
    if unknown:
        raise ValidationError({name: "Unknown query parameter." for name in unknown})
    sort = query.get("sort") or DEFAULT_SORT  # blank: the default, as the page's form sends it
    if sort.removeprefix("-") not in SORT_KEYS:  # one "-" at most: "--top1" is no column
        raise ValidationError(
            {"sort": f"Sort by one of {', '.join(SORT_KEYS)} (prefix - for descending), not {sort[:40]!r}."}
        )
    return sort


def leaderboard_queryset(*, dataset: str, query: Mapping[str, str]) -> QuerySet[ModelEntry]:
    """The models with a top-1 claim on `dataset` that pass the catalog filters in `query`, unordered.

    Raises UnknownDataset when no model claims a top-1 there, ValidationError keyed by each bad filter."""
    data = {name: query[name] for name in FILTERS if name in query}
    filterset = CatalogFilterSet(
        data={**data, "claim_dataset": dataset},
        queryset=ModelEntry.objects.only(
            "namespace", "name", "num_params", "gmacs", "input_size", "architecture"
        ),
    )
    if not filterset.is_valid():
        errors = filterset.errors
        if "claim_dataset" in errors:
            raise UnknownDataset(dataset)
        raise ValidationError(
            {name: [str(message) for message in messages] for name, messages in errors.items()}
        )
    # No computed columns here: SQLite computes every selected expression for each row before it sorts, so a
    # JSON read per row would cost the whole board on every page. Only the sort value is computed in SQL.
    return filterset.qs


@dataclass(frozen=True)
class Speed:
    samples_per_sec: float
    img_size: int
    batch_size: int
    hardware: str
    precision: str


@dataclass(frozen=True)
class LeaderboardRow:
    namespace: str
    name: str
    top1: float
    top5: float | None
    claim: AccuracyClaim | None  # the top-1 claim the row shows (its split decides which runs verify it)
    verified: float | None  # the hub's measured top-1, when a run on the claim's dataset and split exists
    verdict: str  # a core.verdict.VerdictStatus value
    delta: float | None  # verified minus claimed, in points
    tolerance: float
    run: MeasuredRun | None
    num_params: int | None
    gmacs: float | None
    img_size: int | None
    speeds: dict[str, Speed | None]

    @property
    def model_id(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Leaderboard:
    dataset: str
    label: str
    sort: str
    rows: list[LeaderboardRow]
    count: int
    page: int
    page_size: int
    hub_datasets: set[str]  # the datasets the hub holds (for the board's list of boards)

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.page_size))


@dataclass(frozen=True)
class Measured:
    """What the hub measured on the dataset: runs by model, and each measured model's verified top-1."""

    dataset: str
    runs: dict[int, list[MeasuredRun]]
    dataset_names: set[str]  # every dataset the hub holds
    values: dict[int, float]

    @property
    def dataset_on_hub(self) -> bool:
        return self.dataset in self.dataset_names


def _best_claims(claims: Iterable[AccuracyClaim]) -> dict[int, dict[str, AccuracyClaim]]:
    """Per model: its top-1 claim with the highest value (the one DatasetTop1Claim summarises; a results-table
    claim wins a tie) and its best top-5 claim."""
    best: dict[int, dict[str, AccuracyClaim]] = {}
    for claim in claims:
        kind = "top5" if claim.metric == Metric.TOP5 else "top1"
        current = best.setdefault(claim.model_id, {}).get(kind)
        if current is None or (claim.value, claim.source == ClaimSource.RESULTS_TABLE) > (
            current.value,
            current.source == ClaimSource.RESULTS_TABLE,
        ):
            best[claim.model_id][kind] = claim
    return best


def _claims_on(dataset: str, model_ids: Iterable[int]) -> dict[int, dict[str, AccuracyClaim]]:
    model_ids = list(model_ids)
    if not model_ids:
        return {}
    claims = AccuracyClaim.objects.filter(
        model_id__in=model_ids, dataset=dataset, metric__in=(*TOP1_METRICS, Metric.TOP5)
    ).only(
        "model_id", "dataset", "split", "metric", "value", "source", "img_size", "crop_pct", "interpolation"
    )  # what claim_verdict reads: the claim protocol among it
    return _best_claims(claims)


def measured_on(*, dataset: str) -> Measured:
    """The hub's runs on `dataset` and the verified top-1 each gives its model's top-1 claim there (the same
    verdict the model page shows: catalog.selectors.claim_verdict)."""
    port = measurements.current()
    runs = port.succeeded_runs_on_dataset(dataset=dataset)
    names = set(port.dataset_names())
    values = {}
    for pk, claims in _claims_on(dataset, runs).items():
        if "top1" in claims:
            verdict = claim_verdict(claim=claims["top1"], runs=runs[pk], dataset_names=names)
            if verdict.measured is not None:
                values[pk] = verdict.measured
    return Measured(dataset=dataset, runs=runs, dataset_names=names, values=values)


def _nearest_speed(claims: Iterable[SpeedClaim], size: int | None) -> SpeedClaim | None:
    """The same choice as _speed_subquery: the listed size nearest the model's, the larger on a tie."""
    claims = list(claims)
    if not claims:
        return None
    if size is None:
        return max(claims, key=lambda claim: claim.img_size)
    return min(claims, key=lambda claim: (abs(claim.img_size - size), -claim.img_size))


def speeds_for(*, models: list[ModelEntry]) -> dict[int, dict[str, Speed | None]]:
    """Published speeds of each model's architecture on both tables, in one query."""
    architectures = {model.architecture for model in models if model.architecture}
    by_key: dict[tuple[str, str], list[SpeedClaim]] = {}
    if architectures:
        for claim in SpeedClaim.objects.filter(architecture__in=architectures):
            by_key.setdefault((claim.architecture, claim.hardware), []).append(claim)
    speeds = {}
    for model in models:
        size = image_side(model.input_size)
        speeds[model.pk] = {}
        for column, table in SPEEDS.items():
            claim = _nearest_speed(by_key.get((model.architecture, table.hardware), []), size)
            speeds[model.pk][column] = (
                None
                if claim is None
                else Speed(
                    claim.samples_per_sec, claim.img_size, claim.batch_size, table.hardware, table.precision
                )
            )
    return speeds


def _row(
    model: ModelEntry,
    claims: Mapping[str, AccuracyClaim],
    measured: Measured,
    speeds: dict[str, Speed | None],
) -> LeaderboardRow:
    claim, top5 = claims.get("top1"), claims.get("top5")
    top1 = getattr(model, CLAIM_ANNOTATION)
    if claim is not None:
        verdict = claim_verdict(
            claim=claim, runs=measured.runs.get(model.pk, []), dataset_names=measured.dataset_names
        )
        status, value, delta, tolerance, run = (
            verdict.status, verdict.measured, verdict.delta, verdict.tolerance, verdict.run
        )  # fmt: skip
    else:  # a claim removed between the two reads: judged as unmeasured
        judged = judge_claim(claimed=top1, measurement=None, dataset_on_hub=measured.dataset_on_hub)
        status, value, delta, tolerance, run = judged.status.value, None, None, judged.tolerance, None
    return LeaderboardRow(
        namespace=model.namespace,
        name=model.name,
        top1=top1,
        top5=top5.value if top5 else None,
        claim=claim,
        verified=value,
        verdict=status,
        delta=delta,
        tolerance=tolerance,
        run=run,
        num_params=model.num_params,
        gmacs=model.gmacs,
        img_size=image_side(model.input_size),
        speeds=speeds,
    )


def leaderboard_page(
    *,
    dataset: str,
    query: Mapping[str, str],
    page: int = 1,
    page_size: int = PAGE_SIZE,
    queryset: QuerySet[ModelEntry] | None = None,
) -> Leaderboard:
    """One page of the board (of `queryset` when the caller built leaderboard_queryset already). Raises
    UnknownDataset, PageNotFound (past the end) or ValidationError."""
    sort = _check_query(query, allowed_extra=("page", "page_size", "format", "x"))
    if queryset is None:
        queryset = leaderboard_queryset(dataset=dataset, query=query)
    measured = measured_on(dataset=dataset)
    count = queryset.count()
    offset = (page - 1) * page_size
    if page > 1 and offset >= count:
        pages = max(1, -(-count // page_size))
        raise PageNotFound(f"Page {page} is past the end: there are {pages} page(s) of {page_size}.")
    if sort.lstrip("-") == "verified":
        models = _verified_page(
            queryset, measured.values, descending=sort.startswith("-"), offset=offset, size=page_size
        )
    else:
        ordered = sorted_board(queryset, sort=sort, dataset=dataset)
        models = list(ordered[offset : offset + page_size])
    claims = _claims_on(dataset, [model.pk for model in models])
    speeds = speeds_for(models=models)
    rows = [_row(model, claims.get(model.pk, {}), measured, speeds[model.pk]) for model in models]
    return Leaderboard(
        dataset, dataset_label(dataset), sort, rows, count, page, page_size, measured.dataset_names
    )


def boards(*, candidates: Iterable[str]) -> list[str]:
    """Which of `candidates` have a board (some model claims a top-1 there), in the order given.

    One query of index probes (EXISTS per name), not a DISTINCT over every claim: that would read all of them.
    """
    names = list(dict.fromkeys(candidates))
    checks = {
        f"has_{index}": Exists(DatasetTop1Claim.objects.filter(dataset=name))
        for index, name in enumerate(names)
    }
    row = DatasetTop1Claim.objects.annotate(**checks).values(*checks).first() if names else None
    return [name for index, name in enumerate(names) if row and row[f"has_{index}"]]


@dataclass(frozen=True)
class FrontPoint:
    model_id: str
    x: float
    top1: float
    on_front: bool


@dataclass(frozen=True)
class FrontPlot:
    axis: str  # one of PLOT_AXES
    points: list[FrontPoint]
    limited: bool  # only the PLOT_LIMIT most accurate are shown


def pareto_points(*, queryset: QuerySet[ModelEntry], axis: str, limit: int = PLOT_LIMIT) -> FrontPlot:
    """The board's models (`queryset`, from leaderboard_queryset) as (x, claimed top-1) points, the front
    marked, for x = parameters or a speed.

    At most `limit` points, the most accurate first (index order on the claim). The front among them is the true
    front's part at or above the lowest accuracy shown: a point is dominated only by points at least as accurate.
    """
    if axis not in PLOT_AXES:
        raise ValidationError({"x": f"Plot against one of {', '.join(PLOT_AXES)}, not {axis[:40]!r}."})
    ordered = queryset.order_by(F(CLAIM_ANNOTATION).desc(), "namespace", "name")
    if axis == "params":
        # Plain tuples: up to a thousand model instances would cost more than the query.
        rows = list(
            ordered.filter(num_params__gt=0).values_list("namespace", "name", "num_params", CLAIM_ANNOTATION)[
                : limit + 1
            ]
        )
        pairs = [
            (f"{namespace}/{name}", float(params), top1) for namespace, name, params, top1 in rows[:limit]
        ]
    else:
        rows = list(ordered[: limit + 1])
        speeds = speeds_for(models=rows[:limit])
        pairs = [
            (model.model_id, speed.samples_per_sec, getattr(model, CLAIM_ANNOTATION))
            for model in rows[:limit]
            if (speed := speeds[model.pk][axis]) and speed.samples_per_sec > 0
        ]
    limited = len(rows) > limit
    front = pareto_front([(x, top1) for _, x, top1 in pairs], x_higher_is_better=axis != "params")
    points = [
        FrontPoint(model_id, x, top1, index in front) for index, (model_id, x, top1) in enumerate(pairs)
    ]
    return FrontPlot(axis=axis, points=points, limited=limited)
