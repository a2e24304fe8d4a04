"""The numpy/scipy logistic regression and SentEval's model-selection protocols."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from simcse_sdk.evaluation.classifier.crossval import (
    GRID_INNER,
    GRID_KFOLD,
    inner_kfold,
    kfold_then_test,
    split_select,
    stratified_folds,
)
from simcse_sdk.evaluation.classifier.logreg import LogisticRegression


def gaussians(n: int, mu: float, d: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes N(±mu e_0, I) in d dims: the Bayes accuracy is Phi(mu)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    X = rng.normal(size=(n, d))
    X[:, 0] += np.where(y == 1, mu, -mu)
    return X * 5.0 + 3.0, y  # an arbitrary scale and offset: the fit's preconditioning absorbs them


def test_separable_multiclass_blobs() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 16)) * 6
    y = rng.integers(0, 4, size=1200)
    X = centres[y] + rng.normal(size=(1200, 16))
    clf = LogisticRegression(c=1.0).fit(X[:800], y[:800])
    assert clf.score(X[800:], y[800:]) >= 0.99
    assert clf.coef_.shape == (16, 4) and set(clf.predict(X[800:])) <= {0, 1, 2, 3}


def test_reaches_bayes_accuracy_on_noisy_gaussians() -> None:
    X, y = gaussians(6000, mu=1.0)
    clf = LogisticRegression(c=1.0).fit(X[:4000], y[:4000])
    assert clf.score(X[4000:], y[4000:]) == pytest.approx(norm.cdf(1.0), abs=0.025)  # 0.841


def test_string_labels_and_warm_start() -> None:
    X, y = gaussians(500, mu=2.0, d=5)
    labels = np.array(["neg", "pos"])[y]
    cold = LogisticRegression(c=4.0, tol=1e-8, max_iter=1000).fit(X, labels)
    warm = LogisticRegression(c=4.0, tol=1e-8, max_iter=1000).fit(
        X, labels, warm_start=LogisticRegression(c=1.0).fit(X, labels)
    )
    assert set(cold.predict(X)) == {"neg", "pos"}
    np.testing.assert_allclose(warm.decision_function(X), cold.decision_function(X), atol=1e-3)


def test_matches_the_penalised_optimum() -> None:
    """At the optimum the gradient of mean CE + ||W||²/(2Cn), on the raw features, vanishes."""
    X, y = gaussians(300, mu=0.5, d=4, seed=3)
    n, c = len(y), 0.5
    clf = LogisticRegression(c=c, tol=1e-10, max_iter=5000).fit(X, y)
    logits = X @ clf.coef_ + clf.intercept_
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(2)[y]
    grad_w = X.T @ (p - onehot) / n + clf.coef_ / (c * n)
    assert np.abs(grad_w).max() < 1e-6
    assert np.abs((p - onehot).mean(0)).max() < 1e-6
    # the same problem on rescaled and shifted features has the same predictions (C keeps its meaning
    # only on the raw scale: the coefficients scale inversely)
    moved = LogisticRegression(c=c, tol=1e-10, max_iter=5000).fit(X - 7.0, y)
    np.testing.assert_allclose(moved.decision_function(X - 7.0), clf.decision_function(X), atol=1e-5)
    # stronger regularisation shrinks the weights
    assert np.linalg.norm(LogisticRegression(c=0.01).fit(X, y).coef_) < np.linalg.norm(clf.coef_)


def test_stratified_folds_partition_and_balance() -> None:
    y = np.array([0] * 30 + [1] * 70 + [2] * 7)
    folds = stratified_folds(y, 10, seed=5)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(y)))
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for f in folds:
        assert 3 <= np.sum(y[f] == 0) <= 3 and 7 <= np.sum(y[f] == 1) <= 7
    assert all((a == b).all() for a, b in zip(folds, stratified_folds(y, 10, seed=5), strict=True))
    with pytest.raises(ValueError):
        stratified_folds(y, 1, seed=0)


def test_protocols_reach_bayes_accuracy() -> None:
    X, y = gaussians(1500, mu=1.0, seed=7)
    bayes = norm.cdf(1.0)
    nested = inner_kfold(X, y, k=5, inner_k=3, seed=1)
    assert nested.test == pytest.approx(bayes, abs=0.04)
    assert len(nested.c) == 5 and set(nested.c) <= set(GRID_INNER)
    kf = kfold_then_test(X[:1000], y[:1000], X[1000:], y[1000:], k=5, seed=1)
    assert kf.test == pytest.approx(bayes, abs=0.05) and kf.c[0] in GRID_KFOLD
    assert kf.predictions.shape == (500,)
    sp = split_select(X[:1000], y[:1000], X[1000:1250], y[1000:1250], X[1250:], y[1250:])
    assert sp.test == pytest.approx(bayes, abs=0.06) and sp.c[0] in GRID_INNER


def test_rejects_bad_c() -> None:
    with pytest.raises(ValueError):
        LogisticRegression(c=0)
