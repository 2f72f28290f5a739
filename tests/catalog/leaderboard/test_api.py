"""/api/v1/leaderboard/<dataset>/: JSON with raw numbers, CSV by format or Accept, errors in the one shape."""

import csv
import io

from tests.catalog.leaderboard.conftest import table_headers, table_rows


def test_it_answers_json_rows_in_the_pages_order(api_client, client, timm_board):
    body = api_client.get("/api/v1/leaderboard/imagenet-1k/?sort=-params&page_size=10").json()
    assert (body["dataset"], body["label"], body["sort"]) == ("imagenet-1k", "ImageNet-1k", "-params")
    assert (body["count"], body["page"], body["page_size"], body["num_pages"]) == (34, 1, 10, 4)
    assert body["previous"] is None and "page=2" in body["next"] and "sort=-params" in body["next"]
    shown = table_rows(client.get("/leaderboard/imagenet-1k/?sort=-params").content.decode())[:10]
    assert [row["id"] for row in body["results"]] == [row[0] for row in shown]
    first = body["results"][0]
    model = timm_board.get(namespace="timm", name=first["id"].split("/")[1])
    assert first["num_params"] == model.num_params and first["gmacs"] == model.gmacs
    assert first["top1"] == model.claims.get(dataset="imagenet-1k", metric="top1").value
    assert first["verdict"] == "unverifiable" and first["verified_top1"] is None
    assert first["gpu_speed"]["hardware"] == "NVIDIA RTX 5090" and first["gpu_speed"]["samples_per_sec"] > 0
    assert first["html_url"] == f"http://testserver/models/{first['id']}/"


def test_it_answers_the_pages_csv_by_format_or_accept_header(api_client, client, timm_board):
    html = client.get("/leaderboard/imagenet-r/?sort=cpu_speed&params_max=50M").content.decode()
    for response in (
        api_client.get(
            "/api/v1/leaderboard/imagenet-r/?sort=cpu_speed&params_max=50M&format=csv&page_size=100"
        ),
        api_client.get(
            "/api/v1/leaderboard/imagenet-r/?sort=cpu_speed&params_max=50M&page_size=100",
            HTTP_ACCEPT="text/csv",
        ),
    ):
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        header, *rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert header == table_headers(html) and rows == table_rows(html)


def test_errors_have_the_documented_shape_in_json_even_when_csv_was_asked(api_client, timm_board):
    response = api_client.get("/api/v1/leaderboard/imagenet-22k/?format=csv")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert set(response.json()) == {"error", "detail"} and "'imagenet-22k'" in response.json()["error"]
    response = api_client.get("/api/v1/leaderboard/imagenet-1k/?sort=fastest")
    assert response.status_code == 400 and response.json()["error"].startswith("Invalid sort:")
    response = api_client.get("/api/v1/leaderboard/imagenet-1k/?page_size=1000")
    assert response.status_code == 400 and "page_size" in response.json()["error"]
    response = api_client.get("/api/v1/leaderboard/imagenet-1k/?page=9")
    assert response.status_code == 404 and "past the end" in response.json()["error"]
    response = api_client.get("/api/v1/leaderboard/imagenet-1k/?gmacs_max=-1")
    assert response.status_code == 400 and "gmacs_max" in response.json()["error"]


def test_the_schema_documents_json_csv_and_errors(api_client, db):
    schema = api_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/leaderboard/{dataset}/"]["get"]
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    parameters = {parameter["name"] for parameter in operation["parameters"]}
    assert {
        "dataset",
        "sort",
        "page",
        "page_size",
        "format",
        "search",
        "params_max",
        "min_claim",
    } <= parameters
