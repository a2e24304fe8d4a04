"""onnxruntime sessions: device choice, threads, provider checks and the run call.

One :class:`Runtime` wraps one ``InferenceSession``, created once and reused; ``run`` is
safe to call from several threads (onnxruntime sessions are). On CUDA the provider is
verified after the session is created (onnxruntime otherwise falls back to CPU without
a word), and inputs/outputs go through I/O binding.

Example:
    >>> rt = Runtime("model.onnx", device="cpu", threads=2)      # doctest: +SKIP
    >>> rt.run(input_ids, attention_mask).shape                  # doctest: +SKIP
    (8, 384)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state

from ..errors import DeviceError, InferenceError, IntegrityError
from .machine import default_threads

logger = logging.getLogger(__name__)

# onnxruntime's errors (plain Exception subclasses): those that mean "this file is no ONNX model", and all.
_BROKEN_FILE = (_ort_state.InvalidProtobuf, _ort_state.InvalidGraph, _ort_state.InvalidArgument, _ort_state.NoSuchFile,
                _ort_state.NoModel, _ort_state.Fail)


_ORT_ERRORS = tuple(v for v in vars(_ort_state).values() if isinstance(v, type) and issubclass(v, Exception))


CUDA = "CUDAExecutionProvider"


CPU = "CPUExecutionProvider"


def cuda_available() -> bool:
    """Whether this onnxruntime build has the CUDA execution provider."""
    return CUDA in ort.get_available_providers()


def resolve_device(device: str) -> str:
    """Map ``auto`` to ``cuda`` when the CUDA provider exists, else ``cpu``; validate the name."""
    if device not in ("auto", "cpu", "cuda"):
        raise DeviceError(f"Unknown device {device!r}: use 'cpu', 'cuda' or 'auto'.")
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    if device == "cuda" and not cuda_available():
        raise DeviceError(
            "device='cuda' was asked for, but this onnxruntime has no CUDA provider "
            f"(available: {', '.join(ort.get_available_providers())}). Install the GPU build: "
            "pip uninstall onnxruntime && pip install 'simcse-sdk[gpu]' (onnxruntime-gpu), "
            "or pass device='cpu'."
        )
    return device


class Runtime:
    """An onnxruntime session on one device, reused for every call."""

    def __init__(self, model_path: str | os.PathLike[str], device: str, threads: int | None = None,
                 spin: bool = False) -> None:
        self.device = device
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or default_threads()
        opts.inter_op_num_threads = 1
        # Spinning threads steal the CPU from everything else in the process (torch, the tokenizer); ``spin``: only a
        # session for one short input run alone, and its threads stop at the run's end (without force_spinning_stop
        # they went on: 0.05 s of CPU over a 1 s sleep after a run, 2.2-3.1 against 1.9-2.2 ms of CPU a call with
        # 0.3 ms pauses, for the same p50; AMD EPYC with AVX512-VNNI, int8, one STS-B sentence a call).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        if spin:
            opts.add_session_config_entry("session.force_spinning_stop", "1")
        providers: list[str] = [CUDA, CPU] if device == "cuda" else [CPU]
        # On CPU keep Add + LayerNormalization as exported: onnxruntime's fused SkipLayerNormalization
        # CPU kernel is several times slower than the two ops (see export.optimize).
        disabled = [] if device == "cuda" else ["SkipLayerNormFusion"]
        self.model_path = Path(model_path)
        try:
            self.session = ort.InferenceSession(
                str(self.model_path), sess_options=opts, providers=providers, disabled_optimizers=disabled
            )
        except _BROKEN_FILE as e:
            raise IntegrityError(
                f"{str(self.model_path)!r} is not a loadable ONNX model ({e}): the file is truncated or corrupt. "
                "Copy the model directory again or re-export the model; Encoder(..., verify=True) checks "
                "each file's sha256 before loading it."
            ) from e
        except _ORT_ERRORS as e:
            raise DeviceError(
                f"onnxruntime {ort.__version__} cannot run {str(self.model_path)!r} on {device} ({e}): "
                "try another variant or device, or re-export the model with this onnxruntime."
            ) from e
        active = self.session.get_providers()
        if device == "cuda" and (not active or active[0] != CUDA):
            raise DeviceError(
                f"onnxruntime did not activate the CUDA provider (active: {active}); check the CUDA and cuDNN "
                "libraries that onnxruntime-gpu needs (see onnxruntime's CUDA requirements), or use device='cpu'."
            )
        self.providers = active
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_name = self.session.get_outputs()[0].name
        self.output_shape = list(self.session.get_outputs()[0].shape)  # declared, e.g. ['batch', 384]
        logger.debug("session on %s with providers %s, inputs %s", device, active, self.input_names)

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Embeddings (batch, dim) float32 for one padded batch (batch, seq).

        Raises:
            InferenceError: onnxruntime failed on the batch (message: its reason and what to do).
        """
        try:
            return self._run(input_ids, attention_mask)
        except _ORT_ERRORS as e:
            raise InferenceError(
                f"onnxruntime failed on a batch of shape {input_ids.shape} with {str(self.model_path)!r} ({e}). "
                "Out of memory: pass a smaller batch_size or max_tokens. An index out of range: the model "
                "directory's manifest (max_seq_length, pad_token_id) or tokenizer does not match its graph; "
                "re-export the model."
            ) from e

    def _run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        feeds = {k: v for k, v in feeds.items() if k in self.input_names}
        if self.device != "cuda":
            out = self.session.run([self.output_name], feeds)[0]
            return np.asarray(out, dtype=np.float32)
        # CUDA: one host->device copy per input, output kept on device until the single copy back.
        binding = self.session.io_binding()
        for name, value in feeds.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value, "cuda", 0))
        binding.bind_output(self.output_name, "cuda")
        self.session.run_with_iobinding(binding)
        return np.asarray(binding.copy_outputs_to_cpu()[0], dtype=np.float32)
