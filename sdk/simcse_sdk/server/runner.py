"""Running the app on uvicorn, with a graceful drain on SIGTERM.

With ``--workers N``, :mod:`.supervisor` runs N such processes on one port.
SIGTERM marks the server as draining: ``/ready`` and new embedding requests answer 503 with
``Retry-After``, requests in flight finish, then uvicorn closes (exit status 0); those still running when
``--drain-timeout`` runs out are answered 503 (OpenAI's error body) and their rounds stop after the batch
they are in. A second SIGTERM or a SIGINT stops at once: unanswered requests get that 503 if their connection
is still open, and the inference threads stop after their current batch. If the model cannot be loaded the
server exits with status 1.

Example:
    >>> run(ServerConfig(model_dir="models/minilm"))      # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
from types import FrameType

import uvicorn

from .app import create_app
from .config import ServerConfig
from .listening import BACKLOG, listen, url
from .metrics import MULTIPROC_ENV, join_shared_dir, leave_shared_dir
from .state import ServerState
from .supervisor import STOP_SIGNALS, supervise

logger = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, whose SIGTERM drains in-flight requests before it stops."""

    def __init__(self, config: uvicorn.Config, state: ServerState, worker: bool = False) -> None:
        super().__init__(config)
        self.state = state
        self.exit_code = 0
        self.worker = worker  # a worker of --workers: a repeated SIGTERM is ignored (the supervisor sends SIGINT)
        self._drain_requested = False
        self._drain_task: asyncio.Task[None] | None = None
        state.on_fatal = self._fatal

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's signal handlers are in place now: a worker's stop signals, held since the supervisor started
        # it, are let through (one that came meanwhile is handled now)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        await super().startup(sockets=sockets)
        if sockets and not self.worker and not self.should_exit:  # uvicorn logs where it listens only when it binds
            logger.info("simcse-serve running on %s (Press CTRL+C to quit)", ", ".join(url(s) for s in sockets))

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self.should_exit and not self._drain_requested:
            self._drain_requested = True
            asyncio.get_event_loop().call_soon_threadsafe(self._start_drain)
            return
        if sig == signal.SIGTERM and self.worker:  # a repeat: systemd signals every process of a service, and the
            return  # supervisor passes it on too (once the drain was done, uvicorn re-raised it: the worker died -15)
        # SIGINT, or a second SIGTERM: stop at once. uvicorn alone would wait for the requests in flight (up to the
        # drain timeout) and the inference threads for their rounds; they are answered 503 now, and the rounds stop
        # after their current batch, so uvicorn's own shutdown (lifespan included) is quick and clean.
        super().handle_exit(sig, frame)
        asyncio.get_event_loop().call_soon_threadsafe(self.state.stop_requests, "was stopped (SIGINT or a second SIGTERM)")

    def _start_drain(self) -> None:
        self._drain_task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        await self.state.drain(self.state.config.drain_timeout)
        logger.info("drained; shutting down")
        self.should_exit = True

    def _fatal(self, message: str) -> None:
        self.exit_code = 1
        self.should_exit = True


def run(config: ServerConfig, log_level: str = "info") -> int:
    """Serve until stopped (``config.workers`` processes: see :mod:`.supervisor`); returns the exit status."""
    if config.workers > 1:
        return supervise(config, log_level, worker_main)
    return serve(config, log_level)


def serve(config: ServerConfig, log_level: str = "info", sockets: list[socket.socket] | None = None) -> int:
    """One server process until stopped, on ``config``'s host and port, or on ``sockets`` already bound (a worker).

    The port is bound before the model loads, so a port in use is named at once (exit status 2)."""
    worker = sockets is not None
    if sockets is None:
        try:
            sockets = listen(config.host, config.port)
        except OSError as e:
            logger.error("%s", e.strerror or e)
            return 2
    state = ServerState(config)
    app = create_app(config, state)
    uv = uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level, access_log=False,
                        timeout_graceful_shutdown=config.drain_timeout,  # type: ignore[arg-type]  # a float works
                        backlog=BACKLOG,
                        proxy_headers=False)  # no proxy headers read: scope["client"] is not used
    server = DrainingServer(uv, state, worker=worker)
    try:
        server.run(sockets=sockets)
    except KeyboardInterrupt:  # SIGINT: uvicorn raises it again once stopped; a stop asked for, as uvicorn's own CLI
        pass
    return server.exit_code


def worker_main(config: ServerConfig, log_level: str, socks: list[socket.socket], index: int) -> None:
    """A worker process of :func:`.supervisor.supervise`: its own log output (tagged with its index), then one
    server on the supervisor's sockets; its exit status is the server's."""
    logging.basicConfig(level=log_level.upper(),
                        format=f"%(asctime)s %(levelname)s worker-{index} %(name)s: %(message)s")
    os.setsid()  # signals reach it from the supervisor only: not from a terminal's or timeout's process group
    parent = multiprocessing.parent_process()
    orphaned = threading.Event()
    if parent is not None and parent.sentinel is not None:
        threading.Thread(target=_stop_when_orphaned, args=(parent.sentinel, orphaned), daemon=True,
                         name="simcse-orphan").start()
    shared = os.environ.get(MULTIPROC_ENV)
    if shared:
        join_shared_dir(shared, os.getpid(), index)
    try:
        code = serve(config, log_level, sockets=socks)
    finally:
        if shared:  # orphaned: the last worker removes the metrics directory
            leave_shared_dir(shared, os.getpid(), index, orphaned=orphaned.is_set())
    raise SystemExit(code)


def _stop_when_orphaned(supervisor: int, orphaned: threading.Event) -> None:
    """A worker whose supervisor is gone (killed with SIGKILL, even before this started) drains and exits, as on
    SIGTERM: ``supervisor`` is the end of a pipe that the supervisor holds open while it lives."""
    multiprocessing.connection.wait([supervisor])
    orphaned.set()
    logger.warning("the supervisor is gone: draining and stopping this worker")
    os.kill(os.getpid(), signal.SIGTERM)  # held until its server handles it, if it is still starting
