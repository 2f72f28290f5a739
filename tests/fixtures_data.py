"""Shared fixtures: scikit-learn digits as an ImageFolder and a real tiny timm model with real weights."""

import shutil
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from catalog import services as catalog_services
from catalog.models import ModelEntry, SourceKind
from core.datasets import build_digits_imagefolder
from evaluation import services
from tests.trained_models import DemoTrainer, run_cache_root

DIGITS = [str(i) for i in range(10)]
PER_CLASS = 12  # a small test split keeps each run to a second or two


@pytest.fixture(scope="session")
def demo_trainer(tmp_path_factory) -> DemoTrainer:
    """train_demo_model, but each distinct demo model is trained once per test run (tests/trained_models.py)."""
    return DemoTrainer(run_cache_root(tmp_path_factory))


@pytest.fixture(scope="session")
def digits_build(tmp_path_factory):
    return build_digits_imagefolder(tmp_path_factory.mktemp("digits-full") / "digits")


@pytest.fixture(scope="session")
def small_digits_root(digits_build, tmp_path_factory):
    """test/<digit>/: the first PER_CLASS test images of each digit."""
    root = tmp_path_factory.mktemp("digits-small") / "digits-small"
    for digit in DIGITS:
        images = sorted((digits_build.root / "test" / digit).iterdir())[:PER_CLASS]
        (root / "test" / digit).mkdir(parents=True)
        for image in images:
            shutil.copy(image, root / "test" / digit / image.name)
    return root


@pytest.fixture
def small_digits(db, small_digits_root, tmp_path):
    root = tmp_path / "digits-small"
    shutil.copytree(small_digits_root, root)
    return services.dataset_register_directory(name="digits-small", root=root, title="Digits (small)")


def stored_digit_net(make_model, weights_dir: Path, *, name: str = "digit-net", side: int = 32) -> ModelEntry:
    """test_resnet with 10 outputs named like the digits at a `side`-pixel input, random but fixed weights,
    stored on the hub."""
    model = make_model(
        name=name, architecture="test_resnet", num_classes=10, label_names=DIGITS, input_size=[3, side, side],
        mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25], interpolation="bilinear", crop_pct=1.0, crop_mode="center",
    )  # fmt: skip
    torch.manual_seed(0)
    path = weights_dir / "model.safetensors"  # weights_attach copies it into storage
    save_file(timm.create_model("test_resnet", num_classes=10).state_dict(), str(path))
    catalog_services.weights_attach(
        model=model, path=path, original_name=path.name, source_kind=SourceKind.LOCAL
    )
    model.refresh_from_db()
    return model


@pytest.fixture
def digit_model(make_model, tmp_path):
    return stored_digit_net(make_model, tmp_path)


FAST = {"batch_size": 32, "num_workers": 0, "threads": 1}
