"""Transferability estimators on frozen features: LogME, k-NN accuracy and a linear probe.

Each takes features (n, d) and integer labels (n,) and returns one number, higher = better transfer:
- LogME (You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning", ICML 2021): the
  log marginal likelihood (evidence) per sample of a Bayesian linear model from features to each one-hot label
  column, with its prior precision alpha and noise precision beta maximised by the paper's fixed-point updates,
  averaged over classes. One SVD of the features makes every iteration O(min(n, d)).
- k-NN and linear-probe accuracy (percent), each under stratified k-fold cross-validation, so every image is
  scored by a classifier that did not see it. The scaler is fitted inside each fold for the same reason.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

MAX_FOLDS = 5
LOGME_MAX_ITERATIONS = 100
LOGME_TOLERANCE = 1e-6  # relative change of alpha/beta that ends the fixed-point iteration
_EPSILON = 1e-12  # keeps the updates finite for a label column the features fit exactly


class EstimatorError(ValueError):
    """Features or labels the estimators cannot score (too few samples per class, one class, NaNs...)."""


def check_inputs(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 (n, d) features and int (n,) labels, with at least two classes; raises EstimatorError."""
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if features.ndim != 2 or labels.ndim != 1 or len(features) != len(labels):
        raise EstimatorError(f"features {features.shape} and labels {labels.shape} do not line up")
    if not np.isfinite(features).all():
        raise EstimatorError("features contain NaN or infinite values")
    if len(np.unique(labels)) < 2:
        raise EstimatorError("at least two classes are needed to score a transfer")
    return features, labels.astype(np.int64)


def cv_folds(labels: np.ndarray, *, seed: int = 0) -> StratifiedKFold:
    """Stratified folds: as many as the rarest class allows, at most MAX_FOLDS (at least 2 images per class)."""
    smallest = int(np.bincount(labels)[np.unique(labels)].min())
    if smallest < 2:
        raise EstimatorError("every class needs at least 2 images for cross-validation")
    return StratifiedKFold(n_splits=min(MAX_FOLDS, smallest), shuffle=True, random_state=seed)


# ---------------------------------------------------------------------------------------------------------------
# LogME


@dataclass(frozen=True)
class LogMEFit:
    """The evidence-maximising precisions of one label column and its evidence per sample."""

    alpha: float
    beta: float
    evidence: float


def _logme_column(sigma: np.ndarray, x2: np.ndarray, residual_outside: float, n: int, d: int) -> LogMEFit:
    """Fixed-point evidence maximisation for one target column in the eigenbasis of F^T F.

    sigma: the non-zero eigenvalues of F^T F (squared singular values), x2: the squared projections of the
    target on the matching left singular vectors, residual_outside: |y|^2 minus what those vectors span.
    """
    alpha, beta = 1.0, 1.0
    if (
        len(sigma) == 0
    ):  # all-zero features explain nothing: y is pure noise, and alpha drops out of the evidence
        return _evidence(alpha, n / (residual_outside + _EPSILON), sigma, x2, residual_outside, n, d)
    for _ in range(LOGME_MAX_ITERATIONS):
        ratio = alpha / beta
        gamma = float((sigma / (sigma + ratio)).sum())  # effective number of well-determined parameters
        m2 = float((sigma * x2 / (sigma + ratio) ** 2).sum())  # |m|^2 of the posterior mean
        res2 = float((x2 / (1.0 + sigma / ratio) ** 2).sum()) + residual_outside  # |F m - y|^2
        alpha, beta = gamma / (m2 + _EPSILON), (n - gamma) / (res2 + _EPSILON)
        if abs(alpha / beta - ratio) <= LOGME_TOLERANCE * ratio:
            break
    return _evidence(alpha, beta, sigma, x2, residual_outside, n, d)


def _evidence(
    alpha: float, beta: float, sigma: np.ndarray, x2: np.ndarray, residual_outside: float, n: int, d: int
) -> LogMEFit:
    ratio = alpha / beta
    m2 = float((sigma * x2 / (sigma + ratio) ** 2).sum())
    res2 = float((x2 / (1.0 + sigma / ratio) ** 2).sum()) + residual_outside
    # log|A| for A = alpha I_d + beta F^T F: d - k of its eigenvalues are alpha alone (k = len(sigma)).
    log_det = float(np.log(alpha + beta * sigma).sum()) + (d - len(sigma)) * math.log(alpha)
    evidence = (
        d / 2 * math.log(alpha)
        + n / 2 * math.log(beta)
        - beta / 2 * res2
        - alpha / 2 * m2
        - log_det / 2
        - n / 2 * math.log(2 * math.pi)
    )
    return LogMEFit(alpha=alpha, beta=beta, evidence=evidence / n)


def logme_fits(features: np.ndarray, labels: np.ndarray) -> list[LogMEFit]:
    """One LogMEFit per class (one-hot column), in class order."""
    features, labels = check_inputs(features, labels)
    n, d = features.shape
    u, singular, _ = np.linalg.svd(features, full_matrices=False)
    keep = singular > max(
        singular.max(initial=0.0) * max(n, d) * np.finfo(np.float64).eps, 0.0
    )  # rank-deficient
    u, sigma = u[:, keep], singular[keep] ** 2
    fits = []
    for label in np.unique(labels):
        y = (labels == label).astype(np.float64)
        x = u.T @ y
        x2 = x**2
        fits.append(_logme_column(sigma, x2, max(float(y @ y - x2.sum()), 0.0), n, d))
    return fits


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME: the mean over classes of the maximised log evidence per sample (higher = better transfer)."""
    return float(np.mean([fit.evidence for fit in logme_fits(features, labels)]))


# ---------------------------------------------------------------------------------------------------------------
# Cross-validated classifiers on the features


def knn_accuracy(features: np.ndarray, labels: np.ndarray, *, k: int = 5, seed: int = 0) -> float:
    """Top-1 % of a k-NN classifier (cosine distance, standardised features) under stratified CV."""
    features, labels = check_inputs(features, labels)
    folds = cv_folds(labels, seed=seed)
    smallest_train = len(labels) - math.ceil(len(labels) / folds.get_n_splits())
    classifier = make_pipeline(
        StandardScaler(), KNeighborsClassifier(n_neighbors=max(1, min(k, smallest_train)), metric="cosine")
    )
    return 100.0 * float(cross_val_score(classifier, features, labels, cv=folds).mean())


def linear_probe_fold_accuracies(
    features: np.ndarray, labels: np.ndarray, *, c: float = 1.0, seed: int = 0
) -> list[float]:
    """Top-1 % per fold of an L2-regularised logistic regression on standardised features (stratified CV).

    The folds are `cv_folds(labels, seed=seed)`, the ones the from-scratch baseline trains on, so fold i of the
    probe and fold i of the baseline score the same held-out images and can be compared pair by pair.
    """
    features, labels = check_inputs(features, labels)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
    scores = cross_val_score(classifier, features, labels, cv=cv_folds(labels, seed=seed))
    return [100.0 * float(score) for score in scores]


def linear_probe_accuracy(
    features: np.ndarray, labels: np.ndarray, *, c: float = 1.0, seed: int = 0
) -> float:
    """Top-1 % of an L2-regularised logistic regression on standardised features under stratified CV."""
    return float(np.mean(linear_probe_fold_accuracies(features, labels, c=c, seed=seed)))


ESTIMATORS = ("logme", "knn", "linear_probe")


def score_all(features: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """Every estimator's value, keyed as in ESTIMATORS, and the linear probe's per-fold top-1s
    ("linear_probe_folds", what the negative-transfer test compares with the baseline's folds).

    BLAS and OpenMP run single-threaded here: these are small matrices, and on a busy machine multi-threaded BLAS
    made the same logistic regression over 100 times slower (threads waiting for cores), with identical results.
    """
    # A probe that stops at max_iter still scores its folds; the warning would only clutter the job log.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        folds = linear_probe_fold_accuracies(features, labels, seed=seed)
        return {
            "logme": logme(features, labels),
            "knn": knn_accuracy(features, labels, seed=seed),
            "linear_probe": float(np.mean(folds)),
            "linear_probe_folds": folds,
        }
