"""The server's life cycle: loading and warming the model, readiness, in-flight requests, draining.

Example:
    >>> state = ServerState(ServerConfig(model_dir="models/minilm"))   # doctest: +SKIP
    >>> state.start_loading()       # inside the running event loop      # doctest: +SKIP
    >>> state.is_ready                                                   # doctest: +SKIP
    False
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from ..encoder import Encoder
from ..model.manifest import MANIFEST_NAME, sha256_file
from ..runtimes.machine import default_threads
from .api.api_error import ApiError
from .api.token_ids import TokenIdReader
from .batching import RequestBatcher
from .config import ServerConfig
from .metrics import Metrics

logger = logging.getLogger(__name__)

WARMUP_TEXT = "A short sentence to warm up the model."


class ServerState:
    """Holds the encoder and batcher once loaded, and counts in-flight requests for draining."""

    def __init__(self, config: ServerConfig, on_fatal: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.metrics = Metrics(shared=config.workers > 1)
        self.encoder: Encoder | None = None
        self.batcher: RequestBatcher | None = None
        self.token_ids: TokenIdReader | None = None  # reads id lists in requests (set once loaded)
        self.manifest_sha256: str | None = None  # identifies the model served, in /info (the path is not shown)
        self.threads = config.threads or default_threads()
        self.loaded = False
        self.draining = False
        self.load_error: str | None = None
        self.in_flight = 0
        self.created = time.time()
        self.on_fatal = on_fatal  # called when the model cannot be loaded (the runner exits)
        self._idle: asyncio.Event | None = None
        self._load_task: asyncio.Task[None] | None = None

    @property
    def is_ready(self) -> bool:
        return self.loaded and not self.draining

    def workers_unready(self) -> str | None:
        """Why ``/ready`` must say no although this process is ready: with ``--workers``, one probe answers for the
        port, so it is ready only when every worker is (their ``simcse_ready`` values); None when all are."""
        if self.metrics.shared_dir is None:  # one process, or no shared directory: this process speaks for itself
            return None
        ready = self.metrics.workers_ready()
        if ready >= self.config.workers:
            return None
        return f"{ready} of its {self.config.workers} workers are ready (--workers); retry after {self.config.retry_after} s."

    def start_loading(self) -> None:
        """Load and warm the model on a thread; the server answers /health and /ready meanwhile."""
        self._idle = asyncio.Event()
        self._idle.set()
        self._load_task = asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> None:
        cfg = self.config
        started = time.perf_counter()
        try:
            encoder, reader = await asyncio.get_running_loop().run_in_executor(None, self._build_encoder)
        except Exception as e:  # noqa: BLE001 - reported through /health and the runner's exit
            self.load_error = f"{type(e).__name__}: {e}"
            logger.error("could not load %s: %s", cfg.model_dir, self.load_error)
            if self.on_fatal is not None:
                self.on_fatal(self.load_error)
            return
        self.encoder, self.token_ids = encoder, reader
        self.batcher = RequestBatcher(encoder, cfg.batch_size, cfg.max_batch_tokens, cfg.max_queue, self.metrics,
                                      lone_spin=cfg.workers == 1)
        self.batcher.start()
        self.loaded = True
        self.metrics.ready.set(0 if self.draining else 1)
        logger.info("ready: %r, %d threads, loaded and warmed up in %.1f s", encoder, self.threads,
                    time.perf_counter() - started)

    def _build_encoder(self) -> tuple[Encoder, TokenIdReader]:
        """The Encoder, warmed up, and the reader of token ids (OpenAI's vocabulary loaded). Its rounds run their batches side by side on single-thread sessions (parallel
        batches): measured faster on 2 cores than two workers with a thread each (1,009-1,281 against 901-926
        requests/s at 64 one-sentence clients; 77 against 62 requests/s with 32-sentence requests)."""
        cfg = self.config
        encoder = Encoder(cfg.model_dir, device=cfg.device, variant=cfg.variant, threads=self.threads,
                          batch_size=cfg.batch_size, max_tokens=cfg.max_batch_tokens, parallel_batches=True)
        # Warm up the shapes a request can take: one input, a full batch, and the model's full length.
        long_text = " ".join(["word"] * encoder.manifest.max_seq_length)
        # one input alone: with one process, on the session lone rounds may spin on too (opened now, not on a request)
        encoder.encode_ids(encoder.tokenizer.encode([WARMUP_TEXT]), share_cpu=cfg.workers > 1)
        encoder.encode([f"{WARMUP_TEXT} {i}" for i in range(2 * cfg.batch_size)] + [long_text])
        reader = TokenIdReader.for_tokenizer(encoder.tokenizer, cfg.token_ids, cfg.openai_encoding,
                                              encoder.manifest.pad_token_id)
        reader.load()
        self.manifest_sha256 = sha256_file(encoder.path / MANIFEST_NAME)
        return encoder, reader

    def unavailable(self) -> ApiError:
        """The 503 answered while loading, after a failed load, and while draining."""
        why = "is draining (shutting down)" if self.draining else "is still loading the model"
        if self.load_error:
            why = f"could not load the model ({self.load_error})"
        return ApiError(503, f"The server {why}; retry after {self.config.retry_after} s.", "not_ready",
                        headers={"Retry-After": str(self.config.retry_after)})

    def begin_request(self) -> None:
        self.in_flight += 1
        if self._idle is not None:
            self._idle.clear()

    def end_request(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Refuse new requests (503) and wait for in-flight ones; True if all finished within ``timeout``."""
        self.draining = True
        self.metrics.ready.set(0)
        logger.info("draining: %d requests in flight, waiting up to %.0f s", self.in_flight, timeout)
        if self._idle is None:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            logger.warning("drain timed out with %d requests still in flight: they are answered 503", self.in_flight)
            self.stop_requests(f"did not finish within the drain timeout ({timeout:g} s, --drain-timeout)")
            await asyncio.sleep(0)  # their answers are sent before the server closes their connections
            return False

    def stop_requests(self, why: str) -> None:
        """Answer every request not answered yet with an OpenAI-style 503 (running rounds stop after their batch)."""
        if self.batcher is not None:
            self.batcher.abandon(ApiError(503, f"The server is shutting down: this request {why}; retry it.",
                                          "shutting_down", headers={"Retry-After": str(self.config.retry_after)}))

    async def close(self) -> None:
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        if self.batcher is not None:
            await self.batcher.stop()

    def describe(self) -> dict[str, Any]:
        """What ``GET /info`` answers: model, variant, device, dimension, max length and every limit."""
        enc = self.encoder
        d: dict[str, Any] = {"model": self.config.served_name, "ready": self.is_ready, "draining": self.draining,
                             "limits": self.config.limits()}
        if enc is not None and self.token_ids is not None:
            d.update(variant=enc.variant, manifest_sha256=self.manifest_sha256, device=enc.device, dimensions=enc.dim,
                     max_input_tokens=enc.manifest.max_seq_length, pooling=enc.manifest.pooling,
                     threads=self.threads, parallel_batches=enc.parallelism, vocab_size=self.token_ids.vocab_size,
                     trained_dimensions=[enc.dim, *enc.manifest.trained_dims], prompts=enc.manifest.prompts,
                     default_prompt_name=enc.manifest.default_prompt_name,
                     token_ids={"policy": self.token_ids.policy, "openai_encoding": self.token_ids.encoding_name,
                                "model_special_tokens": self.token_ids.special_text})
        return d
