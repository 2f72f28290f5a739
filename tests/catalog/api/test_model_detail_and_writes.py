"""GET/PATCH/DELETE /api/v1/models/<ns>/<name>/, POST /api/v1/models/ and claims: reads public, writes staff."""

import pytest

from catalog.models import ModelEntry

NEW_MODEL = {
    "namespace": "acme",
    "name": "edge-net.v2",
    "title": "Edge net",
    "domain": "vision",
    "task": "image-classification",
    "library": "timm",
    "num_params": 2_500_000,
    "input_size": [3, 224, 224],
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "interpolation": "bicubic",
    "crop_pct": 0.875,
    "tags": ["Edge", "cnn", "edge"],
}


def test_it_shows_a_model_with_claims_preprocessing_and_source(api_client, make_model):
    make_model(
        name="resnet-ish",
        num_params=11_689_512,
        input_size=[3, 224, 224],
        mean=[0.5, 0.5, 0.5],
        std=[0.2, 0.2, 0.2],
        interpolation="bilinear",
        crop_pct=0.95,
        hf_repo_id="timm/resnet18.a1_in1k",
        source_kind="hf",
        claims=[
            {"dataset": "imagenet-1k", "metric": "top1", "value": 71.5, "source": "results-table"},
            {"dataset": "imagenet-1k", "metric": "top5", "value": 90.1, "source": "results-table"},
        ],
    )
    body = api_client.get("/api/v1/models/demo/resnet-ish/").json()
    assert body["id"] == "demo/resnet-ish"
    assert body["num_params"] == 11_689_512
    assert body["claimed_top1"] == 71.5
    assert body["preprocessing"] == {
        "input_size": [3, 224, 224], "mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2],
        "interpolation": "bilinear", "crop_pct": 0.95, "crop_mode": "",
    }  # fmt: skip
    assert body["source"] == {"kind": "hf", "hf_repo_id": "timm/resnet18.a1_in1k", "hf_revision": ""}
    assert [(claim["metric"], claim["value"]) for claim in body["claims"]] == [("top1", 71.5), ("top5", 90.1)]


def test_an_unknown_model_is_a_404_with_the_json_error_shape(api_client, db):
    response = api_client.get("/api/v1/models/nobody/nothing/")
    assert response.status_code == 404
    assert response.json() == {"error": "No model nobody/nothing.", "detail": "No model nobody/nothing."}


def test_staff_register_a_model(staff_client):
    response = staff_client.post("/api/v1/models/", NEW_MODEL, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["id"] == "acme/edge-net.v2"
    assert response.json()["tags"] == ["edge", "cnn"]
    assert ModelEntry.objects.get(namespace="acme", name="edge-net.v2").num_params == 2_500_000


def test_anonymous_and_non_staff_writes_are_refused(api_client, outsider_client, make_model):
    make_model(name="keep-me")
    assert api_client.post("/api/v1/models/", NEW_MODEL, format="json").status_code == 401
    assert outsider_client.post("/api/v1/models/", NEW_MODEL, format="json").status_code == 403
    assert (
        outsider_client.patch("/api/v1/models/demo/keep-me/", {"title": "x"}, format="json").status_code
        == 403
    )
    assert outsider_client.delete("/api/v1/models/demo/keep-me/").status_code == 403
    assert api_client.post("/api/v1/models/demo/keep-me/claims/", {}, format="json").status_code == 401
    assert ModelEntry.objects.count() == 1
    assert ModelEntry.objects.get().title == ""


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"domain": "robotics"}, "domain"),
        ({"name": "../etc"}, "name"),
        ({"namespace": ""}, "namespace"),
        ({"num_params": -3}, "num_params"),
        ({"input_size": [3, 224]}, "input_size"),
        ({"crop_pct": 5}, "crop_pct"),
        ({"model_args": {"num_classes": 3}}, "model_args"),
        ({"hf_repo_id": "timm/resnet18"}, "hf_revision"),
        ({"hf_repo_id": "not a repo", "hf_revision": "0" * 40}, "hf_repo_id"),
    ],
)
def test_registering_with_a_bad_field_is_a_400_naming_it(staff_client, change, field):
    response = staff_client.post("/api/v1/models/", {**NEW_MODEL, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["detail"]
    assert ModelEntry.objects.count() == 0


def test_registering_a_taken_id_is_a_400(staff_client, make_model):
    make_model(namespace="acme", name="edge-net.v2")
    response = staff_client.post("/api/v1/models/", NEW_MODEL, format="json")
    assert response.status_code == 400
    assert "already exists" in response.json()["error"]


def test_staff_update_and_delete_a_model(staff_client, make_model):
    make_model(name="editable")
    response = staff_client.patch(
        "/api/v1/models/demo/editable/", {"title": "Edited", "license": "mit"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["title"] == "Edited" and response.json()["license"] == "mit"
    bad = staff_client.patch("/api/v1/models/demo/editable/", {"task": "nope"}, format="json")
    assert bad.status_code == 400 and "task" in bad.json()["detail"]
    assert staff_client.delete("/api/v1/models/demo/editable/").status_code == 204
    assert not ModelEntry.objects.exists()


def test_staff_record_claims_and_the_headline_top1_follows(staff_client, make_model):
    make_model(name="claimed")
    url = "/api/v1/models/demo/claimed/claims/"
    first = staff_client.post(url, {"dataset": "digits", "metric": "top1", "value": 91.0}, format="json")
    assert first.status_code == 201
    staff_client.post(url, {"dataset": "other", "metric": "accuracy", "value": 93.5}, format="json")
    again = staff_client.post(url, {"dataset": "digits", "metric": "top1", "value": 92.0}, format="json")
    assert again.status_code == 201
    model = ModelEntry.objects.get(name="claimed")
    assert model.claims.count() == 2
    assert model.claimed_top1 == 93.5
    bad = staff_client.post(url, {"dataset": "digits", "metric": "top1", "value": 140}, format="json")
    assert bad.status_code == 400 and "value" in bad.json()["detail"]


def test_openapi_schema_and_docs_are_served(api_client, db):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/models/{namespace}/{name}/" in text
    assert "params_max" in text and "min_top1" in text
    docs = api_client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"//cdn" not in docs.content and b"unpkg.com" not in docs.content
