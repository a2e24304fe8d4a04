"""OpenVINO on CPU: the runtime for the ``openvino`` variants of a model directory (extra ``openvino``).

One :class:`OpenVINORuntime` compiles one OpenVINO IR file once and keeps a pool of infer
requests; ``run`` takes a free request, so it is safe to call from several threads, and it
releases the GIL while OpenVINO computes. ``streams=1`` compiles for latency (one stream on all
``threads``); ``streams=N`` compiles N streams that split the threads between them, for N
batches in flight at once (the Encoder's parallel batches), which measured about twice the
sentences/s of one stream for short sentences on a 2-core Xeon with AMX.

``precision`` is OpenVINO's inference precision hint: ``"f32"`` computes in float32 everywhere;
``"bf16"`` runs matrix multiplies in bfloat16 (AMX / AVX512-BF16), which is what OpenVINO does
by default on such CPUs. The manifest records it per variant, so a variant's accuracy is the one
its gate measured, whatever this CPU's default would be.

Example:
    >>> rt = OpenVINORuntime("model.ov.xml", threads=2, precision="bf16")   # doctest: +SKIP
    >>> rt.run(input_ids, attention_mask).shape                            # doctest: +SKIP
    (8, 384)
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DeviceError
from .machine import default_threads

logger = logging.getLogger(__name__)

EXTRA_HINT = "pip install 'simcse-sdk[openvino]'"
PRECISIONS = ("f32", "bf16")

# The process's first infer runs alone: two threads making their first call at once deadlocked (OpenVINO
# 2026.4: both in the bindings' one-time numpy set-up, one waiting for the GIL, the other, holding it, for
# that set-up; seen with the Encoder's two parallel batches as the first calls of a process).
_FIRST_CALL = threading.Lock()
_first_call_done = False


def import_openvino() -> Any:
    """The ``openvino`` module, or a DeviceError naming the extra to install."""
    try:
        import openvino
    except ImportError as e:
        raise DeviceError(
            f"this variant runs on OpenVINO, which is not installed ({e}): {EXTRA_HINT}, "
            "or pass runtime='onnxruntime'."
        ) from e
    return openvino


def openvino_available() -> bool:
    """Whether the ``openvino`` package can be imported."""
    try:
        import_openvino()
    except DeviceError:
        return False
    return True


def openvino_version() -> str | None:
    """The installed OpenVINO version, None when it is not installed (read without importing it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openvino")
    except PackageNotFoundError:
        return None


def cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin can compute in bfloat16 here (its own capability report)."""
    ov = import_openvino()
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVINORuntime:
    """A compiled OpenVINO model on CPU and a pool of infer requests, reused for every call."""

    device = "cpu"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        threads: int | None = None,
        streams: int = 1,
        precision: str = "f32",
    ) -> None:
        if precision not in PRECISIONS:
            raise DeviceError(f"Unknown OpenVINO precision {precision!r}: use one of {PRECISIONS}.")
        if streams < 1:
            raise DeviceError(f"streams must be >= 1, got {streams}.")
        ov = import_openvino()
        threads = threads or default_threads()
        config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
        }
        if streams > 1:
            config["NUM_STREAMS"] = streams
        core = ov.Core()
        model = core.read_model(str(Path(model_path)))
        self.input_names = [p.get_any_name() for p in model.inputs]
        shape = model.outputs[0].get_partial_shape()  # declared, e.g. [?, 384]
        self.output_shape: list[object] = [d.get_length() if d.is_static else "?" for d in shape]
        self.compiled = core.compile_model(model, "CPU", config)
        self.precision = precision
        self.streams = int(self.compiled.get_property("NUM_STREAMS"))
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(self.streams):
            self._requests.put(self.compiled.create_infer_request())
        self.providers = [f"OpenVINO {ov.__version__} CPU ({precision}, {self.streams} stream(s), {threads} threads)"]
        logger.debug("compiled %s: %s", model_path, self.providers[0])

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Embeddings (batch, dim) float32 for one padded batch (batch, seq)."""
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        feeds = {k: v for k, v in feeds.items() if k in self.input_names}
        request = self._requests.get()  # blocks while every request is busy
        try:
            if not _first_call_done:
                return self._first_run(request, feeds)
            out = request.infer(feeds)  # releases the GIL while OpenVINO runs
            return np.array(out.to_tuple()[0], dtype=np.float32)  # copy: the request reuses its buffer
        finally:
            self._requests.put(request)

    @staticmethod
    def _first_run(request: Any, feeds: dict[str, np.ndarray]) -> np.ndarray:
        global _first_call_done
        with _FIRST_CALL:
            out = np.array(request.infer(feeds).to_tuple()[0], dtype=np.float32)  # the output's conversion too
            _first_call_done = True
            return out
