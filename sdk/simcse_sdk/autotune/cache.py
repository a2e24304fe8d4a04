"""Where ``variant="auto"`` keeps its measured choice, and an explicit variant its accuracy check: one JSON file
per model and machine, in the user's cache.

The cache folder is the ``cache_dir=`` argument, else ``$SIMCSE_CACHE_DIR``, else
``$XDG_CACHE_HOME/simcse-sdk``, else ``~/.cache/simcse-sdk`` (on Linux), never the model
directory, which may be read-only or shared. A file is keyed by the candidate files' sha256
(and size and mtime, so a file replaced in place counts), the CPU (model, flags), the cores and
threads, the device and GPUs, the Encoder's batching settings and the runtimes' versions: any
change measures again.

Example:
    >>> key = {"model": {"int8": {}}, "machine": {"cpu": "x"}}
    >>> cache_path(Path("/tmp/c"), key).parent.name
    'autotune'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..model.manifest import Manifest, write_text_atomic
from ..runtimes.machine import cpuinfo, default_threads
from ..runtimes.session import RUNTIMES, library_version
from . import accuracy
from .choice import Choice, Measurement

logger = logging.getLogger(__name__)

ENV_VAR = "SIMCSE_CACHE_DIR"
CACHE_FORMAT = 3  # bump when the cache file's meaning changes (2: screened candidates, measuring time; 3: accuracy)


def default_cache_dir() -> Path:
    """The per-user cache folder for simcse-sdk, as platformdirs would place it."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "simcse-sdk" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "simcse-sdk"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "simcse-sdk"


def machine_description(device: str, threads: int, settings: dict[str, Any]) -> dict[str, Any]:
    """What the measurement depends on besides the model files."""
    model, flags = cpuinfo()
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


def cache_path(root: Path, key_data: dict[str, Any], folder: str = "autotune") -> Path:
    """``root/folder/<digest of the key>.json``: "autotune" for choices, "accuracy" for explicit variants' checks."""
    digest = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()
    return root / folder / f"{digest[:40]}.json"


def load(path: Path, key_data: dict[str, Any], candidates: Sequence[str]) -> Choice | None:
    """The cached choice for this key, or None (absent, damaged, from another format, or not a candidate now)."""
    try:
        raw = _read(path, key_data)
        if raw is None or raw["variant"] not in candidates:
            return None
        measurements = {n: Measurement(**m) for n, m in raw["measurements"].items()}
        checks = {n: accuracy.from_dict(a) for n, a in raw["accuracy"].items()}
        return Choice(raw["variant"], raw["runtime"], "cached", measurements, str(path), raw.get("seconds"), checks)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:  # unreadable or from another version: measure again
        logger.info("ignoring autotune cache %s (%s)", path, e)
        return None


def load_check(path: Path, key_data: dict[str, Any]) -> accuracy.AccuracyCheck | None:
    """An explicit variant's cached accuracy check for this key, or None."""
    try:
        raw = _read(path, key_data)
        return None if raw is None else accuracy.from_dict(raw["check"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        logger.info("ignoring accuracy cache %s (%s)", path, e)
        return None


def _read(path: Path, key_data: dict[str, Any]) -> dict[str, Any] | None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or raw.get("format") != CACHE_FORMAT or raw.get("key") != key_data:
        return None
    return raw


def save(path: Path, key_data: dict[str, Any], choice: Choice) -> None:
    """Write the choice through a temporary file; a read-only home only logs a warning."""
    _write(path, key_data, {"variant": choice.variant, "runtime": choice.runtime,
                            "measurements": {n: asdict(m) for n, m in choice.measurements.items()},
                            "seconds": choice.seconds, "accuracy": {n: a.to_dict() for n, a in choice.accuracy.items()}})


def save_check(path: Path, key_data: dict[str, Any], check: accuracy.AccuracyCheck) -> None:
    """Write an explicit variant's accuracy check, as :func:`save` does."""
    _write(path, key_data, {"check": check.to_dict()})


def _write(path: Path, key_data: dict[str, Any], fields: dict[str, Any]) -> None:
    payload = {"format": CACHE_FORMAT, "key": key_data, **fields,
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(payload, indent=2) + "\n")
    except OSError as e:  # a read-only home: the choice still holds for this process
        logger.warning("could not cache the variant choice in %s (%s); pass cache_dir= or set %s", path, e, ENV_VAR)
