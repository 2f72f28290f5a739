"""The starter-bundle options: the one statement of what a bundle request accepts.

The builder validates with it (then adds the checks that need the model record); the API's serializer, the
model page's form and `manage.py make_bundle` are generated from it. Field order is TargetConfig's.
"""

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
