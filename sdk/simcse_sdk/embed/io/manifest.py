"""The output folder's ``_manifest.json``: which model, inputs and settings made these shards.

Written atomically when the job starts (``status: running``) and again when it ends
(``status: complete``, with the row count and summary). A rerun compares its own identity (model
files' sha256, variant, inputs with size and mtime, settings) with the saved one: equal means
resume, different means :class:`OutputDirError` rather than a folder mixing two jobs.

Example:
    >>> import json
    >>> m = json.load(open("embeddings/_manifest.json"))            # doctest: +SKIP
    >>> m["status"], m["rows"], m["model"]["dim"], m["model"]["normalized"]   # doctest: +SKIP
    ('complete', 100000, 384, False)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ...model.manifest import MANIFEST_NAME as MODEL_MANIFEST
from ...model.manifest import TOKENIZER_NAME, Manifest, sha256_file, write_text_atomic
from ...model.prompts import prompt_text
from ...vectors.dimensions import check_dimensions, check_output
from ...vectors.precision import bytes_per_vector
from ..config import EmbedConfig
from ..errors import OutputDirError, flag
from .inputs import InputFile
from .output_folder import FORMAT, NAME

BAD_ROWS_NAME = "_bad_rows.jsonl"
FORMAT_VERSION = 1


def model_description(model_dir: str | os.PathLike[str], variant: str, config: EmbedConfig) -> dict[str, Any]:
    """The model and the vectors as the output records them: files' sha256 (the variant's from the model
    manifest), dim, the size and type written (``vectors``: dimensions, output, bytes a vector, int8 scale)."""
    root = Path(model_dir)
    m = Manifest.load(root)
    v = m.variants[variant]
    files = {v.file: v.sha256, TOKENIZER_NAME: sha256_file(root / TOKENIZER_NAME),
             MODEL_MANIFEST: sha256_file(root / MODEL_MANIFEST)}
    dims = check_dimensions(config.dimensions, m.embedding_dim) or m.embedding_dim
    check_output(config.output, dims, m.embedding_dim)  # ubinary: whole bytes
    vectors = {"dimensions": dims, "output": config.output, "bytes_per_vector": bytes_per_vector(dims, config.output),
               "prompt": prompt_text(m, config.prompt_name), "trained_dims": [m.embedding_dim, *m.trained_dims]}
    if config.output == "int8":
        if "int8" not in m.output_scales:
            raise OutputDirError(f"{flag('--output int8')} needs the int8 scales an export of this version writes; "
                                 f"{str(root)!r} has none: re-export the model with `python -m export`.")
        vectors["int8_scale"] = m.output_scales["int8"][dims - 1]  # int8 value / 127 * scale = the unit vector's
    normalized = bool(m.normalized or config.normalize or config.dimensions is not None)  # a size asked for: unit rows
    return {"path": str(root), "files": files, "variant": variant, "dtype": v.dtype, "dim": m.embedding_dim,
            "normalized": normalized, "pooling": m.pooling, "max_seq_length": m.max_seq_length, "vectors": vectors}


# How rows are read and shaped, bumped when a rule changes (2: strict CSV, ids never made up, whole float ids as
# ints, records with more fields than the header are bad rows, dimensions= renormalises at the full size too; 3: a
# record of the wrong width is never written, file:line ids too): the shards of a job started under other rules are
# not resumed into a mix.
ROW_RULES = 3


def identity(model: dict[str, Any], inputs: list[InputFile], config: EmbedConfig) -> dict[str, Any]:
    """What decides the shards' content; a resumed job must match it."""
    return {"model_files": model["files"], "variant": model["variant"],
            "inputs": [f.to_dict() for f in inputs], "settings": config.identity(), "row_rules": ROW_RULES}


def load(out_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The saved manifest, or None when the folder has none."""
    path = Path(out_dir) / NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise OutputDirError(f"{str(path)!r} is unreadable ({e}): pass {flag('--overwrite')} to start over, or "
                             f"another {flag('--out')}.") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise OutputDirError(f"{str(path)!r} is not a simcse-embeddings manifest: use another {flag('--out')}, or "
                             f"{flag('--overwrite')}.")
    return data


def check_resumable(saved: dict[str, Any], current: dict[str, Any], out_dir: str | os.PathLike[str]) -> None:
    """Raise :class:`OutputDirError` naming what differs between the saved job and this one."""
    old = saved.get("identity", {})
    if old.get("row_rules", 1) != current["row_rules"]:
        raise OutputDirError(
            f"{str(out_dir)!r} holds shards of a job started by another simcse-sdk version, which read rows by other "
            "rules (CSV quoting, ids, field counts, sizes): its shards and this run's would not match. Pass "
            f"{flag('--overwrite')} to redo the job, or write to another {flag('--out')}."
        )
    diffs = [key for key in current if old.get(key) != current[key]]
    if diffs:
        detail = []
        for key in diffs:
            if key == "inputs" and _renamed(old.get("inputs", []), current["inputs"]):
                moved = [(o["path"], n["path"]) for o, n in zip(old["inputs"], current["inputs"], strict=True) if o != n]
                detail.append("input paths (" + ", ".join(f"{o} is now {n}" for o, n in moved[:3]) + ": the same files, "
                              "named from another folder or another way; the default row ids, path:line, carry the "
                              "path as given, so run the job from the first run's folder with its paths)")
            elif key == "inputs":
                was = {f["path"]: f for f in old.get("inputs", [])}
                now = {f["path"]: f for f in current["inputs"]}
                changed = sorted(set(was) ^ set(now)) + sorted(p for p in set(was) & set(now) if was[p] != now[p])
                detail.append(f"inputs ({', '.join(changed[:5]) or 'order'} added, removed, or changed in size or modification time)")
            elif key == "settings":
                s_old, s_new = old.get("settings", {}), current["settings"]
                detail.append("settings (" + ", ".join(f"{k}: {s_old.get(k)!r} -> {s_new[k]!r}"
                                                       for k in s_new if s_old.get(k) != s_new[k]) + ")")
            else:
                detail.append(key)
        raise OutputDirError(
            f"{str(out_dir)!r} holds shards of a different job: {'; '.join(detail)} differ. "
            f"Pass {flag('--overwrite')} to delete them and start over, or write to another {flag('--out')}."
        )


def _renamed(was: list[dict[str, Any]], now: list[dict[str, Any]]) -> bool:
    """Whether the inputs are the same files in the same order (format, size, modification time), named otherwise."""
    same = [{k: v for k, v in f.items() if k != "path"} for f in was] == [
        {k: v for k, v in f.items() if k != "path"} for f in now]
    return same and [f["path"] for f in was] != [f["path"] for f in now]


def save(out_dir: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    """Write ``_manifest.json`` atomically."""
    path = Path(out_dir) / NAME
    write_text_atomic(path, json.dumps(dict(data, format=FORMAT, format_version=FORMAT_VERSION), indent=2) + "\n")
    return path


def save_bad_rows(out_dir: str | os.PathLike[str], rows: list[dict[str, Any]]) -> Path | None:
    """Write every bad row as one JSON line to ``_bad_rows.jsonl`` (removed when there are none)."""
    path = Path(out_dir) / BAD_ROWS_NAME
    if not rows:
        path.unlink(missing_ok=True)
        return None
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))
    return path
