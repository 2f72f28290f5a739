"""ImageNet label spaces read from timm's own files, and which one a timm head has."""

import pytest
import timm.data

from core import label_spaces
from core.label_spaces import LabelSpaceError, label_space, label_space_for


@pytest.mark.parametrize(
    ("num_classes", "pretrained_on", "expected"),
    [
        (1000, "imagenet-1k", "imagenet-1k"),
        (1000, "", "imagenet-1k"),  # a tag naming no dataset: timm's guess from the head size
        (11821, "imagenet-12k", "imagenet-12k"),
        (21843, "imagenet-21k", "imagenet-21k-goog"),
        (21841, "imagenet-22k", "imagenet-22k"),
        (11221, "imagenet-21k", "imagenet-21k-miil"),
        (
            1000,
            "imagenet-12k",
            "",
        ),  # a head that disagrees with its tag gets no labels rather than wrong ones
        (1000, "laion-2b", ""),
        (512, "", ""),
        (0, "imagenet-1k", ""),
    ],
)
def test_a_head_gets_the_label_space_its_size_and_tag_agree_on(num_classes, pretrained_on, expected):
    assert label_space_for(num_classes=num_classes, pretrained_on=pretrained_on) == expected


def test_label_spaces_are_timms_synsets_with_their_lemmas():
    info = timm.data.ImageNetInfo("imagenet-1k")
    space = label_space("imagenet-1k")

    assert space.synsets == tuple(info.label_names()) and space.num_classes == 1000
    assert space.descriptions[0] == "tench, Tinca tinca" == info.index_to_description(0)
    assert label_space("imagenet-22k").num_classes == 21841
    with pytest.raises(LabelSpaceError, match="imagenet-5k"):
        label_space("imagenet-5k")


def test_partial_test_sets_name_their_imagenet_1k_outputs():
    synsets = label_space("imagenet-1k").synsets
    for dataset in ("imagenet-a", "imagenet-r"):
        indices = label_spaces.partial_indices(dataset)
        assert len(indices) == 200
        assert tuple(synsets[i] for i in indices) == label_spaces.partial_synsets(dataset)
    assert label_spaces.partial_indices("imagenet-sketch") is None


def test_real_labels_are_keyed_by_validation_file_name():
    real = label_spaces.real_labels()

    assert len(real) == 50_000 and real["ILSVRC2012_val_00000001.JPEG"] == ()
    assert real[label_spaces.real_file_name(2)] == (970, 795)
