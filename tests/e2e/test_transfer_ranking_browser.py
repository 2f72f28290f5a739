"""A curator starts a transfer ranking of two tiny models in the browser; a real worker ranks them while the
ranking page follows its progress, then shows the candidates ordered by score."""

import pytest
import timm
import torch
from safetensors.torch import save_file

from catalog import services as catalog_services
from catalog.models import SourceKind
from tests.e2e.test_recheck_browser import sign_in
from tests.fixtures_data import DIGITS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def second_digit_model(make_model, tmp_path):
    """A second tiny candidate, another architecture with its own real (random, fixed) weights."""
    model = make_model(
        name="digit-effnet", architecture="test_efficientnet", num_classes=10, label_names=DIGITS,
        input_size=[3, 32, 32], mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25], interpolation="bilinear",
        crop_pct=1.0, crop_mode="center",
    )  # fmt: skip
    torch.manual_seed(1)
    path = tmp_path / "effnet.safetensors"
    save_file(timm.create_model("test_efficientnet", num_classes=10).state_dict(), str(path))
    catalog_services.weights_attach(
        model=model, path=path, original_name=path.name, source_kind=SourceKind.LOCAL
    )
    return model


def test_a_curator_ranks_two_models_and_watches_the_ranking_finish(
    live_server, page, celery_worker_process, digit_model, second_digit_model, small_digits, django_user_model
):
    django_user_model.objects.create_user("curator", password="pw-curator-1", is_staff=True)
    sign_in(page, live_server, "curator", "pw-curator-1")

    page.get_by_role("link", name="Transfer rankings", exact=True).click()
    page.wait_for_url("**/transfer-rankings/")
    assert page.locator("script:not([src])").count() == 0  # nothing a Content-Security-Policy would block
    page.select_option("#id_dataset", "digits-small")
    page.select_option("#id_split", "test")
    page.fill("#id_candidates", f"{digit_model.model_id}, {second_digit_model.model_id}")
    page.fill("#id_baseline_epochs", "1")
    page.get_by_role("button", name="Start ranking").click()

    page.wait_for_url("**/transfer-rankings/*/")
    assert page.locator("#run-status").inner_text() in ("queued", "running", "succeeded")
    assert page.locator("script:not([src])").count() == 0
    # run.js polls the API and reloads the page when the job ends.
    page.wait_for_selector("#run-status.status-succeeded", timeout=180_000)

    rows = page.locator("#ranking-table tbody tr")
    assert rows.count() == 2
    ranked = [rows.nth(i).locator("td").all_inner_texts() for i in range(2)]
    assert [cells[0] for cells in ranked] == ["1", "2"]
    assert {cells[1] for cells in ranked} == {digit_model.model_id, second_digit_model.model_id}
    scores = [float(cells[2].split("%")[0]) for cells in ranked]  # "90.83% ±9.03": the score, its fold spread
    assert scores[0] >= scores[1], scores
    assert (
        page.locator("#baseline-note, #negative-transfer").count() == 1
    )  # the 1-epoch baseline was measured

    page.get_by_role("link", name="Transfer rankings", exact=True).click()
    listing = page.locator("#rankings-table tbody tr").first.inner_text()
    best = ranked[0][1]
    assert "succeeded" in listing and f"{best} ({scores[0]:.2f}%)" in listing  # the list shows no spread
