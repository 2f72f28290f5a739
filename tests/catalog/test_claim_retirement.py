"""import_timm's results: a claim whose tag a results table no longer lists is retired (kept as history, not
current); listed again, it is current again."""

import pytest

from catalog import selectors, services
from catalog.models import AccuracyClaim, ClaimSource
from core.claims_csv import ClaimRow

SKETCH = "imagenet-sketch"
TAGS = ["resnet18.a1_in1k", "resnet34.a1_in1k"]


def row(tag: str, top1: float) -> ClaimRow:
    return ClaimRow(
        line=1, model=tag, top1=top1, top5=None, img_size=224, param_count_millions=None, crop_pct=0.95,
        interpolation="bicubic",
    )  # fmt: skip


def import_table(tags: list[str], top1: float = 40.0):
    table = services.ResultsTable(
        dataset=SKETCH, split="validation", source_url="https://example.org/results-sketch.csv",
        rows=[row(tag, top1) for tag in tags],
    )  # fmt: skip
    return services.timm_results_import(tables=[table], speed_tables=[], names=TAGS, registry_names=TAGS)


@pytest.fixture
def timm_entries(make_model):
    return {tag: make_model(namespace="timm", name=tag, architecture=tag.partition(".")[0]) for tag in TAGS}


def test_a_tag_the_table_stops_listing_has_its_claim_retired_then_current_again(timm_entries, api_client):
    import_table(TAGS)
    dropped = timm_entries["resnet34.a1_in1k"]
    assert import_table(TAGS[:1]).claims_retired == 1

    assert not dropped.claims.exists()  # not current: no list, verdict or derived column sees it
    dropped.refresh_from_db()
    assert dropped.claimed_top1 is None
    kept = AccuracyClaim.history.get(model=dropped)
    assert kept.retired_at is not None and kept.value == 40.0 and kept.source == ClaimSource.RESULTS_TABLE
    assert selectors.retired_claims(model=dropped) == [kept]
    detail = api_client.get(f"/api/v1/models/timm/{dropped.name}/").json()
    assert detail["claims"] == [] and [c["value"] for c in detail["retired_claims"]] == [40.0]
    assert detail["retired_claims"][0]["retired_at"]
    assert api_client.get("/api/v1/models/", {"claim_dataset": SKETCH}).json()["count"] == 1
    page = api_client.get(dropped.get_absolute_url()).content.decode()
    assert "Claim history" in page

    summary = import_table(TAGS, top1=41.0)  # timm lists the tag again
    assert summary.claims_retired == 0 and summary.claims_created == 0 and summary.claims_updated == 2
    current = dropped.claims.get()
    assert current.pk == kept.pk and current.retired_at is None and current.value == 41.0
    assert selectors.retired_claims(model=dropped) == []
    dropped.refresh_from_db()
    assert dropped.claimed_top1 == 41.0


def test_claims_of_tags_outside_a_partial_import_stay_current(timm_entries):
    import_table(TAGS)
    table = services.ResultsTable(
        dataset=SKETCH, split="validation", source_url="", rows=[row(TAGS[0], 40.0)]
    )
    summary = services.timm_results_import(
        tables=[table], speed_tables=[], names=TAGS[:1], registry_names=TAGS
    )
    assert summary.claims_retired == 0
    assert timm_entries[TAGS[1]].claims.count() == 1


def test_a_claim_recorded_again_by_hand_is_current_again(timm_entries):
    import_table(TAGS)
    import_table(TAGS[:1])
    model = timm_entries[TAGS[1]]
    services.claim_record(
        model=model, dataset=SKETCH, metric="top1", value=42.0, split="validation",
        source=ClaimSource.RESULTS_TABLE,
    )  # fmt: skip
    assert model.claims.get().value == 42.0 and AccuracyClaim.history.filter(model=model).count() == 1


def test_curators_see_and_can_delete_retired_claims(timm_entries, admin_client):
    import_table(TAGS)
    import_table(TAGS[:1])
    retired = AccuracyClaim.history.get(model=timm_entries[TAGS[1]])
    listing = admin_client.get("/admin/catalog/accuracyclaim/", {"retired_at__isempty": "0"}).content.decode()
    assert f"/admin/catalog/accuracyclaim/{retired.pk}/change/" in listing
    assert services.claims_delete(claims=[retired]) == 1
    assert not AccuracyClaim.history.filter(pk=retired.pk).exists()
