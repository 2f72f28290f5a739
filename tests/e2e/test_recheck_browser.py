"""A curator re-checks a claim in the browser; a real worker runs it while the run page shows live progress."""

import pytest

from catalog import services as catalog_services

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def test_a_curator_rechecks_a_claim_and_watches_it_finish(
    live_server,
    page,
    celery_worker_process,
    digit_model,
    small_digits,
    django_user_model,
):
    catalog_services.claim_record(
        model=digit_model, dataset="digits-small", split="test", metric="top1", value=99.0
    )
    django_user_model.objects.create_user("curator", password="pw-curator-1", is_staff=True)
    sign_in(page, live_server, "curator", "pw-curator-1")

    page.goto(f"{live_server.url}/models/demo/digit-net/")
    assert "not measured yet" in page.locator("table.verdicts").inner_text()
    page.select_option("form.recheck select[name=dataset]", "digits-small")
    page.get_by_role("button", name="Re-check accuracy").click()

    page.wait_for_url("**/benchmarks/*/")
    assert page.locator("#run-status").inner_text() in ("queued", "running", "succeeded")
    page.wait_for_selector("#run-status.status-succeeded", timeout=120_000)
    assert page.locator("table.confusion tbody tr").count() == 10
    verdict = page.locator("table.claims").inner_text()
    assert "disagrees" in verdict  # random weights are nowhere near the claimed 99%

    page.get_by_role("link", name="demo/digit-net").first.click()
    assert "disagrees" in page.locator("table.verdicts").inner_text()
    assert "succeeded" in page.locator("table.runs").inner_text()
