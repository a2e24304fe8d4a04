"""Running this project's command lines in a child process, as a user's shell or a scheduler does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def module_env(**extra: str) -> dict[str, str]:
    """This environment, with the repository's packages importable and nothing downloaded."""
    return {**os.environ, "PYTHONPATH": f"{REPO / 'sdk'}{os.pathsep}{REPO}", "HF_HUB_OFFLINE": "1", **extra}


def sigterm_once(args: list[str], ready: Callable[[], bool], env: dict[str, str], cwd: Path | None = None,
                 timeout: float = 120.0) -> tuple[int, str]:
    """Run ``python -m ARGS``, send it SIGTERM as soon as ``ready()`` holds, and return (exit status, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    return proc.returncode, err
