"""The transfer-ranking config: the one statement of what a ranking request may set, next to RankingConfig.

The evaluation service canonicalises a request's config with it (what a ranking stores), the API documents and
checks `config` with the serializer generated from it (hub/options.py), and `manage.py rank_models` takes its
flags from it, so the three accept the same values and refuse the same ones with the same message. Upper bounds
keep a typo from asking one worker for a million threads or a week of baseline training.
"""

from core.options import Option, Schema

RANKING_CONFIG = Schema(
    name="config",
    options=(
        Option(
            "batch_size", "int", default=64, minimum=1, maximum=4_096,
            help="Images per forward pass when extracting features.",
        ),
        Option("seed", "int", default=0, minimum=0, maximum=2**31 - 1, help="Seed of the CV folds and the baseline."),
        Option(
            "threads", "int", minimum=1, maximum=256,
            help="torch intra-op threads for the ranking. Default: the worker's own setting.",
        ),
        Option(
            "baseline", "bool", default=True,
            help="Train a baseline without pretraining on the same data, to flag negative transfer: a small CNN "
            "from scratch on images, TF-IDF + logistic regression on texts.",
        ),
        Option(
            "baseline_epochs", "int", default=15, minimum=1, maximum=200,
            help="Epochs of the from-scratch baseline (images; the bag-of-words baseline has none).",
        ),
    ),
)  # fmt: skip
