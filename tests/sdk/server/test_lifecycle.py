"""The server as a process: the command line, SIGTERM drain, a failed load, and a clean install."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import venv
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import numpy as np
import pytest
from server_harness import REPO, subprocess_server
from simcse_sdk import Encoder


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def test_help_explains_every_option():
    out = subprocess.run([sys.executable, "-m", "simcse_sdk.server", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for flag in ("--host", "--port", "--device", "--variant", "--threads", "--max-queue", "--max-inputs",
                 "--max-body-bytes", "--no-truncate", "--api-key", "--cors-origin", "--drain-timeout"):
        assert flag in out
    assert "127.0.0.1" in out and "8080" in out


def test_bad_model_dir_fails_before_listening(tmp_path):
    r = subprocess.run([sys.executable, "-m", "simcse_sdk.server", str(tmp_path / "nope")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "does not exist" in r.stderr and "python -m export" in r.stderr


def test_model_that_fails_to_load_exits_nonzero(tiny_model_dir, tmp_path):
    broken = tmp_path / "model"
    broken.mkdir()
    for f in tiny_model_dir.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "model.onnx").write_bytes(b"not a model")
    r = subprocess.run([sys.executable, "-m", "simcse_sdk.server", str(broken), "--port", "0", "--variant", "fp32"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "could not load" in r.stderr


@pytest.mark.real
def test_sigterm_drains_in_flight_requests(minilm_model_dir):
    """Requests in flight when SIGTERM arrives all complete; new ones get 503; the process exits 0."""
    long_texts = [" ".join(["interesting words about many things"] * 60) + f" {i}" for i in range(24)]
    with subprocess_server(minilm_model_dir, "--threads", "2") as running:
        url = running.url

        def call(i: int) -> tuple[int, int]:
            r = httpx.post(f"{url}/v1/embeddings", json={"input": long_texts, "encoding_format": "float"}, timeout=120)
            return r.status_code, len(r.json()["data"])

        with ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(call, i) for i in range(12)]
            deadline = time.monotonic() + 30
            while metric(url, "simcse_requests_in_flight") < 12 and time.monotonic() < deadline:
                time.sleep(0.01)
            running.process.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            late = httpx.post(f"{url}/v1/embeddings", json={"input": ["too late"]}, timeout=30)
            ready = httpx.get(f"{url}/ready", timeout=30)
            results = [f.result() for f in futures]
        assert running.process.wait(timeout=120) == 0
    assert results == [(200, len(long_texts))] * 12  # none lost
    assert late.status_code == 503 and late.headers["retry-after"] == "1"
    assert "draining" in late.json()["error"]["message"]
    assert ready.status_code == 503 and ready.json()["status"] == "draining"


@pytest.mark.real
def test_clean_install_with_only_the_serve_extra(tmp_path, minilm_model_dir):
    """A fresh virtual environment with `pip install .[serve]` (no torch) starts the server and answers."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = str(env_dir / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "-q", f"{REPO}[serve]"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    where = subprocess.run([py, "-c", "import simcse_sdk, importlib.util as u; print(simcse_sdk.__file__); "
                            "print(u.find_spec('torch') is None, u.find_spec('transformers') is None)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout.split()
    assert where[0].startswith(str(env_dir)) and where[1:] == ["True", "True"], where  # no torch, no transformers
    with subprocess_server(minilm_model_dir, "--variant", "int8", python=py, cwd=tmp_path) as running:
        r = httpx.post(f"{running.url}/v1/embeddings", json={"input": ["A man plays a guitar."],
                                                             "encoding_format": "float"}, timeout=30)
    assert r.status_code == 200
    want = Encoder(minilm_model_dir, device="cpu", variant="int8").encode(["A man plays a guitar."], normalize=True)
    np.testing.assert_allclose(r.json()["data"][0]["embedding"], want[0], atol=1e-5)


STOPS = {  # how a stop is asked for -> (server flags, signals sent 0.3 s apart, what the 503 says)
    "drain timeout": (["--drain-timeout", "1"], [signal.SIGTERM],
                      "did not finish within the drain timeout (1 s, --drain-timeout)"),
    "second SIGTERM": ([], [signal.SIGTERM, signal.SIGTERM], "was stopped (SIGINT or a second SIGTERM)"),
    "SIGINT": ([], [signal.SIGINT], "was stopped (SIGINT or a second SIGTERM)"),
}


@pytest.mark.real
@pytest.mark.parametrize("stop", list(STOPS))
def test_requests_still_running_at_a_stop_get_a_503_and_the_process_stops_soon(minilm_model_dir, stop):
    """They got uvicorn's plain-text 500 after two drain timeouts, or waited for their whole computation (Ctrl+C,
    a second SIGTERM), and the process stopped only once the inference threads had finished their rounds."""
    flags, signals, why = STOPS[stop]
    long_texts = [" ".join(["interesting words about many things"] * 60) + f" {i}" for i in range(400)]
    with subprocess_server(minilm_model_dir, "--threads", "2", *flags) as running:
        url = running.url
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(httpx.post, f"{url}/v1/embeddings", json={"input": long_texts}, timeout=120)
            deadline = time.monotonic() + 30
            while metric(url, "simcse_requests_in_flight") < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            sent = time.monotonic()
            for sig in signals:
                running.process.send_signal(sig)
                time.sleep(0.3)
            answer = future.result()
        # a forced stop ends as the signal's own (uvicorn raises it again once stopped: 143 from a shell)
        assert running.process.wait(timeout=60) == (-signal.SIGTERM if stop == "second SIGTERM" else 0)
        stopped = time.monotonic() - sent
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert answer.json()["error"]["code"] == "shutting_down" and why in answer.json()["error"]["message"]
    assert stopped < 8, f"stopped {stopped:.1f} s after the first signal ({stop})"


def test_sigint_stops_cleanly(tiny_model_dir):
    """Ctrl+C: the server stops with status 0 and no traceback, as uvicorn's own command does."""
    proc = subprocess.Popen([sys.executable, "-m", "simcse_sdk.server", str(tiny_model_dir), "--port", "0",
                             "--variant", "fp32", "--device", "cpu"], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "Application startup complete" in line:
            break
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in proc.stderr.read()
