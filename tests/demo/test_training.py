import json
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import huggingface_hub.constants
import pytest
import safetensors.torch
import timm
import timm.data
import torch
from PIL import Image

from core.datasets import build_digits_imagefolder
from core.imagefolder import scan_imagefolder
from demo.training import (
    DEMO_MODEL_SPECS,
    SOURCE_CLASS_NAMES,
    DemoModelSpec,
    build_pretrained_cfg,
    demo_spec,
    eval_transform_for,
    load_demo_model,
    predict,
    source_task_samples,
    train_demo_model,
)

pytestmark = pytest.mark.slow  # trains real (tiny) models: a few seconds each

# A ViT because its model_args (img_size, patch_size) are the part of the config that is easiest to lose:
# without them timm would rebuild a 160 px / 16 px-patch model whose tensors do not fit these weights.
TINY = DemoModelSpec(
    slug="tiny-vit",
    architecture="test_vit",
    title="Tiny test ViT",
    summary="One epoch on a third of the data, for tests.",
    model_args={"img_size": 32, "patch_size": 4},
    epochs=1,
    train_fraction=0.3,
)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return build_digits_imagefolder(tmp_path_factory.mktemp("data") / "digits").root


@pytest.fixture(scope="module")
def tiny(data_root, tmp_path_factory):
    return train_demo_model(TINY, data_root=data_root, out_dir=tmp_path_factory.mktemp("models") / TINY.slug)


def _split_images(model: torch.nn.Module, data_root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The split's images through the transform timm derives from the loaded model's own config."""
    transform = timm.data.create_transform(**timm.data.resolve_data_config(model=model), is_training=False)
    samples = source_task_samples(data_root, split)
    images = torch.stack([transform(Image.open(path).convert("RGB")) for path, _ in samples])
    return images, torch.tensor([label for _, label in samples])


def _fake_hf_cache(cache_dir: Path, repo_id: str, model_dir: Path) -> None:
    """Lay the two files out as huggingface_hub's cache does, so hf_hub_download finds them offline."""
    commit = "0" * 40
    repo = cache_dir / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for name in ("config.json", "model.safetensors"):
        shutil.copy(model_dir / name, snapshot / name)


def test_it_writes_safetensors_whose_keys_fit_the_architecture(tiny):
    state = safetensors.torch.load_file(tiny.weights_path)
    model = timm.create_model(TINY.architecture, num_classes=5, **TINY.model_args)

    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    assert {name: tuple(t.shape) for name, t in state.items()} == expected
    model.load_state_dict(state, strict=True)


def test_it_writes_a_timm_hf_config(tiny):
    config = json.loads(tiny.config_path.read_text())

    assert config == tiny.config
    assert config["architecture"] == "test_vit"
    assert config["num_classes"] == 5
    assert config["label_names"] == list(SOURCE_CLASS_NAMES)
    assert config["model_args"]["patch_size"] == 4
    assert config["model_args"]["img_size"] == [32, 32]
    cfg = config["pretrained_cfg"]
    assert cfg["input_size"] == [3, 32, 32]
    assert (cfg["crop_pct"], cfg["crop_mode"], cfg["num_classes"]) == (1.0, "center", 5)
    assert not {"url", "file", "hf_hub_id", "source", "tag"} & cfg.keys()  # nothing about other weights


def test_it_reproduces_every_recorded_accuracy_after_reloading_with_timm(tiny, data_root):
    model = load_demo_model(tiny.model_dir)

    assert model.patch_embed.patch_size == (4, 4)
    image = Image.open(scan_imagefolder(data_root / "test").samples[0][0]).convert("RGB")
    cfg = build_pretrained_cfg(
        TINY.architecture,
        mean=tiny.config["pretrained_cfg"]["mean"],
        std=tiny.config["pretrained_cfg"]["std"],
    )
    reloaded_transform = timm.data.create_transform(**timm.data.resolve_data_config(model=model))
    assert torch.equal(
        reloaded_transform(image), eval_transform_for(cfg)(image)
    )  # what training measured with
    for split in ("val", "test"):
        images, labels = _split_images(model, data_root, split)
        accuracy = round(100.0 * (predict(model, images) == labels).sum().item() / len(labels), 2)
        assert accuracy == tiny.accuracy[split]


def test_it_loads_through_timms_hf_hub_path_offline(tiny, data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    _fake_hf_cache(tmp_path, "demo/tiny-vit", tiny.model_dir)

    from_hub = timm.create_model("hf-hub:demo/tiny-vit", pretrained=True, cache_dir=tmp_path).eval()
    from_dir = load_demo_model(tiny.model_dir)

    assert from_hub.pretrained_cfg["source"] == "hf-hub"
    assert timm.data.resolve_data_config(model=from_hub) == timm.data.resolve_data_config(model=from_dir)
    images, _ = _split_images(from_hub, data_root, "test")
    with torch.inference_mode():
        assert torch.equal(from_hub(images), from_dir(images))


def test_it_swaps_the_head_for_the_ten_digit_target_task(tiny):
    model = timm.create_model(f"local-dir:{tiny.model_dir}", pretrained=True, num_classes=10)
    trained = safetensors.torch.load_file(tiny.weights_path)

    assert model.num_classes == 10
    assert torch.equal(model.state_dict()["patch_embed.proj.weight"], trained["patch_embed.proj.weight"])


def test_it_trains_deterministically(tiny, data_root, tmp_path):
    again = train_demo_model(TINY, data_root=data_root, out_dir=tmp_path / "again")

    assert again.weights_sha256 == tiny.weights_sha256
    assert again.accuracy == tiny.accuracy


def test_it_reports_sizes_claim_and_card(tiny, data_root):
    per_class = Counter(label for _, label in source_task_samples(data_root, "train"))

    assert tiny.split_sizes["train"] == sum(
        round(count * TINY.train_fraction) for count in per_class.values()
    )
    assert tiny.split_sizes["test"] == len(source_task_samples(data_root, "test"))
    assert tiny.claim_split == "test"
    assert tiny.claim_value == tiny.accuracy["test"]
    assert tiny.num_params == sum(p.numel() for p in load_demo_model(tiny.model_dir).parameters())
    assert tiny.card_path.read_text() == tiny.model_card
    assert f"{tiny.accuracy['test']:.2f}" in tiny.model_card
    assert tiny.dataset_hash in tiny.model_card


def test_it_calls_back_after_every_epoch(data_root, tmp_path):
    calls = []
    spec = replace(TINY, epochs=2, train_fraction=0.05)

    train_demo_model(
        spec, data_root=data_root, out_dir=tmp_path / "m", on_progress=lambda *a: calls.append(a)
    )

    assert [(epoch, total) for epoch, total, _ in calls] == [(1, 2), (2, 2)]


def test_it_ships_one_dishonest_model_among_distinct_families():
    dishonest = [spec for spec in DEMO_MODEL_SPECS if spec.claim_split == "train"]

    assert len(dishonest) == 1
    assert dishonest[0].train_fraction < 1
    assert len({spec.architecture for spec in DEMO_MODEL_SPECS}) == len(DEMO_MODEL_SPECS)
    assert len({spec.slug for spec in DEMO_MODEL_SPECS}) == len(DEMO_MODEL_SPECS)


def test_it_makes_the_dishonest_claim_on_the_training_split(data_root, tmp_path):
    spec = next(spec for spec in DEMO_MODEL_SPECS if spec.claim_split == "train")

    result = train_demo_model(spec, data_root=data_root, out_dir=tmp_path / spec.slug)

    assert result.claim_value == result.accuracy["train"]
    assert result.accuracy["train"] > result.accuracy["test"] + 2  # a re-check on test visibly disagrees
    assert "training images" in result.model_card


def test_it_rejects_a_claim_on_an_unknown_split():
    with pytest.raises(ValueError, match="claim_split"):
        replace(TINY, claim_split="holdout")


def test_it_refuses_an_unknown_demo_slug():
    assert demo_spec("digits-resnet10t").architecture == "resnet10t"
    with pytest.raises(KeyError):
        demo_spec("digits-nope")
