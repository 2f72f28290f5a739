"""A write to a model that a concurrent request deletes between the view's read and its write (schemathesis
found it with two workers: a PATCH racing a DELETE of the same entry answered 500, "Save with update_fields did
not affect any rows"). The write is refused with a 404 in the error shape and stores nothing."""

import json

import pytest

from catalog import selectors, services
from catalog.models import AccuracyClaim, CatalogFacetCount, ModelEntry
from tests.security.conftest import assert_error_shape

# The body the fuzzer sent (its curl's JSON, verbatim): unknown keys, ignored, around four real fields.
FUZZED_PATCH = json.loads(
    r"""{"\udb5d\udc58u\u0089\udb37\uddd2\u000f\u008e\u00a16/\u0084\u00fe\uda6c\udeec\u00d2w\u008fU\uda9c\udf55"""
    r"""\u00db\u00ad": false, "\ud891\udf04": {}, "\u009e": {"": {"Cn": {"": null}}}, "$": {"\u0082&w\u0000>"""
    r"""\u00d9r": [], "\ud91f\ude9d\u008b": 281474976710655}, "": [[]], "gmacs": 1.7161259859649659e-25,"""
    r""" "hf_repo_id": "0/0", "library": "torchvision", "title": "Alpha"}"""
)


@pytest.fixture
def deleted_after_read(monkeypatch):
    """selectors.model_get as the view calls it, except that the entry is deleted (as by a concurrent DELETE)
    right after the view has read it."""
    real = selectors.model_get

    def read_then_delete(**kwargs):
        model = real(**kwargs)
        monkeypatch.setattr(selectors, "model_get", real)
        services.model_delete(model=ModelEntry.objects.get(pk=model.pk))
        return model

    monkeypatch.setattr(selectors, "model_get", read_then_delete)


def test_a_patch_of_a_model_deleted_meanwhile_is_a_404(staff_client, make_model, deleted_after_read):
    make_model(namespace="0", name="0", library="timm", title="Old")
    response = staff_client.patch("/api/v1/models/0/0/", FUZZED_PATCH, format="json")
    assert_error_shape(response, 404, mentions="0/0")
    assert not ModelEntry.objects.exists()
    assert sum(CatalogFacetCount.objects.values_list("count", flat=True)) == 0  # the delete's count stands


def test_the_same_patch_on_a_model_still_there_is_a_200(staff_client, make_model):
    make_model(namespace="0", name="0", library="timm", title="Old")
    response = staff_client.patch("/api/v1/models/0/0/", FUZZED_PATCH, format="json")
    assert response.status_code == 200, response.content[:500]
    assert (response.json()["library"], response.json()["title"]) == ("torchvision", "Alpha")


def test_a_claim_on_a_model_deleted_meanwhile_is_refused_cleanly(make_model):
    model = make_model(namespace="0", name="0")
    services.model_delete(model=ModelEntry.objects.get(pk=model.pk))
    with pytest.raises(ModelEntry.DoesNotExist, match="0/0"):
        services.claim_record(model=model, dataset="digits", metric="top1", value=50.0)
    assert not AccuracyClaim.history.exists()


# --- jobs that point at a model or dataset deleted between the view's read and the service's write ----------


@pytest.fixture
def model_deleted_after_checks(monkeypatch):
    """evaluation.services._check_runnable as run_request calls it, except that the model is deleted (as by a
    concurrent DELETE) once the checks have read it: the run's row would then point at nothing."""
    from evaluation import services as evaluation_services

    real = evaluation_services._check_runnable

    def check_then_delete(model, dataset, split):
        real(model, dataset, split)
        services.model_delete(model=ModelEntry.objects.get(pk=model.pk))

    monkeypatch.setattr(evaluation_services, "_check_runnable", check_then_delete)


def test_a_run_of_a_model_deleted_meanwhile_is_a_404_and_stores_nothing(
    staff_client, digit_model, small_digits, model_deleted_after_checks
):
    from evaluation.models import BenchmarkRun

    payload = {"model": digit_model.model_id, "dataset": small_digits.name, "split": "test"}
    response = staff_client.post("/api/v1/benchmarks/", payload, format="json")

    assert_error_shape(response, 404, mentions=f"{digit_model.model_id}: it was deleted")
    assert not BenchmarkRun.objects.exists()


def test_a_run_on_a_dataset_deleted_meanwhile_is_refused_cleanly(digit_model, small_digits):
    from evaluation import services as evaluation_services
    from evaluation.models import BenchmarkRun, EvalDataset

    EvalDataset.objects.filter(pk=small_digits.pk).delete()
    with pytest.raises(EvalDataset.DoesNotExist, match="'digits-small': it was deleted"):
        evaluation_services.run_request(model=digit_model, dataset=small_digits, split="test", enqueue=False)
    assert not BenchmarkRun.objects.exists()


def test_a_ranking_whose_candidate_was_deleted_meanwhile_names_it_and_stores_nothing(
    make_model, digit_model, small_digits, monkeypatch
):
    from evaluation import transfer_services
    from evaluation.models import TransferCandidate, TransferRanking

    other = make_model(name="other-net")
    real = transfer_services._candidates

    def pick_then_delete(*args):
        models = real(*args)
        services.model_delete(model=ModelEntry.objects.get(pk=other.pk))
        return models

    monkeypatch.setattr(transfer_services, "_candidates", pick_then_delete)
    with pytest.raises(ModelEntry.DoesNotExist, match="demo/other-net: it was deleted"):
        transfer_services.ranking_request(
            dataset=small_digits,
            split="test",
            model_ids=[digit_model.model_id, other.model_id],
            enqueue=False,
        )
    assert not TransferRanking.objects.exists() and not TransferCandidate.objects.exists()


def test_an_integrity_error_no_service_foresaw_is_a_409_in_the_error_shape(rf, caplog):
    from django.db import IntegrityError
    from rest_framework.views import APIView

    class Racing(APIView):
        permission_classes = ()
        authentication_classes = ()

        def get(self, request):
            raise IntegrityError('insert or update on table "x" violates foreign key constraint')

    response = Racing.as_view()(rf.get("/racing/"))

    assert response.status_code == 409
    assert set(response.data) == {"error", "detail"} and "nothing was stored" in response.data["error"]
    assert "violates foreign key" not in str(response.data)  # the database's words stay in the log
    assert "IntegrityError answered 409" in caplog.text
