"""The main pages on a laptop (1280x800) and a phone (390x844), signed in as staff so every form shows: no
horizontal scroll (wide tables scroll inside their own box), one <h1>, a skip link first, axe-core without a
serious or critical violation, and the catalog's first result within 30 Tab presses. Screenshots and the report
are kept under test-artifacts/a11y/."""

import pytest

from catalog import services as catalog_services
from catalog.models import SpeedClaim
from core.timm_results import TEST_SETS
from evaluation import services as evaluation_services
from evaluation import transfer_services
from evaluation.models import RunStatus
from tests.e2e.layout_audit import audit_pages, staff_session_cookie, write_report

# About 30 s on an idle 2-core machine: seeding a run and a ranking, then 14 pages audited and photographed.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.long(seconds=40),
    pytest.mark.django_db(transaction=True),
]

TIMM_MODEL = "timm/vit_small_patch16_224.augreg_in21k_ft_in1k"
LICENSES = ("apache-2.0", "mit", "bsd-3-clause", "cc-by-nc-4.0", "other", "llama2")
SMALL_MODELS = 40
CARD = """# vit_small_patch16_224.augreg_in21k_ft_in1k

A Vision Transformer image classifier, pretrained on ImageNet-21k and fine-tuned on ImageNet-1k.

## Model details
| | |
|---|---|
| Params (M) | 22.1 |
| GMACs | 4.3 |

```python
model = timm.create_model("vit_small_patch16_224.augreg_in21k_ft_in1k", pretrained=True)
```
"""


def timm_catalog(make_model) -> None:
    """A dozen timm entries with claims on timm's six test sets, published speeds and varied licences, so the
    facets are as long as a real catalog's first screen."""
    for index, license in enumerate(LICENSES * 2):
        name = (
            TIMM_MODEL.split("/")[1]
            if index == 0
            else f"resnet{10 + index}d.a{index % 3 + 1}_in1k_with_a_rather_long_pretrained_tag"
        )
        top1 = 70.0 + index
        make_model(
            namespace="timm", name=name, title=name, summary="Image classification model from timm",
            num_params=5_000_000 * (index + 1), gmacs=1.2 * (index + 1), architecture=f"arch{index % 4}",
            input_size=[3, 224, 224], license=license, tags="image-classification,timm,transformers",
            pretrained_on="imagenet-21k" if index == 0 else "imagenet-1k", fine_tuned_on="imagenet-1k",
            hf_repo_id=f"timm/{name}", card=CARD if index == 0 else "",
            claims=[
                {"dataset": test_set.dataset, "split": test_set.split, "metric": metric, "value": value,
                 "source": "results-table", "img_size": 224, "crop_pct": 0.9, "interpolation": "bicubic"}
                for offset, test_set in enumerate(TEST_SETS)
                for metric, value in (("top1", top1 - 6 * offset), ("top5", top1 - 6 * offset + 15))
            ],
        )  # fmt: skip
    for index in range(SMALL_MODELS):  # points on the plot, rows beyond the first page's
        make_model(
            namespace="timm", name=f"mobilenet_{index:02d}.ra_in1k", num_params=1_000_000 + 250_000 * index,
            license="apache-2.0", claims=[{"dataset": "imagenet-1k", "metric": "top1", "value": 50.0 + index}],
        )  # fmt: skip
    for index in range(4):
        SpeedClaim.objects.create(
            architecture=f"arch{index}", device="cuda", hardware="NVIDIA RTX 5090", precision="amp",
            torch_version="2.9.1", samples_per_sec=900.0 * (index + 1), batch_size=256, img_size=224,
        )  # fmt: skip


@pytest.fixture
def site(make_model, digit_model, small_digits, staff_user) -> dict[str, str]:
    """Page name -> path, over a catalog with a succeeded run and a finished transfer ranking."""
    timm_catalog(make_model)
    make_model(
        name="digits-convnext-overfit", num_params=1_500_000, license="mit",
        claims=[{"dataset": "digits", "split": "test", "metric": "top1", "value": 100.0}],
    )  # fmt: skip
    digit_model.card = "# digit-net\n\nA test_resnet on scikit-learn's digits."
    digit_model.save(update_fields=["card"])
    # Random weights are nowhere near it: the run below marks it "disagrees" (a badge on the model, run and
    # compare pages).
    catalog_services.claim_record(
        model=digit_model, dataset="digits-small", split="test", metric="top1", value=99.0
    )
    run, _ = evaluation_services.run_request(
        model=digit_model, dataset=small_digits, config={"batch_size": 32, "num_workers": 0, "threads": 1},
        enqueue=False,
    )  # fmt: skip
    run = evaluation_services.run_execute(run_id=run.pk, worker="a11y")
    assert run.status == RunStatus.SUCCEEDED, run.error
    ranking = transfer_services.ranking_request(
        dataset=small_digits, split="test", model_ids=[digit_model.model_id, "demo/digits-convnext-overfit"],
        config={"baseline": False, "threads": 1, "batch_size": 32}, enqueue=False,
    )  # fmt: skip
    ranking = transfer_services.ranking_execute(ranking_id=ranking.pk, worker="a11y")
    assert ranking.status == RunStatus.SUCCEEDED, ranking.error
    return {
        "catalog": "/",
        "timm model": f"/models/{TIMM_MODEL}/",
        "demo model": f"/models/{digit_model.model_id}/",
        "compare": f"/compare/?models={TIMM_MODEL},{digit_model.model_id},demo/digits-convnext-overfit",
        "leaderboard": "/leaderboard/",
        "run": run.get_absolute_url(),
        "ranking": ranking.get_absolute_url(),
        "rankings": "/transfer-rankings/",  # the list, and the form that starts one
        "datasets": "/datasets/",
    }


def test_the_main_pages_fit_the_screen_and_pass_axe_core(live_server, browser, site, staff_user):
    audits = audit_pages(
        browser,
        live_server.url,
        site,
        cookie=staff_session_cookie(staff_user, live_server.url),
        tab_limit=600,
    )
    print("\n" + write_report(audits))

    problems = []
    for audit in audits:
        where = f"{audit.page} at {audit.width}px"
        if audit.scroll_width > audit.width:
            problems.append(f"{where}: {audit.scroll_width}px wide ({', '.join(audit.wide_elements)})")
        if audit.h1_count != 1:
            problems.append(f"{where}: {audit.h1_count} <h1>")
        if audit.duplicate_ids:
            problems.append(f"{where}: duplicate ids {audit.duplicate_ids}")
        if not audit.skip_link_ok:
            problems.append(f"{where}: the first Tab stop is not a skip link that focuses <main>")
        for impact in ("critical", "serious"):
            problems += [f"{where}: axe-core {impact}: {rule}" for rule in audit.violations.get(impact, [])]
        if audit.page == "catalog" and (audit.tab_presses or 600) >= 30:
            problems.append(f"{where}: the first result takes {audit.tab_presses or 'over 600'} Tab presses")
    assert not problems, "\n".join(problems)
