"""Checkpoints: a directory that plain ``transformers.AutoModel.from_pretrained`` loads.

Layout of a checkpoint directory::

    config.json, model.safetensors      the encoder (its ``pooler`` = the SimCSE MLP head, where it has one)
    mlp_head.safetensors                 only for an encoder without a pooler layer trained with ``cls``: the
                                         MLP head (``dense.weight``, ``dense.bias``; tanh(dense(h[CLS])))
    tokenizer.json, tokenizer_config.json, ...   the tokenizer (padding switched off)
    simcse.json                          SimCSE metadata (below)
    training_state.pt                    only in ``last/``: optimizer, scheduler, RNG, step (for --resume)

``simcse.json``: ``{"format": "simcse-checkpoint", "format_version": 1, "pooler": <inference pooler>,
"max_seq_length": int (serving), "train_max_len": int, "normalize": false, "base": str, "config": {resolved TrainConfig},
"data": {"path", "sha256"}, "step": int, "dev": {scores}, "seed": int, "matryoshka_dims": [int] | null,
"versions": {...}}``.

A run directory holds ``best/`` (best STS-B dev Spearman so far) and ``last/`` (latest state).
Each is written to a temporary sibling and renamed into place, so it is never half-written: a
reader sees the old complete directory or the new one (or, for an instant, none: the old one
sits in ``.<name>.old-<pid>`` until the new one is renamed in, and is removed once it is). One that a killed save
left is removed by the next successful save of that name, or put back (or removed) when a run next starts there.

Example:
    >>> meta = read_meta("runs/unsup/best")          # doctest: +SKIP
    >>> meta["pooler"], meta["max_seq_length"], meta["train_max_len"]      # doctest: +SKIP
    ('cls_before_pooler', 512, 32)
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import platform
import shutil
from pathlib import Path
from typing import Any

import torch

from .encoder import HEAD_FILE
from .model import SimCSEModel

logger = logging.getLogger(__name__)

FORMAT = "simcse-checkpoint"
FORMAT_VERSION = 1
META_FILE = "simcse.json"
STATE_FILE = "training_state.pt"


def library_versions() -> dict[str, str]:
    """Versions of python and the libraries that shaped the weights."""
    versions = {"python": platform.python_version()}
    for name in ("torch", "transformers", "tokenizers", "safetensors", "numpy", "simcse-sdk"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def build_meta(
    *, cfg_dict: dict[str, Any], data_path: str, data_sha256: str, step: int, dev: dict[str, Any],
    max_seq_length: int,
) -> dict[str, Any]:
    """The ``simcse.json`` content for a checkpoint at ``step`` of a run with the resolved config ``cfg_dict``;
    ``max_seq_length``: the serving length (:func:`trainer.serving_length.serving_length`)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "pooler": cfg_dict["inference_pooler"],
        "max_seq_length": int(max_seq_length),  # tokens a text keeps when exported and served
        "train_max_len": int(cfg_dict["max_len"]),  # tokens a sentence kept in training (--max-len)
        "normalize": False,
        "base": str(Path(cfg_dict["base"]).resolve()) if Path(cfg_dict["base"]).is_dir() else cfg_dict["base"],
        "config": cfg_dict,
        "data": {"path": data_path, "sha256": data_sha256},
        "step": int(step),
        "dev": dev,
        "seed": int(cfg_dict["seed"]),
        "matryoshka_dims": cfg_dict.get("matryoshka_dims"),  # leading sizes trained as embeddings; None: full only
        "versions": library_versions(),
    }


def _replace_dir(tmp: Path, dest: Path) -> None:
    """Move the complete directory ``tmp`` to ``dest``, replacing any previous ``dest``; then remove every
    ``.<name>.old-<pid>`` of ``dest`` but a live process's (this save's, and one a killed process left, which a
    resumed run may have read its state from)."""
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    if dest.exists():
        os.rename(dest, old)
    try:
        os.rename(tmp, dest)
    except BaseException:  # interrupted between the two renames: the previous dest goes back in place
        if old.exists() and not dest.exists():
            os.rename(old, dest)
        raise
    for left in _old_copies(dest.parent, dest.name):
        shutil.rmtree(left, ignore_errors=True)


def _old_copies(run_dir: Path, name: str = "*") -> list[Path]:
    """``.<name>.old-<pid>`` folders in ``run_dir`` of this process or of processes that are gone."""
    found = []
    for old in sorted(run_dir.glob(f".{name}.old-*")):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            found.append(old)
    return found


def save_checkpoint(
    dest: Path,
    model: SimCSEModel,
    tokenizer: Any,
    meta: dict[str, Any],
    training_state: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint directory atomically (see the module docstring)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        model.encoder.save_pretrained(tmp)  # config.json + model.safetensors
        if model.head is not None:
            model.head.save(tmp)  # mlp_head.safetensors
        meta = {**meta, "mlp_head": HEAD_FILE if model.head is not None else None}
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            backend.no_padding()  # the SDK pads each batch to its own longest sentence
        tokenizer.save_pretrained(tmp)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        if training_state is not None:
            torch.save(training_state, tmp / STATE_FILE)
        _readable_as_umask_allows(tmp)
        _replace_dir(tmp, dest)
    except BaseException:  # a failed or interrupted save leaves no temporary copy of the weights behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("saved checkpoint %s (step %d)", dest, meta["step"])


def _readable_as_umask_allows(folder: Path) -> None:
    """Give every file the mode a new file gets here (0644 under umask 022): safetensors writes its files 0600."""
    mask = os.umask(0)
    os.umask(mask)
    for f in folder.iterdir():
        f.chmod(0o666 & ~mask)


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete ``.<name>.tmp-<pid>`` folders of saves whose process is gone (a job killed mid-save); returns them."""
    removed = []
    for tmp in run_dir.glob(".*.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def prepare_run_dir(run_dir: Path, fresh: bool) -> None:
    """Make ``run_dir`` (an error names it when it cannot be a folder) and clear what a killed job left: stale
    temporary saves, and, for a fresh run, the log of a run that failed before saving anything."""
    from .errors import ConfigError

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        what = "a file stands where it (or a folder above it) should be" if isinstance(
            e, (FileExistsError, NotADirectoryError)) else (e.strerror or type(e).__name__)
        raise ConfigError(f"--out {run_dir}: cannot make the run directory ({what}); pass another --out") from e
    for tmp in remove_stale_temporaries(run_dir):
        logger.info("removed %s, left by a job killed while saving", tmp)
    _recover_old_copies(run_dir)
    if fresh:  # holds_run(run_dir) is False: nothing there can be resumed
        (run_dir / "log.jsonl").unlink(missing_ok=True)
        if (run_dir / "best").exists():
            logger.warning("%s holds the best/ of a run that stopped before its first save of last/: this run "
                           "replaces it", run_dir)
            shutil.rmtree(run_dir / "best")


def _recover_old_copies(run_dir: Path) -> None:
    """The ``.<name>.old-<pid>`` a killed save left: removed where ``<name>/`` exists, put back where it is missing;
    the one ``--resume`` reads its state from stays until this run's first save of ``last/`` removes it."""
    resume_dir = find_resume_dir(run_dir)
    for old in _old_copies(run_dir):
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
    from .errors import ConfigError

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


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``simcse.json`` of a checkpoint directory."""
    meta = json.loads((Path(path) / META_FILE).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: {META_FILE} is not a {FORMAT} file")
    return meta


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
