"""Relevance-ranked search (issue 18), on timm's real pretrained names: names that start with the query first (the
exact name before its extensions), then names whose words the query's words start, then the other matches; the
same order on SQLite and PostgreSQL, however the page is sliced."""

import re

import pytest
import timm

from catalog import services
from catalog.models import ModelEntry

URL = "/api/v1/models/"
FAMILIES = re.compile(r"resnet50|resnet18|vit_small|vit_tiny|convit|crossvit|davit|deit_small|mobilevit")


@pytest.fixture
def timm_names(db) -> list[str]:
    """Every pretrained timm name of these families (about 200), registered as entries the bulk way."""
    names = [name for name in timm.list_pretrained() if FAMILIES.search(name)]
    services.model_bulk_create(
        entries=[
            ModelEntry(
                namespace="timm", name=name, domain="vision", task="image-classification", library="timm",
                title=name.split(".")[0].replace("_", " "), tags="imagenet",
            )
            for name in names
        ]
    )  # fmt: skip
    return names


def ranked(api_client, query: str, *, page_size: int = 100) -> list[str]:
    found, page = [], 1
    while True:
        body = api_client.get(URL, {"search": query, "page_size": page_size, "page": page}).json()
        found += [row["name"] for row in body["results"]]
        if not body["next"]:
            return found
        page += 1


def test_resnet50_ranks_the_resnet50_models_first(api_client, timm_names):
    found = ranked(api_client, "resnet50")
    starting = [name for name in found if name.startswith("resnet50")]
    assert found[: len(starting)] == starting and len(starting) > 20, found
    assert found[0].startswith("resnet50.")  # the exact name sorts before its extensions (resnet50d, ...)
    assert found.index("cspresnet50.ra_in1k") > found.index("resnet50x64_clip.openai")
    assert set(found) == {name for name in timm_names if "resnet50" in name}  # ranking drops no match


def test_vit_small_ranks_vit_small_first_then_the_other_small_vits(api_client, timm_names):
    found = ranked(api_client, "vit small")
    first = [name for name in timm_names if name.startswith("vit_small_")]
    assert sorted(found[: len(first)]) == sorted(first) and len(first) > 5, found
    others = found[len(first) :]
    for family in ("convit_small", "crossvit_small", "davit_small", "flexivit_small"):
        assert any(name.startswith(family) for name in others), (family, found)
    # within a tier by the name's words in byte order ("patch14" < "patch16" < "patch8"), on both databases
    assert found[: len(first)] == sorted(found[: len(first)], key=lambda name: re.findall(r"[^\W_]+", name))


def test_words_starting_name_words_rank_above_matches_inside_words(api_client, timm_names):
    found = ranked(api_client, "small vit")  # both words start words of vit_small_*; not a prefix of any name
    vit_small = [index for index, name in enumerate(found) if name.startswith("vit_small_")]
    inside = [
        index for index, name in enumerate(found) if name.startswith(("convit_", "crossvit_", "davit_"))
    ]
    assert vit_small and inside and max(vit_small) < min(inside), found


@pytest.mark.parametrize("page_size", [1, 7, 25])
def test_every_slice_of_the_ranking_is_the_same_ranking(api_client, timm_names, page_size):
    whole = ranked(api_client, "resnet50", page_size=100)
    assert ranked(api_client, "resnet50", page_size=page_size) == whole
    assert ranked(api_client, "vit small", page_size=page_size) == ranked(
        api_client, "vit small", page_size=100
    )


def test_an_ordering_replaces_the_ranking(api_client, timm_names):
    by_name = [
        row["name"]
        for row in api_client.get(URL, {"search": "resnet50", "ordering": "-name"}).json()["results"]
    ]
    assert by_name == sorted(by_name, reverse=True)


def test_the_catalog_page_lists_a_search_by_relevance(client, timm_names):
    html = client.get("/", {"search": "vit small"}).content.decode()
    listed = re.findall(r'class="model-id">([^<]+)</a>', html)
    assert len(listed) == 25 and all(model_id.startswith("timm/vit_small_") for model_id in listed), listed
