"""Running the app on uvicorn, with a graceful drain on SIGTERM.

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
import signal
from types import FrameType

import uvicorn

from .app import create_app
from .config import ServerConfig
from .state import ServerState

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
    """Serve until stopped; returns the process exit status."""
    state = ServerState(config)
    app = create_app(config, state)
    uv = uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level, access_log=False,
                        timeout_graceful_shutdown=config.drain_timeout, backlog=4096,
                        proxy_headers=False)  # no proxy headers read: scope["client"] is not used
    server = DrainingServer(uv, state)
    server.run()
    return server.exit_code
