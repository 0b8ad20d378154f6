"""Comparing two sets of pieces: overlapping area, and a classifier two-sample test.

- :func:`overlapping_area`: how much two distributions of one feature overlap
  (Yang & Lerch 2018): 1 is the same distribution, 0 no overlap at all.
- :func:`relative_overlap`: Yang & Lerch's relative measure for vector features
  (histograms): the overlap of the real set's distances to itself with its
  distances to the generated set.
- :func:`classifier_two_sample_test`: a classifier (L2 logistic regression on
  standardized per-piece features, k-fold cross-validated) tries to tell set A
  from set B; held-out accuracy near 50% means it cannot (Lopez-Paz & Oquab 2017,
  "Revisiting classifier two-sample tests", ICLR).

Everything is numpy and deterministic given its ``seed``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["TwoSampleResult", "classifier_two_sample_test", "fit_logistic", "overlapping_area",
           "relative_overlap"]


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    return values[np.isfinite(values)]


def overlapping_area(a: np.ndarray, b: np.ndarray, grid_points: int = 2048) -> float:
    """The area under the smaller of the two estimated densities (0..1).

    Both densities are Gaussian kernel estimates with one shared bandwidth,
    Silverman's rule on the pooled spread, ``1.06 * sd * min(n_a, n_b) ** -0.2``, so
    that two samples of the same discrete values (a rate that is often exactly 0)
    overlap as much as their shares agree. Non-finite values are left out;
    ``nan`` when either set has none.
    """
    a, b = _finite(a), _finite(b)
    if not a.size or not b.size:
        return float("nan")
    pooled = np.concatenate([a, b])
    sd = pooled.std()
    if sd == 0:
        return 1.0
    h = 1.06 * sd * min(a.size, b.size) ** -0.2
    grid = np.linspace(pooled.min() - 4 * h, pooled.max() + 4 * h, grid_points)

    def density(x: np.ndarray) -> np.ndarray:
        total = np.zeros(grid_points)
        for chunk in np.array_split(x, -(-x.size // 1024)):  # (G, 1024) at a time: little memory
            z = (grid[:, None] - chunk[None, :]) / h
            total += np.exp(-0.5 * z * z).sum(axis=1)
        return total / (x.size * h * np.sqrt(2 * np.pi))

    return float(min(1.0, np.trapezoid(np.minimum(density(a), density(b)), grid)))


def _pairwise(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=-1))


def relative_overlap(real: np.ndarray, generated: np.ndarray) -> float:
    """Yang & Lerch's relative measure for vector features ``(n, d)``.

    The overlapping area of the distribution of Euclidean distances between real
    pieces (intra-set) and that of distances from real to generated pieces
    (inter-set): 1 when generated pieces sit among the real ones as the real ones
    sit among themselves.
    """
    real, generated = np.asarray(real, float), np.asarray(generated, float)
    if len(real) < 2 or not len(generated):
        return float("nan")
    intra = _pairwise(real, real)[np.triu_indices(len(real), k=1)]
    inter = _pairwise(real, generated).ravel()
    return overlapping_area(intra, inter)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 100) -> tuple[np.ndarray, float]:
    """L2-penalized logistic regression by Newton's method: weights ``(d,)`` and intercept.

    Minimizes ``sum(log loss) + l2 / 2 * |w|^2`` (the intercept is not penalized).
    ``x`` should be standardized.
    """
    n, d = x.shape
    design = np.hstack([x, np.ones((n, 1))])  # (n, d + 1)
    theta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -30, 30)))
        grad = design.T @ (p - y) + penalty * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, grad)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta[:-1], float(theta[-1])


def _prepare(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Impute missing values with the training means, then standardize with the training spread."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: its mean is nan, set to 0 below
        mean = np.nanmean(train, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    train = np.where(np.isfinite(train), train, mean)
    test = np.where(np.isfinite(test), test, mean)
    sd = train.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    return (train - mean) / sd, (test - mean) / sd


@dataclass(frozen=True)
class TwoSampleResult:
    """Held-out accuracy of a classifier telling two sets apart."""

    accuracy: float  # mean over all folds of all repeats (0.5: cannot tell them apart)
    spread: float  # standard deviation of the fold accuracies
    folds: tuple[float, ...]  # every fold's accuracy
    n_per_class: int  # pieces of each set used
    weights: tuple[float, ...]  # standardized coefficients fitted on all pieces (> 0: points to set B)

    def to_dict(self) -> dict[str, object]:
        return {"accuracy": self.accuracy, "spread": self.spread, "folds": list(self.folds),
                "n_per_class": self.n_per_class, "weights": list(self.weights)}


def classifier_two_sample_test(a: np.ndarray, b: np.ndarray, folds: int = 5, repeats: int = 5, seed: int = 0,
                               l2: float = 1.0) -> TwoSampleResult:
    """Cross-validated accuracy of L2 logistic regression telling rows of ``a`` from rows of ``b``.

    ``a`` and ``b`` are ``(n, d)`` per-piece feature matrices; row ``i`` of ``a`` and
    row ``i`` of ``b`` form a pair (a generated continuation and the real one of the
    same seed) that always lands in the same fold, so every fold is balanced and
    nothing of a seed is both trained and tested on. The larger set is cut to the
    size of the smaller. ``repeats`` reshuffles of ``folds``-fold cross-validation;
    missing values are imputed with training means, features standardized on the
    training folds.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = min(len(a), len(b))
    folds = min(folds, n)
    if folds < 2:
        raise ValueError("The two-sample test needs at least 2 pieces in each set.")
    a, b = a[:n], b[:n]
    x = np.vstack([a, b])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    pair = np.concatenate([np.arange(n), np.arange(n)])
    rng = np.random.default_rng(seed)
    accuracies = []
    for _ in range(repeats):
        fold_of_pair = np.empty(n, dtype=int)
        fold_of_pair[rng.permutation(n)] = np.arange(n) % folds
        fold = fold_of_pair[pair]
        for k in range(folds):
            test = fold == k
            train_x, test_x = _prepare(x[~test], x[test])
            w, c = fit_logistic(train_x, y[~test], l2)
            predicted = (test_x @ w + c) > 0
            accuracies.append(float((predicted == y[test]).mean()))
    all_x, _ = _prepare(x, x)
    weights, _ = fit_logistic(all_x, y, l2)
    return TwoSampleResult(float(np.mean(accuracies)), float(np.std(accuracies)), tuple(accuracies), n,
                           tuple(float(v) for v in weights))
