"""The benchmark run config: the one statement of what a run request may set, next to the harness that uses it.

`HarnessConfig` checks its values with it; the evaluation service canonicalises a request's config with it (the
stored config and the run identity); the API's documented config, the model page's re-check form and
`manage.py benchmark` are generated from it. No torch import here, so pages and the API can read it cheaply.
"""

from core.options import Option, Schema

SCORE_ALL_OUTPUTS = "all-outputs"
SCORE_DATASET_CLASSES = "dataset-classes"
# timm's eval resize filters (timm.data.transforms.str_to_interp_mode; "random" is for training only).
INTERPOLATIONS = ("bicubic", "bilinear", "nearest", "box", "hamming", "lanczos")
# The options that say how accuracy is measured, as a claim states it (timm's results tables carry img_size,
# crop_pct and interpolation per row): a run re-checking a claim sets them from the claim.
PROTOCOL_OPTIONS = ("img_size", "crop_pct", "interpolation", "scoring")

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
            "num_workers", "int", default=2, minimum=0, maximum=64,
            help="DataLoader worker processes (a Celery prefork worker uses 0: it may not fork).",
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
