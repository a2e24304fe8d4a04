"""The :class:`Encoder`: sentences in, embeddings out, from an exported model directory.

Example:
    >>> from simcse_sdk import Encoder
    >>> enc = Encoder("models/minilm", device="cpu", variant="fp32")  # all-MiniLM-L6-v2 (make demo)   # doctest: +SKIP
    >>> emb = enc.encode(["A man plays a guitar.", "Someone plays music."])   # doctest: +SKIP
    >>> emb.shape                                                        # doctest: +SKIP
    (2, 384)
    >>> enc.similarity(["A man plays a guitar."], ["Someone plays music."]).round(2)   # doctest: +SKIP
    array([0.65], dtype=float32)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import similarity as sim
from .autotune import accuracy, selection
from .autotune.choice import Candidate, Choice
from .errors import InvalidArgumentError
from .inputs.batching import Batch
from .inputs.validation import (
    check_callbacks,
    check_encode_args,
    check_encoder_args,
    check_finite_output,
    check_loaded,
    check_sentences,
    check_token_ids,
)
from .model.manifest import MANIFEST_NAME, TOKENIZER_NAME, Manifest
from .model.prompts import prompt_text
from .model.tokenizer import SentenceTokenizer
from .progress import Progress
from .runtimes.machine import default_threads, missing_int8_flags
from .runtimes.onnxruntime import resolve_device
from .runtimes.session import Session, check_runtime
from .runtimes.variant_sessions import VariantSessions
from .vectors.dimensions import check_dimensions, check_output
from .vectors.output import OutputShaper

logger = logging.getLogger(__name__)

# Batches: simcse_sdk.runtimes.variant_sessions; auto: simcse_sdk.autotune; dimensions=/output=: simcse_sdk.vectors.


class Encoder:
    """Embeds sentences with an exported SimCSE model directory, on CPU or CUDA, without torch.

    Args:
        path: the model directory written by ``python -m export``.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when onnxruntime-gpu sees a GPU). ``"cuda"``
            without the CUDA provider raises :class:`~simcse_sdk.errors.DeviceError`; it never falls back.
        variant: ``"auto"``: the fastest, measured here, of the variants that passed the export gate and
            run on this device and runtime (see :mod:`simcse_sdk.autotune`; cached, so only the first
            start measures, about 2 s for six variants); or a name from the manifest (``fp32``, ``int8``, ``ov-bf16``...).
        threads: CPU threads for inference, 1..1024 (default ``None``: the cores available to this process).
        batch_size: default sentences per batch.
        max_tokens: default cap on padded tokens per batch (batch rows × longest row).
        verify: check the chosen variant's files' sha256 against the manifest (``variant="auto"`` loads
            its candidates to time them, then checks the winner's files before it is used).
        parallel_batches: on CPU with ``threads > 1``, inputs of more than one batch run ``threads`` small
            batches (at most ``PARALLEL_BATCH_TOKENS`` padded tokens) side by side, one thread each, on a second
            session made on first use (docs/runtimes.md has the figures); ``False`` turns this off.
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
        check_encoder_args(path, device, variant, threads, batch_size, max_tokens, verify, parallel_batches,
                           cache_dir)
        self.path = Path(path)
        self.manifest = Manifest.load(self.path)
        self.device = resolve_device(device)
        self.tokenizer = SentenceTokenizer(self.path / TOKENIZER_NAME, self.manifest.max_seq_length)
        m = self.manifest
        self.shaper = OutputShaper(m.embedding_dim, m.trained_dims, m.output_scales.get("int8"), str(self.path))
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self._threads = threads
        self._workers = (threads or default_threads()) if parallel_batches and self.device == "cpu" else 1
        self.choice, winner = self._choose(variant, check_runtime(runtime), cache_dir, parallel_batches)
        self.variant = self.choice.variant
        self._model_file = self.manifest.variant_path(self.path, self.variant, verify=verify)
        if winner is not None:  # measured just now: keep the winner's open sessions
            self._sessions: VariantSessions = winner._sessions
        else:
            self._sessions = VariantSessions(self.manifest.variants[self.variant], self._model_file, self.device,
                                             threads, self._workers)
            self._sessions.main  # noqa: B018  # open it now: a broken file fails here, not at the first encode
        first = self._sessions.any_open()
        check_loaded(self.manifest, str(self.path / MANIFEST_NAME), str(self._model_file), first.output_shape,
                     first.input_names, self.tokenizer.vocab_size)
        if winner is None and self.choice.reason != "cached":  # asked for, or the only candidate: checked, warned
            check = selection.check_here(self.path, self.manifest, self.device, self.variant, threads, cache_dir,
                                         lambda ids, bs: self._encode_ids(ids, bs or self.batch_size, False,
                                                                          self.max_tokens, False),
                                         self._candidate, self.tokenizer.encode)
            if check is not None:
                self.choice.accuracy[self.variant] = check
        if self.variant == "int8" and self.device == "cpu":
            missing = missing_int8_flags(list(self.manifest.export_cpu.get("int8_flags", [])))
            if missing:
                logger.warning(
                    "this CPU lacks %s, which the export CPU had: int8 may run slower here than measured at "
                    "export time; compare with variant='fp32'.", ", ".join(missing)
                )

    def _choose(self, variant: str, runtime: str, cache_dir: str | os.PathLike[str] | None,
                parallel_batches: bool) -> tuple[Choice, Encoder | None]:
        """The variant to run: the one asked for, else the fastest candidate on this machine (measured, cached),
        with the measured winner (an Encoder whose sessions are open) when measured now."""
        settings = {"batch_size": self.batch_size, "max_tokens": self.max_tokens, "parallel_batches": parallel_batches}
        choice, winner = selection.choose(self.path, self.manifest, self.device, variant, runtime, self._threads,
                                          settings, cache_dir, self._candidate, self.tokenizer.encode)
        return choice, (winner.owner if winner is not None else None)

    def _candidate(self, name: str) -> Candidate:
        """Variant ``name`` as ``variant="auto"`` measures it: a sibling Encoder, none of its sessions open yet."""
        sib = object.__new__(Encoder)
        sib.__dict__.update(self.__dict__)
        v = self.manifest.variants[name]
        sib.variant, sib.choice = name, Choice(name, v.runtime, "asked for")
        sib._model_file = self.manifest.variant_path(self.path, name, verify=False)
        sib._sessions = VariantSessions(v, sib._model_file, self.device, self._threads, self._workers)
        opens = sib._sessions.short_input_openers()
        files = [sib._model_file, *(self.path / f for f in v.extra_files)]
        return Candidate(
            name, v.runtime,
            # one thread for a lone input while measured (as every candidate): spinning is chosen later, by measuring
            encode=lambda ids, bs: sib._encode_ids(ids, bs or sib.batch_size, False, sib.max_tokens, False, share_cpu=True),
            open=opens[:1], open_rest=opens[1:], close=sib._sessions.close,
            size_bytes=len(opens) * sum(f.stat().st_size for f in files), order=selection.gate_estimate(v), owner=sib,
            min_cos=accuracy.threshold(name, v) if accuracy.needs_check(name) else None,
        )

    def describe(self) -> str:
        """Which variant and runtime this Encoder runs, and why (asked for, or measured: with the figures); the
        Matryoshka sizes the model was trained for."""
        sizes = ", ".join(map(str, [self.dim, *self.manifest.trained_dims]))
        return f"{self.choice.describe()}; runs on {self._sessions.providers()[0]}; trained sizes {sizes}"

    @property
    def runtime(self) -> Session:  # the session on all threads (opened on first use)
        return self._sessions.main

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
        *,
        dimensions: int | None = None,
        output: str = "float32",
        prompt_name: str | None = None,
    ) -> np.ndarray:
        """Embed ``sentences``: returns (N, dim) float32, row i for sentence i.

        ``dimensions`` cuts each vector to its first N components and renormalises it (``manifest.trained_dims``
        are the sizes a Matryoshka model was trained for; another size works and is logged once). ``output``:
        ``"float32"``, ``"int8"`` (scalar int8 with the export's calibrated scale: (N, size) int8) or
        ``"ubinary"`` (packed sign bits: (N, size / 8) uint8); ``search``, ``cosine_matrix`` and ``FaissIndex``
        take each. ``prompt_name``: the model's prompt of that name goes before each text (None: the default
        prompt, if any; ``""``: none). See docs/vectors.md.

        Empty strings are embedded (as ``[CLS][SEP]``); texts longer than the model's
        ``max_seq_length`` tokens are truncated to it. An empty list gives a (0, dim) array.
        With ``normalize=True`` each row has unit L2 norm (models exported with normalisation
        inside the graph, see ``manifest.normalized``, return unit rows either way).

        ``sentences`` is a list, tuple, generator or 1-D numpy array of ``str``; anything else, a non-str item or
        a lone surrogate raises an :class:`~simcse_sdk.errors.InputError` naming the item (docs/errors.md).
        Results do not depend on batching, except with a dynamic int8 recipe or OpenVINO (docs/runtimes.md).
        """
        items = check_sentences(sentences)
        options = check_encode_args(batch_size, normalize, max_tokens, progress, self.batch_size, self.max_tokens)
        dims = check_dimensions(dimensions, self.dim)
        out = check_output(output, dims or self.dim, self.dim)  # ubinary: whole bytes
        prompt = prompt_text(self.manifest, prompt_name)
        token_ids = self.tokenizer.encode([prompt + s for s in items] if prompt else items) if items else []
        emb = self._encode_ids(token_ids, *options)
        return emb if dims is None and out == "float32" else self.shaper.shape(emb, dims, out, options[1])

    def encode_ids(
        self,
        token_ids: Sequence[np.ndarray],
        batch_size: int | None = None,
        normalize: bool = False,
        max_tokens: int | None = None,
        progress: bool = False,
        on_batch: Callable[[Batch], None] | None = None,
        on_idle: Callable[[], None] | None = None,
        *,
        check_ids: bool = True,
        share_cpu: bool = False,
        pooled: bool = True,
    ) -> np.ndarray:
        """Embed already tokenised inputs: (N, dim) float32, row i for ``token_ids[i]``.

        Each item is the model's full input (special tokens included), as ``encoder.tokenizer.encode`` returns it
        (``encode(texts)`` equals ``encode_ids(tokenizer.encode(texts))``); the server batches requests so.
        ``on_batch`` is called with each padded batch once it has run (metrics); ``on_idle`` at most once, when all
        batches have started and a CPU worker is free before the call returns (the server's next round starts then).

        Each item must be a 1-D list or array of ints in ``range(tokenizer.vocab_size)``, of 1 to ``max_seq_length``
        ids; anything else raises an :class:`~simcse_sdk.errors.InputError` (wrong type) or
        :class:`~simcse_sdk.errors.InvalidArgumentError` (bad value) naming the item index. ``check_ids=False`` skips
        that, for int64 arrays this encoder's tokenizer made or that were checked (the server's rounds).
        ``share_cpu=True``: other threads need the CPU meanwhile (the server's event loop), so one short input runs
        on one thread, never on all threads spinning (see :mod:`simcse_sdk.runtimes.solo`). ``pooled=False``: run
        on this thread at once, not queued on the worker pool behind other calls' batches (the server's small rounds).
        """
        vocab, max_len = self.tokenizer.vocab_size, self.manifest.max_seq_length
        ids = check_token_ids(token_ids, vocab, max_len) if check_ids else list(token_ids)
        options = check_encode_args(batch_size, normalize, max_tokens, progress, self.batch_size, self.max_tokens)
        check_callbacks(on_batch=on_batch, on_idle=on_idle)
        return self._encode_ids(ids, *options, on_batch, on_idle, share_cpu, pooled)

    def _encode_ids(self, token_ids: list[np.ndarray], batch_size: int, normalize: bool, max_tokens: int,
                    progress: bool, on_batch: Callable[[Batch], None] | None = None,
                    on_idle: Callable[[], None] | None = None, share_cpu: bool = False,
                    pooled: bool = True) -> np.ndarray:
        out = np.zeros((len(token_ids), self.dim), dtype=np.float32)
        if not len(token_ids):
            return out
        parallel, batches = self._sessions.plan(list(token_ids), batch_size or self.batch_size,
                                                max_tokens or self.max_tokens, self.manifest.pad_token_id,
                                                self.manifest.max_seq_length, pooled)
        bar = Progress(len(token_ids)) if progress else None
        def store(batch: Batch, emb: np.ndarray) -> None:
            out[batch.indices] = emb
            if bar is not None:
                bar.update(len(batch.indices))
            if on_batch is not None:
                on_batch(batch)

        self._sessions.run(batches, store, parallel, on_idle, share_cpu)
        if bar is not None:
            bar.close()
        check_finite_output(out, str(self._model_file))  # fp16 overflow or damaged weights: an error, not NaN rows
        # a graph's own unit rows again in float32: fp16's come out 0.9996-1.0004 long, their self dot product 1.0008
        return sim.normalize(out) if normalize or self.manifest.normalized else out

    def similarity(self, a: Sequence[str], b: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Cosine of ``a[i]`` with ``b[i]`` for each i: shape (N,)."""
        a, b = check_sentences(a), check_sentences(b)
        if len(a) != len(b):
            raise InvalidArgumentError(f"similarity pairs a[i] with b[i]: got {len(a)} and {len(b)} texts; pass "
                                       "lists of equal length.")
        emb = self.encode(a + b, batch_size=batch_size)
        return sim.pairwise_cosine(emb[: len(a)], emb[len(a) :])

    def search(self, queries: Sequence[str], corpus_embeddings: np.ndarray, top_k: int = 10,
               prompt_name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k corpus rows by cosine for each query: (indices, scores), each (n_queries, k). The queries are
        encoded as the corpus was: its width gives the size, its dtype the output (int8; uint8: ubinary)."""
        c, dims, out = sim.corpus_form(corpus_embeddings, self.dim)
        return sim.search(self.encode(queries, dimensions=dims, output=out, prompt_name=prompt_name), c, top_k)

    def __repr__(self) -> str:
        return (f"Encoder({str(self.path)!r}, device={self.device!r}, variant={self.variant!r}, "
                f"runtime={self.choice.runtime!r} ({self.choice.reason}), dim={self.dim})")
