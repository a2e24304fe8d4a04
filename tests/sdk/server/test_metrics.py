"""The workers' shared metrics directory: the last orphaned worker to leave removes it, not one that leaves early."""

from __future__ import annotations

import os
import subprocess

import pytest

pytest.importorskip("prometheus_client", reason="the server tests need the serve extra: pip install -e '.[serve]'")

from simcse_sdk.server.metrics import join_shared_dir, leave_shared_dir, worker_marker  # noqa: E402


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def shared_dir(tmp_path, workers: int):  # type: ignore[no-untyped-def]
    """The directory as the supervisor makes it: an empty marker per worker."""
    for i in range(workers):
        open(worker_marker(str(tmp_path), i), "x").close()
    return tmp_path


def test_the_last_orphan_removes_the_directory_a_worker_killed_outright_does_not_keep_it(tmp_path):
    path = tmp_path / "m"
    path.mkdir()
    shared_dir(path, 3)
    gone, me = dead_pid(), os.getpid()
    join_shared_dir(str(path), gone, 0)  # worker 0 was SIGKILLed: its marker names a pid that no longer runs
    (path / f"counter_{gone}.db").write_bytes(b"x")
    join_shared_dir(str(path), me, 1)
    (path / f"counter_{me}.db").write_bytes(b"x")
    leave_shared_dir(str(path), me, 1, orphaned=True)
    assert path.is_dir() and not (path / f"counter_{me}.db").exists()  # worker 2 is still starting (no pid yet)
    join_shared_dir(str(path), me, 2)
    leave_shared_dir(str(path), me, 2, orphaned=True)
    assert not path.exists()


def test_a_worker_that_is_not_orphaned_leaves_its_files_to_the_supervisor(tmp_path):
    shared_dir(tmp_path, 2)
    join_shared_dir(str(tmp_path), os.getpid(), 0)
    (tmp_path / f"counter_{os.getpid()}.db").write_bytes(b"x")
    leave_shared_dir(str(tmp_path), os.getpid(), 0, orphaned=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"counter_{os.getpid()}.db", "worker-1.running"]
