"""The benchmark harness against real data (the digits ImageFolder) and timm's tiny test_resnet."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import timm
import timm.data
import torch
from PIL import Image

from core import harness
from core.datasets import build_digits_imagefolder
from core.harness import (
    DatasetSource,
    HarnessConfig,
    HarnessError,
    ModelSource,
    build_model,
    class_mapping,
    evaluate_model,
)

ARCH = "test_resnet"
# crop_pct < 1 so the eval transform really resizes (32 -> 36) and centre-crops, like ImageNet models do.
PRETRAINED_CFG = {
    "input_size": (3, 32, 32),
    "mean": (0.5, 0.5, 0.5),
    "std": (0.5, 0.5, 0.5),
    "interpolation": "bilinear",
    "crop_pct": 0.875,
    "crop_mode": "center",
}
DIGITS = [str(d) for d in range(10)]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # As the harness runs below are configured. One thread also keeps the tests fast on a busy 2-core box,
    # where two OpenMP threads competing with other processes can be many times slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits_root(tmp_path_factory) -> Path:
    return build_digits_imagefolder(tmp_path_factory.mktemp("data") / "digits").root


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, digits_root) -> tuple[Path, str]:
    torch.manual_seed(0)
    model = timm.create_model(ARCH, pretrained=False, num_classes=10)
    # Freshly initialised batch-norm statistics make an untrained net answer one class for every image.
    # Re-estimating them on real images (a train-mode forward, no gradient step) makes the predictions
    # depend on the image, so comparing them with the reference loop means something.
    images = torch.stack([to_tensor(path) for path in sorted((digits_root / "train").rglob("*.png"))[::5]])
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # a plain average over the calibration batch
    with torch.no_grad():
        model.train()(images)
    path = tmp_path_factory.mktemp("weights") / "model.safetensors"
    safetensors.torch.save_file(model.state_dict(), str(path))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def to_tensor(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1).float() / 127.5 - 1


def model_source(weights_file, **overrides) -> ModelSource:
    path, sha256 = weights_file
    fields = {
        "architecture": ARCH,
        "num_classes": 10,
        "model_args": {},
        "weights_path": path,
        "weights_sha256": sha256,
        "pretrained_cfg": PRETRAINED_CFG,
        "label_names": [],
    }
    return ModelSource(**{**fields, **overrides})


def dataset_source(root: Path, split: str = "test") -> DatasetSource:
    return DatasetSource(name="digits", split=split, root=root / split if split else root, content_hash="abc")


def plain_loop_predictions(
    weights_path: Path, split_dir: Path, batch_size: int
) -> tuple[list[int], list[int]]:
    """The reference: build, preprocess and predict with nothing but timm, torch and PIL, in folder order."""
    model = timm.create_model(ARCH, pretrained=False, num_classes=10)
    model.load_state_dict(safetensors.torch.load_file(str(weights_path)))
    model.eval()
    config = timm.data.resolve_data_config(pretrained_cfg=PRETRAINED_CFG, model=model)
    transform = timm.data.create_transform(**config, is_training=False)
    samples = [
        (path, index)
        for index, class_dir in enumerate(sorted(p for p in split_dir.iterdir() if p.is_dir()))
        for path in sorted(class_dir.iterdir())
    ]
    predictions: list[int] = []
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            chunk = samples[start : start + batch_size]
            batch = torch.stack([transform(Image.open(path).convert("RGB")) for path, _ in chunk])
            predictions.extend(model(batch).argmax(dim=1).tolist())
    return predictions, [target for _, target in samples]


def forbid_compute(monkeypatch, *, allow_model_build: bool = False) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("compute started before the inputs were validated")

    if not allow_model_build:
        monkeypatch.setattr(harness, "_instantiate", fail)
    monkeypatch.setattr(harness, "_evaluate", fail)


def test_it_predicts_exactly_like_a_plain_loop(digits_root, weights_file):
    config = HarnessConfig(batch_size=32, num_workers=1, threads=1, latency_samples=5)
    progress: list[tuple[float, str]] = []

    result = evaluate_model(
        model_source(weights_file), dataset_source(digits_root), config, lambda f, m: progress.append((f, m))
    )

    expected, targets = plain_loop_predictions(weights_file[0], digits_root / "test", batch_size=32)
    assert result.predictions == expected
    assert len(set(expected)) > 1  # the comparison means something only if the answers vary
    correct = sum(p == t for p, t in zip(expected, targets, strict=True))
    assert result.top1_correct == correct
    assert result.top1 == 100.0 * correct / len(targets)
    assert result.num_samples == len(targets)
    assert result.top5 >= result.top1
    assert result.top1_ci95[0] <= result.top1 <= result.top1_ci95[1]
    assert sum(map(sum, result.confusion_matrix)) == len(targets)
    assert [sum(row) for row in result.confusion_matrix] == [targets.count(i) for i in range(10)]
    assert result.confusion_columns == [*DIGITS, "other"]
    assert progress[-1][0] == 1.0
    assert [f for f, _ in progress] == sorted(f for f, _ in progress)
    assert result.latency_p95_ms >= result.latency_p50_ms > 0
    assert result.throughput_ips > 0
    assert result.peak_memory_mb > 0
    provenance = result.provenance
    assert provenance["weights_sha256"] == weights_file[1]
    assert provenance["dataset_hash"] == "abc"
    assert provenance["preprocessing"]["input_size"] == [3, 32, 32]
    assert provenance["threads"] == 1
    assert provenance["depot"] == harness.DEPOT_VERSION
    assert json.loads(json.dumps(result.to_dict()))["predictions"] == expected


def test_it_transforms_a_batch_exactly_like_image_by_image(digits_root):
    paths = sorted((digits_root / "val" / "3").glob("*.png"))[:7]
    images = [Image.open(path).convert("RGB") for path in paths]
    config = timm.data.resolve_data_config(pretrained_cfg=PRETRAINED_CFG)
    transform = timm.data.create_transform(**config, is_training=False)
    expected = torch.stack([transform(image) for image in images])

    batched = harness.BatchTransform(transform)
    assert batched.image_steps is not None  # the fast path is the one under test
    assert torch.equal(batched(images), expected)
    assert batched(images).is_contiguous()
    assert torch.equal(harness.BatchTransform(lambda image: transform(image))(images), expected)
    grey_transform = timm.data.create_transform(
        **{**config, "mean": (0.5,), "std": (0.5,)}, is_training=False
    )
    grey = [image.convert("L") for image in images]  # not RGB: the batch path steps aside
    expected_grey = torch.stack([grey_transform(image) for image in grey])
    assert torch.equal(harness.BatchTransform(grey_transform)(grey), expected_grey)


def test_it_reproduces_a_run_bit_for_bit(digits_root, weights_file):
    first = evaluate_model(
        model_source(weights_file),
        dataset_source(digits_root),
        HarnessConfig(num_workers=2, threads=1, latency_samples=0),
    )
    second = evaluate_model(
        model_source(weights_file),
        dataset_source(digits_root),
        HarnessConfig(num_workers=0, threads=1, latency_samples=0),
    )

    assert second.predictions == first.predictions
    assert (second.top1, second.top5, second.loss) == (first.top1, first.top5, first.loss)
    assert second.confusion_matrix == first.confusion_matrix
    assert second.latency_p50_ms is None


def test_it_counts_predictions_outside_the_dataset_classes_as_other(tmp_path, digits_root, weights_file):
    root = tmp_path / "split"
    for digit in ("3", "7"):
        shutil.copytree(digits_root / "test" / digit, root / digit)
    source = model_source(weights_file, label_names=DIGITS)  # mapped by name: "3" -> 3, "7" -> 7

    result = evaluate_model(
        source, dataset_source(root, split=""), HarnessConfig(num_workers=0, latency_samples=0)
    )

    targets = [3] * len(list((root / "3").iterdir())) + [7] * len(list((root / "7").iterdir()))
    predictions = result.predictions
    assert result.confusion_columns == ["3", "7", "other"]
    for row, digit in enumerate((3, 7)):
        predicted = [p for p, t in zip(predictions, targets, strict=True) if t == digit]
        assert result.confusion_matrix[row] == [
            predicted.count(3),
            predicted.count(7),
            sum(p not in (3, 7) for p in predicted),
        ]
        assert result.per_class_accuracy[str(digit)] == 100.0 * predicted.count(digit) / len(predicted)


class Cancelled(Exception):
    pass


def test_it_aborts_when_the_progress_callback_raises(digits_root, weights_file):
    def cancel(fraction: float, message: str) -> None:
        raise Cancelled(message)

    threads = torch.get_num_threads()
    with pytest.raises(Cancelled, match="batch 1/"):
        evaluate_model(
            model_source(weights_file),
            dataset_source(digits_root),
            HarnessConfig(num_workers=1, threads=2),
            cancel,
        )
    assert torch.get_num_threads() == threads


def test_it_maps_dataset_classes_to_outputs_by_name():
    labels = ["zero", "one", "two", "three"]

    assert class_mapping(["three", "one"], labels, 4) == [3, 1]


def test_it_maps_numbered_class_folders_by_index():
    assert class_mapping(["0", "1", "10", "2"], [], 11) == [0, 1, 10, 2]
    assert class_mapping(["0", "1", "2"], [], 10) == [0, 1, 2]


def test_it_names_unmatched_classes():
    with pytest.raises(HarnessError, match="cat") as error:
        class_mapping(["cat", "one"], ["zero", "one"], 2)
    assert error.value.details == ["cat"]

    with pytest.raises(HarnessError, match="10, 07"):
        class_mapping(["0", "10", "07"], [], 10)

    with pytest.raises(HarnessError, match="label names"):
        class_mapping(["0"], ["zero", "one"], 3)


def test_it_refuses_a_class_mismatch_before_compute(tmp_path, digits_root, weights_file, monkeypatch):
    # Folders named neither by label ("digit-3") nor by output index ("3"): the message shows one of each.
    for digit in ("3", "7"):
        shutil.copytree(digits_root / "test" / digit, tmp_path / "split" / f"seven-segment-{digit}")
    forbid_compute(monkeypatch)
    source = model_source(weights_file, label_names=[f"digit-{d}" for d in range(10)])

    with pytest.raises(HarnessError, match="not among the model's label names") as error:
        evaluate_model(
            source, DatasetSource("odd", "split", tmp_path / "split", "x"), HarnessConfig(num_workers=0)
        )
    assert "'digit-0' for output 0" in str(error.value) and "by index ('0')" in str(error.value)
    assert error.value.details == ["seven-segment-3", "seven-segment-7"]


def test_it_maps_index_folders_by_index_when_the_model_has_label_names():
    # ImageNetV2's layout (folders 0..999) for a model whose outputs are named by synset.
    labels = [f"n{i:08d}" for i in range(12)]

    assert class_mapping(["0", "11", "2"], labels, 12) == [0, 11, 2]
    assert class_mapping(["n00000011", "n00000002"], labels, 12) == [11, 2]
    with pytest.raises(HarnessError, match="'n00000000' for output 0"):
        class_mapping(["0", "n00000002"], labels, 12)  # one layout or the other, not a mix


def test_it_refuses_an_empty_dataset(tmp_path, weights_file, monkeypatch):
    forbid_compute(monkeypatch)
    root = tmp_path / "split"
    (root / "0").mkdir(parents=True)
    (root / "1").mkdir()

    with pytest.raises(HarnessError, match="no images"):
        evaluate_model(
            model_source(weights_file), dataset_source(root, split=""), HarnessConfig(num_workers=0)
        )


def test_it_lists_unreadable_images_before_compute(tmp_path, digits_root, weights_file, monkeypatch):
    root = tmp_path / "split"
    for digit in ("0", "1"):
        shutil.copytree(digits_root / "test" / digit, root / digit)
    (root / "1" / "garbage.png").write_bytes(b"this is not a png" * 10)
    forbid_compute(monkeypatch, allow_model_build=True)  # the images are checked last, after the weights

    with pytest.raises(HarnessError, match=r"1/garbage\.png") as error:
        evaluate_model(
            model_source(weights_file), dataset_source(root, split=""), HarnessConfig(num_workers=0)
        )
    assert error.value.details == ["1/garbage.png"]


def test_it_refuses_weights_whose_sha256_differs(digits_root, weights_file, monkeypatch):
    source = model_source(weights_file, weights_sha256="0" * 64)

    with pytest.raises(HarnessError, match="sha256 mismatch"):
        build_model(source)
    forbid_compute(monkeypatch)
    with pytest.raises(HarnessError, match="sha256 mismatch"):
        evaluate_model(source, dataset_source(digits_root), HarnessConfig(num_workers=0))


def test_it_refuses_weights_for_another_architecture(weights_file):
    with pytest.raises(HarnessError, match="do not fit"):
        build_model(model_source(weights_file, num_classes=5))


def test_it_refuses_an_unknown_architecture(weights_file):
    with pytest.raises(HarnessError, match="Unknown architecture"):
        build_model(model_source(weights_file, architecture="no_such_net"))


def test_it_refuses_preprocessing_it_would_have_to_guess(digits_root, weights_file, monkeypatch):
    forbid_compute(monkeypatch)
    source = model_source(weights_file, pretrained_cfg={"interpolation": "bicubic"})

    with pytest.raises(HarnessError, match="input_size, mean, std"):
        evaluate_model(source, dataset_source(digits_root), HarnessConfig(num_workers=0))


def test_it_refuses_a_nonsensical_config():
    with pytest.raises(HarnessError, match="batch_size"):
        HarnessConfig(batch_size=0)
