"""``variant="auto"``: the fastest variant on this machine, chosen by measuring, cached per model and machine.

What runs fastest is a property of the machine, not of the model: on an Intel Xeon with AMX
OpenVINO in bfloat16 can beat onnxruntime int8, on an AVX2-only CPU int8 onnxruntime wins, on
an H200 our fp16 graph measured 3x slower than fp32. So ``auto`` times every candidate (the
variants that passed the export gate, can run on the device, and whose runtime is installed)
on a fixed workload and keeps the one that finishes it first. The workload is one call of
:data:`BULK_SENTENCES` sentences plus :data:`SINGLE_CALLS` one-sentence calls, weighing
throughput and latency about equally; each candidate gets about :data:`BUDGET_S` seconds.

The choice is cached in the user's cache directory (``cache_dir=`` argument, else
``$SIMCSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/simcse-sdk``, else ``~/.cache/simcse-sdk``), never in
the model directory, keyed by the candidate files' sha256 (and size and mtime), the CPU (model,
flags), the cores and threads, the device and the runtimes' versions: any change measures again.

Example:
    >>> enc = Encoder("models/minilm", variant="auto")      # doctest: +SKIP
    >>> print(enc.describe())                                # doctest: +SKIP
    variant 'ov-bf16' (openvino): measured on this machine ...
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .cpu import _cpuinfo
from .manifest import Manifest, write_text_atomic
from .runtimes import RUNTIMES, library_version

logger = logging.getLogger(__name__)

ENV_VAR = "SIMCSE_CACHE_DIR"
CACHE_FORMAT = 1  # bump when the cache file's meaning changes
BUDGET_S = 0.2  # measuring time per candidate, after loading it and a warm-up
BULK_SENTENCES = 192  # sentences in the workload's one bulk call
SINGLE_CALLS = 16  # one-sentence calls in the workload

Encode = Callable[[list[str]], np.ndarray]

_BASE = [
    "A man is playing a guitar on the street.",
    "The stock market fell sharply on Tuesday after the central bank raised interest rates.",
    "Two dogs run through a field.",
    "Please restart the server before applying the update.",
    "A woman slices an onion in the kitchen.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "What time does the train leave?",
    "The committee postponed its decision until more evidence was available.",
    "A cat sleeps.",
    "Obama signs the bill into law at the White House ceremony on Friday.",
    "Children are playing soccer in the park near the river.",
    "Sales rose 4 percent in the third quarter.",
]


def workload() -> tuple[list[str], list[str]]:
    """The fixed inputs every candidate is timed on: (bulk sentences, single sentences).

    Sentences of 6-22 tokens, 14 on average, like STS-B's (14.2): what is fastest depends on the lengths.
    """
    bulk = [_BASE[i % len(_BASE)] for i in range(BULK_SENTENCES)]
    single = [_BASE[i % len(_BASE)] for i in range(SINGLE_CALLS)]
    return bulk, single


def default_cache_dir() -> Path:
    """The per-user cache folder for simcse-sdk, as platformdirs would place it."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "simcse-sdk" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "simcse-sdk"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "simcse-sdk"


@dataclass
class Measurement:
    """One candidate's speed on the workload."""

    sentences_per_s: float  # best of the bulk calls
    single_ms: float  # median one-sentence call
    workload_s: float  # estimated time of the whole workload: the score, lower is better

    @classmethod
    def of(cls, encode: Encode, budget_s: float = BUDGET_S) -> Measurement:
        bulk, single = workload()
        encode(bulk)  # warm-up: every shape of the workload once (a runtime sets up each new shape), the bulk session
        for s in dict.fromkeys(single):
            encode([s])
        rates, start = [], time.perf_counter()
        while len(rates) < 2 or (time.perf_counter() - start < 0.6 * budget_s and len(rates) < 20):
            t = time.perf_counter()
            encode(bulk)
            rates.append(len(bulk) / (time.perf_counter() - t))
        times, start = [], time.perf_counter()
        for s in single:
            t = time.perf_counter()
            encode([s])
            times.append(time.perf_counter() - t)
            if time.perf_counter() - start > 0.4 * budget_s and len(times) >= 3:
                break
        rate, one = max(rates), float(np.median(times))
        return cls(round(rate, 1), round(1000 * one, 3), round(len(bulk) / rate + SINGLE_CALLS * one, 5))


@dataclass
class Choice:
    """The variant an Encoder runs and why."""

    variant: str
    runtime: str
    reason: str  # "asked for" | "only candidate" | "measured" | "cached"
    measurements: dict[str, Measurement] = field(default_factory=dict)  # candidate -> its speed
    cache_file: str | None = None

    def describe(self) -> str:
        text = f"variant {self.variant!r} ({self.runtime}): "
        if self.reason in ("asked for", "only candidate"):
            return text + ("asked for" if self.reason == "asked for" else "the only candidate here")
        how = "measured now" if self.reason == "measured" else f"measured earlier, cached in {self.cache_file}"
        ranked = sorted(self.measurements.items(), key=lambda kv: kv[1].workload_s)
        rows = "; ".join(f"{n} {m.sentences_per_s:.0f} sent/s, 1 sentence {m.single_ms:.2f} ms" for n, m in ranked)
        return text + f"fastest of {len(ranked)} on this machine ({how}): {rows}"


def machine_description(device: str, threads: int, settings: dict[str, Any]) -> dict[str, Any]:
    """What the measurement depends on besides the model files."""
    from .runtime import default_threads

    model, flags = _cpuinfo()
    return {
        "cpu": model,
        "machine": platform.machine(),
        "cpu_flags_sha256": hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest(),
        "cores": default_threads(),
        "threads": threads,
        "device": device,
        "gpus": _gpus() if device == "cuda" else [],
        "versions": {"simcse_sdk": library_version_of("simcse-sdk"), "python": platform.python_version(),
                     **{r: library_version(r) for r in RUNTIMES}},
        "settings": settings,  # batch size, token cap, parallel batches: they change what is fastest
    }


def library_version_of(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _gpus() -> list[str]:
    """GPU models from the NVIDIA driver (Linux), and which ones this process may use."""
    root = Path("/proc/driver/nvidia/gpus")
    names = []
    for info in sorted(root.glob("*/information")) if root.is_dir() else []:
        names += [ln.split(":", 1)[1].strip() for ln in info.read_text().splitlines() if ln.startswith("Model:")]
    return names + [f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')}"]


def model_description(model_dir: Path, manifest: Manifest, candidates: Sequence[str]) -> dict[str, Any]:
    """The candidate files: sha256 from the manifest, and size + mtime so a file replaced in place counts too."""
    out = {}
    for name in candidates:
        v = manifest.variants[name]
        files = {}
        for file, sha in [(v.file, v.sha256), *v.extra_files.items()]:
            st = (model_dir / file).stat()
            files[file] = [sha, st.st_size, st.st_mtime_ns]
        out[name] = {"runtime": v.runtime, "options": v.runtime_options, "files": files}
    return out


def cache_path(root: Path, key_data: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()
    return root / "autotune" / f"{digest[:40]}.json"


def choose(
    candidates: Sequence[str],
    runtime_of: Callable[[str], str],
    make_encode: Callable[[str], Encode],
    key_data: dict[str, Any],
    cache_root: Path | None,
) -> Choice:
    """The fastest of ``candidates``: from the cache when it holds this key, else measured (and cached)."""
    if len(candidates) == 1:
        return Choice(candidates[0], runtime_of(candidates[0]), "only candidate")
    path = cache_path(cache_root, key_data) if cache_root is not None else None
    cached = _load(path, key_data, candidates) if path is not None else None
    if cached is not None:
        logger.info("variant=auto: %s (cached choice, %s)", cached.variant, path)
        return cached
    measured, failed = {}, None
    for name in candidates:
        t = time.perf_counter()
        try:
            measured[name] = Measurement.of(make_encode(name))
        except Exception as e:  # e.g. a runtime that cannot compile this graph here: not a candidate on this machine
            logger.warning("variant=auto: %s does not run here (%s: %s); leaving it out", name, type(e).__name__, e)
            failed = e
            continue
        logger.debug("measured %s in %.2f s: %s", name, time.perf_counter() - t, measured[name])
    if not measured:
        raise failed  # type: ignore[misc]  # every candidate failed: the last error says why
    best = min(measured, key=lambda n: measured[n].workload_s)
    choice = Choice(best, runtime_of(best), "measured", measured, str(path) if path else None)
    if path is not None:
        _save(path, key_data, choice)
    logger.info("variant=auto: %s", choice.describe())
    return choice


def _load(path: Path, key_data: dict[str, Any], candidates: Sequence[str]) -> Choice | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != CACHE_FORMAT or raw.get("key") != key_data or raw["variant"] not in candidates:
            return None
        measurements = {n: Measurement(**m) for n, m in raw["measurements"].items()}
        return Choice(raw["variant"], raw["runtime"], "cached", measurements, str(path))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:  # unreadable or from another version: measure again
        logger.info("ignoring autotune cache %s (%s)", path, e)
        return None


def _save(path: Path, key_data: dict[str, Any], choice: Choice) -> None:
    payload = {"format": CACHE_FORMAT, "key": key_data, "variant": choice.variant, "runtime": choice.runtime,
               "measurements": {n: asdict(m) for n, m in choice.measurements.items()},
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(payload, indent=2) + "\n")
    except OSError as e:  # a read-only home: the choice still holds for this process
        logger.warning("could not cache the variant choice in %s (%s); pass cache_dir= or set %s", path, e, ENV_VAR)
