"""The layouts of the test sets timm's published results are measured on, checked before one is registered.

Pure python (no Django import). A preset names the dataset and split the catalog's claims use (core.timm_results),
the class folders the set has (ImageNet's synsets, ImageNetV2's output indices, ImageNet-A/-R's 200 synsets; from
timm's own files, core.label_spaces) and, for ImageNet-ReaL, the file names its labels are keyed by. A folder
holding some of the classes is accepted and reported as a subset with its image count; a folder with a class
the set does not have, or (for ReaL) a file ReaL has no labels for, is refused with the first offenders named.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import label_spaces
from core.imagefolder import ImageFolderScan
from core.timm_results import TEST_SETS

_SHOWN = 10  # offending names quoted in a refusal


@dataclass(frozen=True)
class Preset:
    name: str  # the dataset name the claims use, and the preset's name
    split: str  # the split the claims are on
    label: str
    classes: tuple[str, ...]  # the class folders of the whole set, in output order
    layout: str  # how the folders are named: "synsets" or "output indices"
    real_file_names: bool = False  # every file must be an ImageNet validation file ReaL labels


@dataclass(frozen=True)
class PresetCheck:
    preset: Preset
    classes_found: int
    images: int
    problems: tuple[str, ...]

    @property
    def is_subset(self) -> bool:
        return self.classes_found < len(self.preset.classes)

    def summary(self) -> str:
        whole = len(self.preset.classes)
        kind = "a subset" if self.is_subset else "the whole set"
        return (
            f"{self.preset.label} ({self.preset.name}/{self.preset.split}): {kind}, "
            f"{self.classes_found:,} of {whole:,} classes, {self.images:,} images"
        )


def _classes(name: str) -> tuple[tuple[str, ...], str]:
    partial = label_spaces.partial_synsets(name)
    if partial is not None:
        return partial, "synsets"
    if name == "imagenetv2-matched-frequency":  # ImageNetV2 names its folders by ImageNet-1k output index
        return tuple(str(index) for index in range(1000)), "output indices"
    return label_spaces.label_space(label_spaces.IMAGENET_1K).synsets, "synsets"


def preset(name: str) -> Preset:
    """The preset for one of timm's test sets; KeyError names the known ones."""
    for test_set in TEST_SETS:
        if test_set.dataset == name:
            classes, layout = _classes(name)
            return Preset(
                name=name, split=test_set.split, label=test_set.label, classes=classes, layout=layout,
                real_file_names=name == label_spaces.REAL_DATASET,
            )  # fmt: skip
    raise KeyError(f"No preset {name!r}; known: {', '.join(PRESET_NAMES)}")


PRESET_NAMES: tuple[str, ...] = tuple(test_set.dataset for test_set in TEST_SETS)


def _shown(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN:,} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def check_preset(spec: Preset, scan: ImageFolderScan) -> PresetCheck:
    """How a split folder compares with the set it claims to be: its classes and images, or what is wrong."""
    expected = set(spec.classes)
    foreign = [name for name in scan.class_names if name not in expected]
    problems = []
    if foreign:
        problems.append(
            f"{spec.label}'s class folders are named by {spec.layout} (e.g. {spec.classes[0]!r}); "
            f"{len(foreign):,} folders are not among its {len(spec.classes):,}: {_shown(foreign)}"
        )
    if spec.real_file_names:
        labels = label_spaces.real_labels()
        unknown = [scan.relative(path) for path, _ in scan.samples if path.name not in labels]
        if unknown:
            problems.append(
                f"ImageNet-ReaL's labels are keyed by ImageNet validation file name "
                f"({label_spaces.real_file_name(1)} to {label_spaces.real_file_name(label_spaces.REAL_IMAGES)}); "
                f"{len(unknown):,} files are named otherwise: {_shown(unknown)}"
            )
    return PresetCheck(
        preset=spec, classes_found=len(scan.class_names) - len(foreign), images=len(scan.samples),
        problems=tuple(problems),
    )  # fmt: skip
