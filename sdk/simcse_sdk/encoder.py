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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import autotune, selection
from . import similarity as sim
from .batching import Batch, plan_batches
from .cpu import missing_int8_flags
from .errors import InputError, ModelDirError
from .manifest import MANIFEST_NAME, TOKENIZER_NAME, Manifest
from .progress import Progress
from .runtime import default_threads, resolve_device
from .runtimes import Session, check_runtime, open_session
from .tokenizer import SentenceTokenizer
from .validation import (
    check_encode_args,
    check_encoder_args,
    check_finite_output,
    check_loaded,
    check_sentences,
    check_token_ids,
)

logger = logging.getLogger(__name__)

# Batches of at most this many padded tokens run side by side with parallel_batches (short sentences);
# bigger ones (long texts) use all threads on one batch, which was faster for 300-token texts.
PARALLEL_MAX_TOKENS = 2048
# Parallel batches are planned with at most this many padded tokens each (STS-B test, 2-core Xeon with AMX,
# batch_size 64: onnxruntime int8 3,092 sent/s at 512 against 2,591 at 8,192; OpenVINO int8 3,155 / 2,930).
PARALLEL_BATCH_TOKENS = 512
# On CPU, onnxruntime runs a batch of at most this many padded tokens (one short sentence) on one thread, on the
# parallel-batch session: int8, one STS-B sentence, 0.82 ms on 1 thread against 0.96 ms on 2 (2-core Xeon).
# OpenVINO does not gain (2.36 ms on 1 thread against 2.08 on 2), so its small batches use all threads.
SMALL_BATCH_TOKENS = 32

# variant="auto" measures the candidates on this machine: see simcse_sdk.autotune.


_check_sentences = check_sentences  # the checks live in validation.py


class Encoder:
    """Embeds sentences with an exported SimCSE model directory, on CPU or CUDA, without torch.

    Args:
        path: the model directory written by ``python -m export``.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when onnxruntime-gpu sees a GPU). ``"cuda"``
            without the CUDA provider raises :class:`~simcse_sdk.errors.DeviceError`; it never falls back.
        variant: ``"auto"``: the fastest, measured here, of the variants that passed the export gate and
            run on this device and runtime (see :mod:`simcse_sdk.autotune`; cached, so only the first
            start measures, a few seconds); or a name from the manifest (``fp32``, ``int8``, ``ov-bf16``...).
        threads: CPU threads for inference, 1..1024 (default ``None``: the cores available to this process).
        batch_size: default sentences per batch.
        max_tokens: default cap on padded tokens per batch (batch rows × longest row).
        verify: check each model file's sha256 against the manifest before loading it.
        parallel_batches: on CPU with ``threads > 1``, inputs of more than one batch run ``threads``
            small batches (up to ``PARALLEL_MAX_TOKENS`` padded tokens) at once, one thread each, on a
            second session made on first use: about 15 % more sentences/s for short sentences, whose
            ops are too small to split well over threads, at the cost of a second session's memory.
            Single and large batches use all threads. ``False`` turns this off. Such inputs are cut into
            batches of at most ``PARALLEL_BATCH_TOKENS`` (512) padded tokens, which stay in one core's cache
            (STS-B test, int8: 3,092 sentences/s against 2,591 with 8,192-token batches; long texts 135/s
            against 80/s).
        runtime: ``"auto"`` (any installed), ``"onnxruntime"`` or ``"openvino"`` (extra ``openvino``,
            CPU): limits which variants ``variant="auto"`` considers; an explicit ``variant`` must match it.
        cache_dir: where ``variant="auto"`` caches its measured choice (default: ``$SIMCSE_CACHE_DIR``,
            else the user's cache folder, ``~/.cache/simcse-sdk`` on Linux); never the model directory.

    ``describe()`` says which variant runs and why. ``encode`` is safe to call from several threads at once.

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
        runtime: str = "auto",
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        check_encoder_args(path, device, variant, threads, batch_size, max_tokens, verify, parallel_batches)
        self.path = Path(path)
        self.manifest = Manifest.load(self.path)
        self.device = resolve_device(device)
        self.choice = self._choose(variant, check_runtime(runtime), threads, batch_size, max_tokens, parallel_batches,
                                   cache_dir)
        self.variant = self.choice.variant
        model_file = self.manifest.variant_path(self.path, self.variant, verify=verify)
        self.tokenizer = SentenceTokenizer(self.path / TOKENIZER_NAME, self.manifest.max_seq_length)
        self.runtime = open_session(self.manifest.variants[self.variant], model_file, self.device, threads)
        self._model_file = model_file
        self._model_stat = _identity(model_file)  # the bulk session must load this very file
        self._workers = (threads or default_threads()) if parallel_batches and self.device == "cpu" else 1
        self._bulk: tuple[int, Session, ThreadPoolExecutor] | None = None  # (pid, session, pool)
        self._bulk_lock = threading.Lock()
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        check_loaded(self.manifest, str(self.path / MANIFEST_NAME), str(model_file), self.runtime.output_shape,
                     self.runtime.input_names, self.tokenizer.vocab_size)
        if self.variant == "int8" and self.device == "cpu":
            missing = missing_int8_flags(list(self.manifest.export_cpu.get("int8_flags", [])))
            if missing:
                logger.warning(
                    "this CPU lacks %s, which the export CPU had: int8 may run slower here than measured at "
                    "export time; compare with variant='fp32'.", ", ".join(missing)
                )

    def _choose(self, variant: str, runtime: str, threads: int | None, batch_size: int, max_tokens: int,
                parallel_batches: bool, cache_dir: str | os.PathLike[str] | None) -> autotune.Choice:
        """The variant to run: the one asked for, else the fastest candidate on this machine (measured, cached)."""

        def make_encode(name: str) -> autotune.Encode:
            return Encoder(self.path, self.device, name, threads, batch_size, max_tokens, verify=False,
                           parallel_batches=parallel_batches).encode

        settings = {"batch_size": batch_size, "max_tokens": max_tokens, "parallel_batches": parallel_batches}
        return selection.choose(self.path, self.manifest, self.device, variant, runtime, threads, settings,
                                cache_dir, make_encode)

    def describe(self) -> str:
        """Which variant and runtime this Encoder runs, and why (asked for, or measured: with the figures)."""
        return f"{self.choice.describe()}; runs on {self.runtime.providers[0]}"

    @property
    def parallelism(self) -> int:
        """Batches that run side by side on CPU (1 unless ``parallel_batches`` and several threads)."""
        return self._workers

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

        ``sentences`` is a list, tuple, generator or 1-D numpy array of ``str``; a bare string, bytes,
        a dict or a set raises :class:`~simcse_sdk.errors.InputError`, as does a non-str item (the
        message names its index). A text holding a lone surrogate (a code point U+D800-U+DFFF on its
        own, as ``json.loads('"\\ud800"')`` gives) is not valid Unicode: it raises
        :class:`~simcse_sdk.errors.InvalidArgumentError` naming the item index and the character
        position; nothing is replaced silently. Replace them first if you want them embedded, e.g.
        ``text.encode("utf-8", "replace").decode("utf-8")`` (each becomes ``"?"``). ``batch_size`` and
        ``max_tokens`` are ints >= 1, or ``None`` for the encoder's defaults; ``normalize`` and
        ``progress`` are bools.

        Results do not depend on batching, except for int8 models exported with a dynamic recipe
        (``manifest.variants["int8"].quantization["static"]`` false): those quantise activations
        with one scale per batch, so embeddings move slightly with batch composition
        (all-MiniLM-L6-v2, STS-B test 81.58-81.87 across batch sizes; the default static recipe
        gives 82.04 at every batch size, fp32 82.03).
        """
        items = check_sentences(sentences)
        options = check_encode_args(batch_size, normalize, max_tokens, progress, self.batch_size, self.max_tokens)
        token_ids = self.tokenizer.encode(items) if items else []
        return self._encode_ids(token_ids, *options)

    def encode_ids(
        self,
        token_ids: Sequence[np.ndarray],
        batch_size: int | None = None,
        normalize: bool = False,
        max_tokens: int | None = None,
        progress: bool = False,
        on_batch: Callable[[Batch], None] | None = None,
    ) -> np.ndarray:
        """Embed already tokenised inputs: (N, dim) float32, row i for ``token_ids[i]``.

        Each item is the model's full input (special tokens included, at most ``max_seq_length``
        ids), as ``encoder.tokenizer.encode`` returns it; the server uses this to batch inputs
        of many requests together. ``encode(texts)`` equals ``encode_ids(tokenizer.encode(texts))``.
        ``on_batch`` is called with each padded batch once it has run (for metrics).

        Each item must be a 1-D list or array of ints in ``range(tokenizer.vocab_size)``, of 1 to
        ``max_seq_length`` ids; anything else raises an :class:`~simcse_sdk.errors.InputError` (wrong
        type) or :class:`~simcse_sdk.errors.InvalidArgumentError` (bad value) naming the item index.
        """
        ids = check_token_ids(token_ids, self.tokenizer.vocab_size, self.manifest.max_seq_length)
        options = check_encode_args(batch_size, normalize, max_tokens, progress, self.batch_size, self.max_tokens)
        if on_batch is not None and not callable(on_batch):
            raise InputError(f"on_batch must be a function of one Batch, or None; got {type(on_batch).__name__}.")
        return self._encode_ids(ids, *options, on_batch=on_batch)

    def _encode_ids(
        self,
        token_ids: list[np.ndarray],
        batch_size: int,
        normalize: bool,
        max_tokens: int,
        progress: bool,
        on_batch: Callable[[Batch], None] | None = None,
    ) -> np.ndarray:
        """``encode_ids`` on inputs and options already checked (``encode`` checks its own)."""
        out = np.zeros((len(token_ids), self.dim), dtype=np.float32)
        if not len(token_ids):
            return out
        items = token_ids
        parallel = self._workers > 1 and len(items) > (batch_size or self.batch_size)
        budget = max_tokens or self.max_tokens
        if parallel:  # one thread a batch: small batches keep their activations in that core's cache
            budget = min(budget, PARALLEL_BATCH_TOKENS)
        batches = plan_batches(
            list(token_ids), batch_size or self.batch_size, budget, self.manifest.pad_token_id,
            pad_multiple=16 if self.device == "cuda" else 1,  # few distinct shapes: CUDA sets up each once
            max_len=self.manifest.max_seq_length,  # the tokenizer truncates to it, so rounding never exceeds it
        )
        bar = Progress(len(items)) if progress else None
        self._run_batches(batches, out, bar, parallel, on_batch)
        if bar is not None:
            bar.close()
        check_finite_output(out, str(self._model_file))  # fp16 overflow or damaged weights: an error, not NaN rows
        return sim.normalize(out) if normalize else out

    def _run_batches(
        self, batches: Iterator[Batch], out: np.ndarray, bar: Progress | None, parallel: bool,
        on_batch: Callable[[Batch], None] | None = None,
    ) -> None:
        """Fill ``out`` batch by batch. With ``parallel``, small batches run ``self._workers`` at a time on
        single-thread sessions (few in flight); large ones, and all when not ``parallel``, on all threads."""
        pending: deque[tuple[Batch, Future[np.ndarray]]] = deque()

        def store(batch: Batch, emb: np.ndarray) -> None:
            out[batch.indices] = emb
            if bar is not None:
                bar.update(len(batch.indices))
            if on_batch is not None:
                on_batch(batch)

        bulk: tuple[Session, ThreadPoolExecutor] | None = None
        for batch in batches:
            if parallel and batch.padded_tokens <= PARALLEL_MAX_TOKENS:
                runtime, pool = bulk = bulk or self._bulk_session()
                pending.append((batch, pool.submit(runtime.run, batch.input_ids, batch.attention_mask)))
                if len(pending) >= 2 * self._workers:  # bounded: padded batches are not all held at once
                    store(*_done(pending.popleft()))
                continue
            while pending:
                store(*_done(pending.popleft()))
            if self._workers > 1 and self.choice.runtime == "onnxruntime" and batch.padded_tokens <= SMALL_BATCH_TOKENS:
                runtime, _ = bulk = bulk or self._bulk_session()  # one short sentence: one thread is faster
                store(batch, runtime.run(batch.input_ids, batch.attention_mask))
                continue
            store(batch, self.runtime.run(batch.input_ids, batch.attention_mask))
        while pending:
            store(*_done(pending.popleft()))

    def _bulk_session(self) -> tuple[Session, ThreadPoolExecutor]:
        """The single-thread session and its worker pool, made on first use (again in a forked child)."""
        with self._bulk_lock:
            if self._bulk is None or self._bulk[0] != os.getpid():  # a forked child cannot use the parent's pool
                if _identity(self._model_file) != self._model_stat:
                    raise ModelDirError(
                        f"{str(self._model_file)!r} changed since this Encoder was created (re-exported?): "
                        "create a new Encoder so that every batch runs the same model."
                    )
                bulk = open_session(self.manifest.variants[self.variant], self._model_file, self.device, None,
                                    bulk_workers=self._workers)
                self._bulk = (os.getpid(), bulk,
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
        return (f"Encoder({str(self.path)!r}, device={self.device!r}, variant={self.variant!r}, "
                f"runtime={self.choice.runtime!r} ({self.choice.reason}), dim={self.dim})")


def _done(item: tuple[Batch, Future[np.ndarray]]) -> tuple[Batch, np.ndarray]:
    return item[0], item[1].result()


def _identity(path: Path) -> tuple[int, int, int]:
    """(inode, size, mtime) of a file: changes when it is rewritten or replaced."""
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns
