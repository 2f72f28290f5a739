"""The demo catalog: real weights trained here, served over the HF protocol, reproduced exactly by timm."""

import hashlib
import json
import subprocess
import sys
import textwrap
from io import StringIO

import pytest
import timm
import torch
from PIL import Image

from catalog.models import ModelEntry
from demo import seed as demo_seed
from demo.seed import demo_catalog_seed
from demo.training import demo_spec, load_demo_model
from evaluation.models import EvalDataset
from tests.catalog.api.test_hfcompat import hub_subprocess_env

SPEC = demo_spec("digits-convnext-overfit")  # the quickest demo model to train


def seed_into(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()
    lines: list[str] = []
    summary = demo_catalog_seed(report=lines.append, specs=(SPEC,))
    return summary, lines


@pytest.fixture
def seeded(settings, tmp_path):
    """Seeded as `make run` does, training included."""
    return seed_into(settings, tmp_path)


@pytest.fixture
def seeded_with_shared_training(settings, tmp_path, monkeypatch, demo_trainer):
    """The same, with the model trained once per test run (tests/trained_models.py)."""
    monkeypatch.setattr(demo_seed, "train_demo_model", demo_trainer)
    return seed_into(settings, tmp_path)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_seeding_registers_real_models_and_is_idempotent(seeded):
    summary, lines = seeded
    # `make run` seeds the trained models and converts the ImageNet-pretrained EfficientNet-Lite0 beside them.
    assert summary.trained == [SPEC.repo_id] and summary.converted == ["demo/efficientnet-lite0"]
    model = ModelEntry.objects.get(namespace="demo", name=SPEC.slug)
    assert model.weights is not None and model.weights_size_bytes == model.weights.size_bytes
    assert model.num_params > 0 and model.gmacs > 0 and model.input_size == [3, 32, 32]
    assert model.label_names == ["0", "1", "2", "3", "4"] and model.pretrained_on == "digits-0-4"
    (claim,) = model.claims.all()
    # It claims a test-split accuracy, but the number was taken on its training images (its card says so).
    assert claim.dataset == "digits-0-4" and claim.split == "test" and claim.value == 100.0
    assert "measured on the model's own training images" in model.card
    assert set(EvalDataset.objects.values_list("name", flat=True)) == {"digits", "digits-0-4"}
    assert any("epoch" in line for line in lines)
    again = demo_catalog_seed(report=StringIO().write, specs=(SPEC,))
    assert again.trained == again.converted == [] and again.kept == [SPEC.repo_id, "demo/efficientnet-lite0"]
    assert ModelEntry.objects.filter(namespace="demo").count() == 2


CLIENT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import timm, torch
    from PIL import Image
    model = timm.create_model("hf-hub:demo/{slug}", pretrained=True).eval()
    config = timm.data.resolve_data_config(model=model)
    transform = timm.data.create_transform(**config)
    paths = sorted(p for d in "01234" for p in (Path(sys.argv[1]) / d).iterdir())
    batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
    with torch.inference_mode():
        print(json.dumps(model(batch).argmax(1).tolist()))
    """
)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_timm_reproduces_the_demo_predictions_through_depot(
    seeded_with_shared_training, live_server, tmp_path, settings
):
    test_split = settings.VAR_DIR / "datasets" / "digits-0-4" / "test"
    result = subprocess.run(
        [sys.executable, "-c", CLIENT.format(slug=SPEC.slug), str(test_split)],
        env=hub_subprocess_env(live_server.url, tmp_path),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    via_depot = json.loads(result.stdout.strip().splitlines()[-1])

    local = load_demo_model(settings.VAR_DIR / "demo-models" / SPEC.slug)
    config = timm.data.resolve_data_config(model=local)
    transform = timm.data.create_transform(**config)
    paths = sorted(p for d in "01234" for p in (test_split / d).iterdir())
    with torch.inference_mode():
        expected = (
            local(torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])).argmax(1).tolist()
        )
    assert len(via_depot) == len(paths) > 100
    assert via_depot == expected

    model = ModelEntry.objects.get(namespace="demo", name=SPEC.slug)
    stored = (settings.VAR_DIR / "demo-models" / SPEC.slug / "model.safetensors").read_bytes()
    assert model.weights.sha256 == hashlib.sha256(stored).hexdigest()
