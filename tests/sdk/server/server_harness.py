"""Servers on the loopback interface for the HTTP tests: in a thread (fast) or in a subprocess (signals)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest

pytest.importorskip("uvicorn", reason="the server tests need the serve extra: pip install -e '.[serve]'")

import uvicorn  # noqa: E402
from simcse_sdk.server import ServerConfig, ServerState, create_app  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Running:
    url: str  # http://127.0.0.1:PORT
    state: ServerState | None = None  # in-process servers only
    process: subprocess.Popen[str] | None = None  # subprocess servers only

    def client(self, **kw: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kw)  # type: ignore[arg-type]


def wait_ready(url: str, timeout: float = 60.0, process: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready within {timeout} s")


@contextmanager
def thread_server(model_dir: Path, state: ServerState | None = None, ready: bool = True,
                  **settings: object) -> Iterator[Running]:
    """The real app on uvicorn in a background thread, on a socket bound to 127.0.0.1:0."""
    settings.setdefault("variant", "int8")  # named, so tests compare with the same variant (auto measures)
    config = ServerConfig(model_dir=str(model_dir), device="cpu", **settings)  # type: ignore[arg-type]
    state = state or ServerState(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(config, state), log_level="warning", access_log=False,
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        if ready:
            wait_ready(url)
        yield Running(url=url, state=state)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextmanager
def subprocess_server(model_dir: Path, *args: str, python: str = sys.executable,
                      cwd: Path | None = None) -> Iterator[Running]:
    """``python -m simcse_sdk.server MODEL_DIR --port 0 ...`` in its own process; the port is read from its log."""
    cmd = [python, "-m", "simcse_sdk.server", str(model_dir), "--port", "0", "--device", "cpu", *args]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=cwd)
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{''.join(lines)}")
            lines.append(line)
            m = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
            url = m.group(1) if m else None
        assert url is not None, "".join(lines)
        threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
        wait_ready(url, process=proc)
        yield Running(url=url, process=proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


class Gate:
    """Holds the batcher's worker thread at the start of its next round until released."""

    def __init__(self, state: ServerState) -> None:
        assert state.batcher is not None
        self.entered = threading.Event()
        self.release = threading.Event()
        batcher = state.batcher
        original: Callable = batcher._run_round  # type: ignore[type-arg]

        def held(*args):  # type: ignore[no-untyped-def]
            self.entered.set()
            assert self.release.wait(30), "gate never released"
            return original(*args)

        batcher._run_round = held  # type: ignore[method-assign]
        batcher._inline = lambda pieces: False  # type: ignore[method-assign]  # held on the worker, not the loop
