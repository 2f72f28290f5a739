"""Presets for timm's test sets: the split and class folders each must have, checked against a scanned folder."""

import pytest
from PIL import Image

from core import dataset_presets, label_spaces
from core.imagefolder import scan_imagefolder


def folder(root, classes, name="a.png"):
    for class_name in classes:
        (root / class_name).mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(root / class_name / name)
    return scan_imagefolder(root)


def test_every_test_set_timm_publishes_has_a_preset():
    assert dataset_presets.PRESET_NAMES == (
        "imagenet-1k", "imagenet-real", "imagenetv2-matched-frequency", "imagenet-sketch", "imagenet-a", "imagenet-r",
    )  # fmt: skip
    assert dataset_presets.preset("imagenet-a").classes == label_spaces.partial_synsets("imagenet-a")
    assert dataset_presets.preset("imagenetv2-matched-frequency").classes[999] == "999"
    assert dataset_presets.preset("imagenet-real").split == "validation"
    with pytest.raises(KeyError, match="imagenet-r"):
        dataset_presets.preset("imagenet-c")


def test_a_subset_is_accepted_and_said_to_be_one(tmp_path):
    checked = dataset_presets.check_preset(
        dataset_presets.preset("imagenetv2-matched-frequency"), folder(tmp_path, ["0", "10", "999"])
    )
    assert checked.problems == () and checked.is_subset
    assert (
        checked.summary()
        == "ImageNetV2 (imagenetv2-matched-frequency/test): a subset, 3 of 1,000 classes, 3 images"
    )


def test_synset_folders_are_not_imagenetv2(tmp_path):
    checked = dataset_presets.check_preset(
        dataset_presets.preset("imagenetv2-matched-frequency"), folder(tmp_path, ["n01440764"])
    )
    assert checked.problems == (
        "ImageNetV2's class folders are named by output indices (e.g. '0'); 1 folders are not among its 1,000: "
        "n01440764",
    )


def test_imagenet_real_needs_the_validation_file_names(tmp_path):
    spec = dataset_presets.preset("imagenet-real")
    good = dataset_presets.check_preset(
        spec, folder(tmp_path / "a", ["n01440764"], "ILSVRC2012_val_00000002.JPEG")
    )
    bad = dataset_presets.check_preset(spec, folder(tmp_path / "b", ["n01440764"], "val_2.png"))

    assert good.problems == ()
    assert "files are named otherwise: n01440764/val_2.png" in bad.problems[0]
