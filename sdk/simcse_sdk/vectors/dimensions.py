"""Matryoshka sizes: a requested ``dimensions`` checked, vectors cut to it and renormalised.

A model trained with ``--matryoshka-dims`` records its trained sizes in the manifest (``trained_dims``); any
size from 1 to the full one works, but a size that was not trained loses more quality, so it is logged once.

Example:
    >>> import numpy as np
    >>> cut(np.array([[3.0, 4.0, 12.0]], np.float32), 2).tolist()
    [[0.6000000238418579, 0.800000011920929]]
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Sequence

import numpy as np

from ..errors import InputError, InvalidArgumentError

logger = logging.getLogger(__name__)

OUTPUTS = ("float32", "int8", "ubinary")  # float32 vectors, scalar int8, packed sign bits (uint8)


def sizes_arg(text: str) -> list[int]:
    """``"384,128,64"`` -> [384, 128, 64]: the argparse type of every command's list of sizes."""
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        sizes = []
    if not sizes:
        raise argparse.ArgumentTypeError(f"expected sizes separated by commas, e.g. 384,256,128,64; got {text!r}")
    return sizes


def outputs_arg(text: str) -> list[str]:
    """``"float32,int8"`` -> ["float32", "int8"]: the argparse type of a list of output types."""
    kinds = [x.strip() for x in text.split(",") if x.strip()]
    if not kinds or any(k not in OUTPUTS for k in kinds):
        raise argparse.ArgumentTypeError(f"output types are {', '.join(OUTPUTS)} (joined by commas); got {text!r}")
    return kinds


def check_dimensions(dimensions: object, full: int) -> int | None:
    """``dimensions`` as an int in 1..``full``, or None; else an error naming the value and the range."""
    if dimensions is None:
        return None
    if isinstance(dimensions, bool) or not isinstance(dimensions, (int, np.integer)):
        raise InputError(f"dimensions must be an int from 1 to {full}, or None; got {type(dimensions).__name__} "
                         f"{dimensions!r:.40}.")
    if not 1 <= dimensions <= full:
        raise InvalidArgumentError(f"dimensions={dimensions} is out of range: this model's vectors have {full} "
                                   f"dimensions; ask for 1..{full}.")
    return int(dimensions)


def check_output(output: object, size: int | None = None, full: int | None = None) -> str:
    """``output`` as one of :data:`OUTPUTS`; else an error listing them. With ``size``, ``"ubinary"`` needs a
    multiple of 8 (8 bits a byte: a padded byte would be scored as if its zero bits were components); the sizes
    the error suggests are at most ``full``, the model's own size, when given."""
    if not isinstance(output, str) or output not in OUTPUTS:
        raise InvalidArgumentError(f"output must be one of {', '.join(OUTPUTS)}; got {output!r:.40}.")
    if output == "ubinary" and size is not None and size % 8:
        near = [d for d in (size // 8 * 8 + 8, size // 8 * 8) if 0 < d <= (full or d)]
        fix = "ask for dimensions=" + " or ".join(map(str, near)) if near else "use output='float32' or 'int8'"
        raise InvalidArgumentError(f"output='ubinary' packs 8 dimensions a byte, and {size} is not a multiple of 8: "
                                   f"{fix}.")
    return output


def unit(emb: np.ndarray) -> np.ndarray:
    """Each row of ``emb`` (n, d) scaled to unit L2 norm (an all-zero row stays zero): (n, d) float32."""
    x = np.asarray(emb, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cut(emb: np.ndarray, dimensions: int) -> np.ndarray:
    """The first ``dimensions`` components of each row of ``emb`` (n, dim), renormalised: (n, dimensions) float32."""
    return unit(np.asarray(emb)[:, :dimensions])


class SizeNotice:
    """Logs once per size that a requested size was not one the model was trained for."""

    def __init__(self, trained: Sequence[int], full: int, where: str) -> None:
        self.trained = list(trained)  # Matryoshka sizes from the manifest; [] for a model trained at full size only
        self.full = full
        self.where = where  # the model directory, for the message
        self._told: set[int] = set()
        self._lock = threading.Lock()

    def check(self, dimensions: int) -> None:
        """Log (once a size) when ``dimensions`` is neither the full size nor a trained one."""
        if dimensions == self.full or dimensions in self.trained:
            return
        with self._lock:
            if dimensions in self._told:
                return
            self._told.add(dimensions)
        if self.trained:
            logger.warning("dimensions=%d was not trained in %s (trained: %s): its vectors lose more quality than "
                           "a trained size's; pick one of those", dimensions, self.where,
                           ", ".join(map(str, [self.full, *[d for d in self.trained if d != self.full]])))
        else:
            logger.warning("%s was trained at %d dimensions only: cutting to %d loses quality (train with "
                           "--matryoshka-dims to make smaller sizes embeddings of their own)", self.where, self.full,
                           dimensions)
