"""The accuracy check on the CPU that serves: each variant against fp32, here, on fixed sentences.

The export gate measures every variant against torch on the export machine. What a quantised
graph computes can depend on the CPU that runs it: onnxruntime's u8 x s8 kernel on AVX2-only
CPUs sums products in saturating int16, so an int8 file with 8-bit weights, gated on a VNNI or
AMX machine, gives other (worse) embeddings on an AVX2 machine, and no export-time check can see
it (see :mod:`export.quantize`). So before ``variant="auto"`` picks a variant, it embeds
:data:`~simcse_sdk.autotune.sentences.CHECK` with it and with the reference variant :data:`REFERENCE` (float32, the one the
gate ties to torch) on this machine, and leaves out one whose minimum cosine falls below the
threshold its export gate applied (recorded in the manifest, else :data:`DEFAULT_MIN_COS`). An
explicit ``variant=`` is checked the same way, once per model and machine (cached), and only
warned about. ``Encoder.describe()`` shows the figures.

Example:
    >>> import numpy as np
    >>> ref = np.eye(3, dtype=np.float32)
    >>> compare("int8", ref * 2.0, ref, 0.95).passed      # same directions: cosine 1
    True
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from ..model.manifest import Variant

logger = logging.getLogger(__name__)

REFERENCE = "fp32"  # the variant every other one is compared with on this machine

# The export gate's default minimum cosine to torch, per variant (export.gate.Thresholds reads these): the
# threshold for manifests that do not record the one their gate applied.
DEFAULT_MIN_COS = {"fp32": 0.99999, "fp16": 0.999, "int8": 0.95, "ov-fp32": 0.99999, "ov-bf16": 0.999,
                   "ov-int8": 0.95}
DEFAULT_MAX_STS_DROP = {"fp32": 0.05, "fp16": 0.1, "int8": 0.5, "ov-fp32": 0.05, "ov-bf16": 0.1, "ov-int8": 0.5}
BATCH = 8  # sentences a batch in the check



@dataclass
class AccuracyCheck:
    """One variant's embeddings of :data:`~simcse_sdk.autotune.sentences.CHECK` on this machine against :data:`REFERENCE`'s."""

    variant: str
    min_cos: float
    mean_cos: float
    threshold: float  # the export gate's minimum cosine for this variant
    sentences: int

    @property
    def passed(self) -> bool:
        return self.min_cos >= self.threshold

    def describe(self) -> str:
        verdict = "ok" if self.passed else "BELOW the export gate's threshold"
        return (f"{self.variant} min cos {self.min_cos:.4f} to {REFERENCE} here on {self.sentences} sentences "
                f"(gate >= {self.threshold:g}: {verdict})")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def threshold(name: str, variant: Variant) -> float:
    """The minimum cosine variant ``name``'s export gate applied (as recorded in its manifest entry)."""
    recorded = variant.gate.get("threshold_min_cos")
    if isinstance(recorded, (int, float)) and not isinstance(recorded, bool):
        return float(recorded)
    return DEFAULT_MIN_COS.get(name, DEFAULT_MIN_COS["int8"])


def needs_check(name: str) -> bool:
    """Every variant but the reference is checked against it."""
    return name != REFERENCE


def compare(name: str, emb: np.ndarray, reference: np.ndarray, min_cos: float) -> AccuracyCheck:
    """Row-wise cosine of ``emb`` (n, dim) to ``reference`` (n, dim)."""
    a = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    b = reference / np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-12)
    cos = np.einsum("nd,nd->n", a.astype(np.float64), b.astype(np.float64))  # (n,)
    check = AccuracyCheck(name, round(float(cos.min()), 6), round(float(cos.mean()), 6), min_cos, len(cos))
    logger.info("accuracy on this machine: %s", check.describe())
    return check


class Embedder(Protocol):
    """What the check needs of a candidate (an :class:`~simcse_sdk.autotune.Candidate`)."""

    @property
    def name(self) -> str: ...
    @property
    def encode(self) -> Callable[[list[np.ndarray], int | None], np.ndarray]: ...
    @property
    def open(self) -> list[Callable[[], object]]: ...
    @property
    def close(self) -> Callable[[], None]: ...


def reference_embeddings(reference: Embedder | None, ids: Sequence[np.ndarray], keep_open: bool) -> np.ndarray | None:
    """The reference's embeddings of ``ids``; None (nothing is checked) when there is none or it cannot run here.

    Its sessions stay open only with ``keep_open`` (it is measured next anyway)."""
    if reference is None:
        return None
    try:
        for opener in reference.open:
            opener()
        return reference.encode(list(ids), BATCH)
    except Exception as e:  # the reference itself does not run here: the candidates cannot be checked
        logger.warning("accuracy not checked on this machine: the reference %s does not run here (%s: %s)",
                       reference.name, type(e).__name__, e)
        return None
    finally:
        if not keep_open:
            reference.close()


def from_dict(raw: dict[str, object]) -> AccuracyCheck:
    """An :class:`AccuracyCheck` read back from a cache file."""
    return AccuracyCheck(str(raw["variant"]), float(raw["min_cos"]), float(raw["mean_cos"]),  # type: ignore[arg-type]
                         float(raw["threshold"]), int(raw["sentences"]))  # type: ignore[arg-type,call-overload]
