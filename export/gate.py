"""The accuracy gate: every variant is measured against the torch model before it is published.

For each variant the gate embeds a fixed probe set of real sentences — the STS-B dev sentences and a few long
texts made of them when a data directory is available, else a small built-in set that holds a long text too —
with the torch reference and with the ONNX file (the same tokens, through the SDK's own batching), and records the
min and mean cosine between the two and the STS-B dev Spearman difference. A Matryoshka
model (trained sizes in the manifest) is checked at each trained size too, cut and renormalised as the SDK
cuts it: a variant is published only if it passes at every size its manifest promises, and the report lists
each size's figures (int8 can hold at 384 dimensions and not at 64).

Example:
    >>> thresholds = Thresholds()                                      # doctest: +SKIP
    >>> result = check_variant("int8", encode_onnx, reference, thresholds)   # doctest: +SKIP
    >>> result.passed, result.failures                                 # doctest: +SKIP
    (True, [])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from simcse_sdk.autotune.accuracy import DEFAULT_MAX_STS_DROP, DEFAULT_MIN_COS
from simcse_sdk.vectors.dimensions import cut

logger = logging.getLogger(__name__)

Encode = Callable[[list[str]], np.ndarray]

# Used only when no data directory is given: real, varied English sentences.
BUILTIN_PROBES = [
    "A man is playing a guitar on the street.",
    "Someone is playing music outdoors.",
    "The stock market fell sharply on Tuesday after the central bank raised rates.",
    "Shares dropped as interest rates went up.",
    "A child is riding a bicycle down a hill.",
    "Two dogs are running through a field of tall grass.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Please restart the server before applying the update.",
    "Der Hund schläft auf dem Sofa.",
    "",
    "ok",
    "What time does the train to Edinburgh leave tomorrow morning?",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The committee postponed its decision until more evidence was available.",
    "A woman slices an onion in the kitchen.",
    "The quick brown fox jumps over the lazy dog. " * 40,
]


# With a data directory, the probe set also holds this many long texts of this many sentences (about 300 tokens).
LONG_TEXTS, LONG_TEXT_SENTENCES = 8, 24


@dataclass
class Thresholds:
    """What each variant must reach to be published."""

    # smallest allowed cosine to torch over the probe set; the SDK checks it again on the serving CPU
    min_cos: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIN_COS))
    # largest allowed STS-B dev Spearman loss in points, variant vs torch
    max_sts_drop: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MAX_STS_DROP))


@dataclass
class GateResult:
    """One variant's measured accuracy against the torch reference."""

    variant: str
    probes: int  # sentences compared
    probe_set: str  # where they came from
    min_cos: float
    mean_cos: float
    stsb_dev_torch: float | None  # Spearman x100, None without a data directory
    stsb_dev_variant: float | None
    stsb_dev_delta: float | None  # variant - torch, in points
    checked_on: str  # the device the variant ran on for the check
    latency_ms: dict[str, float] = field(default_factory=dict)  # CPU median latency, 1 sentence / batch of 32
    failures: list[str] = field(default_factory=list)
    threshold_min_cos: float | None = None  # the limits applied; the SDK applies min_cos again where it serves
    threshold_max_sts_drop: float | None = None
    by_dim: dict[str, dict[str, float | None]] = field(default_factory=dict)  # trained size -> min/mean cos, STS-B

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "passed": self.passed}


class Recorder:
    """Wraps an encode function, remembering each sentence's embedding (the probe set it saw)."""

    def __init__(self, encode: Encode) -> None:
        self._encode = encode
        self.seen: dict[str, np.ndarray] = {}

    def __call__(self, sentences: list[str]) -> np.ndarray:
        emb = self._encode(sentences)
        for s, e in zip(sentences, emb, strict=True):
            self.seen[s] = e
        return emb


@dataclass
class Reference:
    """The torch model's embeddings of the probe set (and its STS-B dev score)."""

    sentences: list[str]
    embeddings: np.ndarray  # (n, dim)
    stsb_dev: float | None
    probe_set: str
    stsb_dev_by_dim: dict[int, float] = field(default_factory=dict)  # trained size -> torch's STS-B dev at it


def reference(encode: Encode, data_dir: str | None, sizes: list[int] | None = None) -> Reference:
    """Embed the probe set with the torch model (``encode``); STS-B dev at each of ``sizes`` too."""
    if data_dir is None:
        return Reference(BUILTIN_PROBES, encode(BUILTIN_PROBES), None, f"built-in ({len(BUILTIN_PROBES)} sentences)")
    from simcse_sdk.evaluation import evaluate_dev

    rec = Recorder(encode)
    dev = evaluate_dev(rec, data_dir=data_dir)
    sentences = list(rec.seen)
    by_dim = {d: _stsb_at(rec, d, data_dir) for d in sizes or []}
    long = long_texts(sentences)
    if long:
        rec(long)
    return Reference(sentences + long, np.stack([rec.seen[s] for s in sentences + long]), dev.stsb,
                     f"STS-B dev + SICK-R trial sentences, and {len(long)} texts of {LONG_TEXT_SENTENCES} of them "
                     "each (inputs cut at the served length)", by_dim)


def long_texts(sentences: list[str]) -> list[str]:
    """:data:`LONG_TEXTS` texts of :data:`LONG_TEXT_SENTENCES` probe sentences each, taken across the whole set (it
    may come sorted by length): STS sentences are short, and a variant's error can grow with the input's length (the
    cut at the served length is gated too)."""
    n, count = LONG_TEXT_SENTENCES, min(LONG_TEXTS, len(sentences) // LONG_TEXT_SENTENCES)
    step = len(sentences) // n if count else 0
    return [" ".join(sentences[i + j * step] for j in range(n)) for i in range(count)]


def _stsb_at(rec: Recorder, dim: int, data_dir: str) -> float:
    """STS-B dev Spearman of the vectors ``rec`` saw, cut to ``dim`` and renormalised (no new inference)."""
    from simcse_sdk.evaluation import evaluate_dev

    return float(evaluate_dev(lambda s: cut(np.stack([rec.seen[x] for x in s]), dim), data_dir=data_dir).stsb)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.einsum("nd,nd->n", a, b)


def _latency(encode: Encode) -> dict[str, float]:
    one, batch = ["A man is playing a guitar on the street."], [BUILTIN_PROBES[i % 9] for i in range(32)]
    out = {}
    for name, sents, reps in (("one_sentence", one, 30), ("batch_32", batch, 5)):
        encode(sents)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            encode(sents)
            times.append(time.perf_counter() - t)
        out[name] = round(1000 * float(np.median(times)), 3)
    return out


def check_variant(
    name: str, encode: Encode, ref: Reference, thresholds: Thresholds, data_dir: str | None, checked_on: str,
    sizes: list[int] | None = None,
) -> GateResult:
    """Measure variant ``name`` (its ``encode``) against ``ref`` and apply the thresholds, at full size and at
    each of ``sizes`` (the Matryoshka sizes below it)."""
    stsb, rec = None, None
    if data_dir is not None:
        from simcse_sdk.evaluation import evaluate_dev

        rec = Recorder(encode)
        stsb = evaluate_dev(rec, data_dir=data_dir).stsb
        missing = [s for s in ref.sentences if s not in rec.seen]  # the long texts
        if missing:
            rec(missing)
        emb = np.stack([rec.seen[s] for s in ref.sentences])
    else:
        emb = encode(ref.sentences)
    cos = _cos(emb, ref.embeddings)
    delta = None if stsb is None or ref.stsb_dev is None else stsb - ref.stsb_dev
    result = GateResult(
        variant=name,
        probes=len(ref.sentences),
        probe_set=ref.probe_set,
        min_cos=float(cos.min()),
        mean_cos=float(cos.mean()),
        stsb_dev_torch=ref.stsb_dev,
        stsb_dev_variant=stsb,
        stsb_dev_delta=delta,
        checked_on=checked_on,
        latency_ms=_latency(encode) if checked_on == "cpu" else {},
        threshold_min_cos=thresholds.min_cos.get(name),
        threshold_max_sts_drop=thresholds.max_sts_drop.get(name),
    )
    floor = thresholds.min_cos.get(name)
    if floor is not None and result.min_cos < floor:
        result.failures.append(f"min cosine {result.min_cos:.6f} < {floor} (short by {floor - result.min_cos:.2g})")
    drop = thresholds.max_sts_drop.get(name)
    if drop is not None and delta is not None and -delta > drop:
        result.failures.append(f"STS-B dev drop {-delta:.2f} points > {drop} allowed")
    for d in sizes or []:
        c = _cos(cut(emb, d), cut(ref.embeddings, d))
        at = None if rec is None or d not in ref.stsb_dev_by_dim else _stsb_at(rec, d, str(data_dir))
        d_delta = None if at is None else at - ref.stsb_dev_by_dim[d]
        result.by_dim[str(d)] = {"min_cos": float(c.min()), "mean_cos": float(c.mean()), "stsb_dev_variant": at,
                                 "stsb_dev_delta": d_delta}
        if floor is not None and c.min() < floor:
            result.failures.append(f"at {d} dimensions: min cosine {c.min():.6f} < {floor}")
        if drop is not None and d_delta is not None and -d_delta > drop:
            result.failures.append(f"at {d} dimensions: STS-B dev drop {-d_delta:.2f} points > {drop} allowed")
    logger.info("gate %s: min cos %.6f mean %.6f dSTS %s -> %s", name, result.min_cos, result.mean_cos,
                "n/a" if delta is None else f"{delta:+.2f}", "pass" if result.passed else result.failures)
    return result
