"""Evaluation pages: the run page (progress, metrics, confusion matrix, provenance), datasets, re-check button."""

import pytest

from catalog import services as catalog_services
from evaluation import services
from evaluation.models import BenchmarkRun
from tests.fixtures_data import FAST


@pytest.fixture
def finished_run(digit_model, small_digits):
    run, _ = services.run_request(model=digit_model, dataset=small_digits, config=FAST, enqueue=False)
    return services.run_execute(run_id=run.pk, worker="page-worker")


def test_the_run_page_shows_results_and_provenance(client, finished_run, digit_model):
    # 5 points above the top of the run's 95% interval: beyond the 0.5-point tolerance, so it disagrees.
    low, high = finished_run.metrics["top1_ci95"]
    claimed = round(high + 5, 2)
    catalog_services.claim_record(
        model=digit_model, dataset="digits-small", split="test", metric="top1", value=claimed
    )
    html = client.get(f"/benchmarks/{finished_run.pk}/").content.decode()
    assert "succeeded" in html and f"{finished_run.top1:.2f}%" in html
    assert 'class="confusion"' in html and html.count("<tr><th>") >= 10
    assert digit_model.weights.sha256 in html and finished_run.dataset_hash in html
    assert "page-worker" in html and "Wilson" in html
    assert "disagrees" in html and f"{finished_run.top1 - claimed:.2f}" in html
    assert f"95% interval {low:.2f}\u2013{high:.2f}% on 120 images" in html  # an en dash, as shown


def test_a_queued_run_page_refreshes_itself_without_javascript(client, digit_model, small_digits):
    run, _ = services.run_request(model=digit_model, dataset=small_digits, config=FAST, enqueue=False)
    html = client.get(f"/benchmarks/{run.pk}/").content.decode()
    assert '<meta http-equiv="refresh"' in html and "queued" in html and 'src="/static/depot/run.js"' in html


def test_a_failed_run_page_shows_the_error(client, digit_model, small_digits):
    run, _ = services.run_request(model=digit_model, dataset=small_digits, config=FAST, enqueue=False)
    BenchmarkRun.objects.filter(pk=run.pk).update(
        status="failed", error="HarnessError: unreadable image 3/x.png"
    )
    assert "unreadable image 3/x.png" in client.get(f"/benchmarks/{run.pk}/").content.decode()


def test_an_unknown_run_is_a_404(client, db):
    assert client.get("/benchmarks/424242/").status_code == 404


def test_the_datasets_page_lists_splits_and_hashes(client, small_digits):
    html = client.get("/datasets/").content.decode()
    assert "digits-small" in html and "test 120" in html and small_digits.split_hashes["test"][:12] in html


def test_the_model_page_lists_runs_and_verdicts(client, finished_run, digit_model):
    catalog_services.claim_record(
        model=digit_model, dataset="digits-small", split="test", metric="top1", value=finished_run.top1
    )
    html = client.get("/models/demo/digit-net/").content.decode()
    assert f'href="/benchmarks/{finished_run.pk}/"' in html and "badge verified" in html
    assert "Re-check accuracy" not in html  # staff only


def test_staff_recheck_from_the_model_page(
    client, digit_model, small_digits, django_user_model, django_capture_on_commit_callbacks
):
    client.force_login(
        django_user_model.objects.create_user("curator", password="pw-curator-1", is_staff=True)
    )
    assert "Re-check accuracy" in client.get("/models/demo/digit-net/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/models/demo/digit-net/recheck/", {"dataset": "digits-small", "split": "test"}
        )
    run = BenchmarkRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/benchmarks/{run.pk}/"
    assert run.status == "succeeded" and run.requested_by.username == "curator"
    bad = client.post(
        "/models/demo/digit-net/recheck/", {"dataset": "digits-small", "split": "nope"}, follow=True
    )
    assert "has no split &#x27;nope&#x27;" in bad.content.decode()


def test_recheck_needs_staff(client, digit_model, small_digits):
    response = client.post("/models/demo/digit-net/recheck/", {"dataset": "digits-small"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not BenchmarkRun.objects.exists()


def test_the_api_model_page_and_compare_page_show_the_interval_beside_the_delta(
    client, api_client, finished_run, digit_model
):
    catalog_services.claim_record(
        model=digit_model, dataset="digits-small", split="test", metric="top1", value=finished_run.top1
    )
    low, high = (round(bound, 2) for bound in finished_run.metrics["top1_ci95"])
    (verdict,) = api_client.get("/api/v1/models/demo/digit-net/").json()["verdicts"]
    assert verdict["status"] == "verified" and verdict["delta"] == 0.0 and verdict["run"] == finished_run.pk
    assert verdict["interval95"] == [low, high] and verdict["num_samples"] == 120 and low < high

    shown = f"95% interval {low:.2f}\u2013{high:.2f}% on 120 images"
    assert shown in client.get("/models/demo/digit-net/").content.decode()
    assert shown in client.get("/compare/?models=demo/digit-net&claim_dataset=digits-small").content.decode()


def test_the_run_page_shows_config_and_provenance_as_text_not_python_reprs(client, digit_model, small_digits):
    run, _ = services.run_request(
        model=digit_model, dataset=small_digits, config={"num_workers": 2}, enqueue=False
    )
    provenance = {
        "num_workers": 0,
        "splits": ["test"],
        "image_decoder": {"version": "1", "background": [255, 255]},
    }
    BenchmarkRun.objects.filter(pk=run.pk).update(status="failed", error="x", provenance=provenance)

    html = client.get(f"/benchmarks/{run.pk}/").content.decode()

    assert "['" not in html and "{'" not in html and "None" not in html
    assert "threads: the worker's own setting" in html and "splits</th><td>test</td>" in html
    assert 'num_workers: 2 <span class="muted">(0 used: a Celery job process' in html


def test_a_default_runs_config_and_provenance_agree_on_num_workers(digit_model, small_digits):
    run, _ = services.run_request(
        model=digit_model, dataset=small_digits, config={"threads": 1, "batch_size": 32}, enqueue=False
    )
    run = services.run_execute(run_id=run.pk, worker="page-worker")

    assert run.status == "succeeded"
    assert run.config["num_workers"] == run.provenance["num_workers"] == 0
