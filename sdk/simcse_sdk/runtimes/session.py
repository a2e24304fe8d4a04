"""Which runtime runs a variant: onnxruntime (ONNX graphs) or OpenVINO (IR files, extra ``openvino``).

A variant's ``runtime`` field in the manifest names it (old manifests: onnxruntime). The
Encoder opens two of them per variant: the main one on all threads, and on CPU, for parallel
batches, a "bulk" one that runs ``workers`` batches side by side (onnxruntime: one-thread
sessions driven from ``workers`` Python threads; OpenVINO: one compiled model with ``workers``
streams, one infer request each).

Example:
    >>> check_runtime("auto")
    'auto'
    >>> sorted(RUNTIMES)
    ['onnxruntime', 'openvino']
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import DeviceError, VariantError
from ..model.manifest import Variant

RUNTIMES = ("onnxruntime", "openvino")


class Session(Protocol):
    """What the Encoder needs of a runtime: ``run`` one padded batch, and the graph's declared interface."""

    providers: list[str]
    input_names: list[str]
    output_shape: list[object]

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...


def check_runtime(runtime: object) -> str:
    """``runtime`` validated: ``"auto"`` or one of :data:`RUNTIMES`."""
    if runtime != "auto" and runtime not in RUNTIMES:
        raise DeviceError(f"Unknown runtime {runtime!r}: use 'auto', 'onnxruntime' or 'openvino'.")
    return str(runtime)


def installed(runtime: str) -> bool:
    """Whether ``runtime``'s Python package is installed (checked without importing it)."""
    return library_version(runtime) is not None


def library_version(runtime: str) -> str | None:
    """The installed version of ``runtime``'s package (onnxruntime-gpu counts as onnxruntime)."""
    dists = {"onnxruntime": ("onnxruntime", "onnxruntime-gpu"), "openvino": ("openvino",)}.get(runtime, ())
    for dist in dists:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def runs_on(variant: Variant, device: str) -> bool:
    """Whether ``variant`` can run on ``device`` (OpenVINO variants: CPU only here)."""
    if variant.runtime == "openvino" and device != "cpu":
        return False
    return variant.device in ("any", device)


def open_session(variant: Variant, model_file: str | os.PathLike[str], device: str, threads: int | None,
                 bulk_workers: int = 0, spin: bool = False) -> Session:
    """A runtime for ``variant``'s file: on all ``threads``, or (``bulk_workers`` > 0) for that many batches at once."""
    if variant.runtime == "onnxruntime":
        from .onnxruntime import Runtime

        return Runtime(model_file, device, threads=1 if bulk_workers else threads, spin=spin)
    if variant.runtime == "openvino":
        if device != "cpu":
            raise DeviceError(f"OpenVINO variants run on CPU here, not {device!r}: pass device='cpu'.")
        from .openvino import OpenVINORuntime

        precision = str(variant.runtime_options.get("precision", "f32"))
        if bulk_workers:
            return OpenVINORuntime(Path(model_file), threads=bulk_workers, streams=bulk_workers, precision=precision)
        return OpenVINORuntime(Path(model_file), threads=threads, precision=precision)
    raise VariantError(
        f"variant file {str(model_file)!r} is for runtime {variant.runtime!r}, which this simcse-sdk does not know "
        f"(it knows {list(RUNTIMES)}): upgrade simcse-sdk or choose another variant."
    )
