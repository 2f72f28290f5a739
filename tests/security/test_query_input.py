"""Hostile query strings on the public read endpoints: always a 400 naming the parameter, never a 5xx."""

import pytest

API = "/api/v1/models/"
NINES = "9" * 400

HOSTILE_QUERIES = [
    (f"params_max={NINES}", "params_max"),
    (f"params_min={NINES}", "params_min"),
    ("params_max=1e308", "params_max"),
    ("params_min=-5", "params_min"),
    ("size_mb_max=1e308", "size_mb_max"),
    ("size_mb_max=1e999", "size_mb_max"),
    ("size_mb_max=nan", "size_mb_max"),
    ("size_mb_max=-1", "size_mb_max"),
    ("gmacs_max=inf", "gmacs_max"),
    ("gmacs_max=-inf", "gmacs_max"),
    ("min_top1=101", "min_top1"),
    ("min_top1=NaN", "min_top1"),
    ("page_size=101", "page_size"),
    (f"page_size={NINES}", "page_size"),
    ("page=0", "page"),
    ("page=-3", "page"),
    ("ordering=password", "ordering"),
    ("ordering=-id;DROP TABLE catalog_modelentry", "ordering"),
    ("verified=maybe", "verified"),
    ("search=" + "x" * 201, "search"),
    ("search=a%00b", "search"),
    ("license=" + "l" * 65, "license"),
    ("is_staff=true", "is_staff"),
    ("format=json&debug=1", "debug"),
]


@pytest.mark.parametrize(("query", "parameter"), HOSTILE_QUERIES)
def test_the_api_refuses_hostile_queries_with_a_400_naming_the_parameter(
    api_client, make_model, query, parameter
):
    from tests.security.conftest import assert_error_shape

    make_model(name="target", num_params=5_000_000)
    body = assert_error_shape(api_client.get(f"{API}?{query}"), 400)
    assert parameter in body["error"], body


def test_a_page_far_past_the_end_is_a_404_that_says_so(api_client, make_model):
    from tests.security.conftest import assert_error_shape

    make_model(name="target")
    assert_error_shape(api_client.get(f"{API}?page={NINES[:30]}"), 404, mentions="past the end")


@pytest.mark.parametrize(
    "query",
    [f"params_max={NINES}", "size_mb_max=1e308", "size_mb_max=1e999", "gmacs_max=nan", "min_top1=1e5"],
)
@pytest.mark.parametrize("path", ["/", "/plot.svg"])
def test_the_catalog_page_and_the_plot_refuse_them_with_a_400(client, make_model, path, query):
    make_model(name="target", num_params=5_000_000)
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400, response.content[:300]
    name = query.split("=")[0]
    assert name in response.content.decode()
