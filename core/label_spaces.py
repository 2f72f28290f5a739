"""ImageNet label spaces as timm ships them (timm/data/_info/ in the installed wheel). Pure python: no Django.

A timm model trained on an ImageNet variant outputs one logit per WordNet synset of that variant, in the order
of timm's synset file: output 0 of an ImageNet-1k head is "n01440764" (tench). Nothing here is copied from
timm: the synsets, the lemmas, the ImageNet-A/-R indices and ReaL's labels are read from timm's own files,
through timm.data.ImageNetInfo, infer_imagenet_subset and RealLabelsImagenet, so a timm upgrade that fixes a
file fixes the hub too.
"""

from __future__ import annotations

import functools
import pkgutil
from dataclasses import dataclass

# The label spaces a catalog entry can name (timm.data.ImageNetInfo's subsets), by number of outputs.
IMAGENET_1K = "imagenet-1k"
# ImageNet-A and -R keep 200 of ImageNet-1k's classes; timm scores them over those 200 outputs only.
PARTIAL_INDICES_FILES = {"imagenet-a": "imagenet_a_indices.txt", "imagenet-r": "imagenet_r_indices.txt"}
PARTIAL_SYNSETS_FILES = {"imagenet-a": "imagenet_a_synsets.txt", "imagenet-r": "imagenet_r_synsets.txt"}
REAL_DATASET = "imagenet-real"
REAL_FILE_PREFIX = "ILSVRC2012_val_"
REAL_IMAGES = 50_000  # ImageNet-1k's validation set, the images ReaL relabelled


class LabelSpaceError(ValueError):
    """No label space of that name (or for that head), or a timm data file is not what it should be."""


@dataclass(frozen=True)
class LabelSpace:
    name: str  # timm's subset name: "imagenet-1k", "imagenet-12k", "imagenet-22k", ...
    synsets: tuple[str, ...]  # output index -> synset ("n01440764")
    descriptions: tuple[str, ...]  # output index -> lemmas ("tench, Tinca tinca")

    @property
    def num_classes(self) -> int:
        return len(self.synsets)


def _info_text(filename: str) -> str:
    data = pkgutil.get_data("timm.data", f"_info/{filename}")
    if data is None:  # pragma: no cover - the file ships in every timm wheel the hub pins
        raise LabelSpaceError(f"timm's data file {filename} is missing from the installed timm")
    return data.decode("utf-8")


@functools.lru_cache(maxsize=8)
def label_space(name: str) -> LabelSpace:
    """The label space timm.data.ImageNetInfo(name) describes; LabelSpaceError for a name timm does not know."""
    from timm.data import ImageNetInfo

    try:
        info = ImageNetInfo(name)
    except AssertionError:  # timm's way of saying "unknown subset"
        raise LabelSpaceError(f"timm has no ImageNet label space {name!r}") from None
    synsets = tuple(info.label_names())
    return LabelSpace(name=name, synsets=synsets, descriptions=tuple(info.label_descriptions()))


def _family(name: str) -> str:
    """ "imagenet-21k-miil" -> "imagenet-21k". timm's tags call the fall11 release in21k or in22k, and its
    heads come in four sizes (21,841 to 21,843 outputs, or MIIL's 11,221), so both names are one family."""
    family = "-".join(name.split("-")[:2])
    return "imagenet-21k" if family == "imagenet-22k" else family


def label_space_for(*, num_classes: int, pretrained_on: str) -> str:
    """The label space of a timm head, or "" when it has none (a feature extractor, a non-ImageNet head).

    Decided by the number of outputs (timm's infer_imagenet_subset) and checked against the dataset the tag
    names: an "in1k" tag with 1,000 outputs is ImageNet-1k; "in12k" with 11,821 is ImageNet-12k; a tag
    naming no dataset takes timm's guess from the head size; a head that disagrees with its tag gets none.
    """
    from timm.data import infer_imagenet_subset

    subset = infer_imagenet_subset({"num_classes": num_classes}) if num_classes else None
    if subset is None:
        return ""
    if not pretrained_on:
        return subset
    if not pretrained_on.startswith("imagenet"):
        return ""
    return subset if _family(subset) == _family(pretrained_on) else ""


@functools.lru_cache(maxsize=4)
def partial_indices(dataset: str) -> tuple[int, ...] | None:
    """ImageNet-1k output indices of a partial test set's classes (timm's indices file), None for the others."""
    filename = PARTIAL_INDICES_FILES.get(dataset)
    if filename is None:
        return None
    return tuple(int(line) for line in _info_text(filename).split())


@functools.lru_cache(maxsize=4)
def partial_synsets(dataset: str) -> tuple[str, ...] | None:
    filename = PARTIAL_SYNSETS_FILES.get(dataset)
    return None if filename is None else tuple(_info_text(filename).split())


@functools.lru_cache(maxsize=1)
def real_labels() -> dict[str, tuple[int, ...]]:
    """ReaL's label set per ImageNet-1k validation file name ("ILSVRC2012_val_00000001.JPEG" -> (...)).

    Read by timm's RealLabelsImagenet, which keys its file by these names; an empty set means ReaL's raters
    found no ImageNet-1k class in the image (timm leaves such images out of the accuracy).
    """
    from timm.data import RealLabelsImagenet

    names = [real_file_name(index) for index in range(1, REAL_IMAGES + 1)]
    real = RealLabelsImagenet(names, topk=(1,))
    return {name: tuple(labels) for name, labels in real.real_labels.items()}


def real_file_name(index: int) -> str:
    """The validation file name of image `index` (1-based), as ImageNet and ReaL name it."""
    return f"{REAL_FILE_PREFIX}{index:08d}.JPEG"
