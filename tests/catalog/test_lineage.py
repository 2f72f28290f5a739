"""Lineage in the catalog: pretrained on, fine-tuned on, fine-tuned from (base_model), in the API, the facets, the
model page and the timm import."""

from io import StringIO

import pytest
from django.core.management import call_command

from catalog import selectors
from catalog.models import ModelEntry

BASE = "timm/vit_base_patch16_224.augreg_in21k"
FINE_TUNE = "timm/vit_base_patch16_224.augreg_in21k_ft_in1k"


@pytest.fixture
def vit_family(db):
    call_command(
        "import_timm", "--filter", "vit_base_patch16_224.augreg*", "--skip-results", stdout=StringIO()
    )
    return ModelEntry.objects.filter(name__startswith="vit_base_patch16_224.augreg")


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def test_the_timm_import_records_pretraining_fine_tuning_and_the_base(vit_family):
    fine_tune = vit_family.get(name=FINE_TUNE.split("/")[1])

    assert (fine_tune.pretrained_on, fine_tune.fine_tuned_on) == ("imagenet-21k", "imagenet-1k")
    assert fine_tune.base_model == BASE
    assert "pretrained on imagenet-21k, fine-tuned on imagenet-1k" in fine_tune.summary
    assert fine_tune.task == "image-classification"
    base = vit_family.get(name=BASE.split("/")[1])
    assert (base.pretrained_on, base.fine_tuned_on, base.base_model) == ("imagenet-21k", "", "")


def test_the_api_filters_on_pretraining_fine_tuning_and_base(api_client, vit_family):
    fine_tunes = sorted(
        f"timm/{name}" for name in vit_family.filter(base_model=BASE).values_list("name", flat=True)
    )

    assert FINE_TUNE in fine_tunes
    assert _ids(api_client.get("/api/v1/models/", {"base_model": BASE})) == fine_tunes
    assert FINE_TUNE in _ids(api_client.get("/api/v1/models/", {"pretrained_on": "imagenet-21k"}))
    assert FINE_TUNE not in _ids(api_client.get("/api/v1/models/", {"pretrained_on": "imagenet-1k"}))
    assert FINE_TUNE in _ids(api_client.get("/api/v1/models/", {"fine_tuned_on": "imagenet-1k"}))
    detail = api_client.get(f"/api/v1/models/{FINE_TUNE}/").json()
    assert (detail["base_model"], detail["pretrained_on"], detail["fine_tuned_on"]) == (
        BASE,
        "imagenet-21k",
        "imagenet-1k",
    )


def test_the_facets_count_bases_and_pretraining_data(client, vit_family):
    expected = vit_family.filter(base_model=BASE).count()
    facets = client.get("/").context["facets"]

    assert {item.value: item.count for item in facets["base_model"]}[BASE] == expected
    pretrained = {item.value: item.count for item in facets["pretrained_on"]}
    assert pretrained["imagenet-21k"] == vit_family.filter(pretrained_on="imagenet-21k").count()
    # a facet-only query is answered by the facet-count table: it must agree with the rows
    page = client.get("/", {"base_model": BASE})
    assert page.context["page"].paginator.count == expected


def test_the_page_shows_fine_tuned_from_and_the_model_tree(client, vit_family):
    child = client.get(f"/models/{FINE_TUNE}/").content.decode()
    assert "Fine-tuned from" in child and f'href="/models/{BASE}/"' in child
    assert "Fine-tuned on</th><td>imagenet-1k" in child

    parent = client.get(f"/models/{BASE}/").content.decode()
    assert "Model tree" in parent and f'href="/models/{FINE_TUNE}/"' in parent
    assert "Fine-tuned from" not in parent


def test_a_base_outside_the_catalog_is_named_not_linked(client, make_model):
    make_model(name="pets", base_model="someone/not-here")
    page = client.get("/models/demo/pets/").content.decode()
    assert 'someone/not-here <span class="muted">(not in this catalog)</span>' in page


def test_staff_register_a_base_model_and_it_is_stored_as_the_catalog_spells_it(staff_client, make_model):
    make_model(namespace="acme", name="Backbone")
    body = {
        "namespace": "acme",
        "name": "tuned",
        "domain": "vision",
        "task": "image-classification",
        "library": "timm",
    }

    response = staff_client.post("/api/v1/models/", {**body, "base_model": "ACME/backbone"}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["base_model"] == "acme/Backbone"


def test_a_cards_base_model_sets_the_field(staff_client, db):
    card = "---\nlicense: mit\nbase_model: timm/resnet50.a1_in1k\n---\n# Tuned\n"
    body = {"namespace": "acme", "name": "from-card", "domain": "vision", "task": "image-classification",
            "library": "timm", "card": card}  # fmt: skip

    response = staff_client.post("/api/v1/models/", body, format="json")

    assert response.status_code == 201, response.json()
    assert ModelEntry.objects.get(name="from-card").base_model == "timm/resnet50.a1_in1k"
    served = staff_client.get("/acme/from-card/resolve/main/README.md").content.decode()
    assert "base_model: timm/resnet50.a1_in1k" in served


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"base_model": "no-namespace"}, "as namespace/name"),
        ({"base_model": "acme/self"}, "fine-tuned from itself"),
        ({"card": "---\nbase_model: [a/b, c/d]\n---\n"}, "one model id"),
    ],
)
def test_a_bad_base_model_is_a_400_naming_the_field(staff_client, db, fields, message):
    body = {
        "namespace": "acme",
        "name": "self",
        "domain": "vision",
        "task": "image-classification",
        "library": "timm",
    }

    response = staff_client.post("/api/v1/models/", {**body, **fields}, format="json")

    assert response.status_code == 400
    field = "card" if "card" in fields else "base_model"
    assert message in str(response.json()["detail"][field])


def test_the_model_tree_follows_a_chain_of_bases_and_stops_at_a_cycle(make_model):
    make_model(name="a", base_model="demo/c")
    make_model(name="b", base_model="demo/a")
    make_model(name="c", base_model="demo/b")  # a -> c -> b -> a: a cycle someone typed

    lineage = selectors.model_lineage(model=ModelEntry.objects.get(name="a"))

    assert [link.model_id for link in lineage.ancestors] == ["demo/c", "demo/b"]
    assert [child.model_id for child in lineage.children] == ["demo/b"]


def test_the_model_tree_lists_a_bounded_number_of_children(make_model, monkeypatch):
    monkeypatch.setattr(selectors, "MAX_LINEAGE_CHILDREN", 2)
    base = make_model(name="base")
    for index in range(3):
        make_model(name=f"tuned-{index}", base_model="demo/base")

    lineage = selectors.model_lineage(model=base)

    assert [child.name for child in lineage.children] == ["tuned-0", "tuned-1"] and lineage.more_children
