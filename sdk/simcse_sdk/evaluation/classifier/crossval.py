"""SentEval's three model-selection protocols for a logistic regression over frozen features.

* :func:`inner_kfold` (MR, CR, SUBJ, MPQA): ``k`` stratified outer folds; in each, C is
  chosen by ``inner_k``-fold CV on the training part, then refit there and tested on the
  held-out fold; the accuracy is the mean over outer folds.
* :func:`kfold_then_test` (TREC, MRPC): C chosen by ``k``-fold CV on the train set, refit on
  all of it, tested once on the test set.
* :func:`split_select` (SST-2): C chosen on the dev set, tested on the test set.

C is swept in ascending order with warm starts (a model for C starts from the one for the
previous C, and the first C of a fold from the first C of the previous fold), which makes
a sweep cost little more than one fit. Ties go to the smaller C.
Accuracies are fractions in [0, 1].

Example:
    >>> import numpy as np
    >>> from simcse_sdk.evaluation.classifier.crossval import inner_kfold
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)); y = (X[:, 0] + 0.1 * rng.normal(size=300) > 0).astype(int)
    >>> out = inner_kfold(X, y, grid=(0.5, 2.0), k=3, inner_k=3, seed=1)
    >>> out.test > 0.9
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .logreg import LogisticRegression

#: SentEval's C grids (scikit-learn path): inner k-fold and split protocols, and k-fold.
GRID_INNER = tuple(2.0**t for t in range(-2, 4))
GRID_KFOLD = tuple(2.0**t for t in range(-1, 6))


@dataclass
class Selection:
    """Outcome of a protocol: model-selection and test accuracy, the C chosen (per fold for inner k-fold)."""

    dev: float
    test: float
    c: list[float]
    predictions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def stratified_folds(y: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Split row indices into ``k`` folds with each class spread evenly; returns each fold's indices."""
    y = np.asarray(y)
    if k < 2 or k > len(y):
        raise ValueError(f"need 2 <= k <= {len(y)} folds, got {k}")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(y), dtype=np.int64)
    offset = 0
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        fold_of[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)
    return [np.flatnonzero(fold_of == f) for f in range(k)]


def sweep(
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    grid: Sequence[float],
    start: LogisticRegression | None = None,
) -> tuple[list[float], list[LogisticRegression]]:
    """Fit one model per C (ascending, each warm-started from the previous); return accuracies and models.

    ``start``: a model (for instance the smallest C's on a neighbouring fold) to start the first fit from.
    """
    scores: list[float] = []
    models: list[LogisticRegression] = []
    prev = start
    for c in sorted(grid):
        prev = LogisticRegression(c=c).fit(X, y, warm_start=prev)
        models.append(prev)
        scores.append(prev.score(X_val, y_val))
    return scores, models


def cv_select(X: np.ndarray, y: np.ndarray, grid: Sequence[float], k: int, seed: int) -> tuple[float, float]:
    """``(best C, its mean accuracy)`` by ``k``-fold stratified CV on ``X, y``."""
    grid = sorted(grid)
    totals = np.zeros(len(grid))
    start: LogisticRegression | None = None
    for fold in stratified_folds(y, k, seed):
        train = np.ones(len(y), dtype=bool)
        train[fold] = False
        scores, models = sweep(X[train], y[train], X[fold], y[fold], grid, start)
        totals += scores
        start = models[0]
    best = int(np.argmax(totals))
    return grid[best], float(totals[best] / k)


def inner_kfold(
    X: np.ndarray,
    y: np.ndarray,
    grid: Sequence[float] = GRID_INNER,
    k: int = 10,
    inner_k: int = 10,
    seed: int = 1111,
) -> Selection:
    """SentEval's InnerKFoldClassifier: nested CV; ``test`` is the mean outer-fold accuracy."""
    X, y = np.asarray(X), np.asarray(y)
    devs: list[float] = []
    tests: list[float] = []
    cs: list[float] = []
    for fold in stratified_folds(y, k, seed):
        train = np.ones(len(y), dtype=bool)
        train[fold] = False
        c, dev = cv_select(X[train], y[train], grid, inner_k, seed)
        clf = LogisticRegression(c=c).fit(X[train], y[train])
        devs.append(dev)
        tests.append(clf.score(X[fold], y[fold]))
        cs.append(c)
    return Selection(float(np.mean(devs)), float(np.mean(tests)), cs)


def kfold_then_test(
    X: np.ndarray,
    y: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    grid: Sequence[float] = GRID_KFOLD,
    k: int = 10,
    seed: int = 1111,
) -> Selection:
    """SentEval's KFoldClassifier: C by ``k``-fold CV on train, refit on train, test once."""
    c, dev = cv_select(np.asarray(X), np.asarray(y), grid, k, seed)
    clf = LogisticRegression(c=c).fit(X, y)
    predictions = clf.predict(X_test)
    return Selection(dev, float(np.mean(predictions == np.asarray(y_test))), [c], predictions)


def split_select(
    X: np.ndarray,
    y: np.ndarray,
    X_dev: np.ndarray,
    y_dev: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    grid: Sequence[float] = GRID_INNER,
) -> Selection:
    """SentEval's SplitClassifier: C chosen on the dev set, tested on the test set."""
    scores, models = sweep(X, y, X_dev, y_dev, grid)
    best = int(np.argmax(scores))
    predictions = models[best].predict(X_test)
    return Selection(
        scores[best], float(np.mean(predictions == np.asarray(y_test))), [sorted(grid)[best]], predictions
    )
