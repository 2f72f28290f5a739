"""The estimators on synthetic features whose separability is known, and LogME against a direct computation."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from core.transfer.estimators import (
    EstimatorError,
    cv_folds,
    knn_accuracy,
    linear_probe_accuracy,
    linear_probe_fold_accuracies,
    logme,
    logme_fits,
    score_all,
)

CLASSES, PER_CLASS, DIM = 5, 20, 32


def clusters(spread: float, *, seed: int = 0, dim: int = DIM, per_class: int = PER_CLASS):
    """Gaussian blobs around random class centres: small spread = separable, large spread = noisy."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLASSES, dim)) * 3
    labels = np.repeat(np.arange(CLASSES), per_class)
    features = centres[labels] + rng.normal(scale=spread, size=(len(labels), dim))
    return features, labels


def shuffled_labels(labels, seed: int = 1):
    return np.random.default_rng(seed).permutation(labels)


def direct_log_evidence(features, y, alpha, beta):
    """log p(y | F, alpha, beta) of y = F w + noise, w ~ N(0, I/alpha), noise ~ N(0, I/beta): no SVD, no trick."""
    n, d = features.shape
    a = alpha * np.eye(d) + beta * features.T @ features
    m = beta * np.linalg.solve(a, features.T @ y)
    _, log_det = np.linalg.slogdet(a)
    return (
        n / 2 * math.log(beta) + d / 2 * math.log(alpha) - n / 2 * math.log(2 * math.pi)
        - beta / 2 * float(np.sum((features @ m - y) ** 2)) - alpha / 2 * float(m @ m) - log_det / 2
    )  # fmt: skip


def maximised_direct_evidence(features, y):
    """max over (alpha, beta) of the direct evidence, by a generic optimiser on log alpha, log beta."""
    result = minimize(
        lambda p: -direct_log_evidence(features, y, math.exp(p[0]), math.exp(p[1])),
        x0=[0.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 4000},
    )  # fmt: skip
    return -result.fun, math.exp(result.x[0]), math.exp(result.x[1])


@pytest.mark.parametrize("spread", [0.5, 4.0])
def test_it_matches_the_direct_evidence_maximum(spread):
    features, labels = clusters(spread, dim=32, per_class=20)  # n = 100 > d = 32: an interior maximum
    n = len(labels)
    fits = logme_fits(features, labels)
    assert len(fits) == CLASSES
    for label, fit in zip(range(CLASSES), fits, strict=True):
        y = (labels == label).astype(float)
        # The evidence LogME reports is the direct formula at its alpha and beta ...
        assert fit.evidence == pytest.approx(
            direct_log_evidence(features, y, fit.alpha, fit.beta) / n, rel=1e-7
        )
        # ... and those are the maximisers: a generic optimiser finds the same maximum at the same place.
        best, alpha, beta = maximised_direct_evidence(features, y)
        assert fit.evidence == pytest.approx(best / n, rel=1e-7, abs=1e-9)
        assert (fit.alpha, fit.beta) == pytest.approx((alpha, beta), rel=1e-3)
    assert logme(features, labels) == pytest.approx(np.mean([fit.evidence for fit in fits]))


@pytest.mark.parametrize("spread", [0.5, 4.0])
def test_it_handles_more_dimensions_than_samples(spread):
    """d > n: the features can fit any labels, the evidence keeps rising towards noise-free interpolation
    (beta -> infinity) and the fixed point stops short of that supremum (within 1%), like the paper's iteration."""
    features, labels = clusters(spread, dim=64, per_class=4)  # n = 20 < d = 64
    n = len(labels)
    for label, fit in zip(range(CLASSES), logme_fits(features, labels), strict=True):
        y = (labels == label).astype(float)
        assert fit.evidence == pytest.approx(
            direct_log_evidence(features, y, fit.alpha, fit.beta) / n, rel=1e-7
        )
        best, _, _ = maximised_direct_evidence(features, y)
        assert best / n - 1e-2 * abs(best / n) <= fit.evidence <= best / n + 1e-9


@pytest.mark.parametrize("estimator", [logme, knn_accuracy, linear_probe_accuracy])
def test_it_orders_separable_above_noisy_above_random_labels(estimator):
    separable_x, separable_y = clusters(0.5)
    noisy_x, noisy_y = clusters(4.0)
    separable, noisy = estimator(separable_x, separable_y), estimator(noisy_x, noisy_y)
    random_labels = estimator(separable_x, shuffled_labels(separable_y))
    assert separable > noisy > random_labels


@pytest.mark.parametrize("estimator", [knn_accuracy, linear_probe_accuracy])
def test_its_accuracies_are_near_perfect_when_separable_and_near_chance_when_random(estimator):
    features, labels = clusters(0.5)
    assert estimator(features, labels) >= 95.0
    chance = 100.0 / CLASSES
    assert estimator(features, shuffled_labels(labels)) < chance + 20


def test_it_is_deterministic_and_scores_every_estimator():
    features, labels = clusters(2.0)
    first, second = score_all(features, labels, seed=3), score_all(features, labels, seed=3)
    assert first == second
    assert set(first) == {"logme", "knn", "linear_probe", "linear_probe_folds"}


def test_it_ignores_a_constant_feature_column_in_logme():
    features, labels = clusters(1.0)
    padded = np.hstack([features, np.zeros((len(features), 3))])
    # Zero columns add no evidence about the labels; only the prior's volume term changes, identically per class.
    assert np.isfinite(logme(padded, labels))


@pytest.mark.parametrize(
    ("features", "labels", "message"),
    [
        (np.ones((4, 2)), np.zeros(4, dtype=int), "two classes"),
        (np.ones((4, 2)), np.array([0, 0, 0, 1]), "at least 2 images"),
        (np.full((4, 2), np.nan), np.array([0, 0, 1, 1]), "NaN"),
        (np.ones((4, 2)), np.array([0, 1, 0]), "do not line up"),
    ],
)
def test_it_refuses_unscorable_input(features, labels, message):
    estimator = knn_accuracy if "2 images" in message else logme  # LogME needs no folds
    with pytest.raises(EstimatorError, match=message):
        estimator(features, labels)


def test_the_probes_fold_scores_average_to_its_accuracy_on_the_baselines_folds():
    features, labels = clusters(4.0)  # noisy enough that the folds differ
    folds = linear_probe_fold_accuracies(features, labels, seed=3)
    assert len(folds) == cv_folds(labels, seed=3).get_n_splits()
    assert sum(folds) / len(folds) == pytest.approx(linear_probe_accuracy(features, labels, seed=3))
    assert score_all(features, labels, seed=3)["linear_probe_folds"] == folds
