"""``simcse-serve --workers N``: N server processes on one port, under a supervisor process.

The supervisor binds the port, then starts N workers (``spawn``: each a fresh interpreter with its own
model, batcher and event loop) that accept connections from that one listening socket; the kernel hands
each new connection to one of them, not evenly when there are few. So each worker's inference threads
default to all the CPUs, as one server's do: a worker that got most of the connections can still use every
core (2-core Xeon, 2 workers, wrk: 4 one-sentence clients 981 against 490 sentences/s with 1 thread a
worker, 32-sentence requests from 1 client 1,111 against 766; docs/serving.md). The workers share a directory for prometheus-client's multiprocess mode, so that any worker's
``/metrics`` and ``/ready`` answer for all of them (:mod:`.metrics`, :meth:`.ServerState.workers_unready`).

Signals: SIGTERM drains every worker, as one server drains (:mod:`.runner`), and the supervisor exits 0
once all have; SIGINT stops them; a second signal is passed on too (stop now). Each worker runs in a
session of its own, so that only the supervisor signals it (a terminal's Ctrl+C or ``timeout`` signals the
supervisor's process group); a worker whose supervisor is gone (SIGKILL) drains and exits. A worker that exits on its
own (it could not load the model, or it crashed) stops the others and the supervisor exits 1: a server
short of workers does not run on quietly, and whatever restarts it (systemd, Kubernetes) sees the failure.

Why more than one: one event loop spends 120-180 µs of CPU on a one-sentence request (2-core Xeon,
docs/serving.md), so one process feeds about 6-12 cores of one-sentence traffic; past that, add workers.

Example:
    >>> supervise(ServerConfig(model_dir="models/minilm", workers=4), "info", worker_main)    # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from prometheus_client.multiprocess import mark_process_dead

from ..runtimes.machine import default_threads
from .config import ServerConfig
from .metrics import MULTIPROC_ENV

logger = logging.getLogger(__name__)

BACKLOG = 4096  # connections the kernel holds for accept(): a burst of clients is queued, not refused
Worker = Callable[[ServerConfig, str, socket.socket, int], None]  # (config, log level, listening socket, index)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (port 0: a free one), as uvicorn binds its own."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(e.errno, f"cannot listen on {host}:{port} ({e.strerror}): pick another --port, or stop what "
                               "uses it") from None
    sock.listen(BACKLOG)
    return sock


def supervise(config: ServerConfig, log_level: str, worker: Worker) -> int:
    """Run ``config.workers`` processes of ``worker`` on one socket until they stop; the exit status."""
    threads = config.threads or default_threads()
    config = dataclasses.replace(config, threads=threads)
    sock = listen(config.host, config.port)
    shared = tempfile.mkdtemp(prefix="simcse-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = shared  # the workers inherit it; prometheus-client reads it when they import it
    received: list[int] = []
    handlers = {sig: signal.signal(sig, lambda sig, frame: received.append(sig))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=worker, args=(config, log_level, sock, i), name=f"simcse-worker-{i}")
             for i in range(config.workers)]
    exit_code = 0
    try:
        for p in procs:
            p.start()
        host, port = sock.getsockname()[:2]
        logger.info("simcse-serve running on http://%s:%d: %d workers of %d inference threads (pids %s); "
                    "SIGTERM drains them", host, port, config.workers, threads, ", ".join(str(p.pid) for p in procs))
        forwarded = 0
        alive = list(procs)
        while alive:
            for sig in received[forwarded:]:
                _signal_all(alive, sig)
            forwarded = len(received)
            wait([p.sentinel for p in alive], timeout=0.2)
            for p in [p for p in alive if not p.is_alive()]:
                alive.remove(p)
                p.join()
                assert p.pid is not None
                mark_process_dead(p.pid, shared)
                if not received:  # exited on its own: stop the rest
                    logger.error("worker %s (pid %d) exited with status %s; stopping the other workers", p.name,
                                 p.pid, p.exitcode)
                    exit_code = 1
                    received.append(signal.SIGTERM)
                elif p.exitcode:
                    logger.warning("worker %s (pid %d) stopped with status %s", p.name, p.pid, p.exitcode)
                    exit_code = exit_code or 1
    finally:
        for p in procs:
            if p.is_alive():  # only if the supervisor itself failed
                p.kill()
                p.join()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        sock.close()
        shutil.rmtree(shared, ignore_errors=True)
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
    logger.info("all workers stopped (exit status %d)", exit_code)
    return exit_code


def _signal_all(procs: Sequence[BaseProcess], sig: int) -> None:
    for p in procs:
        if p.pid is not None and p.is_alive():
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
