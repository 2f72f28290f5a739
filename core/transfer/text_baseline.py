"""The bag-of-words baseline: TF-IDF and a logistic regression trained on the target texts alone, same folds.

The text ranking's negative-transfer bar, as the small CNN is the image ranking's: no pretraining at all. On
short sentiment texts it is a hard bar (80% on the movie snippets, beside 79.65% for frozen MiniLM features
under the same probe; issue 21), so a candidate whose frozen features do not clear it gives no reason to
fine-tune it. The folds are core.transfer.estimators.cv_folds with the ranking's seed, the linear probe's, so
transfer_comparison can pair them fold by fold; the vectoriser is fitted inside each fold, on its training
texts only, as the probe's scaler is.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from core.transfer.baseline import BaselineResult, ProgressCallback
from core.transfer.estimators import check_inputs, cv_folds


@dataclass(frozen=True)
class BagOfWordsConfig:
    ngram_max: int = 2  # word unigrams and bigrams: "not good" is a feature of its own
    min_df: int = 1
    c: float = 4.0  # TF-IDF rows are unit-length and sparse: a weaker penalty than the probe's C=1 fits them
    seed: int = 0


def bag_of_words_baseline(
    texts: Sequence[str],
    labels: np.ndarray,
    *,
    config: BagOfWordsConfig | None = None,
    on_progress: ProgressCallback | None = None,
) -> BaselineResult:
    """Cross-validated accuracy % of TF-IDF + logistic regression on the texts (the linear probe's folds)."""
    config = config or BagOfWordsConfig()
    _, labels = check_inputs(np.zeros((len(labels), 1)), np.asarray(labels))
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts and {len(labels)} labels do not line up")
    started = time.perf_counter()
    classifier = make_pipeline(
        TfidfVectorizer(ngram_range=(1, config.ngram_max), min_df=config.min_df, sublinear_tf=True),
        LogisticRegression(C=config.c, max_iter=1000),
    )
    if on_progress is not None:
        on_progress(0.0, "bag-of-words baseline: TF-IDF + logistic regression")
    # Single-threaded BLAS, as the estimators run (score_all says why); a fold stopping at max_iter still scores.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_validate(
            classifier, np.asarray(texts, dtype=object), labels, cv=cv_folds(labels, seed=config.seed),
            return_estimator=True,
        )  # fmt: skip
    if on_progress is not None:
        on_progress(1.0, "bag-of-words baseline: done")
    fitted = scores["estimator"]
    return BaselineResult(
        accuracy=100.0 * float(np.mean(scores["test_score"])),
        fold_accuracies=[100.0 * float(score) for score in scores["test_score"]],
        seconds=time.perf_counter() - started,
        # The largest fold model: its vocabulary times the classes' weights, and their intercepts.
        num_params=max(int(model[-1].coef_.size + model[-1].intercept_.size) for model in fitted),
        config={
            "kind": "bag_of_words",
            "vectorizer": f"tfidf, word 1-{config.ngram_max}-grams, sublinear tf, min_df {config.min_df}",
            "classifier": f"logistic regression, C={config.c}",
            "vocabulary": max(len(model[0].vocabulary_) for model in fitted),
            "seed": config.seed,
        },
    )
