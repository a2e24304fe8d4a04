"""``simcse-serve --workers N``: one port, N processes, metrics and readiness for all of them, one drain, one failure."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import numpy as np
import pytest
from server_harness import subprocess_server
from simcse_sdk import Encoder


def series(url: str, name: str) -> dict[str, float]:
    """Every sample of metric ``name`` on ``/metrics``: {label text: value}."""
    out = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        m = re.match(rf"{name}(\{{[^}}]*\}})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


def worker_pids(url: str) -> list[int]:
    return sorted(int(re.search(r'pid="(\d+)"', k).group(1)) for k in series(url, "simcse_ready"))  # type: ignore[union-attr]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_workers_share_the_port_and_answer_for_each_other(tiny_model_dir):
    """Requests on fresh connections are answered like Encoder.encode whichever worker takes them; /metrics on any
    worker counts all of them and lists each worker as ready; SIGTERM stops every worker and the server exits 0."""
    texts = [f"sentence number {i} about a cat" for i in range(200)]
    want = Encoder(tiny_model_dir, device="cpu", variant="fp32").encode(texts, normalize=True)
    with subprocess_server(tiny_model_dir, "--workers", "2", "--variant", "fp32") as running:
        url = running.url
        info = httpx.get(f"{url}/info", timeout=30).json()
        assert info["limits"]["workers"] == 2 and info["threads"] >= 1
        answered_by, sent = set(), 0  # a worker's request ids start with a prefix of its own
        for text, row in zip(texts, want, strict=True):  # httpx.post: a new connection each, which any worker takes
            r = httpx.post(f"{url}/v1/embeddings", json={"input": text, "encoding_format": "float"}, timeout=30)
            assert r.status_code == 200
            np.testing.assert_allclose(r.json()["data"][0]["embedding"], row, atol=1e-5)
            answered_by.add(r.headers["x-request-id"][:12])
            sent += 1
            if len(answered_by) == 2 and sent >= 24:
                break
        assert len(answered_by) == 2  # both workers answered
        pids = worker_pids(url)
        assert len(pids) == 2 and running.process is not None and running.process.pid not in pids
        assert set(series(url, "simcse_ready").values()) == {1.0}
        assert series(url, "simcse_requests_total")['{route="/v1/embeddings",status="200"}'] == sent
        assert series(url, "simcse_inputs_total") == {'{kind="text"}': sent}
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=60) == 0
    assert all(gone(pid) for pid in pids)


def test_a_worker_that_dies_stops_the_server(tiny_model_dir):
    """A server short of a worker does not run on quietly: the supervisor stops the other one and exits 1."""
    with subprocess_server(tiny_model_dir, "--workers", "2", "--variant", "fp32") as running:
        pids = worker_pids(running.url)
        os.kill(pids[0], signal.SIGKILL)
        assert running.process is not None and running.process.wait(timeout=60) == 1
    deadline = time.monotonic() + 10
    while not gone(pids[1]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(pids[1])


def test_a_worker_that_cannot_load_fails_the_server(tiny_model_dir, tmp_path):
    broken = tmp_path / "model"
    broken.mkdir()
    for f in tiny_model_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "model.onnx").write_bytes(b"not a model")
    r = subprocess.run([sys.executable, "-m", "simcse_sdk.server", str(broken), "--port", "0", "--variant", "fp32",
                        "--workers", "2"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "could not load" in r.stderr and "stopping the other workers" in r.stderr


def test_workers_must_be_a_positive_integer(tiny_model_dir):
    r = subprocess.run([sys.executable, "-m", "simcse_sdk.server", str(tiny_model_dir), "--workers", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "workers must be a positive integer, got 0" in r.stderr


def test_ready_only_when_every_worker_is(tiny_model_dir, tmp_path):
    """/ready's rule, on prometheus-client's real multiprocess files: each worker process writes its own."""
    shared = tmp_path / "metrics"
    shared.mkdir()
    script = textwrap.dedent(f"""
        import sys
        from prometheus_client.multiprocess import mark_process_dead
        from simcse_sdk.server import ServerConfig, ServerState
        state = ServerState(ServerConfig(model_dir={str(tiny_model_dir)!r}, workers=2))
        if sys.argv[1] == "other":  # another worker: ready, then gone without a word (its files stay until marked)
            state.metrics.ready.set(1)
            print(__import__("os").getpid())
        else:
            print(state.workers_unready())
            state.metrics.ready.set(1)
            print(state.workers_unready())
            mark_process_dead(int(sys.argv[2]), {str(shared)!r})
            print(state.workers_unready())
    """)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    other = subprocess.run([sys.executable, "-c", script, "other"], env=env, capture_output=True, text=True,
                           check=True).stdout.strip()
    lines = subprocess.run([sys.executable, "-c", script, "this", other], env=env, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert lines[0].startswith("1 of its 2 workers are ready (--workers)")
    assert lines[1] == "None"  # both ready
    assert lines[2].startswith("1 of its 2 workers are ready")  # the other one marked dead: no longer counted


@pytest.mark.real
def test_sigterm_drains_every_worker(minilm_model_dir):
    """Requests in flight on both workers when SIGTERM reaches the supervisor all complete; the server exits 0."""
    long_texts = [" ".join(["interesting words about many things"] * 60) + f" {i}" for i in range(16)]
    with subprocess_server(minilm_model_dir, "--workers", "2", "--variant", "int8") as running:
        url = running.url

        def call(i: int) -> tuple[int, int]:
            r = httpx.post(f"{url}/v1/embeddings", json={"input": long_texts, "encoding_format": "float"}, timeout=120)
            return r.status_code, len(r.json()["data"])

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(call, i) for i in range(8)]
            deadline = time.monotonic() + 30
            while sum(series(url, "simcse_requests_in_flight").values()) < 8 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert sum(series(url, "simcse_requests_in_flight").values()) == 8  # all in flight when SIGTERM comes
            assert running.process is not None
            running.process.send_signal(signal.SIGTERM)
            results = [f.result() for f in futures]
        assert running.process.wait(timeout=120) == 0
    assert results == [(200, len(long_texts))] * 8  # none lost


def started_supervisor(model_dir, *args: str) -> subprocess.Popen[str]:
    """The supervisor, returned as soon as it logs its port: its workers are still importing."""
    proc = subprocess.Popen([sys.executable, "-m", "simcse_sdk.server", str(model_dir), "--port", "0", "--variant",
                             "fp32", "--device", "cpu", "--workers", "2", *args], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "running on http://" in line:
            return proc
    raise AssertionError(f"the supervisor exited with {proc.wait()} before listening")


@pytest.mark.parametrize("worker", [True, False])
def test_a_workers_repeated_sigterm_after_its_drain_is_ignored(worker):
    """systemd signals every process of a service and the supervisor passes SIGTERM on too: a worker whose drain was
    already done when the second came had uvicorn raise it again at the end and died -15 (the supervisor then exited
    1). One server alone still takes a second SIGTERM as a stop at once, and ends as the signal's own."""
    code = textwrap.dedent(f"""
        import os, signal, types, uvicorn
        from simcse_sdk.server.runner import DrainingServer
        server = DrainingServer(uvicorn.Config(app=None), types.SimpleNamespace(stop_requests=print), worker={worker})
        server._drain_requested = server.should_exit = True  # drained: uvicorn is shutting down
        with server.capture_signals():
            os.kill(os.getpid(), signal.SIGTERM)
        print("exited normally")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    if worker:
        assert done.returncode == 0 and "exited normally" in done.stdout, done.stderr
    else:
        assert done.returncode == -signal.SIGTERM


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_the_workers_start_is_a_clean_stop(tiny_model_dir, sig):
    """systemctl stop right after start: the workers hold the signal until their server can drain, then exit 0."""
    proc = started_supervisor(tiny_model_dir)
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == 0
    err = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in err
    # each worker defaults to all the CPUs: the log says how many threads share them, and the flag that splits them
    assert re.search(r"when every worker is busy, \d+ inference threads share \d+ CPUs; --threads \d+ gives", err)


def test_workers_of_a_killed_supervisor_stop(tiny_model_dir, tmp_path, monkeypatch):
    """SIGKILL (the OOM killer) leaves no worker holding the port: each notices and drains; the last to exit removes
    the metrics directory that the supervisor can no longer remove."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the supervisor makes its metrics directory
    with subprocess_server(tiny_model_dir, "--workers", "2", "--variant", "fp32") as running:
        pids = worker_pids(running.url)
        assert len(list(tmp_path.glob("simcse-metrics-*"))) == 1
        assert running.process is not None
        running.process.kill()
        deadline = time.monotonic() + 30
        while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert all(gone(pid) for pid in pids)
    assert list(tmp_path.glob("simcse-metrics-*")) == []  # (onnxruntime leaves a .ses file of its own there)


def test_a_host_that_does_not_resolve_is_named(tiny_model_dir):
    r = subprocess.run([sys.executable, "-m", "simcse_sdk.server", str(tiny_model_dir), "--host", "no-such-host.invalid",
                        "--workers", "2"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "cannot listen on no-such-host.invalid" in r.stderr and "--host" in r.stderr


def test_one_server_ignores_a_multiprocess_dir_left_in_the_environment(monkeypatch, tmp_path):
    """PROMETHEUS_MULTIPROC_DIR set for another program (gunicorn images set it) does not make a single server read
    that directory: only a worker of --workers does."""
    from simcse_sdk.server.metrics import MULTIPROC_ENV, Metrics

    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    assert Metrics().shared_dir is None
    assert Metrics(shared=True).shared_dir == str(tmp_path)


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "reuse-port"])
def test_a_port_in_use_is_named(tiny_model_dir, reuse_port):
    """Also when what holds the port set SO_REUSEPORT, as another `simcse-serve --workers` does: the workers' own
    SO_REUSEPORT sockets must not join it and take half of its connections."""
    with socket.socket() as taken:
        if reuse_port:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "simcse_sdk.server", str(tiny_model_dir), "--port", str(port),
                            "--workers", "2"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "pick another --port" in r.stderr
