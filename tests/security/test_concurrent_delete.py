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
