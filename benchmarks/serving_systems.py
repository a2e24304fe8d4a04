"""The systems of the serving benchmark (benchmarks/serving.py): how each server is started, waited for, left
to finish its queued work between cells, and stopped.

    cmd, route, env = server_command("sdk", Path("models/minilm"), base, threads=2)
    workers = worker_systems(["2x1", "2x2"], threads=2)   # {"sdk-workers-2x1": (2, 1), "sdk-workers-2x2": (2, 2)}
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import psutil

from benchmarks.loadgen import thread_cpu, wrk

ROOT = Path(__file__).resolve().parents[1]

INFINITY = ROOT / ".infinity-env" / "bin" / "infinity_emb"
PORTS = {"sdk": 18080, "naive": 18081, "infinity": 18082, "sdk-baseline": 18083, "sdk-workers": 18084}


def worker_systems(specs: Sequence[str], threads: int) -> dict[str, tuple[int, int]]:
    """The sdk-workers systems of ``--workers`` specs, ``N`` or ``NxT`` (N workers of T inference threads; T
    defaults to ``threads``, as the server's own default): {system name: (workers, threads)}. One spec is named
    ``sdk-workers``, several ``sdk-workers-NxT``."""
    out = {}
    for spec in specs:
        n, x, t = spec.partition("x")
        if not n.isdigit() or int(n) < 1 or (x and (not t.isdigit() or int(t) < 1)):
            raise ValueError(f"--workers {spec!r}: give N or NxT, N workers of T threads each (e.g. 2 or 2x1)")
        workers = (int(n), int(t) if t else threads)
        out["sdk-workers" if len(specs) == 1 else f"sdk-workers-{workers[0]}x{workers[1]}"] = workers
    return out


def server_command(system: str, model_dir: Path, base: Path, threads: int, extra: Sequence[str] = (),
                   baseline: str = "", workers: dict[str, tuple[int, int]] | None = None,
                   port: int | None = None) -> tuple[list[str], str, dict[str, str]]:
    """(command, embeddings URL path, extra environment) for one system; ``extra``: more simcse-serve flags;
    ``workers``: the sdk-workers systems, :func:`worker_systems`."""
    port_arg = str(port or PORTS[system])
    if system.startswith("sdk"):
        env = {"PYTHONPATH": str(Path(baseline) / "sdk")} if system == "sdk-baseline" else {}
        n, t = (workers or {}).get(system, (1, threads))
        processes = ["--workers", str(n)] if n > 1 else []
        return ([sys.executable, "-m", "simcse_sdk.server", str(model_dir), "--port", port_arg, "--variant", "int8",
                 "--threads", str(t), *processes, *extra], "/v1/embeddings", env)
    if system == "naive":
        return ([sys.executable, str(ROOT / "benchmarks" / "serving" / "naive_server.py"), str(model_dir), "--port",
                 port_arg], "/v1/embeddings", {})
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1",
           "INFINITY_ANONYMOUS_USAGE_STATS": "0"}
    return ([str(INFINITY), "v2", "--model-id", str(base), "--served-model-name", "model", "--engine", "torch",
             "--device", "cpu", "--batch-size", "32", "--no-bettertransformer", "--host", "127.0.0.1", "--port", port_arg,
             "--log-level", "warning"], "/embeddings", env)


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:  # /ready where the server has it (503 until loaded), else /health (infinity: 200 once loaded)
            status = httpx.get(url + "/ready", timeout=2).status_code
            if status == 404:
                status = httpx.get(url + "/health", timeout=2).status_code
            if status == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up in {timeout} s")


@dataclass
class Server:
    """One system's server process, up and warmed."""

    system: str
    proc: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT
    path: str  # its embeddings route
    startup_s: float
    ps: psutil.Process | None = None


def start(system: str, args: argparse.Namespace) -> Server:
    cmd, path, env = server_command(system, Path(args.model_dir), Path(args.base), args.threads,
                                    shlex.split(args.sdk_args), args.baseline, args.worker_systems, args.ports[system])
    log = open(Path(args.tmp) / f"{system}.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=ROOT)
    server = Server(system, proc, f"http://127.0.0.1:{args.ports[system]}", path, 0.0)
    server.startup_s = wait_up(server.url, proc)
    server.ps = psutil.Process(proc.pid)
    wrk(server.url + path, args.bodies[1], 16, 2)  # warm-up
    print(f"{system}: up in {server.startup_s:.1f} s", file=sys.stderr)
    return server


def stop(server: Server) -> None:
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.proc.kill()


def settle(servers: list[Server], idle_cores: float = 0.1, timeout: float = 120.0) -> float:
    """Wait until every server is idle (their processes together below ``idle_cores`` over 0.5 s) and return the
    seconds waited: a server keeps computing the requests its last cell left queued after wrk disconnects (a
    slow one, for many seconds), which would take the cores from the next system's cell."""
    started = time.monotonic()
    procs = [s.ps for s in servers if s.ps is not None]
    while time.monotonic() - started < timeout:
        before = sum(sum(thread_cpu(p).values()) for p in procs)
        time.sleep(0.5)
        if (sum(sum(thread_cpu(p).values()) for p in procs) - before) / 0.5 < idle_cores:
            break
    waited = time.monotonic() - started
    if waited > 2.0:
        print(f"  (waited {waited:.1f} s for the servers to finish earlier requests)", file=sys.stderr)
    return waited
