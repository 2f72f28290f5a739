"""Server-rendered pages render real content and refuse bad queries readably."""

import re

import pytest


@pytest.fixture
def catalog(make_model):
    make_model(
        name="tiny-cnn", summary="A small convolutional net", num_params=1_200_000, weights_size_bytes=4_800_000,
        gmacs=0.05, license="apache-2.0", tags="cnn,edge",
        card="# Tiny CNN\n\nTrained on **digits**.\n\n<script>alert(1)</script>\n[x](javascript:alert(1))",
        claims=[{"dataset": "digits", "split": "test", "metric": "top1", "value": 97.25}],
    )  # fmt: skip
    make_model(
        namespace="acme", name="bert-mini", domain="nlp", task="text-classification", library="transformers",
        summary="Small BERT", num_params=11_000_000, license="mit",
    )  # fmt: skip
    make_model(
        name="big-vit", summary="A transformer", num_params=86_000_000, license="mit",
        claims=[{"dataset": "imagenet-1k", "metric": "top1", "value": 84.0}],
    )  # fmt: skip


def test_the_catalog_lists_models_with_facets_and_a_plot(client, catalog):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "All 3 models" in html
    for model_id in ("demo/tiny-cnn", "acme/bert-mini", "demo/big-vit"):
        assert f'href="/models/{model_id}/"' in html
    # accuracy is on ImageNet-1k unless the query names another: tiny-cnn's 97.25% is on digits
    assert "1.2M" in html and "84.00%" in html and "97.25%" not in html
    assert re.search(r"Vision</a> <span class=\"n\">2</span>", html)
    assert '<object data="/plot.svg"' in html
    plot = client.get("/plot.svg")
    assert plot["Content-Type"] == "image/svg+xml"
    svg = plot.content.decode()
    assert svg.count("<circle") == 1  # the one model with both a size and a top-1 on ImageNet-1k
    assert 'href="/models/demo/big-vit/" target="_top"' in svg and "84.00% top-1" in svg
    svg = client.get("/plot.svg?claim_dataset=digits").content.decode()
    assert svg.count("<circle") == 1 and 'href="/models/demo/tiny-cnn/" target="_top"' in svg


def test_every_accuracy_header_and_the_plot_axis_name_the_dataset(client, catalog):
    html = client.get("/").content.decode()
    header = html.split('<table class="models">')[1].split("</thead>")[0]
    assert "Claimed top-1 on imagenet-1k" in header and "Verified top-1 on imagenet-1k" in header
    assert "top-1 on imagenet-1k (%)" in client.get("/plot.svg").content.decode()
    html = client.get("/?claim_dataset=digits&ordering=-claimed_top1").content.decode()
    header = html.split('<table class="models">')[1].split("</thead>")[0]
    assert "Claimed top-1 on digits" in header and "imagenet-1k" not in header
    assert "97.25%" in html and "demo/big-vit" not in html  # only models claiming on digits
    assert "Claimed top-1 on digits (high first)" in html  # the sort menu names it too
    assert "top-1 on digits (%)" in client.get("/plot.svg?claim_dataset=digits").content.decode()


def test_the_chosen_dataset_travels_in_the_pages_links(client, catalog, make_model):
    make_model(
        name="small-vit",
        num_params=5_000_000,
        claims=[{"dataset": "digits", "metric": "top1", "value": 90.0}],
    )
    html = client.get("/?claim_dataset=digits&ordering=-claimed_top1").content.decode()
    assert '<object data="/plot.svg?claim_dataset=digits&amp;ordering=-claimed_top1"' in html
    assert 'href="/compare/?models=demo%2Ftiny-cnn%2Cdemo%2Fsmall-vit&amp;claim_dataset=digits"' in html
    assert '<option value="digits" selected>' in html
    facet = re.search(r'<a href="(\?[^"]*domain=vision[^"]*)"', html).group(1)
    assert "claim_dataset=digits" in facet


def test_the_compare_page_ranks_on_one_dataset(client, catalog, make_model):
    make_model(name="small-vit", claims=[{"dataset": "digits", "metric": "top1", "value": 99.0}])
    html = client.get("/compare/?models=demo/tiny-cnn,demo/big-vit,demo/small-vit").content.decode()
    row = html.split('<tr class="top1-on">')[1].split("</tr>")[0]
    assert "Claimed top-1 on imagenet-1k" in row
    assert re.findall(r"<td[^>]*>(.*?)</td>", row) == ["—", '84.00% <span class="muted">#1</span>', "—"]
    html = client.get(
        "/compare/?models=demo/tiny-cnn,demo/big-vit,demo/small-vit&claim_dataset=digits"
    ).content
    row = html.decode().split('<tr class="top1-on">')[1].split("</tr>")[0]
    assert "Claimed top-1 on digits" in row
    assert re.findall(r"<td[^>]*>(.*?)</td>", row) == [
        '97.25% <span class="muted">#2</span>',
        "—",
        '99.00% <span class="muted">#1</span>',
    ]


def test_the_plot_follows_the_query_and_refuses_a_bad_one(client, catalog):
    assert client.get("/plot.svg?search=transformer").content.decode().count("<circle") == 1
    assert "No model here" in client.get("/plot.svg?domain=nlp").content.decode()
    bad = client.get("/plot.svg?params_max=lots")
    assert bad.status_code == 400 and "params_max" in bad.content.decode()


def test_the_catalog_filters_searches_and_sorts(client, catalog):
    html = client.get("/?domain=vision&search=transformer&ordering=-num_params").content.decode()
    assert "1 of 3 models" in html and "demo/big-vit" in html and "demo/tiny-cnn" not in html
    table = client.get("/?ordering=num_params").content.decode().split('<table class="models">')[1]
    assert table.index("demo/tiny-cnn") < table.index("acme/bert-mini") < table.index("demo/big-vit")


def test_the_catalog_explains_a_bad_query(client, catalog):
    response = client.get("/?params_max=lots&domain=space")
    assert response.status_code == 400
    html = response.content.decode()
    assert "That query cannot be run" in html
    assert (
        "<strong>Parameters at most</strong>" in html
        and "<code>params_max</code>" in html
        and "<code>domain</code>" in html
    )


def test_the_catalog_paginates(client, make_model):
    for index in range(30):
        make_model(name=f"m-{index:02d}")
    first = client.get("/").content.decode()
    assert (
        "Page 1 of 2" in first and 'rel="next"' in first and "demo/m-24" in first and "demo/m-25" not in first
    )
    second = client.get("/?page=2").content.decode()
    assert "demo/m-29" in second and 'rel="prev"' in second
    assert client.get("/?page=3").status_code == 400
    assert client.get("/?page=x").status_code == 400


def test_the_model_page_shows_the_card_sanitised_metadata_and_claims(client, catalog):
    response = client.get("/models/demo/tiny-cnn/")
    assert response.status_code == 200
    html = response.content.decode()
    # The card's headings sit one level under the page's own <h1> (the model's name).
    assert "<h2>Tiny CNN</h2>" in html and "<strong>digits</strong>" in html and html.count("<h1") == 1
    assert "<script>alert(1)</script>" not in html and "javascript:" not in html
    assert "1,200,000 (1.2M)" in html and "4.8 MB" in html and "apache-2.0" in html
    assert "97.25%" in html and "digits" in html and "no such dataset here" in html


def test_an_unknown_model_page_is_a_404(client, db):
    response = client.get("/models/nobody/nothing/")
    assert response.status_code == 404
    assert "No model nobody/nothing in this catalog." in response.content.decode()


def test_the_compare_page_puts_models_side_by_side(client, catalog):
    response = client.get("/compare/?models=demo/tiny-cnn,demo/big-vit,nobody/x")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("demo/tiny-cnn") < html.index("demo/big-vit")
    assert "1.2M" in html and "86.0M" in html and "97.25%" in html and "84.00%" in html
    assert "Not in this catalog: <code>nobody/x</code>" in html


def test_the_compare_page_refuses_empty_or_oversized_requests(client, catalog):
    assert client.get("/compare/").status_code == 400
    assert client.get("/compare/?models=" + ",".join(f"a/m{i}" for i in range(7))).status_code == 400
    assert client.get("/compare/?models=nobody/x").status_code == 404


def test_staff_upload_weights_from_the_model_page(client, make_model, django_user_model, tmp_path):
    import timm
    import torch
    from django.core.files.uploadedfile import SimpleUploadedFile
    from safetensors.torch import save

    make_model(name="tiny", architecture="test_resnet", num_classes=5)
    staff = django_user_model.objects.create_user("curator", password="pw-curator-1", is_staff=True)
    client.force_login(staff)
    page = client.get("/models/demo/tiny/").content.decode()
    assert "Upload weights" in page and "not stored on this hub" in page
    torch.manual_seed(0)
    data = save(dict(timm.create_model("test_resnet", num_classes=5).state_dict()))
    response = client.post(
        "/models/demo/tiny/weights/", {"file": SimpleUploadedFile("m.safetensors", data)}, follow=True
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Stored weights" in html and "Download model.safetensors" in html and "hf-hub:demo/tiny@" in html
    refused = client.post(
        "/models/demo/tiny/weights/", {"file": SimpleUploadedFile("m.bin", b"\x80\x04junk")}
    )
    assert refused.status_code == 400
    assert "pickle-based checkpoint" in refused.content.decode()


def test_the_upload_form_is_for_staff_only(client, make_model, django_user_model):
    from django.core.files.uploadedfile import SimpleUploadedFile

    make_model(name="tiny", architecture="test_resnet", num_classes=5)
    assert "Upload weights" not in client.get("/models/demo/tiny/").content.decode()
    response = client.post("/models/demo/tiny/weights/", {"file": SimpleUploadedFile("m.safetensors", b"x")})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    user = django_user_model.objects.create_user("visitor", password="pw-visitor-1")
    client.force_login(user)
    assert (
        client.post(
            "/models/demo/tiny/weights/", {"file": SimpleUploadedFile("m.safetensors", b"x")}
        ).status_code
        == 302
    )


def test_a_cards_yaml_front_matter_is_not_shown_as_text(client, make_model):
    make_model(name="carded", card="---\nlicense: mit\ntags:\n- x\n---\n# Real title\n\nBody.")
    html = client.get("/models/demo/carded/").content.decode()
    assert "<h2>Real title</h2>" in html and "license: mit" not in html
    readme = client.get("/demo/carded/resolve/main/README.md").content.decode()
    assert readme.count("---") == 2 and "# Real title" in readme


def test_the_plot_marks_measured_points_with_their_stored_verdicts(client, make_model):
    from catalog.services import model_derived_refresh
    from evaluation.models import EvalDataset
    from tests.catalog.leaderboard.conftest import give_weights, succeeded_run

    imagenet = EvalDataset.objects.create(name="imagenet-1k", kind="directory", root="/nonexistent")
    agrees = make_model(name="agrees", num_params=5_000_000,
                        claims=[{"dataset": "imagenet-1k", "metric": "top1", "value": 75.0}])  # fmt: skip
    off = make_model(name="off", num_params=9_000_000,
                     claims=[{"dataset": "imagenet-1k", "metric": "top1", "value": 80.0}])  # fmt: skip
    for model, top1 in ((agrees, 75.1), (off, 70.0)):
        give_weights(model, sha256=model.name * 8)
        model.refresh_from_db()
        succeeded_run(model, imagenet, top1=top1, sha256=model.name * 8)
    model_derived_refresh(model_ids=[agrees.pk, off.pk])

    response = client.get("/plot.svg")

    assert response.status_code == 200
    svg = response.content.decode()
    assert svg.count('class="verified"') == 1 and "75.10% top-1, 5M params (verified)" in svg
    assert svg.count('class="disagrees"') == 1 and "70.00% top-1, 9M params (disagrees)" in svg
