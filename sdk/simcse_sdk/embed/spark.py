"""Spark recipe: embed a DataFrame's text column with ``pyspark.ml.functions.predict_batch_udf``.

Each Spark Python worker loads one :class:`~simcse_sdk.Encoder` from the model directory (a path every
executor can read; ship it with ``--files``/``--archives`` or a shared file system) the first time
it runs the UDF and keeps it for later batches. Needs pyspark >= 3.4 with pandas and pyarrow: the ``spark``
extra (``pip install 'simcse-sdk[spark]'``), and Java for Spark itself.

Example:
    >>> from simcse_sdk.spark import embedding_udf
    >>> embed = embedding_udf("models/minilm", batch_size=256)                  # doctest: +SKIP
    >>> df.withColumn("embedding", embed("text")).write.parquet("embeddings/")  # doctest: +SKIP

The same with pyspark's own API, when you want its other options:
    >>> from pyspark.ml.functions import predict_batch_udf                       # doctest: +SKIP
    >>> from pyspark.sql.types import ArrayType, FloatType                       # doctest: +SKIP
    >>> embed = predict_batch_udf(make_predict_fn("models/minilm"),
    ...                           return_type=ArrayType(FloatType()), batch_size=256)   # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..encoder import Encoder
from ..errors import InputError, MissingExtraError
from ..model.manifest import MANIFEST_NAME

logger = logging.getLogger(__name__)


__all__ = ["make_predict_fn", "embedding_udf"]

def make_predict_fn(model_dir: str | os.PathLike[str], normalize: bool = False, variant: str = "auto",
                    device: str = "cpu", threads: int | None = None) -> Callable[[], Callable[[np.ndarray], np.ndarray]]:
    """A picklable ``make_predict_fn`` for ``predict_batch_udf``: loads the Encoder, returns ``predict``.

    ``predict`` takes a 1-d array of texts and returns (rows, dim) float32. ``variant="auto"`` is measured
    once, here on the driver, when it can read the model directory, and every worker runs that variant;
    workers measuring on their own could choose differently and mix two graphs in one column.
    """
    if variant == "auto":
        if (Path(model_dir) / MANIFEST_NAME).is_file():
            variant = Encoder(model_dir, device=device, threads=threads).variant
            logger.info("embedding with variant %r of %s on every worker (measured here)", variant, model_dir)
        else:
            logger.warning("%s is not readable here, so each Spark worker measures variant='auto' on its own and "
                           "workers may choose differently: pass variant= to pin one.", model_dir)
    return functools.partial(_load, os.fspath(model_dir), normalize, variant, device, threads)


def _load(model_dir: str, normalize: bool, variant: str, device: str, threads: int | None
          ) -> Callable[[np.ndarray], np.ndarray]:
    encoder = Encoder(model_dir, device=device, variant=variant, threads=threads)

    def predict(texts: np.ndarray) -> np.ndarray:
        items = texts.tolist()
        if any(t is None for t in items):
            raise InputError("the text column holds nulls: drop or fill them first, e.g. df.na.fill({'text': ''}).")
        return encoder.encode(items, normalize=normalize)  # (rows, dim) float32

    return predict


def embedding_udf(model_dir: str | os.PathLike[str], batch_size: int = 256, **kwargs: Any) -> Any:
    """A Spark UDF: text column in, ``array<float>`` embedding out (``kwargs`` as for :func:`make_predict_fn`).

    Raises :class:`~simcse_sdk.errors.MissingExtraError` when pyspark >= 3.4 is not installed."""
    try:
        from pyspark.ml.functions import predict_batch_udf
        from pyspark.sql.types import ArrayType, FloatType
    except ImportError as e:
        raise MissingExtraError(f"embedding_udf needs pyspark >= 3.4 with pandas and pyarrow, and {_missing(e)}: "
                                "pip install 'simcse-sdk[spark]' (or pip install 'pyspark>=3.4' pandas pyarrow).") from e

    return predict_batch_udf(make_predict_fn(model_dir, **kwargs), return_type=ArrayType(FloatType()),
                             batch_size=batch_size)


def _missing(e: ImportError) -> str:
    """What the failed import lacked, in words."""
    module = (e.name or "pyspark").split(".")[0]
    if module != "pyspark":
        return f"{module} is not installed"
    try:
        from pyspark import __version__ as version
    except ImportError:
        return "pyspark is not installed"
    return f"pyspark {version} has no predict_batch_udf"
