"""Accuracy is always a number on a named dataset (issue 18): lists, min_top1 and the accuracy orderings rank on
ImageNet-1k by default and on claim_dataset when given; a model without a claim there never sorts above one with."""

import pytest

URL = "/api/v1/models/"


def top1(dataset: str, value: float) -> dict:
    return {"dataset": dataset, "metric": "top1", "value": value}


@pytest.fixture
def mixed(make_model):
    """The README example's trap: digits demos at 100% beside ImageNet models, all under 10M parameters."""
    make_model(
        namespace="demo", name="digits-resnet10t", num_params=4_900_000, claims=[top1("digits-0-4", 100.0)]
    )
    make_model(
        namespace="demo", name="digits-vit-tiny", num_params=5_500_000, claims=[top1("digits-0-4", 99.2)]
    )
    make_model(
        namespace="timm",
        name="mobilenetv3_large_100.ra_in1k",
        num_params=5_480_000,
        claims=[top1("imagenet-1k", 75.77), top1("imagenet-sketch", 22.9), top1("digits-0-4", 96.0)],
    )
    make_model(
        namespace="timm",
        name="efficientnet_b0.ra_in1k",
        num_params=5_290_000,
        claims=[top1("imagenet-1k", 77.7), top1("imagenet-sketch", 26.5)],
    )
    make_model(
        namespace="timm", name="resnet10t.c3_in1k", num_params=5_440_000, claims=[top1("imagenet-1k", 68.3)]
    )
    make_model(namespace="acme", name="unclaimed", num_params=3_000_000)


@pytest.fixture
def measured(mixed):
    """What model_derived_refresh writes after runs (none here): two models measured on ImageNet-1k, one on
    ImageNet-Sketch."""
    from catalog.models import DatasetTop1Claim, ModelEntry

    for name, value in (("efficientnet_b0.ra_in1k", 77.5), ("resnet10t.c3_in1k", 68.0)):
        ModelEntry.objects.filter(name=name).update(in1k_verified_top1=value)
        DatasetTop1Claim.objects.filter(model__name=name, dataset="imagenet-1k").update(verified_value=value)
    DatasetTop1Claim.objects.filter(model__name="efficientnet_b0.ra_in1k", dataset="imagenet-sketch").update(
        verified_value=26.0
    )


def rows(api_client, query: str, field: str = "claimed_top1") -> list[tuple[str, float | None]]:
    response = api_client.get(f"{URL}?{query}")
    assert response.status_code == 200, response.json()
    return [(row["id"], row[field]) for row in response.json()["results"]]


def test_the_readme_example_ranks_on_imagenet_1k_so_digits_demos_do_not_lead(api_client, mixed):
    assert rows(
        api_client, "task=image-classification&params_max=10M&min_top1=75&ordering=-claimed_top1"
    ) == [
        ("timm/efficientnet_b0.ra_in1k", 77.7),
        ("timm/mobilenetv3_large_100.ra_in1k", 75.77),
    ]


@pytest.mark.parametrize("direction", ["-", ""])
@pytest.mark.parametrize("ordering", ["claimed_top1", "claim", "verified_top1"])
@pytest.mark.parametrize("query", ["", "params_max=10M&", "search=net&", "claim_dataset=imagenet-sketch&"])
def test_no_model_without_a_claim_on_the_dataset_sorts_above_one_with(
    api_client, mixed, measured, query, ordering, direction
):
    field = "verified_top1" if ordering == "verified_top1" else "claimed_top1"
    found = rows(api_client, f"{query}ordering={direction}{ordering}&page_size=100", field)
    has_value = [value is not None for _id, value in found]
    assert has_value == sorted(has_value, reverse=True), found  # every model with a value before any without
    assert any(has_value) and (query.startswith("claim_dataset") or not all(has_value)), found


def test_without_claim_dataset_accuracy_is_on_imagenet_1k_with_the_others_listed_after(api_client, mixed):
    assert rows(api_client, "ordering=-claimed_top1") == [
        ("timm/efficientnet_b0.ra_in1k", 77.7),
        ("timm/mobilenetv3_large_100.ra_in1k", 75.77),
        ("timm/resnet10t.c3_in1k", 68.3),
        ("acme/unclaimed", None),  # no claim on ImageNet-1k: after, by id
        ("demo/digits-resnet10t", None),
        ("demo/digits-vit-tiny", None),
    ]
    assert [model_id for model_id, _ in rows(api_client, "ordering=claimed_top1")][:3] == [
        "timm/resnet10t.c3_in1k",
        "timm/mobilenetv3_large_100.ra_in1k",
        "timm/efficientnet_b0.ra_in1k",
    ]
    assert rows(api_client, "min_top1=70") == [
        ("timm/efficientnet_b0.ra_in1k", 77.7),
        ("timm/mobilenetv3_large_100.ra_in1k", 75.77),
    ]


def test_claim_dataset_moves_every_accuracy_to_that_dataset(api_client, mixed):
    assert rows(api_client, "claim_dataset=digits-0-4&ordering=-claimed_top1") == [
        ("demo/digits-resnet10t", 100.0),
        ("demo/digits-vit-tiny", 99.2),
        ("timm/mobilenetv3_large_100.ra_in1k", 96.0),
    ]
    assert rows(api_client, "claim_dataset=digits-0-4&min_top1=99.5") == [("demo/digits-resnet10t", 100.0)]
    assert rows(api_client, "claim_dataset=imagenet-sketch&ordering=claimed_top1") == [
        ("timm/mobilenetv3_large_100.ra_in1k", 22.9),
        ("timm/efficientnet_b0.ra_in1k", 26.5),
    ]
    body = api_client.get(f"{URL}?claim_dataset=imagenet-sketch").json()
    assert {row["top1_dataset"] for row in body["results"]} == {"imagenet-sketch"}
    assert {row["top1_dataset"] for row in api_client.get(URL).json()["results"]} == {"imagenet-1k"}


def test_the_schema_lists_claim_orderings_that_the_list_accepts_without_claim_dataset(api_client, mixed):
    schema = api_client.get("/api/schema/?format=json").json()
    parameters = {parameter["name"]: parameter for parameter in schema["paths"][URL]["get"]["parameters"]}
    for value in parameters["ordering"]["schema"]["enum"]:
        if value:
            assert api_client.get(f"{URL}?ordering={value}").status_code == 200, value
    assert api_client.get(f"{URL}?min_claim=70").status_code == 200


def test_a_models_detail_names_the_dataset_of_its_headline_claim(api_client, mixed):
    demo = api_client.get(f"{URL}demo/digits-resnet10t/").json()
    assert (demo["top1_dataset"], demo["claimed_top1"]) == ("digits-0-4", 100.0)
    timm = api_client.get(f"{URL}timm/mobilenetv3_large_100.ra_in1k/").json()
    assert (timm["top1_dataset"], timm["claimed_top1"]) == ("imagenet-1k", 75.77)  # not its 96% on digits
    assert api_client.get(f"{URL}acme/unclaimed/").json()["top1_dataset"] is None
