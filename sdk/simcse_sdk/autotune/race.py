"""``variant="auto"``: the fastest variant on this machine, chosen by measuring, cached per model and machine.

What runs fastest is a property of the machine, not of the model: on an Intel Xeon with AMX
OpenVINO in bfloat16 can beat onnxruntime int8, on an AVX2-only CPU int8 onnxruntime wins, on
an H200 our fp16 graph measured 3x slower than fp32. So ``auto`` times every candidate (the
variants that passed the export gate, can run on the device, and whose runtime is installed)
and keeps the one that finishes a fixed workload first: one call of :data:`BULK_SENTENCES`
sentences plus :data:`SINGLE_CALLS` one-sentence calls, weighing throughput and latency about
equally. The sentences are real text of 6-22 tokens, as STS-B's; what is fastest depends on
the lengths, and OpenVINO pays for each change of shape.

Measuring stays short (2.0-2.2 s for six variants of all-MiniLM-L6-v2 on 2 cores):

1. *Open*: the session each candidate's probe runs on is opened, two at a time (opening is
   mostly single-threaded), in groups of at most :data:`LOAD_BYTES` of model files and at most a
   quarter of the memory still available (MemAvailable, or the cgroup's limit if lower), plus the
   best candidate so far.
2. *Probe*: each candidate embeds :data:`PROBE_SENTENCES` sentences in small batches; one more
   than :data:`PROBE_FACTOR` times slower than the fastest probe is left out (brought back if
   the candidate that set the bar then fails its workload). Each is also compared with the fp32
   reference on this machine (:mod:`simcse_sdk.autotune.accuracy`): one below its export gate's minimum
   cosine is left out, however fast.
3. *Workload*: the others open what else the workload runs on (OpenVINO's latency session)
   and run it, fastest probe first. One whose bulk call alone, or whose estimate after a few
   single calls, is :data:`MARGIN` slower than the best complete workload stops there; a
   close one is timed again. The losers of the last group are freed on a background thread (those
   of earlier groups before the next group opens).

The order of measuring (the export gate's latencies, recorded on the export machine) decides how
soon the fast ones set the bar, not what is chosen (up to timing noise; when the candidates do not
fit in one group, a candidate is compared with the groups measured before it). The choice is cached (see
:mod:`simcse_sdk.autotune.cache`), so a second start measures nothing.

Example:
    >>> enc = Encoder("models/minilm", variant="auto")      # doctest: +SKIP
    >>> print(enc.describe())                                # doctest: +SKIP
    variant 'int8' (onnxruntime): fastest of 6 on this machine (measured now, 1.9 s) ...
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VariantError
from ..runtimes import machine
from . import accuracy, cache, sentences
from .choice import Candidate, Choice, Encode, Measurement

logger = logging.getLogger(__name__)

BULK_SENTENCES = 128  # sentences in the workload's one bulk call


SINGLE_CALLS = 16  # one-sentence calls in the workload (4 sentences of different lengths, in turn)


PROBE_SENTENCES = 16  # the probe: this many sentences ...


PROBE_BATCH = 8  # ... in batches of this many (two side by side where the Encoder runs batches in parallel)


PROBE_FACTOR = 2.0  # a probe this many times slower than the fastest one: left out


MARGIN = 1.1  # a partial workload this much slower than the best complete one: stops there


LOAD_BYTES = 1 << 30  # model bytes opened at once, at most (OpenVINO variants count twice: two compiled copies) ...


MEMORY_SHARE = 0.25  # ... and at most this share of the memory this process may still use (cgroup limit included)


LOADERS = 2  # sessions opened at once






def workload(tokenize: Callable[[list[str]], list[np.ndarray]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The fixed inputs every candidate is timed on, as token ids: (bulk, single sentences in turn)."""
    ids = tokenize(sentences.WORKLOAD)
    return [ids[i % len(ids)] for i in range(BULK_SENTENCES)], [ids[i] for i in sentences.SINGLES]


def choose(
    candidates: Sequence[Candidate],
    tokenize: Callable[[list[str]], list[np.ndarray]],
    key_data: dict[str, Any],
    path: Path | None,
    reference: Candidate | None = None,
) -> tuple[Choice, Candidate]:
    """Measure ``candidates`` (at least one) and cache the choice in ``path``: the fastest of those as accurate here
    as their gate asked (against ``reference``, which may be one of them), and the winning candidate with its
    sessions open; the others are closed (the last of them on a background thread)."""
    start = time.perf_counter()
    bulk, singles = workload(tokenize)
    groups = _groups(sorted(candidates, key=lambda c: c.order))
    check_ids = tokenize(sentences.CHECK)
    ref = accuracy.reference_embeddings(reference, check_ids, keep_open=any(c is reference for c in groups[0]))
    checks: dict[str, accuracy.AccuracyCheck] = {}
    measured: dict[str, Measurement] = {}
    best: Candidate | None = None
    failed: Exception | None = None
    losers: list[Candidate] = []  # freed after measuring, off the caller's time (freeing a session takes ~30 ms)
    for group in groups:
        _close_all(losers)  # the previous group's: at most LOAD_BYTES are open at once
        losers = []
        for c, error in zip(group, _open_all(group, "open"), strict=True):
            if error is not None:
                failed = _leave_out(c, error, losers)
                continue
            try:
                t = time.perf_counter()
                measured[c.name] = m = Measurement(probe(c, bulk[:PROBE_SENTENCES]))
                logger.debug("probed %s in %.3f s", c.name, time.perf_counter() - t)
                if ref is not None and c.min_cos is not None:
                    checks[c.name] = check = accuracy.compare(c.name, c.encode(check_ids, accuracy.BATCH), ref, c.min_cos)
                    if not check.passed:
                        m.left_out = f"accuracy here: min cos {check.min_cos:.4f} to {accuracy.REFERENCE} < {check.threshold:g}"
                        m.left_out_kind = "accuracy"
                        logger.warning("variant=auto: leaving out %s, less accurate here than its export gate "
                                       "required: %s", c.name, check.describe())
                        losers.append(c)
            except Exception as e:  # e.g. a runtime that cannot run this graph here: not a candidate
                measured.pop(c.name, None)
                failed = _leave_out(c, e, losers)
        pending = sorted((c for c in group if c.name in measured and not measured[c.name].left_out),
                         key=lambda c: -measured[c.name].probe_per_s)
        while pending:  # again when a candidate that set the probe bar failed its workload: the bar drops
            fastest_probe = max(m.probe_per_s for m in measured.values() if m.left_out_kind != "accuracy")
            ready = [c for c in pending if measured[c.name].probe_per_s * PROBE_FACTOR >= fastest_probe]
            pending = [c for c in pending if c not in ready]
            failures = 0
            for c, error in zip(ready, _open_all(ready, "open_rest"), strict=True):
                m = measured[c.name]
                bound = measured[best.name].workload_s if best is not None else None
                try:
                    if error is not None:
                        raise error
                    t = time.perf_counter()
                    run_workload(c, bulk, singles, m, bound)
                    logger.debug("timed %s in %.3f s: %s", c.name, time.perf_counter() - t, m)
                except Exception as e:
                    del measured[c.name]
                    failed = _leave_out(c, e, losers)
                    failures += 1
                    continue
                if m.workload_s is not None and (best is None or m.workload_s < (measured[best.name].workload_s or 0)):
                    if best is not None:
                        losers.append(best)
                    best = c
                else:
                    losers.append(c)
            if not failures or not ready:  # the bar stands: the rest are left out against a candidate that ran
                for c in pending:
                    m = measured[c.name]
                    m.left_out = f"probe {fastest_probe / m.probe_per_s:.1f}x slower than the fastest"
                    m.left_out_kind = "slower"
                    losers.append(c)
                pending = []
    # not a daemon: the interpreter waits for it at exit (a session freed during shutdown crashes the process)
    threading.Thread(target=_close_all, args=(losers,), name="simcse-autotune-free", daemon=False).start()
    if best is None:
        if checks and not any(a.passed for a in checks.values()) and failed is None:
            raise VariantError("variant='auto': no candidate is as accurate on this machine as its export gate "
                               "required: " + "; ".join(a.describe() for a in checks.values())
                               + f". Pass variant={accuracy.REFERENCE!r} (the reference), or re-export on this CPU.")
        assert failed is not None, "no candidates to measure"
        raise failed  # every candidate failed: the last error says why
    seconds = round(time.perf_counter() - start, 2)
    choice = Choice(best.name, best.runtime, "measured", measured, str(path) if path else None, seconds, checks)
    if path is not None:
        cache.save(path, key_data, choice)
    logger.info("variant=auto: %s", choice.describe())
    return choice, best


def probe(c: Candidate, ids: list[np.ndarray]) -> float:
    """Sentences/s of ``c`` on ``ids`` in batches of :data:`PROBE_BATCH` (best of 2 calls, after a warm-up call)."""
    encode = c.encode
    encode(ids, PROBE_BATCH)  # warm-up: a runtime sets up each new shape
    best = math.inf
    for _ in range(2):
        t = time.perf_counter()
        encode(ids, PROBE_BATCH)
        best = min(best, time.perf_counter() - t)
    return round(len(ids) / best, 1)


def run_workload(c: Candidate, bulk: list[np.ndarray], singles: list[np.ndarray], m: Measurement,
                 bound: float | None) -> None:
    """Time ``c`` on the workload into ``m``; stop early (``m.left_out``) once :data:`MARGIN` slower than ``bound``."""
    encode = c.encode
    encode(bulk, None)  # warm-up: every shape of the workload once
    for s in singles:
        encode([s], None)
    rates = [_rate(encode, bulk)]
    if bound is not None and len(bulk) / rates[0] > MARGIN * bound:
        m.sentences_per_s, m.left_out = round(rates[0], 1), "its bulk call alone is slower than the best workload"
        m.left_out_kind = "slower"
        return
    times = [_single(encode, singles[i % len(singles)]) for i in range(8)]
    estimate = len(bulk) / max(rates) + SINGLE_CALLS * float(np.median(times))
    if bound is None or estimate < MARGIN * bound:  # close: time it again
        rates.append(_rate(encode, bulk))
        times += [_single(encode, singles[i % len(singles)]) for i in range(8)]
    rate, one = max(rates), float(np.median(times))
    m.sentences_per_s, m.single_ms = round(rate, 1), round(1000 * one, 3)
    m.workload_s = round(len(bulk) / rate + SINGLE_CALLS * one, 5)


def _rate(encode: Encode, bulk: list[np.ndarray]) -> float:
    t = time.perf_counter()
    encode(bulk, None)
    return len(bulk) / (time.perf_counter() - t)


def _single(encode: Encode, ids: np.ndarray) -> float:
    t = time.perf_counter()
    encode([ids], None)
    return time.perf_counter() - t


def _groups(candidates: list[Candidate]) -> list[list[Candidate]]:
    """Consecutive candidates whose files together stay under the memory budget (at least one a group)."""
    budget = min(LOAD_BYTES, int(MEMORY_SHARE * machine.available_memory()))
    groups: list[list[Candidate]] = []
    size = 0
    for c in candidates:
        if not groups or size + c.size_bytes > budget:
            groups.append([])
            size = 0
        groups[-1].append(c)
        size += c.size_bytes
    return groups


def _open_all(group: list[Candidate], which: str) -> list[Exception | None]:
    """Run the ``which`` openers ("open" or "open_rest") of ``group``, :data:`LOADERS` at a time; per candidate,
    the first error or None."""
    t = time.perf_counter()
    jobs = [(i, fn) for i, c in enumerate(group) for fn in getattr(c, which)]
    errors: list[Exception | None] = [None] * len(group)
    if not jobs:
        return errors
    with ThreadPoolExecutor(max(1, min(LOADERS, os.cpu_count() or 1, len(jobs)))) as pool:
        futures = [(i, pool.submit(fn)) for i, fn in jobs]
        for i, future in futures:
            error = future.exception()
            if error is not None and errors[i] is None:
                errors[i] = error if isinstance(error, Exception) else RuntimeError(str(error))
    logger.debug("opened %d session(s) of %s in %.2f s", len(jobs), [c.name for c in group], time.perf_counter() - t)
    return errors


def _close_all(candidates: list[Candidate]) -> None:
    for c in candidates:
        try:
            c.close()
        except Exception as e:  # freeing must not fail the Encoder that won
            logger.debug("closing %s: %s", c.name, e)


def _leave_out(c: Candidate, error: Exception, losers: list[Candidate]) -> Exception:
    logger.warning("variant=auto: %s does not run here (%s: %s); leaving it out", c.name, type(error).__name__, error)
    losers.append(c)
    return error
