"""Transfer tasks: logistic regression on frozen embeddings, SentEval's protocols, no torch or sklearn.

| task | protocol (:mod:`~simcse_sdk.evaluation.classifier.crossval`) | C grid |
|---|---|---|
| MR, CR, SUBJ, MPQA | ``k``-fold CV, C by ``inner_k``-fold CV inside each training part | 2^-2..2^3 |
| SST-2 | C chosen on dev, accuracy on test | 2^-2..2^3 |
| TREC | C by ``k``-fold CV on train, accuracy on test | 2^-1..2^5 |
| MRPC | as TREC, features ``[abs(u - v), u * v]`` (SentEval's) | 2^-1..2^5 |

The classifier is :class:`~simcse_sdk.evaluation.classifier.logreg.LogisticRegression` (SentEval's
scikit-learn path; SimCSE ran SentEval's PyTorch path with Adam, so numbers differ from
the paper's). The features are the raw embeddings, as in SentEval (see the logreg module
on why they are not standardised per feature).
SentEval (and SimCSE) use ``k = inner_k = 10``; the inner CV dominates the cost, so
``inner_k`` defaults to 5 here (pass ``inner_k=10`` for SentEval's exact protocol).
Folds are stratified and seeded by ``seed``, but drawn by numpy rather than scikit-learn.

all-MiniLM-L6-v2 (sentence-transformers, CPU, seed 1111, ``inner_k=5``) scores
MR 76.30, CR 82.60, SUBJ 92.39, MPQA 87.50, SST 81.55, TREC 90.00, MRPC 72.58 (avg 83.27);
the classifiers take about 5 minutes on 2 busy cores, encoding the ~108k distinct sentences far longer.

Example:
    >>> from simcse_sdk.evaluation import evaluate_transfer
    >>> r = evaluate_transfer(model.encode, "/data", tasks=["MR", "TREC"])   # doctest: +SKIP
    >>> print(r.table())                                                     # doctest: +SKIP
    | MR | TREC | Avg. |
    ...
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import numpy as np

from .arguments import check_evaluation_args, check_folds, check_tasks
from .classifier.crossval import GRID_INNER, GRID_KFOLD, Selection, inner_kfold, kfold_then_test, split_select
from .data.senteval import DataDirArg
from .data.transfer_data import Labelled, TransferData, load_transfer
from .encoding import Encode, embed
from .results import TransferResult, TransferScore
from .tasks import TRANSFER_TASKS, resolve_tasks

logger = logging.getLogger(__name__)


def features(encode: Encode, rows: Labelled, progress: bool, desc: str) -> np.ndarray:
    """Embeddings of single sentences, or ``[abs(u - v), u * v]`` for sentence pairs."""
    if rows.second is None:
        return embed(encode, rows.first, progress=progress, desc=desc)
    n = len(rows.first)
    emb = embed(encode, [*rows.first, *rows.second], progress=progress, desc=desc)
    u, v = emb[:n], emb[n:]
    return np.concatenate([np.abs(u - v), u * v], axis=1)


def binary_f1(predictions: np.ndarray, labels: np.ndarray) -> float:
    """F1 of the positive class (label 1), in [0, 1]."""
    tp = float(np.sum((predictions == 1) & (labels == 1)))
    denom = float(np.sum(predictions == 1) + np.sum(labels == 1))
    return 2 * tp / denom if denom else 0.0


def run_task(
    encode: Encode,
    data: TransferData,
    seed: int = 1111,
    k: int = 10,
    inner_k: int = 5,
    progress: bool = False,
) -> TransferScore:
    """Embed one task's splits and run its protocol; returns its :class:`TransferScore` (×100)."""
    X = features(encode, data.train, progress, f"{data.task} train")
    y = data.train.labels
    f1: float | None = None
    if data.test is None:
        sel: Selection = inner_kfold(X, y, GRID_INNER, k=k, inner_k=inner_k, seed=seed)
        protocol, n_test = f"{k}-fold CV, C by inner {inner_k}-fold CV", len(y)
    elif data.dev is not None:
        X_dev = features(encode, data.dev, progress, f"{data.task} dev")
        X_test = features(encode, data.test, progress, f"{data.task} test")
        sel = split_select(X, y, X_dev, data.dev.labels, X_test, data.test.labels, GRID_INNER)
        protocol, n_test = "C on dev split, test split", len(data.test)
    else:
        X_test = features(encode, data.test, progress, f"{data.task} test")
        sel = kfold_then_test(X, y, X_test, data.test.labels, GRID_KFOLD, k=k, seed=seed)
        protocol, n_test = f"C by {k}-fold CV on train, test split", len(data.test)
        if data.n_classes == 2:
            f1 = 100 * binary_f1(sel.predictions, data.test.labels)
    return TransferScore(
        task=data.task,
        accuracy=100 * sel.test,
        dev_accuracy=100 * sel.dev,
        n_train=len(y),
        n_test=n_test,
        protocol=protocol,
        c=sel.c,
        f1=f1,
    )


def evaluate_transfer(
    encode: Encode,
    data_dir: DataDirArg = None,
    tasks: Iterable[str] | str | None = None,
    seed: int = 1111,
    progress: bool = True,
    *,
    k: int = 10,
    inner_k: int = 5,
) -> TransferResult:
    """Score ``encode`` on the transfer tasks (all seven, or those named in ``tasks``).

    Args:
        encode: sentences → (N, D) embeddings, in input order.
        data_dir: the data directory (``None``: ``$SIMCSE_DATA_DIR``).
        tasks: ``MR, CR, SUBJ, MPQA, SST2, TREC, MRPC`` (case-insensitive; ``SST-2`` too), or ``None``.
        seed: seeds the fold assignment.
        progress: tqdm bars while encoding (if tqdm is installed).
        k: outer fold count (see the module docstring).
        inner_k: inner fold count, for choosing the regularisation.

    Raises:
        TaskError: an unknown task name.
        DataDirError: a task folder or file is missing.
        DataFormatError: a row count differs from SentEval's.
    """
    check_evaluation_args(encode, data_dir, progress)
    check_folds(seed, k, inner_k)
    names = resolve_tasks(check_tasks(tasks), TRANSFER_TASKS, "transfer")
    data = {name: load_transfer(data_dir, name) for name in names}
    start = time.perf_counter()
    scores: dict[str, TransferScore] = {}
    for name, task_data in data.items():
        t0 = time.perf_counter()
        scores[name] = run_task(encode, task_data, seed=seed, k=k, inner_k=inner_k, progress=progress)
        logger.info("%s: %.2f (%.1f s)", name, scores[name].accuracy, time.perf_counter() - t0)
    return TransferResult(scores, wall_s=time.perf_counter() - start, seed=seed)
