"""The benchmark run config: the one statement of what a run request may set, next to the harness that uses it.

`HarnessConfig` checks its values with it; the evaluation service canonicalises a request's config with it (the
stored config and the run identity); the API's documented config, the model page's re-check form and
`manage.py benchmark` are generated from it. No torch import here, so pages and the API can read it cheaply.
"""

import math
from collections.abc import Mapping
from typing import Any

from core.options import Option, Schema

SCORE_ALL_OUTPUTS = "all-outputs"
SCORE_DATASET_CLASSES = "dataset-classes"
# timm's eval resize filters (timm.data.transforms.str_to_interp_mode; "random" is for training only).
INTERPOLATIONS = ("bicubic", "bilinear", "nearest", "box", "hamming", "lanczos")
# The options that say how accuracy is measured, as a claim states it (timm's results tables carry img_size,
# crop_pct and interpolation per row): a run re-checking a claim sets them from the claim.
PROTOCOL_OPTIONS = ("img_size", "crop_pct", "interpolation", "scoring")
# Test sets whose classes are a part of ImageNet-1k's: timm's results on them restrict the logits to those classes
# (validate.py --valid-labels with timm's imagenet_a_indices.txt / imagenet_r_indices.txt).
RESTRICTED_SCORING_DATASETS = ("imagenet-a", "imagenet-r")

RUN_CONFIG = Schema(
    name="config",
    options=(
        Option(
            "batch_size", "int", default=64, minimum=1, maximum=4_096,
            help="Images per forward pass (results do not depend on it).",
        ),
        Option("seed", "int", default=0, minimum=0, maximum=2**32 - 1, help="torch seed for the run."),
        Option(
            "threads", "int", minimum=1, maximum=1_024,
            help="torch intra-op threads for the run. Default: the worker's own setting.",
        ),
        Option(
            "num_workers", "int", default=0, minimum=0, maximum=64,
            # 0 by default: the hub's jobs run in Celery's prefork children, which are daemonic and may not fork,
            # so a default of 2 was recorded in every run's config while its provenance said 0 were used.
            help="DataLoader worker processes. A Celery job process uses 0 whatever is asked (it may not fork); "
            "the results do not depend on it.",
        ),
        Option(
            "img_size", "int", minimum=8, maximum=4_096, advanced=True,
            help="Eval image size in pixels (square). Default: the model's own input size.",
        ),
        Option(
            "crop_pct", "float", minimum=0, exclusive_minimum=True, maximum=2, advanced=True,
            help="Centre-crop fraction before resizing, as in timm. Default: the model's own.",
        ),
        Option(
            "interpolation", "choice", choices=INTERPOLATIONS, advanced=True,
            help="Resize filter. Default: the model's own.",
        ),
        Option(
            "scoring", "choice", default=SCORE_ALL_OUTPUTS, advanced=True,
            choices=(SCORE_ALL_OUTPUTS, SCORE_DATASET_CLASSES),
            help=(
                "all-outputs: the argmax over every output. dataset-classes: logits restricted to the dataset's "
                "classes, as timm scores ImageNet-A/-R (200 of 1,000 outputs)."
            ),
        ),
    ),
)  # fmt: skip


def claim_protocol(
    *, dataset: str, img_size: int | None, crop_pct: float | None, interpolation: str
) -> dict[str, Any]:
    """The run options that measure a claim the way it was measured: the image size, crop and filter its row
    states (those it leaves out are the model's own), and the scoring its test set is scored with."""
    scoring = SCORE_DATASET_CLASSES if dataset in RESTRICTED_SCORING_DATASETS else SCORE_ALL_OUTPUTS
    protocol: dict[str, Any] = {"scoring": scoring}
    if img_size:
        protocol["img_size"] = int(img_size)
    if crop_pct:
        protocol["crop_pct"] = float(crop_pct)
    if interpolation:
        protocol["interpolation"] = interpolation
    return protocol


def run_protocol(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """What a finished run measured with: the protocol its provenance records, or for a run recorded before
    provenance kept one, its resolved preprocessing, scored over every output (all the harness did then)."""
    if provenance.get("protocol"):
        return dict(provenance["protocol"])
    preprocessing = provenance.get("preprocessing") or {}
    size = preprocessing.get("input_size") or [None]
    return {
        "img_size": size[-1],
        "crop_pct": preprocessing.get("crop_pct"),
        "interpolation": preprocessing.get("interpolation"),
        "scoring": SCORE_ALL_OUTPUTS,
    }


def protocol_matches(claimed: Mapping[str, Any], measured: Mapping[str, Any]) -> bool:
    """True when the run measured every value the claim's protocol states. crop_pct is compared to timm's
    three decimals ("0.875"); the others exactly."""
    for name, value in claimed.items():
        got = measured.get(name)
        if name == "crop_pct":
            if got is None or not math.isclose(float(got), float(value), abs_tol=5e-4):
                return False
        elif got != value:
            return False
    return True
