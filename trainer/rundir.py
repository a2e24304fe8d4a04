"""The run directory (``--out``): opening it for a new run or a ``--resume``, and clearing what a killed job left.

A new run refuses a directory that holds a run (``last/``), and one whose ``best/`` or ``log.jsonl`` it would delete,
unless they are the leftover of a run that stopped before its first save of ``last/`` (its log has a ``start``
record and no ``end``, and its ``best/`` is that run's checkpoint): such a run can be neither resumed nor kept.

Example:
    >>> state_dir, config, state = open_run(Path("runs/u1"), resume=True, main=True)    # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from .checkpoint import META_FILE, STATE_FILE, alive, old_copies, read_meta
from .errors import ConfigError
from .runlog import read_log

logger = logging.getLogger(__name__)


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete ``.<name>.tmp-<pid>`` folders of saves whose process is gone (a job killed mid-save); returns them."""
    removed = []
    for tmp in run_dir.glob(".*.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def prepare_run_dir(run_dir: Path, fresh: bool) -> None:
    """Make ``run_dir`` (an error names it when it cannot be a folder) and clear what a killed job left: stale
    temporary saves, and, for a fresh run, the log of a run that failed before saving anything."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        what = "a file stands where it (or a folder above it) should be" if isinstance(
            e, (FileExistsError, NotADirectoryError)) else (e.strerror or type(e).__name__)
        raise ConfigError(f"--out {run_dir}: cannot make the run directory ({what}); pass another --out") from e
    for tmp in remove_stale_temporaries(run_dir):
        logger.info("removed %s, left by a job killed while saving", tmp)
    _recover_old_copies(run_dir)
    if fresh:  # holds_run(run_dir) is False, and not_a_leftover(run_dir) None: nothing there is kept by anyone
        if (run_dir / "best").exists():
            logger.warning("%s holds the best/ and log.jsonl of a run that stopped before its first save of last/ "
                           "(its log has no end record): this run replaces them", run_dir)
            shutil.rmtree(run_dir / "best")
        (run_dir / "log.jsonl").unlink(missing_ok=True)


def not_a_leftover(run_dir: Path) -> str | None:
    """Why the ``best/`` or ``log.jsonl`` in ``run_dir`` (no ``last/``) is not the leftover of a run that stopped before
    its first save of ``last/``, which a new run may replace; None when it is one, or there is neither."""
    best, log = run_dir / "best", run_dir / "log.jsonl"
    if not best.exists() and not log.exists():
        return None
    records = read_log(log) if log.is_file() else []
    if not any(r.get("type") == "start" for r in records):
        return f"{'its log.jsonl has no start record' if log.exists() else 'it has a best/ but no log.jsonl'}"
    if any(r.get("type") == "end" for r in records):
        return "its log.jsonl says that run finished (an end record): its last/ was removed"
    if best.exists():
        try:
            read_meta(best)
        except (OSError, ValueError) as e:
            return f"its best/ is not a trainer checkpoint ({type(e).__name__}: {e})"
    return None


def _recover_old_copies(run_dir: Path) -> None:
    """The ``.<name>.old-<pid>`` a killed save left: removed where ``<name>/`` exists, put back where it is missing;
    the one ``--resume`` reads its state from stays until this run's first save of ``last/`` removes it."""
    resume_dir = find_resume_dir(run_dir)
    for old in old_copies(run_dir):
        dest = run_dir / old.name[1:].rsplit(".old-", 1)[0]
        if old == resume_dir:
            continue
        if dest.exists() or not (old / META_FILE).is_file():
            shutil.rmtree(old, ignore_errors=True)
            logger.info("removed %s, left by a save that was cut short", old)
        else:
            os.rename(old, dest)
            logger.warning("put %s back as %s: a save was cut short between its two renames", old, dest)


def open_run(run_dir: Path, *, resume: bool, main: bool) -> tuple[Path | None, dict[str, Any] | None,
                                                                  dict[str, Any] | None]:
    """Check ``run_dir`` for a new run or a ``--resume``, and (``main``) prepare it. Returns (the directory resumed
    from, its saved config, its training state), all None for a new run.

    Raises:
        ConfigError: nothing to resume, the run resumed is complete, or a new run's folder already holds one.
    """
    state_dir, config, state = None, None, None
    if resume:
        state_dir = find_resume_dir(run_dir)
        if state_dir is None:
            raise ConfigError(f"--resume: no saved state in {run_dir}/last (nothing to resume)")
        config, state = read_meta(state_dir)["config"], load_training_state(state_dir)
        steps = config.get("steps") or 0
        if state["step"] >= steps > 0:
            raise ConfigError(f"--resume: the run in {run_dir} is complete ({state['step']} of {steps} steps); "
                              f"nothing to resume. {final_checkpoint(run_dir, state_dir)}")
    elif holds_run(run_dir):
        raise ConfigError(f"run directory {run_dir} already holds a run (best/ or last/): pass --resume, or another --out")
    elif (why := not_a_leftover(run_dir)) is not None:
        held = " and ".join(n for n in ("best/", "log.jsonl") if (run_dir / n).exists())
        raise ConfigError(f"--out {run_dir} holds {held}, which a new run would delete, and they are not the leftover "
                          f"of a run that stopped before its first save ({why}): pass another --out, or remove "
                          f"{' and '.join(str(run_dir / n) for n in ('best', 'log.jsonl') if (run_dir / n).exists())}")
    if main:
        prepare_run_dir(run_dir, fresh=not resume)
    return state_dir, config, state


def saved_device(run_dir: Path) -> str | None:
    """The ``--device`` a run to resume was started with (None: nothing to resume, the error comes later)."""
    state_dir = find_resume_dir(run_dir)
    return read_meta(state_dir)["config"].get("device") if state_dir is not None else None


def final_checkpoint(run_dir: Path, last: Path | None = None) -> str:
    """Which checkpoint of a finished run to use: ``best/`` where dev evaluation chose one, else the final ``last/``
    (a run with --eval-steps 0 writes no ``best/``)."""
    if (run_dir / "best").is_dir():
        return f"Its best checkpoint is {run_dir / 'best'}"
    return (f"It was trained without evaluation (--eval-steps 0), so it has no best/: its final checkpoint is "
            f"{last or run_dir / 'last'}")


def holds_run(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a run that ``--resume`` continues (its ``last/``). A run that stopped before its first
    save of ``last/`` holds none, though it may have saved a ``best/``: it could neither be resumed nor restarted."""
    return find_resume_dir(run_dir) is not None


def find_resume_dir(run_dir: Path) -> Path | None:
    """The directory holding the latest resumable state of ``run_dir``, or None.

    Normally ``last/``; if a crash fell between the two renames of a save, the previous ``last/``
    is still complete under ``.last.old-<pid>``.
    """
    last = run_dir / "last"
    if (last / STATE_FILE).is_file():
        return last
    for old in sorted(run_dir.glob(".last.old-*")):
        if (old / STATE_FILE).is_file():
            return old
    return None


def load_training_state(path: Path) -> dict[str, Any]:
    """The training state saved with a ``last/`` checkpoint (our own file: full unpickling is fine)."""
    return torch.load(Path(path) / STATE_FILE, map_location="cpu", weights_only=False)
