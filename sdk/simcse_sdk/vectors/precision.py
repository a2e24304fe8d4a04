"""Compact outputs: scalar int8 with the export's calibrated scale, and packed sign bits (``ubinary``).

``int8``: each unit vector (of the chosen size) times ``127 / scale``, rounded and clipped to [-127, 127].
``scale`` is the largest absolute component seen in the export's calibration sentences' unit vectors of that
size (``manifest.output_scales["int8"][size - 1]``). One scale a size, not one per component, so an int8 dot
product is the float dot product times one constant: any vector store's int8 inner product ranks as the
cosine does, and the cosine of two int8 vectors (as numbers) estimates theirs.

``ubinary``: one bit a component (1 where it is positive), packed 8 to a byte (``np.packbits``; uint8, last
byte zero-padded). Two such vectors differing in ``h`` of ``b`` bits are about ``pi * h / b`` radians apart
(random-hyperplane hashing), so :func:`bits_cosine` scores ``cos(pi * h / b)``: it ranks as Hamming distance.

Example:
    >>> import numpy as np
    >>> x = np.array([[0.6, -0.8]], np.float32)
    >>> to_int8(x, 0.8).tolist(), pack_bits(x).tolist(), bytes_per_vector(384, "ubinary")
    ([[95, -127]], [[128]], 48)
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError


def bytes_per_vector(dimensions: int, output: str) -> int:
    """Bytes one vector of ``dimensions`` takes as ``output`` (float32, int8 or ubinary)."""
    return {"float32": 4 * dimensions, "int8": dimensions, "ubinary": (dimensions + 7) // 8}[output]


def int8_scales(emb: np.ndarray) -> list[float]:
    """For each size d = 1..dim: the largest |component| of the renormalised d-prefixes of ``emb`` (n, dim)."""
    x = np.asarray(emb, dtype=np.float64)  # (n, dim)
    norms = np.sqrt(np.cumsum(x * x, axis=1))  # (n, dim): norm of each prefix
    running_max = np.maximum.accumulate(np.abs(x), axis=1)  # (n, dim): largest |x_j|, j <= d
    return [round(float(s), 6) for s in (running_max / np.maximum(norms, 1e-12)).max(axis=0)]


def to_int8(unit: np.ndarray, scale: float) -> np.ndarray:
    """Unit vectors (n, d) as scalar int8 (n, d): ``round(x * 127 / scale)``, clipped to [-127, 127]."""
    if not scale > 0:
        raise InvalidArgumentError(f"the int8 scale must be positive, got {scale!r}: re-export the model.")
    return np.clip(np.rint(unit * (127.0 / scale)), -127, 127).astype(np.int8)


def pack_bits(emb: np.ndarray) -> np.ndarray:
    """Sign bits of ``emb`` (n, d), packed: (n, ceil(d / 8)) uint8."""
    return np.packbits(np.asarray(emb) > 0, axis=1)


def bits_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``cos(pi * hamming / bits)`` between every packed row of ``a`` (n, B) and of ``b`` (m, B): (n, m) float32."""
    bits = 8 * a.shape[1]
    ham = np.zeros((len(a), len(b)), dtype=np.int64)  # (n, m)
    step = max(1, (1 << 22) // max(1, a.shape[1] * len(b)))  # rows of a per pass: ~4 M bytes of xor at a time
    for start in range(0, len(a), step):
        xor = np.bitwise_xor(a[start : start + step, None, :], b[None, :, :])  # (rows, m, B)
        ham[start : start + step] = np.bitwise_count(xor).sum(axis=2, dtype=np.int64)
    return np.cos(np.pi * ham / bits).astype(np.float32)


def bits_pairwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``cos(pi * hamming / bits)`` of row i of ``a`` with row i of ``b`` (both (n, B) packed): (n,) float32."""
    ham = np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=1, dtype=np.int64)  # (n,)
    return np.cos(np.pi * ham / (8 * a.shape[1])).astype(np.float32)
