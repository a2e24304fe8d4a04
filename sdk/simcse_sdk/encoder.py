"""The :class:`Encoder`: sentences in, embeddings out, from an exported model directory.

Example:
    >>> from simcse_sdk import Encoder
    >>> enc = Encoder("my-model", device="cpu")                       # doctest: +SKIP
    >>> emb = enc.encode(["A man plays a guitar.", "Someone plays music."])   # doctest: +SKIP
    >>> emb.shape                                                        # doctest: +SKIP
    (2, 384)
    >>> enc.similarity(["A man plays a guitar."], ["Someone plays music."])   # doctest: +SKIP
    array([0.62], dtype=float32)
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import similarity as sim
from .batching import Batch, plan_batches
from .cpu import missing_int8_flags
from .errors import InputError, ModelDirError, VariantError
from .manifest import TOKENIZER_NAME, Manifest
from .runtime import Runtime, default_threads, resolve_device
from .tokenizer import SentenceTokenizer

logger = logging.getLogger(__name__)

# Batches of at most this many padded tokens run side by side with parallel_batches (short sentences);
# bigger ones (long texts) use all threads on one batch, which was faster for 300-token texts.
PARALLEL_MAX_TOKENS = 2048

# Variant preference for variant="auto", by device.
AUTO_VARIANTS = {"cuda": ("fp16", "fp32"), "cpu": ("int8", "fp32")}


def _check_sentences(sentences: object) -> list[str]:
    if sentences is None:
        raise InputError("sentences is None: pass a list of strings, e.g. encode(['first text', 'second text']).")
    if isinstance(sentences, str):
        raise InputError(
            "sentences is a single string: pass a list of strings, e.g. encode([text]) rather than encode(text)."
        )
    if not isinstance(sentences, Sequence) and not hasattr(sentences, "__iter__"):
        raise InputError(f"sentences must be a list of strings, got {type(sentences).__name__}.")
    items = list(sentences)  # type: ignore[call-overload]
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise InputError(
                f"sentences[{i}] is {type(s).__name__} ({s!r:.40}), not str: convert every item to text first."
            )
    return items


class Encoder:
    """Embeds sentences with an exported SimCSE model directory, on CPU or CUDA, without torch.

    Args:
        path: the model directory written by ``python -m export``.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when onnxruntime-gpu sees a GPU). ``"cuda"``
            without the CUDA provider raises :class:`~simcse_sdk.errors.DeviceError`; it never falls back.
        variant: ``"auto"`` (fp16 on CUDA, int8 on CPU, else fp32) or an explicit ``fp32|fp16|int8``.
        threads: CPU threads for inference (default: the cores available to this process).
        batch_size: default sentences per batch.
        max_tokens: default cap on padded tokens per batch (batch rows × longest row).
        verify: check each model file's sha256 against the manifest before loading it.
        parallel_batches: on CPU with ``threads > 1``, inputs of more than one batch run ``threads``
            small batches (up to ``PARALLEL_MAX_TOKENS`` padded tokens) at once, one thread each, on a
            second session made on first use: about 15 % more sentences/s for short sentences, whose
            ops are too small to split well over threads, at the cost of a second session's memory.
            Single and large batches use all threads. ``False`` turns this off.

    ``encode`` is safe to call from several threads at once.

    Example:
        >>> enc = Encoder("my-model")                       # doctest: +SKIP
        >>> enc.encode(["hello world"]).shape               # doctest: +SKIP
        (1, 384)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: str = "auto",
        variant: str = "auto",
        threads: int | None = None,
        batch_size: int = 64,
        max_tokens: int = 8192,
        verify: bool = True,
        parallel_batches: bool = True,
    ) -> None:
        self.path = Path(path)
        self.manifest = Manifest.load(self.path)
        self.device = resolve_device(device)
        self.variant = self._choose_variant(variant)
        model_file = self.manifest.variant_path(self.path, self.variant, verify=verify)
        self.tokenizer = SentenceTokenizer(self.path / TOKENIZER_NAME, self.manifest.max_seq_length)
        self.runtime = Runtime(model_file, self.device, threads)
        self._model_file = model_file
        self._model_stat = _identity(model_file)  # the bulk session must load this very file
        self._workers = (threads or default_threads()) if parallel_batches and self.device == "cpu" else 1
        self._bulk: tuple[int, Runtime, ThreadPoolExecutor] | None = None  # (pid, session, pool)
        self._bulk_lock = threading.Lock()
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        if self.variant == "int8" and self.device == "cpu":
            missing = missing_int8_flags(list(self.manifest.export_cpu.get("int8_flags", [])))
            if missing:
                logger.warning(
                    "this CPU lacks %s, which the export CPU had: int8 may run slower here than measured at "
                    "export time; compare with variant='fp32'.", ", ".join(missing)
                )

    def _choose_variant(self, variant: str) -> str:
        have = sorted(self.manifest.variants)
        if variant == "auto":
            for name in AUTO_VARIANTS[self.device]:
                v = self.manifest.variants.get(name)
                if v is not None and v.gate.get("passed", True) and self._runs_on_device(name):
                    return name
            raise VariantError(f"No variant in {str(self.path)!r} runs on {self.device} (it has {have}).")
        if variant not in self.manifest.variants:
            raise VariantError(
                f"Variant {variant!r} is not in {str(self.path)!r}; it has {have}. "
                f"Pass one of those, or variant='auto', or re-export with --{variant}."
            )
        if self.manifest.variants[variant].gate.get("passed") is False:
            logger.warning("variant %r failed the export accuracy gate: %s", variant,
                           "; ".join(self.manifest.variants[variant].gate.get("failures", [])))
        if not self._runs_on_device(variant):
            raise VariantError(
                f"Variant {variant!r} cannot run on {self.device} (it is built for "
                f"{self.manifest.variants[variant].device}); {str(self.path)!r} has {have}."
            )
        return variant

    def _runs_on_device(self, name: str) -> bool:
        meant = self.manifest.variants[name].device
        return meant in ("any", self.device)

    @property
    def dim(self) -> int:
        """Size of one embedding."""
        return self.manifest.embedding_dim

    def encode(
        self,
        sentences: Sequence[str],
        batch_size: int | None = None,
        normalize: bool = False,
        max_tokens: int | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Embed ``sentences``: returns (N, dim) float32, row i for sentence i.

        Empty strings are embedded (as [CLS][SEP]); texts longer than the model's
        ``max_seq_length`` tokens are truncated to it. An empty list gives a (0, dim) array.
        With ``normalize=True`` each row has unit L2 norm (models exported with normalisation
        inside the graph, see ``manifest.normalized``, return unit rows either way).

        Results do not depend on batching, except for int8 models exported with a dynamic recipe
        (``manifest.variants["int8"].quantization["static"]`` false): those quantise activations
        with one scale per batch, so embeddings move slightly with batch composition
        (all-MiniLM-L6-v2, STS-B test 81.58-81.87 across batch sizes; the default static recipe
        gives 82.04 at every batch size, fp32 82.03).
        """
        items = _check_sentences(sentences)
        token_ids = self.tokenizer.encode(items) if items else []
        return self.encode_ids(token_ids, batch_size, normalize, max_tokens, progress)

    def encode_ids(
        self,
        token_ids: Sequence[np.ndarray],
        batch_size: int | None = None,
        normalize: bool = False,
        max_tokens: int | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Embed already tokenised inputs: (N, dim) float32, row i for ``token_ids[i]``.

        Each item is the model's full input (special tokens included, at most ``max_seq_length``
        ids), as ``encoder.tokenizer.encode`` returns it; the server uses this to batch inputs
        of many requests together. ``encode(texts)`` equals ``encode_ids(tokenizer.encode(texts))``.
        """
        out = np.zeros((len(token_ids), self.dim), dtype=np.float32)
        if not len(token_ids):
            return out
        items = token_ids
        batches = plan_batches(
            list(token_ids), batch_size or self.batch_size, max_tokens or self.max_tokens, self.manifest.pad_token_id,
            pad_multiple=16 if self.device == "cuda" else 1,  # few distinct shapes: CUDA sets up each once
            max_len=self.manifest.max_seq_length,  # the tokenizer truncates to it, so rounding never exceeds it
        )
        bar = _progress(len(items)) if progress else None
        parallel = self._workers > 1 and len(items) > (batch_size or self.batch_size)
        self._run_batches(batches, out, bar, parallel)
        if bar is not None:
            bar.close()
        return sim.normalize(out) if normalize else out

    def _run_batches(self, batches: Iterator[Batch], out: np.ndarray, bar: _progress | None, parallel: bool) -> None:
        """Fill ``out`` batch by batch. With ``parallel``, small batches run ``self._workers`` at a time on
        single-thread sessions (few in flight); large ones, and all when not ``parallel``, on all threads."""
        pending: deque[tuple[Batch, Future[np.ndarray]]] = deque()

        def store(batch: Batch, emb: np.ndarray) -> None:
            out[batch.indices] = emb
            if bar is not None:
                bar.update(len(batch.indices))

        bulk: tuple[Runtime, ThreadPoolExecutor] | None = None
        for batch in batches:
            if parallel and batch.padded_tokens <= PARALLEL_MAX_TOKENS:
                runtime, pool = bulk = bulk or self._bulk_session()
                pending.append((batch, pool.submit(runtime.run, batch.input_ids, batch.attention_mask)))
                if len(pending) >= 2 * self._workers:  # bounded: padded batches are not all held at once
                    store(*_done(pending.popleft()))
                continue
            while pending:
                store(*_done(pending.popleft()))
            store(batch, self.runtime.run(batch.input_ids, batch.attention_mask))
        while pending:
            store(*_done(pending.popleft()))

    def _bulk_session(self) -> tuple[Runtime, ThreadPoolExecutor]:
        """The single-thread session and its worker pool, made on first use (again in a forked child)."""
        with self._bulk_lock:
            if self._bulk is None or self._bulk[0] != os.getpid():  # a forked child cannot use the parent's pool
                if _identity(self._model_file) != self._model_stat:
                    raise ModelDirError(
                        f"{str(self._model_file)!r} changed since this Encoder was created (re-exported?): "
                        "create a new Encoder so that every batch runs the same model."
                    )
                self._bulk = (os.getpid(), Runtime(self._model_file, self.device, threads=1),
                              ThreadPoolExecutor(self._workers, thread_name_prefix="simcse-encode"))
            return self._bulk[1], self._bulk[2]

    def similarity(self, a: Sequence[str], b: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Cosine of ``a[i]`` with ``b[i]`` for each i: shape (N,)."""
        a, b = _check_sentences(a), _check_sentences(b)
        if len(a) != len(b):
            raise InputError(f"similarity needs two lists of equal length, got {len(a)} and {len(b)}")
        emb = self.encode(a + b, batch_size=batch_size)
        return sim.pairwise_cosine(emb[: len(a)], emb[len(a) :])

    def search(
        self, queries: Sequence[str], corpus_embeddings: np.ndarray, top_k: int = 10
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k corpus rows by cosine for each query: (indices, scores), each (n_queries, k)."""
        return sim.search(self.encode(queries), corpus_embeddings, top_k)

    def __repr__(self) -> str:
        return f"Encoder({str(self.path)!r}, device={self.device!r}, variant={self.variant!r}, dim={self.dim})"


def _done(item: tuple[Batch, Future[np.ndarray]]) -> tuple[Batch, np.ndarray]:
    return item[0], item[1].result()


def _identity(path: Path) -> tuple[int, int, int]:
    """(inode, size, mtime) of a file: changes when it is rewritten or replaced."""
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


class _progress:
    """A tqdm bar when tqdm is installed, else periodic log lines."""

    def __init__(self, total: int) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._bar = None
        else:
            self._bar = tqdm(total=total, unit="sent", desc="encode")
        self.total, self.done = total, 0

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        else:
            logger.info("encoded %d/%d", self.done, self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
