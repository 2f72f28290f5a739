"""Browsing the catalog in a real browser: facets, search, sort, the model page and compare."""

import time

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def catalog(make_model):
    make_model(
        name="tiny-cnn", title="Tiny CNN", summary="A small convolutional net", num_params=1_200_000,
        weights_size_bytes=4_800_000, license="apache-2.0", tags="cnn", card="# Tiny CNN\n\nTrained on **digits**.",
        claims=[{"dataset": "digits", "split": "test", "metric": "top1", "value": 97.25}],
    )  # fmt: skip
    make_model(
        namespace="acme", name="bert-mini", domain="nlp", task="text-classification", library="transformers",
        summary="Small BERT for sentiment", num_params=11_000_000, license="mit",
    )  # fmt: skip
    make_model(
        name="big-vit", summary="A vision transformer", num_params=86_000_000, license="mit",
        claims=[{"dataset": "imagenet-1k", "metric": "top1", "value": 84.0}],
    )  # fmt: skip


def model_links(page) -> list[str]:
    return page.locator("table.models a.model-id").all_inner_texts()


def test_a_user_filters_searches_sorts_and_opens_a_model(live_server, page, catalog):
    page.goto(f"{live_server.url}/")
    assert page.locator("p.count").inner_text() == "All 3 models"
    # The plot is its own SVG document inside an <object>.
    # Polled from here: wait_for_function compiles its predicate in the page, which the CSP (no unsafe-eval)
    # refuses once it has to poll; page.evaluate runs through the DevTools protocol, outside the page's CSP.
    expression = (
        "document.querySelector('figure.plot object').contentDocument?.querySelectorAll('circle').length"
    )
    deadline = time.monotonic() + 30
    # The plot is on one dataset, ImageNet-1k by default: of the two models with a size and a top-1, one claims
    # it there (the other's claim is on digits).
    while page.evaluate(expression) != 1:
        assert time.monotonic() < deadline, f"the plot shows {page.evaluate(expression)} points, not 1"
        page.wait_for_timeout(100)

    page.get_by_role("link", name="NLP").click()
    assert model_links(page) == ["acme/bert-mini"]
    page.get_by_title("Remove this filter").click()
    assert len(model_links(page)) == 3

    page.fill("#search", "transformer")
    page.get_by_role("button", name="Apply").click()
    assert model_links(page) == ["demo/big-vit"]

    page.fill("#search", "")
    page.select_option("#ordering", "num_params")
    page.get_by_role("button", name="Apply").click()
    assert model_links(page) == ["demo/tiny-cnn", "acme/bert-mini", "demo/big-vit"]

    page.get_by_role("link", name="demo/tiny-cnn", exact=True).click()
    assert page.locator("h1").first.inner_text() == "tiny-cnn"
    assert page.locator("section.card strong").inner_text() == "digits"
    assert "97.25%" in page.locator("table.verdicts").inner_text()


def test_a_bad_query_is_explained_on_the_page(live_server, page, catalog):
    page.goto(f"{live_server.url}/?params_max=lots")
    assert "That query cannot be run" in page.locator("div.errors").inner_text()
    assert "params_max" in page.locator("div.errors").inner_text()


def test_the_compare_page_shows_models_side_by_side(live_server, page, catalog):
    page.goto(f"{live_server.url}/compare/?models=demo/tiny-cnn,demo/big-vit")
    headers = page.locator("table.compare thead th").all_inner_texts()
    assert headers[1:] == ["demo/tiny-cnn", "demo/big-vit"]
    assert "97.25%" in page.locator("table.compare").inner_text()
