"""The pure ranking core on real digits and real tiny timm models: features, missing/bad weights, baseline."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file

from core import harness
from core.datasets import dataset_content_hash
from core.transfer.baseline import BaselineResult
from core.transfer.features import extract_features, pooled_features, scan_split
from core.transfer.ranking import (
    Candidate,
    CandidateResult,
    CandidateStatus,
    RankingConfig,
    TransferComparison,
    fold_spread,
    rank_candidates,
    transfer_comparison,
)

CFG = {"input_size": (3, 32, 32), "mean": (0.5,) * 3, "std": (0.25,) * 3, "interpolation": "bilinear",
       "crop_pct": 1.0, "crop_mode": "center"}  # fmt: skip


def write_weights(model: torch.nn.Module, path: Path) -> str:
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_for(model: torch.nn.Module, architecture: str, path: Path, **args) -> harness.ModelSource:
    sha = write_weights(model, path)
    return harness.ModelSource(
        architecture=architecture, num_classes=model.num_classes, model_args=args, weights_path=path,
        weights_sha256=sha, pretrained_cfg=CFG,
    )  # fmt: skip


@pytest.fixture
def digits(small_digits_root) -> harness.DatasetSource:
    root = small_digits_root / "test"
    return harness.DatasetSource(
        name="digits-small", split="test", root=root, content_hash=dataset_content_hash(root)
    )


@pytest.fixture
def random_resnet(tmp_path) -> harness.ModelSource:
    torch.manual_seed(0)
    return source_for(
        timm.create_model("test_resnet", num_classes=7), "test_resnet", tmp_path / "r.safetensors"
    )


def test_it_extracts_timm_pre_logits_in_dataset_order(digits, random_resnet):
    scan = scan_split(digits)
    features = extract_features(random_resnet, scan, batch_size=16)
    model = harness.build_model(random_resnet)
    transform = harness.create_eval_transform(harness.resolve_preprocessing(random_resnet, model))
    path, label = scan.samples[37]
    with torch.inference_mode():
        expected = pooled_features(model, transform(harness.load_image(path)).unsqueeze(0))[0].numpy()
    assert features.features.shape == (len(scan.samples), model.num_features)
    assert features.labels[37] == label
    np.testing.assert_allclose(features.features[37], expected, rtol=1e-5, atol=1e-6)
    assert features.latency_ms > 0 and features.num_params == sum(p.numel() for p in model.parameters())


def test_it_reports_missing_and_broken_candidates_instead_of_dropping_them(digits, random_resnet, tmp_path):
    broken = harness.ModelSource(**{**random_resnet.__dict__, "weights_sha256": "0" * 64})
    result = rank_candidates(
        [Candidate("demo/good", random_resnet), Candidate("demo/nothing", None), Candidate("demo/broken", broken)],
        digits, RankingConfig(batch_size=32, baseline=False),
    )  # fmt: skip
    by_id = {row.model_id: row for row in result.candidates}
    assert result.candidates[0].model_id == "demo/good"
    assert by_id["demo/good"].status == CandidateStatus.SCORED and by_id["demo/good"].rank == 1
    assert (
        by_id["demo/nothing"].status == CandidateStatus.MISSING_WEIGHTS and by_id["demo/nothing"].rank is None
    )
    assert (
        by_id["demo/broken"].status == CandidateStatus.FAILED
        and "sha256 mismatch" in by_id["demo/broken"].error
    )
    assert result.baseline is None and result.negative_transfer is False
    assert result.provenance["dataset_hash"] == digits.content_hash


def test_it_warns_of_negative_transfer_when_features_carry_nothing(digits, tmp_path):
    blank = timm.create_model("test_resnet", num_classes=7)
    with torch.no_grad():
        for parameter in blank.parameters():
            parameter.zero_()  # every image maps to the same features: no better than chance
    source = source_for(blank, "test_resnet", tmp_path / "blank.safetensors")
    progress = []
    result = rank_candidates(
        [Candidate("demo/blank", source)], digits, RankingConfig(batch_size=32, threads=1, baseline_epochs=10),
        on_progress=lambda fraction, message: progress.append(fraction),
    )  # fmt: skip
    row = result.candidates[0]
    assert row.linear_probe <= 100 / 10 + 5  # chance level on ten balanced classes
    assert result.baseline.accuracy > row.score + 20
    assert result.negative_transfer is True
    assert progress == sorted(progress) and progress[-1] == 1.0


# ---------------------------------------------------------------------------------------------------------------
# Negative transfer is a gap larger than its spread across the folds, not any gap


def scored(score_folds):
    return CandidateResult(
        model_id="a/b", status="scored", score=sum(score_folds) / len(score_folds), score_folds=score_folds
    )


def scratch(fold_accuracies):
    return BaselineResult(
        accuracy=sum(fold_accuracies) / len(fold_accuracies), fold_accuracies=fold_accuracies, seconds=1.0,
        num_params=1, config={},
    )  # fmt: skip


def test_a_half_point_gap_within_the_folds_spread_is_not_negative_transfer():
    # The case: the baseline ahead by 0.46 points on average, fold differences from -3.3 to +2.4.
    comparison = transfer_comparison(scored([80.0, 84.0, 78.7]), scratch([80.5, 81.6, 82.0]))
    assert comparison.gap == pytest.approx(-0.4667, abs=1e-3)
    differences = [-0.5, 2.4, -3.3]
    mean = sum(differences) / 3
    expected = (sum((d - mean) ** 2 for d in differences) / 2) ** 0.5  # the paired differences' sample sd
    assert comparison.spread == pytest.approx(expected)
    assert comparison.negative is False


def test_a_gap_beyond_the_spread_is_negative_transfer_and_a_win_never_is():
    losing = transfer_comparison(scored([60.0, 61.0, 59.0]), scratch([70.0, 70.5, 69.0]))
    assert losing.gap == pytest.approx(-9.8333, abs=1e-3) and losing.spread < 1.0 and losing.negative is True
    winning = transfer_comparison(scored([70.0, 70.5, 69.0]), scratch([60.0, 61.0, 59.0]))
    assert winning.gap > 0 and winning.negative is False


def test_without_a_baseline_nothing_is_declared_and_without_a_scored_candidate_it_is_negative():
    assert transfer_comparison(scored([50.0, 60.0]), None) == TransferComparison(None, None, False)
    assert transfer_comparison(None, scratch([50.0, 60.0])).negative is True
    assert fold_spread([1.0]) is None and fold_spread([1.0, 3.0]) == pytest.approx(2**0.5)
