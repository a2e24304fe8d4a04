"""Semantic textual similarity: SimCSE's STS protocol on the SentEval files, without torch.

The score of a pair is the cosine of its two embeddings; a task's number is Spearman's
rank correlation with the gold scores, ×100 (``scipy.stats.spearmanr``, average ranks for
ties). For STS12-16 the headline is SentEval's ``all`` aggregation: the subsets of a year
concatenated into one list, one Spearman; the plain ``mean`` and pair-weighted ``wmean``
of the per-subset Spearmans are reported beside it. STS-B and SICK-R use their test sets.
Pairs with a blank gold line are skipped; pair counts are checked against SentEval's.

Example:
    >>> from simcse_sdk import Encoder
    >>> from simcse_sdk.evaluation import evaluate_sts
    >>> enc = Encoder("my-model")                                  # doctest: +SKIP
    >>> print(evaluate_sts(enc.encode, "/data").table())          # doctest: +SKIP
    | STS12 | STS13 | STS14 | STS15 | STS16 | STS-B | SICK-R | Avg. |
    ...
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
from scipy.stats import spearmanr

from .arguments import check_evaluation_args, check_tasks
from .data.senteval import EXPECTED_PAIRS, Counts, DataDirArg, PairSet, load_pairs
from .encoding import Encode, embed, pair_cosine
from .results import DevResult, StsResult, TaskScore
from .tasks import STS_TASKS, resolve_tasks

logger = logging.getLogger(__name__)


def spearman100(system: Sequence[float] | np.ndarray, gold: Sequence[float] | np.ndarray) -> float:
    """Spearman's rho ×100 (NaN when either side is constant)."""
    if len(system) < 2:
        return math.nan
    with warnings.catch_warnings():  # a constant input gives NaN, and says so: NaN is the answer here
        warnings.simplefilter("ignore")
        rho = spearmanr(np.asarray(system, dtype=np.float64), np.asarray(gold, dtype=np.float64))[0]
    return float(rho) * 100


def pair_scores(
    encode: Encode, subsets: Sequence[PairSet], progress: bool = False, desc: str = ""
) -> list[np.ndarray]:
    """Cosine of each pair of each subset, encoding every distinct sentence of all subsets once."""
    sentences = [s for sub in subsets for s in (*sub.first, *sub.second)]
    emb = embed(encode, sentences, progress=progress, desc=desc or "encoding")
    out: list[np.ndarray] = []
    at = 0
    for sub in subsets:
        n = len(sub)
        out.append(pair_cosine(emb[at : at + n], emb[at + n : at + 2 * n]))
        at += 2 * n
    return out


def aggregate(task: str, subsets: Sequence[PairSet], scores: Sequence[np.ndarray]) -> TaskScore:
    """SentEval's aggregation of subset scores: ``all`` (concatenated), ``mean``, ``wmean``.

    With one subset (STS-B, SICK-R) the three coincide and only the headline is kept.
    """
    per = {sub.name: (spearman100(s, sub.gold), len(sub)) for sub, s in zip(subsets, scores, strict=True)}
    pairs = sum(n for _, n in per.values())
    headline = spearman100(np.concatenate(list(scores)), np.concatenate([s.gold for s in subsets]))
    if len(subsets) == 1:
        return TaskScore(task, headline, pairs)
    values = np.array([v for v, _ in per.values()])
    weights = np.array([n for _, n in per.values()], dtype=np.float64)
    return TaskScore(
        task,
        headline,
        pairs,
        mean=float(np.mean(values)),
        wmean=float(np.average(values, weights=weights)),
        subsets=per,
    )


def evaluate_sts(
    encode: Encode,
    data_dir: DataDirArg = None,
    tasks: Iterable[str] | str | None = None,
    progress: bool = True,
    *,
    expected_pairs: Counts = EXPECTED_PAIRS,
) -> StsResult:
    """Score ``encode`` on STS12-16, STS-B test and SICK-R test (or the ``tasks`` named).

    Args:
        encode: sentences → (N, D) embeddings, in input order.
        data_dir: the data directory (``None``: ``$SIMCSE_DATA_DIR``).
        tasks: task names (``STS12``..``STS16``, ``STS-B``, ``SICK-R``; case-insensitive),
            ``None`` for all seven.
        progress: show a tqdm bar per task while encoding (if tqdm is installed).
        expected_pairs: scored-pair counts to assert, keyed by ``(task, "test")``; the default
            holds SentEval's counts. Only tests on hand-made data should pass another.

    Raises:
        TaskError: an unknown task name.
        DataDirError: a task folder or file is missing.
        DataFormatError: a pair count differs from the expected one.
    """
    check_evaluation_args(encode, data_dir, progress)
    names = resolve_tasks(check_tasks(tasks), STS_TASKS, "STS")
    data = {name: load_pairs(data_dir, name, "test", expected_pairs) for name in names}
    start = time.perf_counter()
    results: dict[str, TaskScore] = {}
    sentences = 0
    for name, subsets in data.items():
        t0 = time.perf_counter()
        scores = pair_scores(encode, subsets, progress=progress, desc=name)
        sentences += len({s for sub in subsets for s in (*sub.first, *sub.second)})
        results[name] = aggregate(name, subsets, scores)
        logger.info(
            "%s: %.2f (%d pairs, %.1f s)",
            name,
            results[name].spearman,
            results[name].pairs,
            time.perf_counter() - t0,
        )
    return StsResult(results, wall_s=time.perf_counter() - start, sentences=sentences)


def evaluate_dev(encode: Encode, data_dir: DataDirArg = None, progress: bool = False) -> DevResult:
    """Dev-mode scores for model selection: STS-B dev and SICK-R trial Spearman ×100.

    The files are parsed once per process (cached by path); both sets are encoded in one
    pass over their distinct sentences.

    Example:
        >>> r = evaluate_dev(model.encode, "/data")                # doctest: +SKIP
        >>> round(r.stsb, 1), round(r.sickr, 1)                     # doctest: +SKIP
        (87.0, 78.9)
    """
    check_evaluation_args(encode, data_dir, progress)
    start = time.perf_counter()
    stsb = load_pairs(data_dir, "STS-B", "dev")
    sickr = load_pairs(data_dir, "SICK-R", "dev")
    scores = pair_scores(encode, [*stsb, *sickr], progress=progress, desc="dev")
    return DevResult(
        stsb=aggregate("STS-B", stsb, scores[:1]).spearman,
        sickr=aggregate("SICK-R", sickr, scores[1:]).spearman,
        wall_s=time.perf_counter() - start,
    )
