"""Issue 19 (schema drift): a JSON body is held to the types the OpenAPI schema documents. DRF alone coerces
"1.5" to 1.5, "true" to True and 5 to "5"; each is now a 400 in the error shape naming the field, nothing
stored. The operations that document JSON only refuse a form body (415), and the leaderboard's sort takes
exactly its enum."""

import pytest

from catalog.models import AccuracyClaim, ModelEntry
from tests.security.conftest import assert_error_shape

API = "/api/v1/models/"
NEW_MODEL = {"namespace": "acme", "name": "typed", "domain": "vision", "task": "image-classification",
             "library": "timm"}  # fmt: skip

LOOSE_MODEL_FIELDS = {
    "a number as text": ({"gmacs": "1.5"}, "gmacs"),
    "an integer as text": ({"num_params": "5000000"}, "num_params"),
    "an integral float for an integer": ({"num_classes": 10.0}, "num_classes"),
    "a boolean for a number": ({"gmacs": True}, "gmacs"),
    "a number for a string": ({"title": 5}, "title"),
    "a number in a string list": ({"tags": ["ok", 7]}, "tags"),
    "text in an integer list": ({"input_size": [3, "224", 224]}, "input_size"),
    "a list for an object": ({"model_args": []}, "model_args"),
}


@pytest.mark.parametrize(("fields", "field"), LOOSE_MODEL_FIELDS.values(), ids=LOOSE_MODEL_FIELDS.keys())
def test_a_model_write_with_a_loosely_typed_value_is_refused(staff_client, make_model, fields, field):
    body = assert_error_shape(
        staff_client.post(API, {**NEW_MODEL, **fields}, format="json"), 400, mentions=field
    )
    assert field in body["detail"], body
    assert not ModelEntry.objects.filter(name="typed").exists()

    model = make_model(namespace="acme", name="kept", gmacs=2.0, title="Kept")
    assert_error_shape(staff_client.patch(f"{API}acme/kept/", fields, format="json"), 400, mentions=field)
    model.refresh_from_db()
    assert (model.gmacs, model.title, model.num_params) == (2.0, "Kept", None)


def test_null_where_the_schema_allows_it_and_real_types_are_accepted(staff_client, make_model):
    make_model(namespace="acme", name="kept", gmacs=2.0)
    response = staff_client.patch(
        f"{API}acme/kept/", {"gmacs": None, "num_params": 7, "tags": ["a"], "crop_pct": 1}, format="json"
    )
    assert response.status_code == 200, response.content[:300]
    assert (response.json()["gmacs"], response.json()["num_params"]) == (None, 7)


def test_a_claim_value_as_text_is_refused(staff_client, make_model):
    make_model(namespace="acme", name="kept")
    body = {"dataset": "digits", "metric": "top1", "value": "50"}
    assert_error_shape(
        staff_client.post(f"{API}acme/kept/claims/", body, format="json"), 400, mentions="value"
    )
    assert not AccuracyClaim.history.exists()


def test_a_run_option_or_flag_as_text_is_refused_naming_it(staff_client, make_model):
    make_model(namespace="acme", name="kept")
    for extra, field in (({"config": {"batch_size": "8"}}, "batch_size"), ({"force": "true"}, "force")):
        body = assert_error_shape(
            staff_client.post(
                "/api/v1/benchmarks/", {"model": "acme/kept", "dataset": "tiny", **extra}, format="json"
            ),
            400,
            mentions=field,
        )
        assert field in body["detail"], body  # an option is named itself, as the service names it


def test_a_ranking_filter_bound_as_text_is_refused(staff_client):
    response = staff_client.post(
        "/api/v1/transfer-rankings/", {"dataset": "tiny", "filter": {"max_params": "5"}}, format="json"
    )
    body = assert_error_shape(response, 400, mentions="max_params")
    assert "max_params" in body["detail"]["filter"], body


@pytest.mark.parametrize(
    "url",
    ["/api/v1/transfer-rankings/", "/api/v1/models/acme/kept/starter-bundle/"],
    ids=["ranking", "bundle"],
)
def test_operations_documented_as_json_refuse_a_form_body(staff_client, make_model, url):
    make_model(namespace="acme", name="kept")
    response = staff_client.post(url, {"dataset": "tiny", "num_classes": "2"}, format="multipart")
    assert_error_shape(response, 415)


def test_the_leaderboard_sort_takes_its_enum_exactly(api_client, make_model):
    make_model(namespace="acme", name="kept", claims=[{"dataset": "digits", "metric": "top1", "value": 50.0}])
    assert_error_shape(api_client.get("/api/v1/leaderboard/digits/?sort=--top1"), 400, mentions="sort")
    for blank_or_known in ("", "-top1", "model"):
        response = api_client.get(f"/api/v1/leaderboard/digits/?sort={blank_or_known}")
        assert response.status_code == 200, (blank_or_known, response.content[:300])
