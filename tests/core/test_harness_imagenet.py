"""The harness on folders laid out exactly like ImageNet's test sets, against the same evaluation written with
timm's own pieces (create_dataset, resolve_data_config, create_transform, the indices files, RealLabelsImagenet),
at a claim's image size, crop and interpolation.

The model is timm's tiny test_resnet with a 1,000-class head and random weights: labels matter (synset 0 is
output 0), accuracy does not. Its batch-norm statistics are re-estimated on the images first, so predictions
depend on the image and comparing them per image means something.
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import timm
import timm.data
import torch
from PIL import Image

from core import label_spaces
from core.harness import DatasetSource, HarnessConfig, HarnessError, ModelSource, evaluate_model
from core.run_config import SCORE_ALL_OUTPUTS, SCORE_DATASET_CLASSES

ARCH = "test_resnet"
# The model's own preprocessing; the claim below measures at another size, crop and filter, as timm's results
# tables state per row.
PRETRAINED_CFG = {
    "input_size": (3, 32, 32),
    "mean": (0.5, 0.5, 0.5),
    "std": (0.5, 0.5, 0.5),
    "interpolation": "bicubic",
    "crop_pct": 0.95,
    "crop_mode": "center",
}
CLAIM_PROTOCOL = {"img_size": 40, "crop_pct": 0.875, "interpolation": "bilinear"}
SYNSETS = label_spaces.label_space("imagenet-1k").synsets


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_image(path: Path, seed: int) -> None:
    # Noise at a size that is neither square nor the eval size, so resize and crop really happen.
    pixels = np.random.default_rng(seed).integers(0, 256, size=(44, 52, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)


def val_name(index: int) -> str:
    return label_spaces.real_file_name(index)


@pytest.fixture(scope="module")
def imagenet_val(tmp_path_factory) -> Path:
    """ImageNet-1k's validation layout: synset folders holding ILSVRC2012_val_* files (24 classes, 2 each)."""
    root = tmp_path_factory.mktemp("imagenet") / "validation"
    for position, synset in enumerate(SYNSETS[::42]):
        for copy in range(2):
            index = 1 + position * 2 + copy
            write_image(root / synset / val_name(index), seed=index)
    return root


@pytest.fixture(scope="module")
def imagenet_a(tmp_path_factory) -> Path:
    """ImageNet-A's layout: its 200 synset folders (of ImageNet-1k's 1,000), one image each."""
    root = tmp_path_factory.mktemp("imagenet-a") / "test"
    for position, synset in enumerate(label_spaces.partial_synsets("imagenet-a")):
        write_image(root / synset / f"{position:04d}.jpg", seed=1000 + position)
    return root


@pytest.fixture(scope="module")
def imagenetv2(tmp_path_factory) -> Path:
    """ImageNetV2's layout: folders named by output index, "0".."999" (here a subset of them)."""
    root = tmp_path_factory.mktemp("imagenetv2") / "test"
    for index in (0, 1, 2, 10, 99, 100, 500, 998, 999):
        for copy in range(2):
            write_image(root / str(index) / f"{copy}.jpeg", seed=2000 + index * 2 + copy)
    return root


@pytest.fixture(scope="module")
def imagenet_real(tmp_path_factory) -> Path:
    """ImageNet's validation layout with ReaL's own file names: images 1-40, among them ones ReaL left empty."""
    real = label_spaces.real_labels()
    root = tmp_path_factory.mktemp("imagenet-real") / "validation"
    for index in range(1, 41):
        name = val_name(index)
        # Filed under a synset of its ReaL set (any, for an empty one): ReaL scoring ignores the folder.
        labels = real[name]
        write_image(root / SYNSETS[labels[0] if labels else index] / name, seed=3000 + index)
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory, imagenet_val, imagenet_a) -> tuple[Path, str]:
    torch.manual_seed(0)
    model = timm.create_model(ARCH, pretrained=False, num_classes=1000)
    images = [Image.open(path).convert("RGB") for path in sorted(imagenet_a.rglob("*.jpg"))[::4]]
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, pretrained_cfg=PRETRAINED_CFG))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # a plain average over the calibration batch
    with torch.no_grad():
        model.train()(torch.stack([transform(image) for image in images]))
    path = tmp_path_factory.mktemp("weights") / "model.safetensors"
    safetensors.torch.save_file(model.state_dict(), str(path))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def model_source(weights) -> ModelSource:
    path, sha256 = weights
    return ModelSource(
        architecture=ARCH, num_classes=1000, model_args={}, weights_path=path, weights_sha256=sha256,
        pretrained_cfg=PRETRAINED_CFG, label_names=list(SYNSETS),
    )  # fmt: skip


def hub_run(weights, root: Path, *, real: bool = False, **config) -> tuple[dict[str, int], object]:
    """The hub's per-image predictions (file name -> output index) and the result."""
    dataset = DatasetSource("test-set", root.name, root, "hash", real_labels=real)
    result = evaluate_model(
        model_source(weights), dataset, HarnessConfig(num_workers=0, batch_size=16, **config)
    )
    names = sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    # the harness reads class folders in name order and files in path order: the same sorted list
    return dict(zip(names, result.predictions, strict=True)), result


def timm_model(weights) -> torch.nn.Module:
    model = timm.create_model(ARCH, pretrained=False, num_classes=1000)
    model.load_state_dict(safetensors.torch.load_file(str(weights[0])))
    return model.eval()


def timm_outputs(weights, root: Path, class_map: dict | None = None, protocol: dict = CLAIM_PROTOCOL):
    """timm's validate.py in miniature: (file names, logits, targets) in timm's own dataset order."""
    dataset = timm.data.create_dataset("", root=str(root), class_map=class_map or "")
    data_config = timm.data.resolve_data_config(dict(protocol), pretrained_cfg=PRETRAINED_CFG)
    dataset.transform = timm.data.create_transform(**data_config, is_training=False)
    loader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=False)
    model = timm_model(weights)
    with torch.no_grad():
        batches = [(model(images), targets) for images, targets in loader]
    logits = torch.cat([logits for logits, _ in batches])
    targets = torch.cat([targets for _, targets in batches])
    names = [str(Path(name)) for name in dataset.filenames()]
    return names, logits, targets


def top1(logits: torch.Tensor, targets: torch.Tensor) -> float:
    return timm.utils.accuracy(logits, targets, topk=(1,))[0].item()


def test_it_scores_synset_folders_by_synset_like_timm(weights, imagenet_val):
    class_map = {synset: index for index, synset in enumerate(SYNSETS)}
    names, logits, targets = timm_outputs(weights, imagenet_val, class_map)

    predictions, result = hub_run(weights, imagenet_val, **CLAIM_PROTOCOL)

    assert predictions == dict(zip(names, logits.argmax(dim=1).tolist(), strict=True))
    assert len(set(predictions.values())) > 3  # the predictions depend on the image
    assert result.top1 == pytest.approx(top1(logits, targets))
    assert result.provenance["protocol"] | {"set_by_run": None} == {
        **CLAIM_PROTOCOL, "scoring": SCORE_ALL_OUTPUTS, "labels": "class-folders", "set_by_run": None,
    }  # fmt: skip
    assert result.provenance["protocol"]["set_by_run"] == ["crop_pct", "img_size", "interpolation"]
    assert result.scoring["summary"] == "scored over 1,000 of 1,000 outputs"


def test_it_uses_the_models_own_preprocessing_unless_the_run_sets_one(weights, imagenet_val):
    class_map = {synset: index for index, synset in enumerate(SYNSETS)}
    names, logits, _ = timm_outputs(weights, imagenet_val, class_map, protocol={})

    predictions, result = hub_run(weights, imagenet_val)

    assert predictions == dict(zip(names, logits.argmax(dim=1).tolist(), strict=True))
    assert result.provenance["protocol"]["img_size"] == 32
    assert result.provenance["protocol"]["set_by_run"] == []


def test_it_restricts_imagenet_a_to_its_200_outputs_like_timm(weights, imagenet_a):
    valid_labels = list(label_spaces.partial_indices("imagenet-a"))
    names, logits, targets = timm_outputs(weights, imagenet_a)
    restricted = logits[:, valid_labels]  # timm's validate.py --valid-labels imagenet_a_indices.txt

    predictions, result = hub_run(weights, imagenet_a, scoring=SCORE_DATASET_CLASSES, **CLAIM_PROTOCOL)

    expected = [valid_labels[i] for i in restricted.argmax(dim=1).tolist()]
    assert expected != logits.argmax(dim=1).tolist()  # restricting changes the answers: the test can fail
    assert predictions == dict(zip(names, expected, strict=True))
    assert result.top1 == pytest.approx(top1(restricted, targets))
    assert result.top5 == pytest.approx(timm.utils.accuracy(restricted, targets, topk=(5,))[0].item())
    assert result.scoring["summary"] == "scored over 200 of 1,000 outputs"
    assert result.provenance["protocol"]["scoring"] == SCORE_DATASET_CLASSES
    # Nothing is predicted outside the dataset's classes, so the confusion matrix's "other" column is empty.
    assert sum(row[-1] for row in result.confusion_matrix) == 0


def test_it_still_scores_imagenet_a_over_every_output_when_asked(weights, imagenet_a):
    names, logits, targets = timm_outputs(weights, imagenet_a)
    valid_labels = torch.tensor(label_spaces.partial_indices("imagenet-a"))

    predictions, result = hub_run(weights, imagenet_a, scoring=SCORE_ALL_OUTPUTS, **CLAIM_PROTOCOL)

    assert predictions == dict(zip(names, logits.argmax(dim=1).tolist(), strict=True))
    assert result.top1 == pytest.approx(top1(logits, valid_labels[targets]))
    assert result.scoring["summary"] == "scored over 1,000 of 1,000 outputs"


def test_it_scores_index_folders_by_index_like_timm(weights, imagenetv2):
    class_map = {folder.name: int(folder.name) for folder in imagenetv2.iterdir()}
    names, logits, targets = timm_outputs(weights, imagenetv2, class_map)

    predictions, result = hub_run(weights, imagenetv2, **CLAIM_PROTOCOL)

    assert predictions == dict(zip(names, logits.argmax(dim=1).tolist(), strict=True))
    assert result.top1 == pytest.approx(top1(logits, targets))
    assert result.class_names == sorted(class_map)  # "0", "1", "10", ... each mapped by its number


def test_it_scores_imagenet_real_against_reals_label_sets_like_timm(weights, imagenet_real):
    names, logits, _ = timm_outputs(weights, imagenet_real, {s: i for i, s in enumerate(SYNSETS)})
    basenames = [Path(name).name for name in names]
    # RealLabelsImagenet wants all 50,000 validation names; ours come first, in timm's dataset order.
    others = [label_spaces.real_file_name(i) for i in range(1, 50_001)]
    real = timm.data.RealLabelsImagenet(
        basenames + [n for n in others if n not in set(basenames)], topk=(1, 5)
    )
    real.add_result(logits)
    empty = sum(1 for name in basenames if not real.real_labels[name])

    predictions, result = hub_run(weights, imagenet_real, real=True, **CLAIM_PROTOCOL)

    assert predictions == dict(zip(names, logits.argmax(dim=1).tolist(), strict=True))
    assert result.top1 == pytest.approx(real.get_accuracy(k=1))
    assert result.top5 == pytest.approx(real.get_accuracy(k=5))
    assert empty > 0 and result.num_samples == 40 - empty
    assert result.scoring["excluded_images"] == empty and result.scoring["labels"] == "imagenet-real"
    assert f"({empty} of 40 images have none and are left out)" in result.scoring["summary"]


def test_it_refuses_real_scoring_of_files_real_has_no_labels_for(weights, imagenet_val, tmp_path):
    root = tmp_path / "validation"
    write_image(root / SYNSETS[0] / val_name(7), seed=7)
    write_image(root / SYNSETS[0] / "tench-on-a-boat.jpg", seed=8)

    with pytest.raises(HarnessError, match=r"ILSVRC2012_val_00000001\.JPEG") as error:
        hub_run(weights, root, real=True)
    assert error.value.details == [f"{SYNSETS[0]}/tench-on-a-boat.jpg"]


def test_it_refuses_folders_named_neither_by_synset_nor_by_index(weights, tmp_path):
    root = tmp_path / "test"
    write_image(root / "tench" / "a.jpg", seed=1)

    with pytest.raises(HarnessError, match="'n01440764' for output 0"):
        hub_run(weights, root)
