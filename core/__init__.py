"""Depot's core: the machine-learning and file-format code, free of Django.

Everything here runs in a notebook, a script or a starter bundle without a database or settings: the evaluation
harness and its image decoding, dataset and archive checks, the verdict rule, safetensors handling, timm's
registry and published results, the starter-bundle builder and the transfer-ranking estimators. The Django apps
(catalog, evaluation, demo) call into it; it never imports them, nor Django, DRF or Celery. The contracts in
pyproject.toml ([tool.importlinter]) hold it to that in `make lint` and in the tests.
"""
