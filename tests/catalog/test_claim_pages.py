"""Pages with timm's published results: six test sets with a bar chart, speeds, estimates, compare, catalog."""

import re
from io import StringIO

import pytest
import timm
import torch
from django.core.management import call_command
from safetensors.torch import save_file

from catalog import services
from catalog.models import ModelEntry, SourceKind
from catalog.rendering import format_megabytes
from evaluation import services as evaluation_services
from tests.fixtures_data import FAST

SIX = ("ImageNet-1k", "ImageNet-ReaL", "ImageNetV2", "ImageNet-Sketch", "ImageNet-A", "ImageNet-R")


@pytest.fixture
def imported(db):
    call_command("import_timm", "--filter", "resnet50.a1_in1k", stdout=StringIO(), stderr=StringIO())
    call_command("import_timm", "--filter", "resnet18.a1_in1k", stdout=StringIO(), stderr=StringIO())
    return ModelEntry.objects.get(name="resnet50.a1_in1k"), ModelEntry.objects.get(name="resnet18.a1_in1k")


def test_the_model_page_shows_six_test_sets_with_a_bar_chart_and_drops(client, imported):
    html = client.get("/models/timm/resnet50.a1_in1k/").content.decode()
    assert "Published results on 6 test sets" in html
    section = html.split('<table class="claims test-sets">')[1].split("</table>")[0]
    assert [label for label in SIX if label in section] == list(SIX)
    # resnet50.a1_in1k at 224: ImageNet-1k 80.382, Sketch 29.637 -> a drop of 50.745 points
    assert "80.38%" in section and "29.64%" in section and "-50.74 pt" in section
    assert "224px, crop 0.95, bicubic" in section
    chart = re.search(r'<div class="results-chart">(<svg.*?</svg>)</div>', html, re.S).group(1)
    assert chart.count("<rect") == 6 and "-50.7" in chart and "ImageNet-1k: 80.38% top-1" in chart
    assert "not measured by this hub" in html


def test_the_model_page_labels_published_speed_and_the_size_estimate(client, imported):
    html = client.get("/models/timm/resnet50.a1_in1k/").content.decode()
    speeds = html.split('<table class="speeds">')[1].split("</table>")[0]
    assert speeds.count('<span class="badge published">published</span>') == 2
    assert "Intel Core i7-12700H" in speeds and "NVIDIA RTX 5090" in speeds and "30.5" in speeds  # at 224px
    assert "measured here" not in speeds  # no benchmark run yet
    assert "≈102 MB" in html and '<span class="badge estimate"' in html


def test_measured_throughput_shows_beside_the_published_one(client, digit_model, small_digits):
    call_command("import_timm", "--filter", "test_resnet.*", stdout=StringIO(), stderr=StringIO())
    html = client.get(f"/models/{digit_model.model_id}/").content.decode()
    assert "published" in html and "measured here" not in html
    run, _ = evaluation_services.run_request(
        model=digit_model, dataset=small_digits, split="test", enqueue=False, config=FAST
    )
    run = evaluation_services.run_execute(run_id=run.pk, worker="test")
    html = client.get(f"/models/{digit_model.model_id}/").content.decode()
    speeds = html.split('<table class="speeds">')[1].split("</table>")[0]
    assert "measured here" in speeds and f"{run.metrics['throughput_ips']:.1f}" in speeds
    assert '<span class="badge published">published</span> NVIDIA RTX 5090' in speeds


def test_stored_weights_replace_the_estimate(client, api_client, make_model, tmp_path):
    torch.manual_seed(0)
    network = timm.create_model("test_resnet", num_classes=10)
    params = sum(p.numel() for p in network.parameters())
    model = make_model(name="to-fetch", architecture="test_resnet", num_classes=10, num_params=params)
    html = client.get("/models/demo/to-fetch/").content.decode()
    assert f"≈{format_megabytes(params * 4)}" in html and '<span class="badge estimate"' in html
    assert api_client.get("/api/v1/models/demo/to-fetch/").json()["estimated_size_bytes"] == params * 4
    path = tmp_path / "model.safetensors"
    save_file(network.state_dict(), str(path))
    services.weights_attach(model=model, path=path, original_name=path.name, source_kind=SourceKind.LOCAL)
    html = client.get("/models/demo/to-fetch/").content.decode()
    real = path.stat().st_size
    assert '<span class="badge estimate"' not in html and "≈" not in html
    assert f"<td>{format_megabytes(real)}</td>" in html
    body = api_client.get("/api/v1/models/demo/to-fetch/").json()
    assert (body["size_bytes"], body["estimated_size_bytes"]) == (real, None)


def test_the_compare_page_shows_the_six_sets_for_every_model(client, imported):
    html = client.get("/compare/?models=timm/resnet50.a1_in1k,timm/resnet18.a1_in1k").content.decode()
    rows = re.findall(r'<tr class="test-set"><th>(.*?) top-1.*?</th>(.*?)</tr>', html, re.S)
    assert [label for label, _ in rows] == list(SIX)
    for _, cells in rows:
        assert cells.count("%") == 2  # a value for each model
    assert html.count('<span class="badge estimate"') == 2


def test_the_catalog_filters_and_sorts_on_a_test_set(client, imported):
    html = client.get("/?claim_dataset=imagenet-sketch&ordering=-claim").content.decode()
    assert "Top-1 on imagenet-sketch" in html and "All 2 models" in html
    table = html.split('<table class="models">')[1]
    assert table.index("resnet50.a1_in1k") < table.index("resnet18.a1_in1k")  # 29.6% before 21.x%
    assert '<option value="imagenet-sketch" selected>' in html
    assert "≈102 MB" in table
    bad = client.get("/?claim_dataset=nowhere")
    assert bad.status_code == 400 and "claim_dataset" in bad.content.decode()
    plot = client.get("/plot.svg?claim_dataset=imagenet-sketch&min_claim=25").content.decode()
    assert plot.count("<circle") == 1  # only resnet50's sketch claim is at least 25%
