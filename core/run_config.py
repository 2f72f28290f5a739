"""The benchmark run config: the one statement of what a run request may set, next to the harness that uses it.

`HarnessConfig` checks its values with it; the evaluation service canonicalises a request's config with it (the
stored config and the run identity); the API's documented config, the model page's re-check form and
`manage.py benchmark` are generated from it. No torch import here, so pages and the API can read it cheaply.
"""

from core.options import Option, Schema

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
    ),
)  # fmt: skip
