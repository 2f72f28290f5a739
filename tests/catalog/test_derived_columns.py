"""One owner for an entry's derived columns: every change to claims, weights, runs or datasets refreshes the
verdict, so the list filter (API and page) and the model page always say the same thing."""

import shutil

import pytest
import timm
import torch
from django.db import connection
from django.test.utils import CaptureQueriesContext
from safetensors.torch import save_file

from catalog import measurements, services
from catalog.models import AccuracyClaim, DatasetTop1Claim, ModelEntry, SourceKind
from evaluation import services as evaluation_services
from evaluation.models import BenchmarkRun
from tests.fixtures_data import FAST

MODEL_PAGE = "/models/demo/digit-net/"
MODEL_ID = "demo/digit-net"


def run_on_small_digits(model, dataset) -> BenchmarkRun:
    run, _ = evaluation_services.run_request(model=model, dataset=dataset, config=FAST, enqueue=False)
    return evaluation_services.run_execute(run_id=run.pk, worker="test-worker")


def claim_on_small_digits(model, value: float, **fields):
    return services.claim_record(
        model=model, dataset="digits-small", split="test", metric="top1", value=value, **fields
    )


def listed_as_verified(client) -> tuple[bool, bool]:
    """(in the API's ?verified=true, on the page's ?verified=true)."""
    api = [row["id"] for row in client.get("/api/v1/models/?verified=true").json()["results"]]
    page = client.get("/?verified=true").content.decode()
    return MODEL_ID in api, f'href="/models/{MODEL_ID}/"' in page


def page_verdict(client) -> str:
    html = client.get(MODEL_PAGE).content.decode()
    table = html.split('<table class="claims verdicts">')[1].split("</table>")[0]
    for status in ("verified", "disagrees", "unverifiable"):
        if f'badge {status}"' in table:
            return status
    return "not measured yet" if "not measured yet" in table else "none"


def entry(model) -> ModelEntry:
    return ModelEntry.objects.get(pk=model.pk)


def other_weights(tmp_path):
    torch.manual_seed(1)
    path = tmp_path / "retrained.safetensors"
    save_file(timm.create_model("test_resnet", num_classes=10).state_dict(), str(path))
    return path


def test_new_weights_withdraw_the_verdict_in_the_list_and_on_the_page(
    client, digit_model, small_digits, tmp_path
):
    run = run_on_small_digits(digit_model, small_digits)
    claim_on_small_digits(digit_model, run.top1)
    assert listed_as_verified(client) == (True, True) and page_verdict(client) == "verified"
    assert entry(digit_model).verified_top1 == run.top1

    path = other_weights(tmp_path)
    services.weights_attach(
        model=digit_model, path=path, original_name=path.name, source_kind=SourceKind.LOCAL
    )

    # The run measured the previous file: the new one is not measured yet, everywhere at once.
    assert listed_as_verified(client) == (False, False) and page_verdict(client) == "not measured yet"
    assert (entry(digit_model).verification, entry(digit_model).verified_top1) == ("", None)
    assert (digit_model.verification, digit_model.verified_top1) == ("", None)  # the caller's row too


def test_a_new_claim_gives_the_measured_model_its_verdict(client, digit_model, small_digits):
    run = run_on_small_digits(digit_model, small_digits)
    assert listed_as_verified(client) == (False, False) and page_verdict(client) == "none"

    claim_on_small_digits(digit_model, run.top1 + 0.3)
    assert listed_as_verified(client) == (True, True) and page_verdict(client) == "verified"

    # An ImageNet-1k claim becomes the headline; the hub has no such dataset to check it on.
    services.claim_record(model=digit_model, dataset="imagenet-1k", metric="top1", value=80.0)
    assert listed_as_verified(client) == (False, False)
    model = entry(digit_model)
    assert (model.claimed_top1, model.verified_top1, model.verification) == (80.0, None, "unverifiable")


def test_a_run_finishing_verifies_a_pending_claim(client, digit_model, small_digits):
    claim_on_small_digits(digit_model, 50.0)
    assert entry(digit_model).verification == "" and page_verdict(client) == "not measured yet"

    run = run_on_small_digits(digit_model, small_digits)
    assert run.status == "succeeded", run.error
    # The rule (core/verdict.py): verified when 50 lies in the run's 95% interval widened by 0.5 points.
    low, high = run.metrics["top1_ci95"]
    expected = "verified" if round(low, 2) - 0.5 <= 50.0 <= round(high, 2) + 0.5 else "disagrees"
    model = entry(digit_model)
    assert (model.verification, model.verified_top1) == (expected, run.top1)
    assert page_verdict(client) == expected
    assert listed_as_verified(client) == ((expected == "verified"),) * 2


def test_registering_and_deleting_a_dataset_turns_a_claim_pending_and_back(
    db, make_model, small_digits_root, tmp_path
):
    model = make_model(name="waiting", claims=[{"dataset": "digits-small", "metric": "top1", "value": 90.0}])
    assert model.verification == "unverifiable"  # the hub holds no digits-small yet
    root = tmp_path / "digits-small"
    shutil.copytree(small_digits_root, root)
    dataset = evaluation_services.dataset_register_directory(name="digits-small", root=root)
    assert entry(model).verification == ""  # pending: it can be measured now
    evaluation_services.dataset_delete(dataset=dataset)
    assert entry(model).verification == "unverifiable"


def test_deleting_the_run_that_vouched_withdraws_the_verdict(digit_model, small_digits):
    run = run_on_small_digits(digit_model, small_digits)
    claim_on_small_digits(digit_model, run.top1)
    assert entry(digit_model).verification == "verified"
    assert evaluation_services.runs_delete(runs=BenchmarkRun.objects.filter(pk=run.pk)) == 1
    assert (entry(digit_model).verification, entry(digit_model).verified_top1) == ("", None)


def test_without_evaluation_nothing_is_measured_and_pages_still_render(client, digit_model, small_digits):
    run = run_on_small_digits(digit_model, small_digits)
    claim_on_small_digits(digit_model, run.top1)
    registered = measurements.current()
    measurements.register(None)
    try:
        assert isinstance(measurements.current(), measurements.NoMeasurements)
        services.model_derived_refresh(model_ids=[digit_model.pk])
        assert (entry(digit_model).verification, entry(digit_model).verified_top1) == ("unverifiable", None)
        html = client.get(MODEL_PAGE).content.decode()
        assert "No runs yet." in html and "badge unverifiable" in html
    finally:
        measurements.register(registered)
    services.model_derived_refresh(model_ids=[digit_model.pk])
    assert entry(digit_model).verification == "verified"


def test_the_refresh_reads_in_a_fixed_number_of_queries(make_model, digit_model, small_digits):
    run = run_on_small_digits(digit_model, small_digits)
    claim_on_small_digits(digit_model, run.top1)
    claims = [
        {"dataset": "imagenet-1k", "metric": "top1", "value": 80.0},
        {"dataset": "imagenet-real", "metric": "top1", "value": 85.0},
    ]
    few = [make_model(claims=claims).pk for _ in range(3)]
    many = few + [make_model(claims=claims).pk for _ in range(27)]

    def queries(model_ids: list[int]) -> int:
        with CaptureQueriesContext(connection) as captured:
            services.model_derived_refresh(model_ids=[digit_model.pk, *model_ids])
        return len(captured)

    assert queries(many) == queries(few)
    assert entry(digit_model).verification == "verified"
    assert DatasetTop1Claim.objects.filter(model_id__in=many).count() == 2 * len(many)
    assert set(ModelEntry.objects.filter(pk__in=many).values_list("verification", flat=True)) == {
        "unverifiable"
    }


# --- the admin ----------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-root-123"))
    return client


def test_the_admin_shows_derived_fields_read_only(admin_client, digit_model):
    html = admin_client.get(f"/admin/catalog/modelentry/{digit_model.pk}/change/").content.decode()
    assert 'name="title"' in html and 'name="tags"' in html
    for derived in (
        "claimed_top1", "verified_top1", "verification", "weights", "weights_size_bytes", "size_estimate_bytes",
        "search_text", "revision", "downloads",
    ):  # fmt: skip
        assert f'name="{derived}"' not in html, derived


def _change_form_data(response) -> dict[str, str]:
    """What the browser would post back unchanged from an admin change page (the form and its inlines)."""
    data: dict[str, str] = {}

    def add(form, prefix: str = "") -> None:
        for name in form.fields:
            value = form[name].value()
            if value is not None and value is not False:  # an unchecked box or an empty field is not posted
                data[f"{prefix}{name}"] = "on" if value is True else str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[f"{formset.prefix}-{name}"] = str(management[name].value())
        for form in formset.forms:
            add(form, f"{form.prefix}-")
    return data


def test_claims_edited_in_the_admin_refresh_the_verdict(admin_client, client, digit_model, small_digits):
    run = run_on_small_digits(digit_model, small_digits)
    claim = claim_on_small_digits(digit_model, run.top1)
    assert listed_as_verified(client) == (True, True)

    # AccuracyClaimAdmin, change: the claim no longer holds.
    url = f"/admin/catalog/accuracyclaim/{claim.pk}/change/"
    # 5 points above the run's 95% interval (120 images, several points wide): beyond the tolerance.
    wrong = round(run.metrics["top1_ci95"][1] + 5, 2)
    data = {**_change_form_data(admin_client.get(url)), "value": str(wrong)}
    assert admin_client.post(url, data).status_code == 302
    model = entry(digit_model)
    assert (model.verification, model.claimed_top1) == ("disagrees", wrong)
    assert listed_as_verified(client) == (False, False) and page_verdict(client) == "disagrees"

    # The inline on the model's page, change back: verified again; the model's own save is stamped.
    url = f"/admin/catalog/modelentry/{digit_model.pk}/change/"
    data = _change_form_data(admin_client.get(url))
    data.update({"claims-0-value": str(run.top1), "title": "Digit net, retitled"})
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    model = entry(digit_model)
    assert (model.verification, model.verified_top1) == ("verified", run.top1)
    assert "retitled" in model.search_text
    assert listed_as_verified(client) == (True, True) and page_verdict(client) == "verified"

    # AccuracyClaimAdmin, delete: nothing claimed, nothing verified.
    url = f"/admin/catalog/accuracyclaim/{claim.pk}/delete/"
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    model = entry(digit_model)
    assert (model.claimed_top1, model.verified_top1, model.verification) == (None, None, "")
    assert not AccuracyClaim.objects.exists() and not DatasetTop1Claim.objects.exists()
    assert listed_as_verified(client) == (False, False)

    # AccuracyClaimAdmin, add: verified once more.
    data = {
        "model": str(digit_model.pk), "dataset": "digits-small", "split": "test", "metric": "top1",
        "value": str(run.top1), "source": "author",
    }  # fmt: skip
    assert admin_client.post("/admin/catalog/accuracyclaim/add/", data).status_code == 302
    assert entry(digit_model).verification == "verified"


def test_a_run_deleted_in_the_admin_withdraws_the_verdict(admin_client, digit_model, small_digits):
    run = run_on_small_digits(digit_model, small_digits)
    claim_on_small_digits(digit_model, run.top1)
    response = admin_client.post(f"/admin/evaluation/benchmarkrun/{run.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not BenchmarkRun.objects.exists()
    assert (entry(digit_model).verification, entry(digit_model).verified_top1) == ("", None)


def expected_top1_per_dataset() -> dict[tuple[int, str], float]:
    """From the claims table itself: every entry's best top-1 per dataset."""
    best: dict[tuple[int, str], float] = {}
    for model_id, dataset, value in AccuracyClaim.objects.filter(metric__in=["top1", "accuracy"]).values_list(
        "model_id", "dataset", "value"
    ):
        best[(model_id, dataset)] = max(value, best.get((model_id, dataset), value))
    return best


def test_the_per_dataset_columns_agree_with_the_claims_table_after_every_kind_of_write(make_model):
    first = make_model(name="first", claims=[{"dataset": "imagenet-1k", "metric": "top1", "value": 70.0}])
    second = make_model(name="second", claims=[{"dataset": "digits", "metric": "top1", "value": 99.0}])
    services.claim_record(model=first, dataset="imagenet-1k", metric="top1", value=72.5, source="paper")
    services.claim_record(model=first, dataset="imagenet-1k", metric="top5", value=91.0)  # not a top-1
    services.claim_record(model=second, dataset="imagenet-1k", metric="accuracy", value=61.0)
    moved = services.claim_record(model=second, dataset="imagenet-sketch", metric="top1", value=20.0)
    moved.model = first  # the admin's edit of a claim's model
    services.claim_save(claim=moved)
    services.claims_delete(claims=AccuracyClaim.objects.filter(model=first, source="paper"))

    expected = expected_top1_per_dataset()
    stored = dict(
        ((model_id, dataset), value)
        for model_id, dataset, value in DatasetTop1Claim.objects.values_list("model_id", "dataset", "value")
    )
    assert stored == expected
    for model in ModelEntry.objects.all():
        assert model.in1k_claimed_top1 == expected.get((model.pk, "imagenet-1k")), model
    assert (entry(first).in1k_claimed_top1, entry(second).in1k_claimed_top1) == (70.0, 61.0)


def test_a_run_measures_the_claim_on_its_dataset_for_lists_on_that_dataset(
    api_client, digit_model, small_digits
):
    services.claim_record(model=digit_model, dataset="imagenet-1k", metric="top1", value=80.0)  # the headline
    claim_on_small_digits(digit_model, 50.0)
    run = run_on_small_digits(digit_model, small_digits)
    assert run.status == "succeeded", run.error
    assert DatasetTop1Claim.objects.get(model=digit_model, dataset="digits-small").verified_value == run.top1
    assert entry(digit_model).in1k_verified_top1 is None  # nothing measured on ImageNet-1k
    row = api_client.get("/api/v1/models/?claim_dataset=digits-small").json()["results"][0]
    assert (row["top1_dataset"], row["claimed_top1"], row["verified_top1"]) == (
        "digits-small",
        50.0,
        run.top1,
    )
    row = api_client.get("/api/v1/models/").json()["results"][0]
    assert (row["top1_dataset"], row["claimed_top1"], row["verified_top1"]) == ("imagenet-1k", 80.0, None)
