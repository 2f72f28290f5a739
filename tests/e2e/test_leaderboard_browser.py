"""The leaderboard in a real browser: a phone-width screen scrolls the table, never the page; sorting by a header;
the plot's points are links by their accessible names."""

import pytest

from catalog.models import SpeedClaim

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def board(make_model):
    for index, (params, top1) in enumerate([(1_000_000, 60.0), (5_000_000, 72.5), (30_000_000, 70.0)]):
        make_model(
            name=f"a-rather-long-model-name-{index}.with_a_pretrained_tag_in1k", num_params=params, gmacs=1.5,
            architecture=f"arch{index}", input_size=[3, 224, 224],
            claims=[{"dataset": "imagenet-1k", "metric": "top1", "value": top1},
                    {"dataset": "imagenet-1k", "metric": "top5", "value": top1 + 15}],
        )  # fmt: skip
        SpeedClaim.objects.create(
            architecture=f"arch{index}", device="cuda", hardware="NVIDIA RTX 5090", precision="amp",
            torch_version="2.9.1", samples_per_sec=1000.0 * (3 - index), batch_size=256, img_size=224,
        )  # fmt: skip


def test_a_phone_scrolls_the_table_not_the_page(live_server, browser, board):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/leaderboard/")
        assert page.get_by_role("heading", level=1).all_inner_texts() == ["Leaderboard: ImageNet-1k"]
        # The table and the plot (which keeps legible labels) scroll inside their own boxes.
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > "
            "document.documentElement.clientWidth + 1 && !e.closest('.table-scroll, .leaderboard-plot'))"
            ".map(e => e.tagName + '.' + e.className + ':' + (e.textContent || '').slice(0, 40))"
        )
        assert not wide, wide
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        box = page.get_by_role("region", name="Leaderboard table, ImageNet-1k")
        assert box.evaluate("element => element.scrollWidth > element.clientWidth")  # it scrolls inside
        page.get_by_role("link", name="Parameters (M)").click()
        assert page.locator("table.leaderboard-table tbody td:first-child").all_inner_texts() == [
            f"demo/a-rather-long-model-name-{index}.with_a_pretrained_tag_in1k" for index in range(3)
        ]
        point = page.get_by_role(
            "link",
            name="demo/a-rather-long-model-name-1.with_a_pretrained_tag_in1k: 72.500% top-1 on ImageNet-1k, "
            "5.00M parameters, on the Pareto front",
        )
        point.click()
        page.wait_for_url("**/models/demo/a-rather-long-model-name-1.with_a_pretrained_tag_in1k/")
    finally:
        context.close()
