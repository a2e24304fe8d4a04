"""Checkpoints: a directory that plain ``transformers.AutoModel.from_pretrained`` loads.

Layout of a checkpoint directory::

    config.json, model.safetensors      the encoder (its ``pooler`` = the SimCSE MLP head, where it has one)
    mlp_head.safetensors                 only for an encoder without a pooler layer trained with ``cls``: the
                                         MLP head (``dense.weight``, ``dense.bias``; tanh(dense(h[CLS])))
    tokenizer.json, tokenizer_config.json, ...   the tokenizer (padding switched off)
    simcse.json                          SimCSE metadata (below)
    training_state.pt                    only in ``last/``: optimizer, scheduler, RNG, step (for --resume)

``simcse.json``: ``{"format": "simcse-checkpoint", "format_version": 1, "pooler": <inference pooler>,
"max_seq_length": int, "normalize": false, "base": str, "config": {resolved TrainConfig},
"data": {"path", "sha256"}, "step": int, "dev": {scores}, "seed": int, "matryoshka_dims": [int] | null,
"versions": {...}}``.

A run directory holds ``best/`` (best STS-B dev Spearman so far) and ``last/`` (latest state).
Each is written to a temporary sibling and renamed into place, so it is never half-written: a
reader sees the old complete directory or the new one (or, for an instant, none: the old one
sits in ``.<name>.old-<pid>`` until the new one is renamed in).

Example:
    >>> meta = read_meta("runs/unsup/best")          # doctest: +SKIP
    >>> meta["pooler"], meta["max_seq_length"]      # doctest: +SKIP
    ('cls_before_pooler', 32)
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
    *, cfg_dict: dict[str, Any], data_path: str, data_sha256: str, step: int, dev: dict[str, Any]
) -> dict[str, Any]:
    """The ``simcse.json`` content for a checkpoint at ``step`` of a run with the resolved config ``cfg_dict``."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "pooler": cfg_dict["inference_pooler"],
        "max_seq_length": int(cfg_dict["max_len"]),
        "normalize": False,
        "base": cfg_dict["base"],
        "config": cfg_dict,
        "data": {"path": data_path, "sha256": data_sha256},
        "step": int(step),
        "dev": dev,
        "seed": int(cfg_dict["seed"]),
        "matryoshka_dims": cfg_dict.get("matryoshka_dims"),  # leading sizes trained as embeddings; None: full only
        "versions": library_versions(),
    }


def _replace_dir(tmp: Path, dest: Path) -> None:
    """Move the complete directory ``tmp`` to ``dest``, replacing any previous ``dest``."""
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    if dest.exists():
        os.rename(dest, old)
    os.rename(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)


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
    _replace_dir(tmp, dest)
    logger.info("saved checkpoint %s (step %d)", dest, meta["step"])


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
