"""Multinomial logistic regression with an L2 penalty, fitted by L-BFGS (numpy + scipy only).

The objective is scikit-learn's ``LogisticRegression(C=...)`` (SentEval's classifier with
``usepytorch=False``) on the raw features, divided by the number of rows n:

    mean_i cross_entropy(softmax(x_i W + b), y_i) + ||W||² / (2 C n)

The bias is not penalised. For the optimiser only, the rows are centred and divided by one
global scale (the RMS of the centred features), with the penalty rescaled to match, so the
minimiser, and the meaning of C, stay exactly those of the raw problem, while the gradient
tolerance means the same for embeddings of any norm. No per-feature standardisation: with
it, SentEval's C grids regularise too weakly (the smallest C won nearly every fold, and
MRPC, TREC and CR lost 0.4 to 4.5 points with all-MiniLM-L6-v2).

Products run in float32, the optimiser in float64. ``fit`` takes a warm start, used when
sweeping C. When ``threadpoolctl`` is installed (optional), fits run with one BLAS thread:
the products are thin (n×d by d×k), and a multi-threaded OpenBLAS on a busy 2-core machine
made them ~15x slower.

Example:
    >>> import numpy as np
    >>> from simcse_sdk.evaluation.classifier.logreg import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)); y = (X[:, 0] > 0).astype(int)
    >>> clf = LogisticRegression(c=10.0).fit(X, y)
    >>> clf.score(X, y) > 0.95
    True
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
from scipy.optimize import minimize


def one_blas_thread() -> AbstractContextManager[Any]:
    """Limit BLAS to one thread while in the block, if ``threadpoolctl`` is installed; else do nothing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class LogisticRegression:
    """L2-penalised multinomial logistic regression (see the module docstring for the objective).

    Args:
        c: inverse regularisation strength, as scikit-learn's ``C``.
        max_iter: L-BFGS iterations at most.
        tol: stop when the largest gradient component (in the centred, globally scaled
            coordinates) is below this. scikit-learn's 1e-4 is too loose for this row-averaged
            loss: a fit warm-started from a neighbouring C would stop at once, and C would not
            change the model; 1e-5 costs about 1.5 times the iterations.

    After ``fit``: ``coef_`` (d, k) and ``intercept_`` (k,) act on the raw features.
    """

    def __init__(self, c: float = 1.0, max_iter: int = 300, tol: float = 1e-5) -> None:
        if c <= 0:
            raise ValueError(f"c must be positive, got {c}")
        self.c = c
        self.max_iter = max_iter
        self.tol = tol
        self.classes_: np.ndarray = np.zeros(0, dtype=np.int64)
        self.coef_: np.ndarray = np.zeros((0, 0))
        self.intercept_: np.ndarray = np.zeros(0)
        self.n_iter_ = 0

    def fit(
        self, X: np.ndarray, y: np.ndarray, warm_start: LogisticRegression | None = None
    ) -> LogisticRegression:
        """Fit on rows ``X`` (n, d) and labels ``y`` (n,); returns ``self``.

        ``warm_start``: a model fitted on similar rows (another ``c``, a neighbouring fold) to start from.
        """
        y = np.asarray(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        X32 = np.asarray(X, dtype=np.float32)
        mean = X32.mean(axis=0)
        Z = np.ascontiguousarray(X32 - mean)
        scale = float(np.sqrt(np.mean(np.square(Z, dtype=np.float64)))) or 1.0
        Z /= np.float32(scale)
        n, d = Z.shape
        k = len(self.classes_)
        onehot = np.zeros((n, k), dtype=np.float64)
        onehot[np.arange(n), codes] = 1.0
        # logits = x W + b = z (scale W) + (b + mean W): optimise V = scale W, penalty ||W||² = ||V||² / scale²
        lam = 1.0 / (self.c * n * scale * scale)

        def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            V = theta[: d * k].reshape(d, k)
            b = theta[d * k :]
            logits = (Z @ V.astype(np.float32)).astype(np.float64) + b
            logits -= logits.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(logits).sum(axis=1))
            loss = float(np.mean(log_norm - (logits * onehot).sum(axis=1))) + 0.5 * lam * float(np.sum(V * V))
            resid = (np.exp(logits - log_norm[:, None]) - onehot) / n
            grad_v = (Z.T @ resid.astype(np.float32)).astype(np.float64) + lam * V
            return loss, np.concatenate([grad_v.ravel(), resid.sum(axis=0)])

        theta0 = np.zeros(d * k + k)
        if warm_start is not None and warm_start.coef_.shape == (d, k):
            W0 = warm_start.coef_
            theta0 = np.concatenate(
                [(scale * W0).ravel(), warm_start.intercept_ + mean.astype(np.float64) @ W0]
            )
        with one_blas_thread():
            res = minimize(
                loss_grad,
                theta0,
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": self.max_iter, "gtol": self.tol},
            )
        self.coef_ = res.x[: d * k].reshape(d, k) / scale
        self.intercept_ = res.x[d * k :] - mean.astype(np.float64) @ self.coef_
        self.n_iter_ = int(res.nit)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Logits, (n, n_classes)."""
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most likely class of each row."""
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy in [0, 1]."""
        return float(np.mean(self.predict(X) == np.asarray(y)))
