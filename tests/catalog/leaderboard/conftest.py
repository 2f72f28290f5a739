"""Fixtures for the leaderboard: timm's real published claims and speeds, and a hand-made model with gaps."""

import re
from html import unescape
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from catalog.models import ModelEntry, WeightsFile
from evaluation.models import BenchmarkRun, EvalDataset, RunStatus

MISSING = "—"


@pytest.fixture
def timm_board(db, make_model):
    """timm's resnet1* tags (33 with claims on the six test sets, speeds on both tables) and demo/bare, which
    claims only a top-1 on ImageNet-1k: no top-5, parameters, GMACs, input size or speeds (the nulls)."""
    call_command("import_timm", "--filter", "resnet1*", stdout=StringIO(), stderr=StringIO())
    make_model(name="bare", claims=[{"dataset": "imagenet-1k", "metric": "top1", "value": 70.0}])
    return ModelEntry.objects.filter(dataset_top1_claims__dataset="imagenet-1k")


def give_weights(model: ModelEntry, sha256: str) -> None:
    weights = WeightsFile.objects.create(
        sha256=sha256, file=f"weights/{sha256}", size_bytes=1, tensor_count=1
    )
    ModelEntry.objects.filter(pk=model.pk).update(weights=weights)


def succeeded_run(model: ModelEntry, dataset: EvalDataset, *, top1: float, sha256: str, split="validation"):
    return BenchmarkRun.objects.create(
        model=model, dataset=dataset, split=split, status=RunStatus.SUCCEEDED, config_key="k",
        weights_sha256=sha256, dataset_hash="h", top1=top1, finished=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def hub_imagenet(db) -> EvalDataset:
    """The hub holds a dataset named imagenet-1k (no files: runs on it are made as rows)."""
    return EvalDataset.objects.create(name="imagenet-1k", kind="directory", root="/nonexistent")


def strip_tags(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html)).strip()


def table_headers(html: str) -> list[str]:
    thead = html.split('<table class="models leaderboard-table">')[1].split("</thead>")[0]
    return [
        strip_tags(cell).rstrip("▲▼ ").strip() for cell in re.findall(r"<th[^>]*>(.*?)</th>", thead, re.S)
    ]


def table_rows(html: str) -> list[list[str]]:
    """The leaderboard table's body as cell texts, "—" read as empty (the CSV's missing value)."""
    body = html.split('<table class="models leaderboard-table">')[1].split("<tbody>")[1].split("</tbody>")[0]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = [strip_tags(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        rows.append(["" if cell == MISSING else cell for cell in cells])
    return rows
