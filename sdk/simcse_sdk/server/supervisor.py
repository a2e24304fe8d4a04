"""``simcse-serve --workers N``: N server processes on one port, under a supervisor process.

The supervisor binds the port (on each address of ``--host``: :mod:`.listening`; on Linux a socket a worker, over
which the kernel spreads new connections evenly), then starts N workers (``spawn``: each a fresh interpreter with its
own model, batcher and event loop) that accept connections from their listening sockets. Connections spread
evenly are not load spread evenly (a few busy clients may all be one worker's), so each worker's inference threads
default to all the CPUs, as one server's do: a worker that holds the busy connections can still use every
core (2-core Xeon, 2 workers, one client sending 32-sentence requests: 1,406 sentences/s with 2 threads a
worker against 778 with 1; ``benchmarks/results/serving-workers-cpu.json``). The workers share a directory
for prometheus-client's multiprocess mode, so that any worker's ``/metrics`` and ``/ready`` answer for all
of them (:mod:`.metrics`, :meth:`.ServerState.workers_unready`).

Signals: SIGTERM drains every worker, as one server drains (:mod:`.runner`), and the supervisor exits 0
once all have; SIGINT, or a second SIGTERM, stops them at once (the supervisor sends them SIGINT). A worker
ignores a repeated SIGTERM: systemd (``KillMode=control-group``) signals every process of a service, so a
worker hears SIGTERM from systemd and again from the supervisor. Each worker runs in a session of its own,
so a terminal's Ctrl+C or ``timeout`` reaches the supervisor only, and a worker whose supervisor is gone
(SIGKILL) drains and exits. A worker that exits on its own (it could not load the model, or it crashed)
stops the others and the supervisor exits 1: a server short of workers does not run on quietly, and
whatever restarts it (systemd, Kubernetes) sees the failure.

Why more than one: one event loop spends 120-180 µs of CPU on a one-sentence request (2-core Xeon,
docs/serving-performance.md), so one process feeds about 6-12 cores of one-sentence traffic; past that, add workers.

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
from multiprocessing import resource_tracker
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from prometheus_client.multiprocess import mark_process_dead

from ..runtimes.machine import default_threads
from .config import ServerConfig
from .listening import REUSE_PORT, listen, url
from .metrics import MULTIPROC_ENV, worker_marker

logger = logging.getLogger(__name__)

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
Worker = Callable[[ServerConfig, str, list[socket.socket], int], None]  # (config, log level, listening sockets, index)


def supervise(config: ServerConfig, log_level: str, worker: Worker) -> int:
    """Run ``config.workers`` processes of ``worker`` on the listening sockets until they stop; the exit status."""
    config = dataclasses.replace(config, threads=config.threads or default_threads())
    received: list[int] = []
    handlers = {sig: signal.signal(sig, lambda sig, frame: received.append(sig)) for sig in STOP_SIGNALS}
    previous = os.environ.get(MULTIPROC_ENV)
    socks: list[socket.socket] = []
    shared: str | None = None
    procs: list[BaseProcess] = []
    exit_code = 0
    try:
        try:
            copies = config.workers if REUSE_PORT else 1
            socks = listen(config.host, config.port, copies)
        except OSError as e:  # as uvicorn alone: a log line and exit status 1, not a traceback
            logger.error("%s", e.strerror or e)
            return 1
        shared = tempfile.mkdtemp(prefix="simcse-metrics-")
        for i in range(config.workers):  # each worker removes its own as it exits (metrics.leave_shared_dir)
            open(worker_marker(shared, i), "x").close()
        os.environ[MULTIPROC_ENV] = shared  # the workers inherit it; prometheus-client reads it when they import it
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=worker, args=(config, log_level, socks[i % copies::copies], i),
                             name=f"simcse-worker-{i}") for i in range(config.workers)]
        _start_holding_signals(procs)
        logger.info("simcse-serve running on %s: %d workers of %d inference threads (pids %s); "
                    "SIGTERM drains them", " and ".join(dict.fromkeys(map(url, socks))), config.workers, config.threads,
                    ", ".join(str(p.pid) for p in procs))
        cpus, threads = default_threads(), config.workers * (config.threads or 1)
        if threads > cpus:  # the default: each worker all the CPUs (see the docstring)
            logger.info("when every worker is busy, %d inference threads share %d CPUs; --threads %d gives each "
                        "worker its share, at the cost of a lone busy worker using only that share",
                        threads, cpus, max(1, cpus // config.workers))
        exit_code = _watch(procs, received, shared)
    finally:
        for p in procs:
            if p.is_alive():  # only if the supervisor itself failed
                p.kill()
                p.join()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        for sock in socks:
            sock.close()
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
    logger.info("all workers stopped (exit status %d)", exit_code)
    return exit_code


def _start_holding_signals(procs: Sequence[BaseProcess]) -> None:
    """Start the workers with SIGTERM and SIGINT blocked (the mask is inherited across exec): a signal while they
    import is held, not fatal, and handled once their server's handlers are in place (``DrainingServer.startup``
    unblocks them). The supervisor's own signals meanwhile wait too, and are handled once it unblocks them."""
    resource_tracker.ensure_running()  # else started by the first worker's start, which unblocks both signals
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        for p in procs:
            p.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _watch(procs: list[BaseProcess], received: list[int], shared: str) -> int:
    """Pass each signal on until every worker has exited: the first SIGTERM as SIGTERM (drain), any later one or a
    SIGINT as SIGINT (stop now). A worker that exits before any signal stops the others: exit status 1."""
    exit_code, forwarded = 0, 0
    alive = list(procs)
    while alive:
        while forwarded < len(received):  # a signal that lands meanwhile is passed on in the next turn
            stop_now = forwarded > 0 or received[forwarded] == signal.SIGINT
            for p in alive:
                _signal(p, signal.SIGINT if stop_now else signal.SIGTERM)
            forwarded += 1
        wait([p.sentinel for p in alive], timeout=0.1)
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
                exit_code = 1
    return exit_code


def _signal(p: BaseProcess, sig: int) -> None:
    if p.pid is not None and p.is_alive():
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
