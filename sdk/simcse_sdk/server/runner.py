"""Running the app on uvicorn, with a graceful drain on SIGTERM.

With ``--workers N``, :mod:`.supervisor` runs N such processes on one port.
SIGTERM marks the server as draining: ``/ready`` and new embedding requests answer 503 with
``Retry-After``, requests in flight finish, then uvicorn closes (exit status 0). A second
SIGTERM or a SIGINT during the drain stops at once. If the model cannot be loaded the
server exits with status 1.

Example:
    >>> run(ServerConfig(model_dir="models/minilm"))      # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
import time
from types import FrameType

import uvicorn

from .app import create_app
from .config import ServerConfig
from .state import ServerState
from .supervisor import BACKLOG, supervise

logger = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, whose SIGTERM drains in-flight requests before it stops."""

    def __init__(self, config: uvicorn.Config, state: ServerState) -> None:
        super().__init__(config)
        self.state = state
        self.exit_code = 0
        self._drain_task: asyncio.Task[None] | None = None
        state.on_fatal = self._fatal

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self._drain_task is None and not self.should_exit:
            loop = asyncio.get_event_loop()
            loop.call_soon_threadsafe(self._start_drain)
            return
        super().handle_exit(sig, frame)

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
    """Serve until stopped (``config.workers`` processes: see :mod:`.workers`); returns the process exit status."""
    if config.workers > 1:
        return supervise(config, log_level, worker_main)
    return serve(config, log_level)


def serve(config: ServerConfig, log_level: str = "info", sockets: list[socket.socket] | None = None) -> int:
    """One server process until stopped, on ``config``'s host and port, or on ``sockets`` already bound (a worker)."""
    state = ServerState(config)
    app = create_app(config, state)
    uv = uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level, access_log=False,
                        timeout_graceful_shutdown=config.drain_timeout, backlog=BACKLOG,
                        proxy_headers=False)  # no proxy headers read: scope["client"] is not used
    server = DrainingServer(uv, state)
    server.run(sockets=sockets)
    return server.exit_code


def worker_main(config: ServerConfig, log_level: str, sock: socket.socket, index: int) -> None:
    """A worker process of :func:`.supervisor.supervise`: its own log output (tagged with its index), then one
    server on the supervisor's socket; its exit status is the server's."""
    logging.basicConfig(level=log_level.upper(),
                        format=f"%(asctime)s %(levelname)s worker-{index} %(name)s: %(message)s")
    os.setsid()  # signals reach it from the supervisor only, once: not again from a terminal's or timeout's group
    supervisor = os.getppid()
    threading.Thread(target=_stop_when_orphaned, args=(supervisor,), daemon=True, name="simcse-orphan").start()
    raise SystemExit(serve(config, log_level, sockets=[sock]))


def _stop_when_orphaned(supervisor: int) -> None:
    """A worker whose supervisor is gone (killed with SIGKILL) drains and exits, as on SIGTERM, within a second."""
    while os.getppid() == supervisor:
        time.sleep(1.0)
    logger.warning("the supervisor (pid %d) is gone: draining and stopping this worker", supervisor)
    os.kill(os.getpid(), signal.SIGTERM)
