"""Evaluation of sentence embeddings: SimCSE's STS protocol, dev mode, transfer tasks, alignment/uniformity.

Every evaluation takes an ``encode`` function (sentences → (N, D) array) and the data
directory in SentEval's layout (``--data-dir``, else ``$SIMCSE_DATA_DIR``; see
:mod:`simcse_sdk.evaluation.data.datadir`). The STS, dev and alignment parts need only numpy and scipy;
nothing here imports torch, transformers or scikit-learn. Run ``python -m
simcse_sdk.evaluation --help`` for the command line.

Owns the protocols (:mod:`.sts`, :mod:`.transfer`, :mod:`.alignment`), their data (:mod:`.data`), the
transfer classifier (:mod:`.classifier`), task names and results. May import the Encoder (the command line
only) and the core rooms, never the server or the bulk job.

Example:
    >>> from simcse_sdk import Encoder
    >>> from simcse_sdk.evaluation import evaluate_sts, evaluate_dev
    >>> enc = Encoder("my-model")                          # doctest: +SKIP
    >>> print(evaluate_sts(enc.encode, "/data").table())  # doctest: +SKIP
    >>> evaluate_dev(enc.encode, "/data").stsb            # doctest: +SKIP
"""

from __future__ import annotations

from .alignment import AlignmentUniformity, alignment_uniformity
from .encoding import Encode
from .errors import DataFormatError, EncodeOutputError, TaskError
from .results import DevResult, StsResult, TaskScore, TransferResult, TransferScore
from .sts import evaluate_dev, evaluate_sts
from .tasks import STS_TASKS, TRANSFER_TASKS
from .transfer import evaluate_transfer

__all__ = [
    "Encode",
    "evaluate_sts",
    "evaluate_dev",
    "evaluate_transfer",
    "alignment_uniformity",
    "StsResult",
    "TaskScore",
    "DevResult",
    "TransferResult",
    "TransferScore",
    "AlignmentUniformity",
    "TaskError",
    "DataFormatError",
    "EncodeOutputError",
    "STS_TASKS",
    "TRANSFER_TASKS",
]
