"""The transfer-rankings page: the list, newest first, and the form that starts a ranking through the API's
parsing and the same service."""

import re

import pytest

from evaluation import transfer_services
from evaluation.models import RunStatus, TransferRanking

LIST = "/transfer-rankings/"
CREATE = "/transfer-rankings/new/"


@pytest.fixture
def weightless(make_model):
    return make_model(name="no-weights", architecture="resnet10t", num_classes=10, num_params=4_900_000)


@pytest.fixture
def staff_browser(client, staff_user):
    client.force_login(staff_user)
    return client


def form(**fields):
    return {"dataset": "digits-small", "split": "test", "baseline_epochs": "", **fields}


def test_the_list_shows_rankings_newest_first_with_their_best_candidate(
    client, digit_model, weightless, small_digits
):
    older = transfer_services.ranking_request(
        dataset=small_digits, split="test", model_ids=[digit_model.model_id, weightless.model_id],
        config={"baseline": False, "threads": 1, "batch_size": 32}, enqueue=False,
    )  # fmt: skip
    older = transfer_services.ranking_execute(ranking_id=older.pk, worker="w")
    assert older.status == RunStatus.SUCCEEDED, older.error
    newer = transfer_services.ranking_request(
        dataset=small_digits, split="test", candidate_filter={"max_params": 10_000_000}, enqueue=False
    )
    response = client.get(LIST)
    assert response.status_code == 200
    rows = re.findall(
        r"<tr><td><a href=\"/transfer-rankings/(\d+)/\">.*?</tr>", response.content.decode(), re.S
    )
    assert rows == [str(newer.pk), str(older.pk)]
    page = response.content.decode()
    older_row = page[page.index(f'href="/transfer-rankings/{older.pk}/"') :].split("</tr>")[0]
    best = older.candidates.get(rank=1)
    assert best.model_label == digit_model.model_id  # the weightless one has no score
    assert f"{digit_model.model_id} ({best.score:.2f}%)" in older_row and "succeeded" in older_row
    assert ">2<" in older_row and "digits-small/test" in older_row
    newer_row = page[page.index(f'href="/transfer-rankings/{newer.pk}/"') :].split("</tr>")[0]
    assert "queued" in newer_row and "—" in newer_row
    assert 'href="/transfer-rankings/"' in page  # in the site navigation


def test_anonymous_users_see_a_sign_in_hint_and_outsiders_no_form(client, outsider, small_digits):
    anonymous = client.get(LIST).content.decode()
    assert 'id="ranking-form"' not in anonymous and "Sign in</a> as staff to start a ranking" in anonymous
    client.force_login(outsider)
    signed_in = client.get(LIST).content.decode()
    assert 'id="ranking-form"' not in signed_in and "Only staff can start a ranking" in signed_in


def test_staff_see_the_form_with_the_registered_datasets_and_their_splits(staff_browser, small_digits):
    page = staff_browser.get(LIST).content.decode()
    assert 'id="ranking-form"' in page and f'action="{CREATE}"' in page
    assert '<option value="digits-small"' in page
    # Each split names its dataset (ranking-form.js offers only the chosen dataset's splits).
    assert '<option value="test" data-dataset="digits-small">digits-small: test (120 images)</option>' in page
    assert "depot/ranking-form.js" in page
    assert "no figures yet, the first ranking on this hub will measure it" in page
    assert 'name="candidates"' in page and 'name="max_params"' in page and 'name="max_gmacs"' in page


def test_staff_start_a_ranking_it_is_queued_after_commit_and_the_page_follows(
    staff_browser, digit_model, weightless, small_digits, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_browser.post(
            CREATE, form(candidates=f"{digit_model.model_id}, {weightless.model_id}", baseline_epochs="2")
        )
    ranking = TransferRanking.objects.get()
    assert response.status_code == 302 and response["Location"] == ranking.get_absolute_url()
    assert len(callbacks) == 1 and ranking.status == RunStatus.QUEUED  # the task goes out only after commit
    assert ranking.requested_by.username == "alice" and ranking.split == "test"
    assert ranking.config["baseline"] is False and ranking.config["baseline_epochs"] == 2  # box left unticked
    assert [c.model_label for c in ranking.candidates.order_by("position")] == [
        digit_model.model_id,
        weightless.model_id,
    ]
    callbacks[0]()  # the commit: the (eager) task ranks
    ranking.refresh_from_db()
    assert ranking.status == RunStatus.SUCCEEDED, ranking.error
    page = staff_browser.get(response["Location"]).content.decode()
    assert "queued: 2 candidates" in page and "succeeded" in page


def test_a_filter_from_the_form_picks_the_candidates(staff_browser, digit_model, weightless, small_digits):
    response = staff_browser.post(
        CREATE, form(domain="vision", task="image-classification", max_params="5000000", baseline="1")
    )
    ranking = TransferRanking.objects.get()
    assert response.status_code == 302
    assert ranking.candidate_filter == {
        "domain": "vision",
        "task": "image-classification",
        "max_params": 5_000_000,
    }
    assert {c.model_label for c in ranking.candidates.all()} == {
        weightless.model_id
    }  # digit-net's size unknown
    assert ranking.config["baseline"] is True


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"dataset": "nope", "candidates": "demo/digit-net"}, "dataset", "No dataset &#x27;nope&#x27;"),
        ({"candidates": "demo/unknown"}, "candidates", "demo/unknown"),
        ({"candidates": "not-an-id"}, "candidates", "item 1:"),
        ({}, "candidates", "Give candidate model ids"),
        ({"candidates": "demo/digit-net", "domain": "vision"}, "candidates", "not both"),
        ({"max_params": "lots"}, "max_params", "valid integer"),
        ({"max_gmacs": "-1"}, "max_gmacs", "greater than or equal to 0"),
        ({"domain": "astrology"}, "domain", "not a valid choice"),
        ({"split": "validation", "candidates": "demo/digit-net"}, "split", "no split"),
        (
            {"candidates": "demo/digit-net", "baseline_epochs": "many"},
            "baseline_epochs",
            "must be an integer",
        ),
        (
            {"candidates": "demo/digit-net", "baseline_epochs": "0"},
            "baseline_epochs",
            "must be between 1 and 200",
        ),
        ({"max_params": "10"}, "filter", "No catalog model matches"),
    ],
)
def test_bad_input_shows_the_form_again_naming_the_field_and_writes_nothing(
    staff_browser, digit_model, small_digits, fields, field, message, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_browser.post(CREATE, form(**fields))
    assert response.status_code == 400
    page = response.content.decode()
    errors = re.search(rf'<ul class="errorlist" data-field="{field}">(.*?)</ul>', page, re.S)
    assert errors and message in errors.group(1), page[page.find('id="form-errors"') :][:600]
    assert f"<strong>{field}</strong>" in page  # the summary at the top names it too
    assert 'id="ranking-form"' in page and "digits-small" in page
    assert not TransferRanking.objects.exists() and not callbacks


def test_the_form_keeps_what_was_typed_after_an_error(staff_browser, digit_model, small_digits):
    page = staff_browser.post(CREATE, form(candidates="demo/ghost", max_gmacs="")).content.decode()
    assert (
        'value="demo/ghost"' in page and '<option value="test" data-dataset="digits-small" selected>' in page
    )


def test_outsiders_and_anonymous_users_cannot_start_a_ranking(client, outsider, digit_model, small_digits):
    anonymous = client.post(CREATE, form(candidates=digit_model.model_id))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    client.force_login(outsider)
    signed_in = client.post(CREATE, form(candidates=digit_model.model_id))
    assert signed_in.status_code == 302 and signed_in["Location"].startswith("/admin/login/")
    assert client.get(CREATE).status_code in (302, 405)
    assert not TransferRanking.objects.exists()
