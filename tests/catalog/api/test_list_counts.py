"""Counts of the model list: exact up to a limit; beyond it on PostgreSQL, the planner's estimate, marked so.

These run on SQLite in the main suite and on PostgreSQL in the reliability suite (tests/reliability), which is
where the estimate path runs: each test asserts what its database must do.
"""

import pytest
from django.db import connection

from catalog.services import catalog_analyze
from hub.pagination import StrictPageNumberPagination, count_rows

URL = "/api/v1/models/"
ON_POSTGRES = connection.vendor == "postgresql"


@pytest.fixture
def seven_models(make_model):
    models = [make_model(name=f"count-{index}", num_params=index + 1) for index in range(7)]
    # The planner's statistics, as autovacuum (or catalog_analyze after a bulk import) keeps them: a table never
    # analyzed is estimated from its size on disk (31 rows for these 7), and an estimate past the limit is used.
    catalog_analyze()
    return models


def test_a_count_within_the_limit_is_exact(seven_models):
    from catalog.models import ModelEntry

    assert count_rows(ModelEntry.objects.all(), exact_up_to=7) == (7, False)
    assert count_rows(ModelEntry.objects.filter(num_params__lte=3), exact_up_to=7) == (3, False)


def test_a_count_past_the_limit_is_an_estimate_on_postgresql_only(seven_models):
    from catalog.models import ModelEntry

    count, is_estimate = count_rows(ModelEntry.objects.all(), exact_up_to=3)
    if ON_POSTGRES:
        assert is_estimate and count >= 4
    else:
        assert (count, is_estimate) == (7, False)


def test_pages_past_the_limit_reach_every_row_once_whatever_the_estimate(
    api_client, seven_models, monkeypatch
):
    monkeypatch.setattr(StrictPageNumberPagination, "exact_count_limit", 3)
    # A filter the facet-count table cannot answer (it knows the unfiltered catalog's size exactly), so the rows
    # are counted: past the limit, estimated on PostgreSQL.
    url, seen, bodies = f"{URL}?params_min=1&ordering=num_params&page_size=2", [], []
    while url:
        response = api_client.get(url)
        assert response.status_code == 200, response.content
        bodies.append(response.json())
        seen += [row["name"] for row in bodies[-1]["results"]]
        url = bodies[-1]["next"]
    assert seen == [f"count-{index}" for index in range(7)]
    assert all(body["count_is_estimate"] is ON_POSTGRES for body in bodies)
    assert all(body["count"] >= 4 for body in bodies)
    if not ON_POSTGRES:
        assert bodies[0]["count"] == 7 and bodies[0]["num_pages"] == 4
    past_the_end = api_client.get(f"{URL}?params_min=1&ordering=num_params&page_size=2&page=9")
    assert past_the_end.status_code == 404
    assert "past the end" in past_the_end.json()["error"]


def test_a_small_result_stays_exact_under_a_low_limit(api_client, seven_models, monkeypatch):
    monkeypatch.setattr(StrictPageNumberPagination, "exact_count_limit", 3)
    body = api_client.get(f"{URL}?params_max=2").json()
    assert (body["count"], body["count_is_estimate"], body["num_pages"]) == (2, False, 1)


def test_a_result_the_planner_puts_past_the_limit_is_not_counted_on_postgresql(seven_models, monkeypatch):
    from catalog.models import ModelEntry
    from hub import pagination

    counted = []
    monkeypatch.setattr(pagination, "planner_estimate", lambda queryset: 50 if ON_POSTGRES else None)
    original_count = ModelEntry.objects.all().__class__.count
    monkeypatch.setattr(
        ModelEntry.objects.all().__class__, "count", lambda self: counted.append(1) or original_count(self)
    )
    count, is_estimate = count_rows(ModelEntry.objects.all(), exact_up_to=49)  # 50 > 49: not counted
    if ON_POSTGRES:
        assert (count, is_estimate, counted) == (50, True, [])
        # within the limit by the estimate: counted, so the estimate's error never shows
        assert count_rows(ModelEntry.objects.all(), exact_up_to=50) == (7, False)
        assert counted == [1]
    else:
        assert (count, is_estimate) == (7, False)
