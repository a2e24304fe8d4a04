"""Checkpoints: a directory that plain ``transformers.AutoModel.from_pretrained`` loads.

Layout of a checkpoint directory::

    config.json, model.safetensors      the encoder (its ``pooler`` = the SimCSE MLP head, where it has one)
    mlp_head.safetensors                 only for an encoder without a pooler layer trained with ``cls``: the
                                         MLP head (``dense.weight``, ``dense.bias``; tanh(dense(h[CLS])))
    tokenizer.json, tokenizer_config.json, ...   the tokenizer (padding off, truncation and model_max_length at
                                                 max_seq_length)
    modules.json, sentence_bert_config.json, 1_Pooling/, 2_Dense/   sentence-transformers' layout of the same
                                         pooling and length (see :mod:`trainer.st_files`)
    simcse.json                          SimCSE metadata (below)
    training_state.pt                    only in ``last/``: optimizer, scheduler, RNG, step (for --resume)

``simcse.json``: ``{"format": "simcse-checkpoint", "format_version": 1, "pooler": <inference pooler>,
"max_seq_length": int (serving), "train_max_len": int, "normalize": false, "base": str, "config": {resolved TrainConfig},
"data": {"path", "sha256"}, "step": int, "dev": {scores}, "seed": int, "matryoshka_dims": [int] | null,
"versions": {...}}``.

A run directory holds ``best/`` (best STS-B dev Spearman so far) and ``last/`` (latest state); :mod:`trainer.rundir`
opens one for a new run or a resume. Each is written to a temporary sibling and renamed into place, so it is never half-written: a
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
from .runlog import finite_or_none
from .st_files import write_st_files

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
    for left in old_copies(dest.parent, dest.name):
        shutil.rmtree(left, ignore_errors=True)


def old_copies(run_dir: Path, name: str = "*") -> list[Path]:
    """``.<name>.old-<pid>`` folders in ``run_dir`` of this process or of processes that are gone."""
    found = []
    for old in sorted(run_dir.glob(f".{name}.old-*")):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and (int(pid) == os.getpid() or not alive(int(pid))):
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
            cut = backend.truncation or {}  # the training cut (--max-len) of the last batch: the served length instead
            backend.enable_truncation(int(meta["max_seq_length"]), stride=cut.get("stride", 0),
                                      strategy=cut.get("strategy", "longest_first"),
                                      direction=cut.get("direction", getattr(tokenizer, "truncation_side", "right")))
        before = getattr(tokenizer, "model_max_length", None)
        tokenizer.model_max_length = int(meta["max_seq_length"])  # tokenizer_config.json: AutoTokenizer cuts there too
        try:
            tokenizer.save_pretrained(tmp)
        finally:
            tokenizer.model_max_length = before
        write_st_files(tmp, model, meta["pooler"], meta["max_seq_length"])  # SentenceTransformer(ckpt) pools alike
        (tmp / META_FILE).write_text(json.dumps(finite_or_none(meta), indent=2, allow_nan=False) + "\n")
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
    for f in folder.rglob("*"):
        if f.is_file():
            f.chmod(0o666 & ~mask)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``simcse.json`` of a checkpoint directory."""
    meta = json.loads((Path(path) / META_FILE).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: {META_FILE} is not a {FORMAT} file")
    return meta
