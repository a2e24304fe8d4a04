"""Which variant an :class:`~simcse_sdk.Encoder` runs: the one asked for, else the fastest here.

An explicit ``variant=`` is checked against the model directory, the device and ``runtime=``;
``variant="auto"`` times the candidates that passed the export gate, run on the device and whose
runtime is installed, and caches the choice (see :mod:`simcse_sdk.autotune.race`).

Example:
    >>> choice, _ = choose(path, manifest, "cpu", "auto", "auto", None, {}, None, make_candidate, tokenize)  # doctest: +SKIP
    >>> choice.describe()                                                                          # doctest: +SKIP
    "variant 'int8' (onnxruntime): fastest of 2 on this machine ..."
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VariantError
from ..model.manifest import Manifest, Variant
from ..runtimes.machine import default_threads
from ..runtimes.session import installed, runs_on
from . import accuracy, cache, race, sentences
from .choice import Candidate, Choice, Encode

logger = logging.getLogger(__name__)

# The export flag that adds each optional variant (python -m export --help), for the hint when one is missing.
EXPORT_FLAGS = {"fp16": "--fp16", "int8": "--int8", "ov-fp32": "--openvino", "ov-bf16": "--openvino",
                "ov-int8": "--openvino"}


def choose(path: Path, manifest: Manifest, device: str, variant: str, runtime: str, threads: int | None,
           settings: dict[str, Any], cache_dir: str | os.PathLike[str] | None,
           make_candidate: Callable[[str], Candidate],
           tokenize: Callable[[list[str]], list[np.ndarray]]) -> tuple[Choice, Candidate | None]:
    """The variant to run: the one asked for, else the fastest candidate on this machine (measured, cached);
    with the winning candidate, its sessions open, when measured now."""
    if variant != "auto":
        name = check_named(path, manifest, device, variant)
        meant = manifest.variants[name].runtime
        if runtime not in ("auto", meant):
            raise VariantError(f"Variant {name!r} runs on {meant}, not {runtime}: pass runtime={meant!r} or "
                               f"'auto', or variant='auto' to pick among the {runtime} variants.")
        return Choice(name, meant, "asked for"), None
    if runtime == "openvino":
        from ..runtimes.openvino import import_openvino

        import_openvino()  # not installed: the error names the extra
    names = [n for n, v in manifest.variants.items() if v.gate.get("passed", True) and runs_on(v, device)
             and runtime in ("auto", v.runtime) and installed(v.runtime) and _files_present(path, n, v)]
    if not names:
        hint = " (re-export with --openvino)" if runtime == "openvino" else ""
        raise VariantError(f"No variant in {str(path)!r} runs on {device} with runtime {runtime!r}{hint}; "
                           f"it has {sorted(manifest.variants)}.")
    if len(names) == 1:
        return Choice(names[0], manifest.variants[names[0]].runtime, "only candidate"), None
    ref = _reference(manifest, device, path)
    key = {"model": cache.model_description(path, manifest, names + ([ref] if ref and ref not in names else [])),
           "machine": cache.machine_description(device, threads or default_threads(), settings)}
    path = cache.cache_path(_cache_root(cache_dir), key)
    cached = cache.load(path, key, names)
    if cached is not None:  # no candidate is built, so no file is opened
        logger.info("variant=auto: %s (cached choice, %s)", cached.variant, cached.cache_file)
        return cached, None
    candidates = [make_candidate(n) for n in names]
    reference = next((c for c in candidates if c.name == ref), None) or (make_candidate(ref) if ref else None)
    return race.choose(candidates, tokenize, key, path, reference)


def check_here(path: Path, manifest: Manifest, device: str, name: str, threads: int | None,
               cache_dir: str | os.PathLike[str] | None, encode: Encode,
               make_candidate: Callable[[str], Candidate],
               tokenize: Callable[[list[str]], list[np.ndarray]]) -> accuracy.AccuracyCheck | None:
    """Variant ``name`` (its ``encode``) against the reference on this machine, once per model and machine
    (cached); None where there is nothing to check (it is the reference, or the reference does not run here)."""
    ref = _reference(manifest, device, path)
    if ref is None or not accuracy.needs_check(name):
        return None
    key = {"model": cache.model_description(path, manifest, [name, ref]),
           "machine": cache.machine_description(device, threads or default_threads(), {})}
    where = cache.cache_path(_cache_root(cache_dir), key, "accuracy")
    check = cache.load_check(where, key)
    if check is None:
        ids = tokenize(sentences.CHECK)
        reference = accuracy.reference_embeddings(make_candidate(ref), ids, keep_open=False)
        if reference is None:
            return None
        emb = encode(ids, accuracy.BATCH)
        check = accuracy.compare(name, emb, reference, accuracy.threshold(name, manifest.variants[name]))
        cache.save_check(where, key, check)
    if not check.passed:
        logger.warning("variant %r is less accurate on this machine than its export gate required (%s); "
                       "variant='auto' would leave it out: pass variant=%r, or re-export on this kind of CPU.",
                       name, check.describe(), ref)
    return check


def _reference(manifest: Manifest, device: str, path: Path) -> str | None:
    """The variant the others are checked against here, if the model directory has it (and its files) and it runs
    on ``device``."""
    v = manifest.variants.get(accuracy.REFERENCE)
    ok = v is not None and runs_on(v, device) and installed(v.runtime) and _files_present(path, accuracy.REFERENCE,
                                                                                          v, warn=False)
    return accuracy.REFERENCE if ok else None


def _files_present(path: Path, name: str, variant: Variant, warn: bool = True) -> bool:
    """Whether every file of ``variant`` is in the model directory; a candidate without them is left out (logged)."""
    missing = [f for f in (variant.file, *variant.extra_files) if not (path / f).is_file()]
    if missing and warn:
        files = f"file {missing[0]!r} is" if len(missing) == 1 else f"files {', '.join(map(repr, missing))} are"
        logger.warning("variant=auto: leaving out %r: its %s missing from %s (copy the whole model directory, or "
                       "re-export)", name, files, str(path))
    return not missing


def _cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else cache.default_cache_dir()


def gate_estimate(variant: Variant) -> float:
    """The workload's time in ms from the latencies the export gate measured (on the export machine), or inf.

    Used only to order the measurement (likely-fast candidates first set the bar sooner), never to choose.
    """
    latency = variant.gate.get("latency_ms") or {}
    try:
        return (race.BULK_SENTENCES / 32 * float(latency["batch_32"])
                + race.SINGLE_CALLS * float(latency["one_sentence"]))
    except (KeyError, TypeError, ValueError):
        return float("inf")


def check_named(path: Path, manifest: Manifest, device: str, variant: str) -> str:
    """``variant`` itself, once checked to be in the model directory and to run on ``device``."""
    have = sorted(manifest.variants)
    if variant not in manifest.variants:
        near = [n for n in have if n.lower() == variant.lower().strip()]
        if near:
            fix = f"Did you mean {near[0]!r}? Variant names are lower case."
        elif variant in manifest.refused:
            fix = (f"The export made it and its accuracy gate refused it ({'; '.join(manifest.refused[variant])}; "
                   f"report.md there has the figures). Pass one of those, or 'auto'.")
        elif variant in EXPORT_FLAGS:
            fix = f"Pass one of those, or 'auto', or re-export with {EXPORT_FLAGS[variant]}."
        else:
            fix = f"Pass one of those, or 'auto' (the exporter makes {', '.join(sorted(EXPORT_FLAGS))} and fp32)."
        raise VariantError(f"Variant {variant!r} is not in {str(path)!r}; it has {have}. {fix}")
    if manifest.variants[variant].gate.get("passed") is False:
        logger.warning("variant %r failed the export accuracy gate: %s", variant,
                       "; ".join(manifest.variants[variant].gate.get("failures", [])))
    if not runs_on(manifest.variants[variant], device):
        raise VariantError(
            f"Variant {variant!r} cannot run on {device} (it is built for "
            f"{manifest.variants[variant].device}); {str(path)!r} has {have}."
        )
    return variant
