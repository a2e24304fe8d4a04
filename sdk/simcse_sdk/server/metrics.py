"""The server's Prometheus metrics (``GET /metrics``), on a registry of its own.

With ``--workers N`` the supervisor (:mod:`.supervisor`) gives every worker process one
``PROMETHEUS_MULTIPROC_DIR``: prometheus-client's multiprocess mode then keeps each process's values in
files there, and any worker's ``/metrics`` answers for all of them (counters and histograms summed; the
queue and in-flight gauges summed over the live workers; ``simcse_ready`` one series per live worker).

Example:
    >>> m = Metrics()
    >>> m.requests.labels(route="/v1/embeddings", status="200").inc()
    >>> b"simcse_requests_total" in m.render()
    True
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's multiprocess mode: set by the supervisor

__all__ = ["Metrics", "CONTENT_TYPE"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
TOKEN_BUCKETS = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384)

disable_created_metrics()  # no *_created series: they double the output and no dashboard reads them


class Metrics:
    """Every metric the server exports."""

    def __init__(self, shared: bool = False) -> None:
        # the workers' shared files: only in a worker of --workers (a PROMETHEUS_MULTIPROC_DIR left in the
        # environment for another program does not make a single server report that program's files)
        self.shared_dir = (os.environ.get(MULTIPROC_ENV) or None) if shared else None
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("simcse_requests", "HTTP requests by route and status", ["route", "status"],
                                registry=r)
        self.failures = Counter("simcse_request_failures", "Failed or dropped requests by reason", ["reason"],
                                registry=r)
        self.inputs = Counter("simcse_inputs", "Inputs embedded, by what they came as: text, model_token_ids, or "
                              "openai_token_ids (decoded to text)", ["kind"], registry=r)
        self.tokens = Counter("simcse_prompt_tokens", "Real tokens embedded (special tokens included)", registry=r)
        self.truncated = Counter("simcse_truncated_inputs", "Inputs cut to the model's max length", registry=r)
        self.queue_inputs = Gauge("simcse_queue_inputs", "Inputs admitted and not yet answered", registry=r,
                                  multiprocess_mode="livesum")
        self.in_flight = Gauge("simcse_requests_in_flight", "Embedding requests being handled", registry=r,
                               multiprocess_mode="livesum")
        self.batch_size = Histogram("simcse_batch_size", "Inputs per inference batch", buckets=SIZE_BUCKETS,
                                    registry=r)
        self.batch_tokens = Histogram("simcse_batch_padded_tokens", "Padded tokens per inference batch",
                                      buckets=TOKEN_BUCKETS, registry=r)
        self.request_seconds = Histogram("simcse_request_seconds", "Embedding request latency, end to end",
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.queue_seconds = Histogram("simcse_queue_seconds", "Time a request waits for its round",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.inference_seconds = Histogram("simcse_inference_seconds", "Tokenise + embed time of one round",
                                           buckets=LATENCY_BUCKETS, registry=r)
        self.round_inputs = Histogram("simcse_round_inputs", "Inputs per round (the inputs of all requests that "
                                      "waited, run together)", buckets=SIZE_BUCKETS, registry=r)
        self.tokenize_cpu = Counter("simcse_tokenize_cpu_seconds", "CPU time spent tokenising texts", registry=r)
        self.loop_round_cpu = Counter("simcse_loop_round_cpu_seconds", "CPU time of the rounds run on the event "
                                      "loop's thread (a lone input; tokenising included)", registry=r)
        self.ready = Gauge("simcse_ready", "1 when the model is loaded and warm and the server is not draining "
                           "(with --workers: one series a worker, by pid)", registry=r, multiprocess_mode="liveall")

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (of every worker, in multiprocess mode)."""
        if self.shared_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        registry.register(SharedFiles(self.shared_dir))
        return generate_latest(registry)

    def workers_ready(self) -> int:
        """How many live worker processes are ready (multiprocess mode; read from their ``simcse_ready`` files)."""
        assert self.shared_dir is not None, "workers_ready() needs multiprocess mode"
        files = SharedFiles(self.shared_dir, "gauge_liveall_*.db").files()
        return sum(1 for metric in MultiProcessCollector.merge(files, accumulate=False) if metric.name == "simcse_ready"
                   for sample in metric.samples if sample.value == 1)


def worker_marker(path: str, index: int) -> str:
    """The file that says worker ``index`` has not left the shared directory (made by the supervisor at its start)."""
    return os.path.join(path, f"worker-{index}.running")


def leave_shared_dir(path: str, pid: int, index: int, orphaned: bool) -> None:
    """A worker's last step: remove its marker; if ``orphaned`` (its supervisor, which removes the directory, was
    killed), also its files, and the directory once no marker of a worker that may still use it is left: one
    without a pid (a worker still starting, which has written no file yet) or with the pid of a live process."""
    _remove([worker_marker(path, index)])
    if not orphaned:
        return
    _remove(glob.glob(os.path.join(path, f"*_{pid}.db")))
    markers = glob.glob(os.path.join(path, "worker-*.running"))
    if any(_still_there(m) for m in markers):  # another worker may still use it: it removes the directory
        return
    _remove(markers + glob.glob(os.path.join(path, "*.db")))  # of workers killed outright, or gone before
    try:
        os.rmdir(path)
    except OSError:  # another worker removed it meanwhile
        pass


def join_shared_dir(path: str, pid: int, index: int) -> None:
    """A worker's first step: its pid in its marker, so that one killed outright does not keep the directory."""
    with open(worker_marker(path, index), "w", encoding="utf-8") as f:
        f.write(str(pid))


def _still_there(marker: str) -> bool:
    """Whether the worker of ``marker`` may still use the directory: starting (no pid yet) or alive."""
    try:
        with open(marker, encoding="utf-8") as f:
            text = f.read().strip()
        if text:
            os.kill(int(text), 0)
    except (FileNotFoundError, ProcessLookupError):
        return False
    except (OSError, ValueError):  # no permission to signal it (alive), or a marker being written
        return True
    return True


def _remove(files: list[str]) -> None:
    for f in files:
        Path(f).unlink(missing_ok=True)


class SharedFiles:
    """prometheus-client's multiprocess collector over the workers' files, less those not written yet: a worker
    creates its file empty and sizes it after, and reading it in between fails (a /metrics answered 500)."""

    def __init__(self, path: str, pattern: str = "*.db") -> None:
        self.path, self.pattern = path, pattern

    def files(self) -> list[str]:
        out = []
        for f in glob.glob(os.path.join(self.path, self.pattern)):
            try:
                if os.path.getsize(f) > 0:
                    out.append(f)
            except OSError:  # removed since (a worker marked dead)
                continue
        return out

    def collect(self) -> Iterable[Metric]:
        return MultiProcessCollector.merge(self.files(), accumulate=True)
