"""Matryoshka sizes: checking them against the model, scoring each prefix, and which one picks ``best/``.

With ``--matryoshka-dims 384,256,128,64`` the loss trains every listed prefix of the vector as an embedding of
its own (:func:`trainer.loss.simcse_loss`); this module scores STS-B dev (and SICK-R trial, alignment and
uniformity) of each prefix, cut and renormalised as the SDK's ``encode(..., dimensions=N)`` cuts it, and says
which score selects the best checkpoint (``--select-dim``, default the largest listed size).

Example:
    >>> import numpy as np
    >>> cut(lambda s: np.array([[3.0, 4.0, 12.0]]), 2)(["x"]).round(2).tolist()
    [[0.6, 0.8]]
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from simcse_sdk.vectors.dimensions import cut as vector_cut

from .config import TrainConfig
from .errors import ConfigError
from .evaluate import Encode, dev_scores, memoized

logger = logging.getLogger(__name__)


def cut(encode: Encode, dim: int) -> Encode:
    """``encode`` whose vectors are cut to their first ``dim`` components and renormalised."""

    def encode_cut(sentences: list[str]) -> np.ndarray:
        return vector_cut(encode(sentences), dim)  # (n, dim): as the SDK's encode(dimensions=dim) cuts

    return encode_cut


def check_sizes(cfg: TrainConfig, encode: Encode) -> int:
    """The model's full embedding size (measured on one sentence); raises unless the Matryoshka sizes start at it.

    The first size must be the full one: the SDK serves the full vector by default, so it must be trained too.
    """
    full = int(encode(["Matryoshka size probe."]).shape[1])
    dims = cfg.matryoshka_dims or []
    if dims and dims[0] != full:
        problem = "is larger than" if dims[0] > full else "leaves untrained the rest of"
        raise ConfigError(
            f"--matryoshka-dims {','.join(map(str, dims))}: {dims[0]} {problem} this model's embedding size "
            f"{full}; list sizes from {full} down, e.g. {','.join(str(full // 2**k) for k in range(4))}"
        )
    return full


def dev_scores_by_size(encode: Encode, cfg: TrainConfig) -> dict[str, Any]:
    """The full vector's dev scores, with ``by_dim`` ({size: scores}) for each Matryoshka size."""
    if not cfg.matryoshka_dims:
        return dev_scores(encode, cfg.data_dir)
    enc = memoized(encode)  # every size cuts the same vectors: embed each sentence once
    scores: dict[str, Any] = dev_scores(enc, cfg.data_dir)
    scores["by_dim"] = {str(d): dev_scores(cut(enc, d), cfg.data_dir) for d in cfg.matryoshka_dims}
    scores["selected_on"] = f"stsb@{cfg.selection_dim}"
    return scores


def selection_score(scores: dict[str, Any], cfg: TrainConfig) -> float:
    """The STS-B dev Spearman that picks ``best/``: at ``cfg.selection_dim``, else of the full vector."""
    if cfg.selection_dim is None:
        return float(scores["stsb"])
    return float(scores["by_dim"][str(cfg.selection_dim)]["stsb"])
