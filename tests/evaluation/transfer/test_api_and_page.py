"""The transfer-ranking API (202 + URL, list, detail, cancel, errors, schema) and the ranking page."""

import pytest

from evaluation import transfer_services
from evaluation.api.transfer_serializers import request_ranking
from evaluation.models import RunStatus, TransferRanking

URL = "/api/v1/transfer-rankings/"
QUICK = {"batch_size": 32, "threads": 1, "baseline_epochs": 2}


@pytest.fixture
def weightless(make_model):
    return make_model(name="no-weights", architecture="resnet10t", num_classes=10)


def post(client, **body):
    return client.post(
        URL, {"dataset": "digits-small", "split": "test", "config": QUICK, **body}, format="json"
    )


def test_staff_queue_a_ranking_and_get_202_with_its_url(staff_client, digit_model, weightless, small_digits):
    response = post(staff_client, candidates=[digit_model.model_id, weightless.model_id])
    assert response.status_code == 202, response.json()
    body = response.json()
    assert response["Location"] == body["url"] and body["url"].endswith(f"{URL}{body['id']}/")
    assert body["status"] == "queued" and body["html_url"].endswith(f"/transfer-rankings/{body['id']}/")
    assert [c["status"] for c in body["candidates"]] == ["pending", "missing_weights"]
    assert body["num_classes"] == 10 and body["dataset_hash"] == small_digits.split_hashes["test"]


def test_a_filter_chooses_candidates_through_the_api(staff_client, digit_model, weightless, small_digits):
    response = post(staff_client, filter={"domain": "vision", "task": "image-classification"})
    assert response.status_code == 202, response.json()
    assert {c["model"] for c in response.json()["candidates"]} == {digit_model.model_id, weightless.model_id}


def test_outsiders_and_anonymous_users_cannot_queue(outsider_client, api_client, digit_model, small_digits):
    assert post(outsider_client, candidates=[digit_model.model_id]).status_code == 403
    assert post(api_client, candidates=[digit_model.model_id]).status_code in (401, 403)
    assert not TransferRanking.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dataset": "nope", "candidates": ["demo/digit-net"]}, "dataset"),
        ({"candidates": ["demo/unknown"]}, "candidates"),
        ({"candidates": ["not-an-id"]}, "candidates"),
        ({"filter": {"colour": "red"}}, "filter"),
        ({"filter": {"max_params": "lots"}}, "filter"),
        ({"filter": {"domain": "vision"}, "candidates": ["demo/digit-net"]}, "candidates"),
        ({}, "candidates"),
        ({"split": "validation", "candidates": ["demo/digit-net"]}, "split"),
        ({"config": {"threads": 0}, "candidates": ["demo/digit-net"]}, "threads"),
    ],
)
def test_bad_requests_get_a_400_naming_the_field(staff_client, digit_model, small_digits, body, field):
    response = post(staff_client, **body)
    assert response.status_code == 400
    payload = response.json()
    assert set(payload) == {"error", "detail"} and field in payload["detail"], payload
    assert not TransferRanking.objects.exists()


def test_one_function_queues_a_request_or_returns_its_errors_for_the_api_and_the_page(
    staff_user, digit_model, small_digits
):
    body = {"dataset": "digits-small", "split": "test", "candidates": [digit_model.model_id], "config": QUICK}

    ranking, errors = request_ranking(data=body, requested_by=staff_user)
    assert errors is None and ranking.requested_by == staff_user and ranking.candidates.count() == 1

    shape, shape_errors = request_ranking(data={**body, "candidates": ["not-an-id"]}, requested_by=staff_user)
    assert shape is None and list(shape_errors) == ["candidates"]
    refused = request_ranking(data={**body, "dataset": "nope"}, requested_by=staff_user)
    assert refused == (None, {"dataset": ["No dataset 'nope' on this hub."]})
    assert TransferRanking.objects.count() == 1


def test_list_detail_and_cancel(staff_client, api_client, digit_model, small_digits):
    ranking_id = post(staff_client, candidates=[digit_model.model_id]).json()["id"]
    assert api_client.get(URL).json()["results"][0]["id"] == ranking_id
    assert api_client.get(f"{URL}{ranking_id}/").json()["status"] == "queued"
    assert api_client.get(f"{URL}999999/").status_code == 404
    assert api_client.post(f"{URL}{ranking_id}/cancel/").status_code in (401, 403)
    cancelled = staff_client.post(f"{URL}{ranking_id}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = staff_client.post(f"{URL}{ranking_id}/cancel/")
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]


def test_the_endpoints_are_in_the_openapi_schema(api_client, db):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert {URL, f"{URL}{{ranking_id}}/", f"{URL}{{ranking_id}}/cancel/"} <= set(schema["paths"])
    assert "202" in schema["paths"][URL]["post"]["responses"]


def test_the_page_shows_candidates_by_score_chart_and_starter_bundle(
    client, staff_client, digit_model, weightless, small_digits
):
    ranking_id = post(staff_client, candidates=[weightless.model_id, digit_model.model_id]).json()["id"]
    queued = client.get(f"/transfer-rankings/{ranking_id}/")
    assert queued.status_code == 200 and b"queued" in queued.content and b"cdn" not in queued.content.lower()
    ranking = transfer_services.ranking_execute(ranking_id=ranking_id, worker="w")
    assert ranking.status == RunStatus.SUCCEEDED, ranking.error
    page = client.get(f"/transfer-rankings/{ranking_id}/").content.decode()
    # The scored candidate comes first, with its score, and the weightless one is reported, not dropped.
    assert page.index(digit_model.model_id) < page.index(weightless.model_id)
    assert f"{ranking.candidates.get(rank=1).score:.2f}%" in page
    assert "No weights on this hub" in page
    assert f'action="/models/{digit_model.namespace}/{digit_model.name}/starter-bundle/"' in page
    assert 'name="num_classes" value="10"' in page and 'value="0, 1, 2, 3, 4, 5, 6, 7, 8, 9"' in page
    assert ("negative-transfer" in page) == ranking.negative_transfer
    assert ("baseline-note" in page) == (not ranking.negative_transfer)
    assert f"±{ranking.transfer_spread:.2f} points" in page  # the spread is shown beside the comparison
    assert f'data-model="{digit_model.model_id}"' in page  # rows the live update fills in
    chart = client.get(f"/transfer-rankings/{ranking_id}/chart.svg")
    assert chart["Content-Type"] == "image/svg+xml"
    svg = chart.content.decode()
    assert svg.startswith("<svg") and digit_model.model_id in svg and "scratch" in svg
    assert "<script" not in svg and "http://www.w3.org/2000/svg" in svg and "https://" not in svg
    assert client.get("/transfer-rankings/999999/").status_code == 404


def test_the_starter_bundle_button_downloads_a_bundle_for_the_dataset_classes(
    client, digit_model, small_digits
):
    ranking = transfer_services.ranking_request(
        dataset=small_digits, split="test", model_ids=[digit_model.model_id], enqueue=False
    )
    response = client.get(
        f"/models/{digit_model.namespace}/{digit_model.name}/starter-bundle/",
        {"num_classes": ranking.num_classes, "class_names": ", ".join(small_digits.class_names)},
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
