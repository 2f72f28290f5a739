"""timm's published results: every shipped file parses, import_timm loads them as claims idempotently, reports."""

import csv
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count

from catalog import services
from catalog.models import AccuracyClaim, DatasetTop1Claim, ModelEntry, SpeedClaim
from core import timm_results
from core.claims_csv import ClaimsCsvError, parse_claims_csv
from core.timm_results import DATA_DIR, SPEED_TABLES, TEST_SETS, parse_speed_csv

SPEED_HEADER = "model,infer_img_size,infer_samples_per_sec,infer_step_time,infer_batch_size,param_count,infer_gmacs,infer_macts\n"  # noqa: E501


def csv_rows(filename: str) -> list[dict]:
    with open(DATA_DIR / filename, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_data_ships_with_its_licence_and_source():
    assert "Apache License" in (DATA_DIR / "LICENSE").read_text()
    source = (DATA_DIR / "SOURCE.md").read_text()
    assert timm_results.TIMM_RESULTS_COMMIT in source
    shipped = {path.name for path in DATA_DIR.glob("*.csv")}
    assert shipped == {t.filename for t in TEST_SETS} | {
        t.filename for t in SPEED_TABLES
    }  # only what is used
    assert timm_results.source_url("results-sketch.csv") == (
        "https://github.com/huggingface/pytorch-image-models/blob/"
        f"{timm_results.TIMM_RESULTS_COMMIT}/results/results-sketch.csv"
    )


@pytest.mark.parametrize("test_set", TEST_SETS, ids=lambda t: t.dataset)
def test_every_results_file_parses_completely(test_set):
    rows = timm_results.read_test_set(test_set)
    raw = csv_rows(test_set.filename)
    assert len(rows) == len(raw) == 1556
    for row, record in zip(rows, raw, strict=True):
        assert row.model == record["model"]
        assert row.top1 == float(record["top1"]) and row.top5 == float(record["top5"])
        assert row.img_size == int(record["img_size"]) and row.interpolation == record["interpolation"]
        assert row.param_count_millions == float(record["param_count"].replace(",", ""))
    quoted = [row for row, record in zip(rows, raw, strict=True) if "," in record["param_count"]]
    assert quoted and all(row.param_count_millions > 1000 for row in quoted)  # "1,014.45" -> 1014.45


@pytest.mark.parametrize("table", SPEED_TABLES, ids=lambda t: t.device)
def test_every_speed_file_parses_completely(table):
    rows = timm_results.read_speed_table(table)
    raw = csv_rows(table.filename)
    assert len(rows) == len(raw) and len(rows) in (1440, 1627)
    for row, record in zip(rows, raw, strict=True):
        assert row.architecture == record["model"]
        assert row.samples_per_sec == float(record["infer_samples_per_sec"])
        assert row.batch_size == int(record["infer_batch_size"]) and row.img_size == int(
            record["infer_img_size"]
        )


def test_speed_numbers_may_be_quoted_with_thousands_separators():
    rows = parse_speed_csv(SPEED_HEADER + 'resnet50,224,"1,234.5",0.81,"1,024","25.56",4.11,11.11\n')
    assert rows[0].samples_per_sec == 1234.5 and rows[0].batch_size == 1024 and rows[0].gmacs == 4.11


def test_accuracy_numbers_may_be_quoted_with_thousands_separators():
    header = "model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation\n"
    rows = parse_claims_csv(header + 'big.tag,"1,024",88.5,11.5,98.1,1.9,"1,014.45",1.0,bicubic\n')
    assert rows[0].img_size == 1024 and rows[0].param_count_millions == 1014.45


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "resnet50,224,fast,0.8,1,25,4,11\n",
            "line 2: column 'infer_samples_per_sec' is not a number: 'fast'",
        ),
        ("resnet50,224,-3,0.8,1,25,4,11\n", "line 2: column 'infer_samples_per_sec' must not be negative"),
        ("resnet50,224,30,0.8,1.5,25,4,11\n", "line 2: column 'infer_batch_size' must be a positive integer"),
        (",224,30,0.8,1,25,4,11\n", "line 2: column 'model' is empty"),
        ("resnet50,,30,0.8,1,25,4,11\n", "line 2: column 'infer_img_size' is empty"),
    ],
)
def test_bad_speed_rows_are_named(body, message):
    with pytest.raises(ClaimsCsvError, match=message.replace("(", r"\(")):
        parse_speed_csv(SPEED_HEADER + body)


def test_a_speed_file_without_its_columns_is_refused():
    with pytest.raises(ClaimsCsvError, match="missing column"):
        parse_speed_csv("model,samples\nx,1\n")


def import_timm(pattern: str) -> str:
    out = StringIO()
    call_command("import_timm", "--filter", pattern, stdout=out, stderr=StringIO())
    return out.getvalue()


def expected_row(filename: str, tag: str, img_size: int) -> dict:
    return next(r for r in csv_rows(filename) if r["model"] == tag and int(r["img_size"]) == img_size)


def test_import_timm_records_six_test_sets_per_tag_as_unverified_claims(db):
    output = import_timm("resnet50.a1_in1k")
    model = ModelEntry.objects.get(namespace="timm", name="resnet50.a1_in1k")
    claims = {(c.dataset, c.metric): c for c in model.claims.all()}
    assert {dataset for dataset, _ in claims} == {t.dataset for t in TEST_SETS}
    for test_set in TEST_SETS:
        # timm lists this tag at 224 and 288; the claim is the row at its default input size (224)
        row = expected_row(test_set.filename, "resnet50.a1_in1k", 224)
        top1, top5 = claims[(test_set.dataset, "top1")], claims[(test_set.dataset, "top5")]
        assert top1.value == float(row["top1"]) and top5.value == float(row["top5"])
        assert (top1.img_size, top1.crop_pct, top1.interpolation) == (224, 0.95, "bicubic")
        assert top1.split == test_set.split and top1.source == "results-table"
        assert top1.source_url == timm_results.source_url(test_set.filename)
    # the headline is ImageNet-1k, not the (higher) ImageNet-ReaL figure; nothing is verified, and the hub holds
    # no ImageNet-1k to measure it on: unverifiable, in the list as on the model page
    assert model.claimed_top1 == claims[("imagenet-1k", "top1")].value
    assert claims[("imagenet-real", "top1")].value > model.claimed_top1
    assert model.verified_top1 is None and model.verification == "unverifiable"
    assert "1 of 1 tags have published results, 0 have none" in output
    speeds = SpeedClaim.objects.filter(architecture="resnet50")
    assert {s.hardware for s in speeds} == {"Intel Core i7-12700H", "NVIDIA RTX 5090"}
    cpu_224 = speeds.get(precision="fp32", img_size=224)
    assert (cpu_224.samples_per_sec, cpu_224.batch_size, cpu_224.torch_version) == (30.48, 1, "2.4.0")


def test_a_second_import_adds_nothing(db):
    first = import_timm("resnet18.*")
    counts = (AccuracyClaim.objects.count(), SpeedClaim.objects.count(), DatasetTop1Claim.objects.count())
    assert counts[0] > 0 and "0 updated accuracy claims" in first
    second = import_timm("resnet18.*")
    assert (
        AccuracyClaim.objects.count(),
        SpeedClaim.objects.count(),
        DatasetTop1Claim.objects.count(),
    ) == counts
    assert f"0 new, {counts[0]} updated accuracy claims; 0 new, {counts[1]} updated speed claims" in second


def test_tags_without_published_results_are_counted(db):
    output = import_timm("resnet50.bamboo")  # a tag with no row in the results tables
    assert "0 of 1 tags have published results, 1 have none" in output
    assert not AccuracyClaim.objects.exists()
    assert ModelEntry.objects.get(name="resnet50.bamboo").claimed_top1 is None


def test_the_report_lists_param_count_disagreements(db):
    import_timm("resnet18.a1_in1k")
    row = parse_claims_csv(
        "model,img_size,top1,top5,param_count\n"
        "resnet18.a1_in1k,224,71.5,90.0,12.50\n"  # timm counts 11.69M: 7% off
        "unknown_arch.tag,224,50,70,1.0\n"
    )
    summary = services.timm_results_import(
        tables=[services.ResultsTable("imagenet-1k", "validation", "https://example.org/r.csv", row)],
        speed_tables=[],
        names=["resnet18.a1_in1k"],
        registry_names=["resnet18.a1_in1k"],
    )
    assert [(m.name, m.csv_params, m.catalog_params) for m in summary.param_count_mismatches] == [
        ("resnet18.a1_in1k", 12_500_000, 11_689_512)
    ]
    assert summary.tags_not_in_registry == ["unknown_arch.tag"]


def test_the_full_data_gives_claims_to_most_of_the_catalog(db):
    """make run's import on the whole registry: the issue's counts, against the CSV values themselves."""
    output = import_timm("*")
    assert "param_count disagreeing with timm's own count by more than 1%: none" in output
    imagenet = {}
    for row in parse_claims_csv((DATA_DIR / "results-imagenet.csv").read_text()):
        imagenet.setdefault(row.model, []).append(row.top1)
    headline = dict(
        ModelEntry.objects.filter(namespace="timm", claimed_top1__isnull=False).values_list(
            "name", "claimed_top1"
        )
    )
    equal = [name for name, value in headline.items() if value in imagenet.get(name, [])]
    assert len(equal) >= 1250
    all_six = (
        ModelEntry.objects.annotate(sets=Count("dataset_top1_claims")).filter(sets=len(TEST_SETS)).count()
    )
    assert all_six >= 1200
