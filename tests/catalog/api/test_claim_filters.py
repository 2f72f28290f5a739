"""claim_dataset, min_claim and ordering=claim: filter and sort on the top-1 claimed on any test set."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import services

URL = "/api/v1/models/"


def top1(dataset: str, value: float, **extra) -> dict:
    return {"dataset": dataset, "metric": "top1", "value": value, **extra}


@pytest.fixture
def claimed(make_model):
    """Four models with claims on different test sets (values chosen so every ordering differs)."""
    return {
        "small": make_model(
            namespace="timm",
            name="small.a",
            num_params=5_000_000,
            claims=[top1("imagenet-1k", 75.0), top1("imagenet-sketch", 30.0), top1("imagenet-real", 82.0)],
        ),
        "mid": make_model(
            namespace="timm",
            name="mid.a",
            num_params=25_000_000,
            claims=[top1("imagenet-1k", 80.0), top1("imagenet-sketch", 42.5, split="test")],
        ),
        "big": make_model(
            namespace="timm",
            name="big.a",
            num_params=300_000_000,
            claims=[top1("imagenet-1k", 88.0), top1("imagenet-sketch", 65.0)],
        ),
        "none": make_model(
            namespace="acme", name="no-sketch", num_params=1_000_000, claims=[top1("imagenet-1k", 60.0)]
        ),
    }


def ids(response) -> list[str]:
    return [row["id"] for row in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("claim_dataset=imagenet-sketch", ["timm/big.a", "timm/mid.a", "timm/small.a"]),
        ("claim_dataset=imagenet-sketch&ordering=-claim", ["timm/big.a", "timm/mid.a", "timm/small.a"]),
        ("claim_dataset=imagenet-sketch&ordering=claim", ["timm/small.a", "timm/mid.a", "timm/big.a"]),
        # the example: the best models on ImageNet-Sketch under 30M parameters
        ("claim_dataset=imagenet-sketch&params_max=30M&ordering=-claim", ["timm/mid.a", "timm/small.a"]),
        ("claim_dataset=imagenet-sketch&min_claim=42.5", ["timm/big.a", "timm/mid.a"]),  # inclusive
        ("claim_dataset=imagenet-sketch&min_claim=42.51", ["timm/big.a"]),
        ("claim_dataset=imagenet-sketch&min_claim=0", ["timm/big.a", "timm/mid.a", "timm/small.a"]),
        ("claim_dataset=imagenet-sketch&min_claim=100", []),
        ("claim_dataset=imagenet-real", ["timm/small.a"]),
        (
            "claim_dataset=imagenet-1k&ordering=claim",
            ["acme/no-sketch", "timm/small.a", "timm/mid.a", "timm/big.a"],
        ),
        # other filters and orderings combine with it
        ("claim_dataset=imagenet-sketch&ordering=num_params", ["timm/small.a", "timm/mid.a", "timm/big.a"]),
        # min_top1 and ordering=claimed_top1 are on the chosen dataset too, not on ImageNet-1k
        ("claim_dataset=imagenet-sketch&min_top1=42.5", ["timm/big.a", "timm/mid.a"]),
        ("claim_dataset=imagenet-sketch&min_top1=79", []),
        (
            "claim_dataset=imagenet-sketch&ordering=-claimed_top1",
            ["timm/big.a", "timm/mid.a", "timm/small.a"],
        ),
        # without claim_dataset: ImageNet-1k, and min_claim and ordering=claim need nothing more
        ("min_claim=75", ["timm/big.a", "timm/mid.a", "timm/small.a"]),
        ("ordering=-claim", ["timm/big.a", "timm/mid.a", "timm/small.a", "acme/no-sketch"]),
    ],
)
def test_it_filters_and_orders_on_the_claim_on_one_dataset(api_client, claimed, query, expected):
    response = api_client.get(f"{URL}?{query}")
    assert response.status_code == 200, response.json()
    got = ids(response)
    assert got == expected if "ordering" in query else sorted(got) == sorted(expected)


def test_rows_carry_the_claim_on_the_chosen_dataset_and_name_it(api_client, claimed):
    rows = api_client.get(f"{URL}?claim_dataset=imagenet-sketch&ordering=-claim").json()["results"]
    assert [(row["id"], row["top1_dataset"], row["claimed_top1"], row["claim_top1"]) for row in rows] == [
        ("timm/big.a", "imagenet-sketch", 65.0, 65.0),
        ("timm/mid.a", "imagenet-sketch", 42.5, 42.5),
        ("timm/small.a", "imagenet-sketch", 30.0, 30.0),
    ]
    rows = api_client.get(f"{URL}?ordering=-claimed_top1").json()["results"]
    assert [(row["id"], row["top1_dataset"], row["claimed_top1"]) for row in rows] == [
        ("timm/big.a", "imagenet-1k", 88.0),
        ("timm/mid.a", "imagenet-1k", 80.0),
        ("timm/small.a", "imagenet-1k", 75.0),
        ("acme/no-sketch", "imagenet-1k", 60.0),
    ]


def test_the_headline_claim_is_imagenet_1k_even_when_another_set_is_higher(claimed):
    assert claimed["small"].claimed_top1 == 75.0  # not its 82.0 on ImageNet-ReaL


def test_two_sources_on_one_dataset_give_one_row_with_the_best_claim(api_client, claimed):
    services.claim_record(
        model=claimed["mid"], dataset="imagenet-sketch", metric="top1", value=50.0, source="paper"
    )
    response = api_client.get(f"{URL}?claim_dataset=imagenet-sketch&ordering=-claim")
    assert ids(response) == ["timm/big.a", "timm/mid.a", "timm/small.a"]
    assert response.json()["results"][1]["claim_top1"] == 50.0
    assert response.json()["count"] == 3


def test_ties_are_broken_by_id_so_pages_are_stable(api_client, make_model):
    for name in ("c", "a", "b"):
        make_model(namespace="timm", name=f"tie-{name}", claims=[top1("imagenet-a", 10.0)])
    first = api_client.get(f"{URL}?claim_dataset=imagenet-a&ordering=-claim&page_size=2").json()
    second = api_client.get(f"{URL}?claim_dataset=imagenet-a&ordering=-claim&page_size=2&page=2").json()
    assert [r["id"] for r in first["results"] + second["results"]] == [
        "timm/tie-a",
        "timm/tie-b",
        "timm/tie-c",
    ]


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ("claim_dataset=imagenet-sketchy", "claim_dataset", "'imagenet-sketchy'"),
        ("claim_dataset=" + "x" * 97, "claim_dataset", "at most 96"),
        ("claim_dataset=imagenet-sketch&min_claim=101", "min_claim", "100"),
        ("claim_dataset=imagenet-sketch&min_claim=-1", "min_claim", "0"),
        ("claim_dataset=imagenet-sketch&min_claim=nan", "min_claim", "finite"),
        ("claim_dataset=imagenet-sketch&min_claim=forty", "min_claim", "number"),
        ("claim_dataset=imagenet-sketch&ordering=claims", "ordering", "claims"),
        ("claim_datset=imagenet-sketch", "claim_datset", "Unknown"),
    ],
)
def test_bad_claim_queries_are_400s_naming_the_parameter(api_client, claimed, query, field, says):
    response = api_client.get(f"{URL}?{query}")
    assert response.status_code == 400
    body = response.json()
    assert field in body["detail"] and field in body["error"], body
    assert says in str(body["detail"][field]), body


def test_an_unknown_dataset_error_lists_the_datasets_with_claims(api_client, claimed):
    detail = api_client.get(f"{URL}?claim_dataset=sketch").json()["detail"]["claim_dataset"][0]
    assert "imagenet-1k, imagenet-real, imagenet-sketch" in detail


def test_the_number_of_queries_does_not_grow_with_page_size(api_client, make_model):
    for index in range(30):
        make_model(
            name=f"bulk-{index:02d}",
            num_params=index + 1,
            claims=[top1("imagenet-1k", 70 + index / 10), top1("imagenet-r", 30 + index / 10)],
        )
    counts = []
    for page_size in (1, 10, 30):
        with CaptureQueriesContext(connection) as queries:
            response = api_client.get(
                f"{URL}?page_size={page_size}&claim_dataset=imagenet-r&min_claim=30&ordering=-claim"
            )
        assert len(response.json()["results"]) == page_size
        counts.append(len(queries))
    assert counts[0] == counts[1] == counts[2], counts


def test_size_shows_the_estimate_until_weights_are_stored(api_client, make_model):
    make_model(name="light", num_params=2_500_000)
    make_model(name="stored", num_params=2_500_000, weights_size_bytes=9_000_000)
    rows = {row["id"]: row for row in api_client.get(f"{URL}?ordering=size").json()["results"]}
    assert (rows["demo/light"]["size_bytes"], rows["demo/light"]["estimated_size_bytes"]) == (
        None,
        10_000_000,
    )
    assert (rows["demo/stored"]["size_bytes"], rows["demo/stored"]["estimated_size_bytes"]) == (
        9_000_000,
        None,
    )
    assert ids(api_client.get(f"{URL}?ordering=size")) == ["demo/stored", "demo/light"]
    assert ids(api_client.get(f"{URL}?size_mb_max=9.5")) == ["demo/stored"]
    assert ids(api_client.get(f"{URL}?size_mb_max=10")) == ["demo/light", "demo/stored"]
