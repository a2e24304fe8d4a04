"""From the model's float32 vectors to what the caller asked for: size, normalisation, output type.

Example:
    >>> import numpy as np
    >>> shaper = OutputShaper(full=3, trained=[], int8_scales=[1.0, 1.0, 1.0], where="m")
    >>> shaper.shape(np.array([[3.0, 4.0, 0.0]], np.float32), dimensions=None, output="int8", normalize=False).tolist()
    [[76, 102, 0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidArgumentError
from .dimensions import SizeNotice, cut, unit
from .precision import pack_bits, to_int8


class OutputShaper:
    """Cuts, renormalises and quantises one model's vectors (see :mod:`simcse_sdk.vectors`)."""

    def __init__(self, full: int, trained: Sequence[int], int8_scales: Sequence[float] | None, where: str) -> None:
        self.full = full  # the model's embedding size
        self.int8_scales = list(int8_scales) if int8_scales else None  # manifest.output_scales["int8"]: sizes 1..full
        self.where = where  # the model directory, for messages
        self.notice = SizeNotice(trained, full, where)

    def shape(self, emb: np.ndarray, dimensions: int | None, output: str, normalize: bool) -> np.ndarray:
        """``emb`` (n, full) float32 as (n, dimensions) ``output`` (arguments already checked).

        Asked for a size, every row is renormalised, the full size too (as OpenAI's ``dimensions``: unit rows
        whatever the size); int8 and ubinary start from unit vectors (the int8 scale is calibrated on unit vectors;
        packed bits do not depend on the norm).
        """
        d = dimensions or self.full
        if d < self.full:
            self.notice.check(d)
            emb = cut(emb, d)  # (n, d), unit rows
        elif dimensions is not None or normalize or output == "int8":
            emb = unit(emb)
        if output == "int8":
            if self.int8_scales is None or len(self.int8_scales) != self.full:
                raise InvalidArgumentError(f"output='int8' needs the int8 scales an export of this version writes; "
                                           f"{self.where} has none: re-export the model with `python -m export`.")
            return to_int8(emb, self.int8_scales[d - 1])
        if output == "ubinary":
            return pack_bits(emb)
        return emb
