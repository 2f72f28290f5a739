"""Reads of the catalog, shared by pages and the API."""

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Count, Prefetch, QuerySet

from catalog import measurements
from catalog.filters import (
    CLAIM_ANNOTATION,
    VERIFICATION_ANNOTATION,
    VERIFIED_ANNOTATION,
    CatalogFilterSet,
    unknown_parameters,
)
from catalog.measurements import MeasuredRun
from catalog.models import (
    CASE_INSENSITIVE_FACETS,
    DEFAULT_TOP1_DATASET,
    FACET_FIELDS,
    AccuracyClaim,
    CatalogFacetCount,
    ClaimSource,
    DatasetTop1Claim,
    Metric,
    ModelEntry,
    SpeedClaim,
    WeightsMirror,
)
from core.run_config import claim_protocol, protocol_matches, run_protocol
from core.timm_results import TEST_SETS
from core.verdict import TOP1_METRICS, Measurement, headline_claim, judge_claim
from hub.pagination import EXACT_COUNT_LIMIT, planner_estimate

PAGE_PARAMETERS = ("page", "page_size")


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


def retired_claims(*, model: ModelEntry) -> list[AccuracyClaim]:
    """Claims the model's source no longer makes (a tag timm's table stopped listing): history, newest first."""
    return list(
        AccuracyClaim.history.filter(model=model, retired_at__isnull=False).order_by(
            "-retired_at", "dataset", "metric"
        )
    )


def model_get(*, namespace: str, name: str) -> ModelEntry:
    """Raises ModelEntry.DoesNotExist. The model carries `published_speeds` (speed_claims_for)."""
    model = with_claims(ModelEntry.objects.select_related("weights", "text_details")).get(
        namespace=namespace, name=name
    )
    model.published_speeds = speed_claims_for(model=model)
    return model


# Bounds on the model tree a page shows: ancestors are followed this far (a cycle stops earlier), children this many.
MAX_LINEAGE_DEPTH = 8
MAX_LINEAGE_CHILDREN = 50


@dataclass(frozen=True)
class LineageLink:
    model_id: str
    model: ModelEntry | None  # None when the catalog does not hold it (a base only on the Hugging Face Hub)


@dataclass(frozen=True)
class Lineage:
    ancestors: list[LineageLink]  # the base model first, then its base, ...
    children: list[ModelEntry]  # entries fine-tuned from this one
    more_children: bool


def _catalog_entry(model_id: str) -> ModelEntry | None:
    namespace, _, name = model_id.partition("/")
    return (
        ModelEntry.objects.only("namespace", "name", "base_model")
        .filter(namespace=namespace, name=name)
        .first()
    )


def model_lineage(*, model: ModelEntry) -> Lineage:
    """The model tree around an entry: its chain of base models, and the entries fine-tuned from it."""
    ancestors: list[LineageLink] = []
    seen = {model.model_id}
    current = model.base_model
    while current and current not in seen and len(ancestors) < MAX_LINEAGE_DEPTH:
        seen.add(current)
        parent = _catalog_entry(current)
        ancestors.append(LineageLink(model_id=current, model=parent))
        current = parent.base_model if parent else ""
    children = list(
        ModelEntry.objects.only("namespace", "name", "fine_tuned_on")
        .filter(base_model=model.model_id)
        .order_by("namespace", "name")[: MAX_LINEAGE_CHILDREN + 1]
    )
    return Lineage(
        ancestors=ancestors,
        children=children[:MAX_LINEAGE_CHILDREN],
        more_children=len(children) > MAX_LINEAGE_CHILDREN,
    )


def mirror_queryset() -> QuerySet[WeightsMirror]:
    return WeightsMirror.objects.select_related("model")


def latest_mirror(*, model: ModelEntry) -> WeightsMirror | None:
    """The model's newest weights mirror job, for its page."""
    return model.weights_mirrors.order_by("-created", "-pk").first()


def speed_claims_for(*, model: ModelEntry) -> list[SpeedClaim]:
    """Published speeds of the model's architecture, one per hardware setup: at the model's input size when
    listed, else at the nearest size listed."""
    if not model.architecture:
        return []
    size = model.input_size[-1] if model.input_size else None
    chosen: dict[tuple[str, str], SpeedClaim] = {}
    for claim in SpeedClaim.objects.filter(architecture=model.architecture):
        key = (claim.hardware, claim.precision)
        current = chosen.get(key)
        if current is None or _closer(claim.img_size, current.img_size, size):
            chosen[key] = claim
    return sorted(chosen.values(), key=lambda claim: (claim.device, claim.hardware))


def _closer(candidate: int, current: int, target: int | None) -> bool:
    if target is None:
        return candidate > current
    return (abs(candidate - target), -candidate) < (abs(current - target), -current)


@dataclass(frozen=True)
class ResultOnTestSet:
    dataset: str
    label: str
    top1: float
    top5: float | None
    drop: float | None  # top-1 here minus top-1 on ImageNet-1k, in points (negative: worse)
    claim: AccuracyClaim

    @property
    def drop_label(self) -> str:
        return "" if self.drop is None else f"{self.drop:+.2f} pt"


def results_on_test_sets(*, model: ModelEntry) -> list[ResultOnTestSet]:
    """The model's claims on timm's six test sets, ImageNet-1k first, with the drop from ImageNet-1k.

    Reads the prefetched claims; a published results-table claim wins over another source on the same set.
    """
    by_key: dict[tuple[str, str], AccuracyClaim] = {}
    for claim in model.claims.all():
        key = (claim.dataset, claim.metric)
        current = by_key.get(key)
        if current is None or (
            claim.source == ClaimSource.RESULTS_TABLE and current.source != ClaimSource.RESULTS_TABLE
        ):
            by_key[key] = claim
    baseline = by_key.get((TEST_SETS[0].dataset, Metric.TOP1))
    results = []
    for test_set in TEST_SETS:
        top1 = by_key.get((test_set.dataset, Metric.TOP1))
        if top1 is None:
            continue
        top5 = by_key.get((test_set.dataset, Metric.TOP5))
        drop = None if baseline is None else round(top1.value - baseline.value, 3)
        results.append(
            ResultOnTestSet(
                test_set.dataset, test_set.label, top1.value, top5.value if top5 else None, drop, top1
            )
        )
    return results


# --- what the hub measured (through the catalog.measurements port) ---------------------------------------


def runs_for_model(*, model: ModelEntry, limit: int = 20) -> list[MeasuredRun]:
    """The model's benchmark runs in any state, newest first."""
    return measurements.current().runs_for_model(model_id=model.pk, limit=limit)


def dataset_names() -> list[str]:
    """The datasets the hub can measure on (the re-check form's choices)."""
    return measurements.current().dataset_names()


@dataclass(frozen=True)
class ClaimVerdict:
    claim: AccuracyClaim
    status: str  # a core.verdict.VerdictStatus value: verified | disagrees | unverifiable | pending
    measured: float | None
    delta: float | None
    tolerance: float
    run: MeasuredRun | None
    interval: tuple[float, float] | None = None  # the measurement's 95% Wilson interval, shown beside delta
    num_samples: int | None = None

    def to_dict(self) -> dict:
        """The verdict's fields as the API shows them (the claim and run are named, not embedded)."""
        return {
            "dataset": self.claim.dataset, "split": self.claim.split, "metric": self.claim.metric,
            "claimed": self.claim.value, "status": self.status, "measured": self.measured, "delta": self.delta,
            "interval95": list(self.interval) if self.interval else None, "num_samples": self.num_samples,
            "tolerance": self.tolerance, "run": self.run.pk if self.run else None,
        }  # fmt: skip


def run_measurement(*, run: MeasuredRun) -> Measurement:
    """A succeeded run's top-1 with its sample size, which the verdict's interval needs."""
    return Measurement.from_top1(top1=run.top1, total=int(run.metrics["num_samples"]))


def claim_verdict(
    *, claim: AccuracyClaim, runs: Iterable[MeasuredRun], dataset_names: Collection[str]
) -> ClaimVerdict:
    """The verdict on one claim, given the model's succeeded runs on its current weights (newest first): the
    newest run on the claim's dataset and split decides it. The page and the entry's verification column
    both come from here, so they cannot disagree."""
    protocol = claim_protocol(
        dataset=claim.dataset,
        img_size=claim.img_size,
        crop_pct=claim.crop_pct,
        interpolation=claim.interpolation,
    )
    # Only a run measured the claim's way can vouch for it: timm's ImageNet-A figure is over 200 outputs at the
    # row's image size and crop, and a run over all 1,000 outputs at another size measures something else.
    run = next(
        (
            r
            for r in runs
            if r.dataset.name == claim.dataset
            and r.split == claim.split
            and protocol_matches(protocol, run_protocol(r.provenance or {}))
        ),
        None,
    )
    measurement = run_measurement(run=run) if run is not None else None
    verdict = judge_claim(
        claimed=claim.value, measurement=measurement, dataset_on_hub=claim.dataset in dataset_names
    )
    return ClaimVerdict(
        claim, verdict.status.value, run.top1 if run is not None else None, verdict.delta, verdict.tolerance,
        run, verdict.interval, verdict.num_samples,
    )  # fmt: skip


def claim_verdicts(*, model: ModelEntry) -> list[ClaimVerdict]:
    """A verdict for every top-1 claim: measured by the hub on the same dataset and split, or why not."""
    port = measurements.current()
    weights = {model.pk: model.weights.sha256} if model.weights_id else {}
    runs = port.succeeded_runs(weights_by_model=weights).get(model.pk, [])
    names = set(port.dataset_names())
    return [
        claim_verdict(claim=claim, runs=runs, dataset_names=names)
        for claim in model.claims.all()
        if claim.metric in TOP1_METRICS
    ]


def headline_verdict(*, model: ModelEntry) -> ClaimVerdict | None:
    """The verdict on the claim the entry leads with (the one its verification column summarises)."""
    verdicts = claim_verdicts(model=model)
    headline = headline_claim([v.claim for v in verdicts])
    return next((v for v in verdicts if v.claim is headline), None)


def measured_throughput(*, runs: list[MeasuredRun]) -> dict | None:
    """The hub's own images/s from the newest succeeded run in `runs` (newest first), with its device."""
    for run in runs:
        throughput = (run.metrics or {}).get("throughput_ips")
        if run.status == "succeeded" and throughput:
            provenance = run.provenance or {}
            return {
                "run": run,
                "samples_per_sec": throughput,
                "device": provenance.get("device", ""),
                "threads": provenance.get("threads"),
                "batch_size": (run.config or {}).get("batch_size"),
            }
    return None


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
            model.test_set_results = results_on_test_sets(model=model)
            model.headline_verdict = headline_verdict(model=model)
            found[model_id] = model
    missing = [model_id for model_id in model_ids if model_id not in found]
    return [found[model_id] for model_id in model_ids if model_id in found], missing


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int | None  # None: not counted (a result larger than EXACT_COUNT_LIMIT on PostgreSQL)


@dataclass(frozen=True)
class FacetSummary:
    """What the catalog page shows beside a query's results. Every number is exact, except where a flag says:
    `count_is_estimate` (count is PostgreSQL's planner estimate, as in the API) and `counts_omitted` (more than
    EXACT_COUNT_LIMIT match: the facets list the catalog's values, without counts)."""

    count: int  # rows in the filtered catalog: the page needs no COUNT query of its own
    count_is_estimate: bool
    counts_omitted: bool
    total: int  # entries in the whole catalog
    facets: dict[str, list[FacetValue]]


# Parameters that do not narrow the result: a query with no filter but these (and facet values) is answered by
# the facet-count table alone.
NON_FILTER_PARAMETERS = frozenset({"ordering", "page", "page_size", "format"})
FacetRow = tuple  # FACET_FIELDS values, then how many entries have them


def facet_filters(*, query: Mapping[str, str]) -> dict[str, str] | None:
    """The query's filters when it filters on facet fields only ({} for none), else None. Call it on a query
    model_list accepted: the values are then valid."""
    given = {name: query.get(name) for name in query if name not in NON_FILTER_PARAMETERS}
    given = {name: value for name, value in given.items() if value not in (None, "")}
    return given if set(given) <= set(FACET_FIELDS) else None


def _facet_count_rows() -> list[FacetRow]:
    # A few hundred rows at most (combinations of four low-cardinality columns): read whole, filtered in Python.
    return list(CatalogFacetCount.objects.filter(count__gt=0).values_list(*FACET_FIELDS, "count"))


def _row_matches(row: FacetRow, filters: Mapping[str, str]) -> bool:
    for index, name in enumerate(FACET_FIELDS):
        wanted = filters.get(name)
        # matched as the filter matches: case-insensitively (iexact) or exactly
        if wanted is not None and (
            row[index].lower() != wanted.lower() if name in CASE_INSENSITIVE_FACETS else row[index] != wanted
        ):
            return False
    return True


def catalog_count_known(*, query: Mapping[str, str]) -> int | None:
    """The exact size of the result when the facet-count table knows it (no filter, or facet filters only): one
    read of a small table instead of counting rows. None otherwise."""
    filters = facet_filters(query=query)
    if filters is None:
        return None
    return sum(row[-1] for row in _facet_count_rows() if _row_matches(row, filters))


def catalog_facets(
    *, query: Mapping[str, str], queryset: QuerySet[ModelEntry], limit: int = 12
) -> FacetSummary:
    """Value counts per facet over the filtered catalog, most common first, the result's size and the catalog's.

    The unfiltered catalog and facet-only filters read the facet-count table (exact, any size). Other filters
    group their matches: on SQLite all of them; on PostgreSQL only a result of at most EXACT_COUNT_LIMIT, read
    whole. A larger one (by the planner's estimate, or found so while reading) is not read at all: its count is
    the estimate, and the facets list the catalog's values without counts. Grouping a tenth of a large catalog
    costs several times the page, and counts over a first slice of the matches would be a biased sample.
    """
    combinations = _facet_count_rows()
    total = sum(row[-1] for row in combinations)
    filters = facet_filters(query=query)
    if filters is not None:
        matching = [row for row in combinations if _row_matches(row, filters)]
        return _facet_summary(matching, total=total, limit=limit)
    if connections[queryset.db].vendor != "postgresql":
        grouped = queryset.order_by().values_list(*FACET_FIELDS).annotate(count=Count("id"))
        return _facet_summary(list(grouped), total=total, limit=limit)
    estimate = planner_estimate(queryset) or 0
    if estimate <= EXACT_COUNT_LIMIT:
        first = list(queryset.order_by().values_list(*FACET_FIELDS)[: EXACT_COUNT_LIMIT + 1])
        if len(first) <= EXACT_COUNT_LIMIT:
            matching = [(*key, count) for key, count in Counter(first).items()]
            return _facet_summary(matching, total=total, limit=limit)
        estimate = max(estimate, len(first))
    return _facet_summary(combinations, total=total, limit=limit, estimate=estimate)


def _facet_summary(
    rows: Iterable[FacetRow], *, total: int, limit: int, estimate: int | None = None
) -> FacetSummary:
    """Facet values ranked by their counts over `rows`; with an `estimate` (a result too large to group), `rows`
    are the whole catalog's and only rank the values, whose counts are left out."""
    rows = list(rows)
    totals: dict[str, Counter] = {field_name: Counter() for field_name in FACET_FIELDS}
    for row in rows:
        for index, field_name in enumerate(FACET_FIELDS):
            if row[index]:
                totals[field_name][row[index]] += row[-1]
    facets: dict[str, list[FacetValue]] = {}
    for field_name in FACET_FIELDS:
        choices = dict(ModelEntry._meta.get_field(field_name).choices or [])
        ranked = sorted(totals[field_name].items(), key=lambda item: (-item[1], item[0]))[:limit]
        facets[field_name] = [
            FacetValue(
                value=value, label=choices.get(value, value), count=None if estimate is not None else count
            )
            for value, count in ranked
        ]
    counted = sum(row[-1] for row in rows)
    return FacetSummary(
        count=counted if estimate is None else estimate,
        count_is_estimate=estimate is not None,
        counts_omitted=estimate is not None,
        total=total,
        facets=facets,
    )


def scatter_points(*, queryset: QuerySet[ModelEntry], limit: int = 400) -> list[dict]:
    """(params, top-1) points for the accuracy-vs-size plot of a model_list result, on its one dataset (its
    top1_dataset annotation): the hub's measurement where it made one, else the claim. Models without a top-1 on
    that dataset are not plotted."""
    rows = queryset.filter(num_params__gt=0, **{f"{CLAIM_ANNOTATION}__isnull": False}).values(
        "namespace", "name", "num_params", CLAIM_ANNOTATION, VERIFIED_ANNOTATION, VERIFICATION_ANNOTATION
    )[:limit]
    return [_scatter_point(row) for row in rows]


def _scatter_point(row: Mapping) -> dict:
    claimed, measured = row[CLAIM_ANNOTATION], row[VERIFIED_ANNOTATION]
    # The stored verdict on this dataset's claim, judged with its sample size when the run was recorded (the
    # entry's own verification column is about its headline claim only).
    status = row[VERIFICATION_ANNOTATION] if measured is not None else ""
    return {
        "model_id": f"{row['namespace']}/{row['name']}",
        "num_params": row["num_params"],
        "top1": claimed if measured is None else measured,
        "verified": measured is not None,
        "verification": status,
    }


def top1_dataset(*, query: Mapping[str, str]) -> str:
    """The dataset a catalog query's accuracy is on: its claim_dataset, else DEFAULT_TOP1_DATASET."""
    return query.get("claim_dataset") or DEFAULT_TOP1_DATASET


@dataclass(frozen=True)
class DatasetChoice:
    dataset: str
    label: str


def top1_dataset_choices(*, chosen: str = "") -> list[DatasetChoice]:
    """The datasets the pages offer to rank on: timm's test sets, those the hub holds that some model claims a
    top-1 on (the demo's digits), and the one the query chose. Probes per dataset, never a scan of the claims."""
    choices = [DatasetChoice(test_set.dataset, test_set.label) for test_set in TEST_SETS]
    offered = {choice.dataset for choice in choices}
    for name in [*dataset_names(), chosen] if chosen else dataset_names():
        if name not in offered and DatasetTop1Claim.objects.filter(dataset=name).exists():
            choices.append(DatasetChoice(name, name))
            offered.add(name)
    return choices


@dataclass(frozen=True)
class ComparedTop1:
    model: ModelEntry
    claimed: float | None
    verified: float | None
    verification: str  # the verdict on that claim (the sample-size rule); "" without a claim there
    rank: int | None  # 1 = the best claim on the dataset among the compared; None without a claim there
    verdict: ClaimVerdict | None = None  # with its figures (delta, interval, images), when measured


def compare_on_dataset(*, models: list[ModelEntry], dataset: str) -> list[ComparedTop1]:
    """Each compared model's top-1 on one dataset (claimed, and measured by the hub), in the order given, with
    its rank among them by claim; models without a claim there have no rank. One query."""
    rows = DatasetTop1Claim.objects.filter(model__in=models, dataset=dataset).values_list(
        "model_id", "value", "verified_value", "verification"
    )
    found = {model_id: (value, verified, verdict) for model_id, value, verified, verdict in rows}
    values = [value for value, _verified, _verdict in found.values()]
    # Competition ranking: equal claims share a rank (1, 1, 3).
    rank_of = {pk: 1 + sum(other > row[0] for other in values) for pk, row in found.items()}
    return [
        ComparedTop1(
            model,
            *found.get(model.pk, (None, None, "")),
            rank=rank_of.get(model.pk),
            verdict=_measured_verdict_on(
                model=model, dataset=dataset, claimed=found.get(model.pk, (None,))[0]
            ),
        )
        for model in models
    ]


def _measured_verdict_on(*, model: ModelEntry, dataset: str, claimed: float | None) -> ClaimVerdict | None:
    """The verdict, with its figures, on the model's best claim on `dataset` (the one the row shows), if measured:
    a handful of compared models, one runs query each."""
    if claimed is None:
        return None
    return next(
        (
            verdict
            for verdict in claim_verdicts(model=model)
            if verdict.claim.dataset == dataset and verdict.claim.value == claimed and verdict.interval
        ),
        None,
    )


LABEL_PREVIEW = 5  # labels of a label space shown on the model page


def label_preview(*, model: ModelEntry) -> list[tuple[str, str]]:
    """The first few (label name, description) pairs of the entry's label space ("n01440764", "tench, Tinca
    tinca"), for the model page; [] for an entry without one."""
    if not model.label_space or model.label_names:
        return []
    names, descriptions = model.output_label_names, model.output_label_descriptions
    return list(zip(names[:LABEL_PREVIEW], descriptions[:LABEL_PREVIEW], strict=True))
