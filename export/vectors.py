"""What the manifest says about the vectors: trained Matryoshka sizes, prompts, and the int8 output scales.

- **Trained sizes**: the checkpoint's ``simcse.json`` ``matryoshka_dims`` (written by ``python -m trainer
  --matryoshka-dims``), or ``--matryoshka-dims`` for a model trained elsewhere (on a checkpoint that records
  its sizes, only some of those; on one whose simcse.json records none, refused). Never guessed from a name.
- **Prompts**: a sentence-transformers folder's ``config_sentence_transformers.json`` (``prompts``,
  ``default_prompt_name``), overridden or extended by ``--prompt NAME=TEXT`` / ``--default-prompt-name``.
- **int8 output scales**: for each size 1..dim, the largest |component| of the unit vectors of the calibration
  sentences (the static int8 recipe's file when there is one, else the gate's probe sentences), embedded by the
  torch model: ``Encoder.encode(..., output="int8")`` scales by it (:mod:`simcse_sdk.vectors.precision`).

Example:
    >>> parse_prompts(["query=query: ", "passage=passage: "])
    {'query': 'query: ', 'passage': 'passage: '}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from simcse_sdk.vectors.precision import int8_scales

from .calibration import calibration_sentences
from .source import Source, SourceError

logger = logging.getLogger(__name__)

ST_CONFIG = "config_sentence_transformers.json"


def parse_prompts(items: Sequence[str]) -> dict[str, str]:
    """``--prompt NAME=TEXT`` values as {name: text} (the text keeps its spaces: ``query=query: ``)."""
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise SourceError(f"--prompt {item!r}: write NAME=TEXT, e.g. --prompt 'query=query: '")
        out[name.strip()] = text
    return out


def trained_dims(source: Source, flag: Sequence[int] | None, full: int) -> list[int]:
    """The Matryoshka sizes below ``full`` the model was trained for (descending), from simcse.json or the flag.

    The flag is for a model trained elsewhere (no simcse.json): where simcse.json records the sizes, the flag may
    keep some of them only (so that a variant the gate refuses at one size can be published at the others); a size
    it does not record is refused (the manifest would promise a size that was never trained), and so is the flag
    on a checkpoint whose simcse.json records none (``null``: trained at its full size only).
    """
    recorded = [int(d) for d in source.metadata.get("matryoshka_dims") or []]
    where = f"{source.path}/simcse.json matryoshka_dims"
    dims = _checked(list(flag), "--matryoshka-dims", full) if flag else []
    if not recorded and flag and source.metadata:  # simcse.json written without sizes: trained at full size only
        raise SourceError(
            f"--matryoshka-dims {list(flag)}: this checkpoint was trained at its full size only ({where} "
            f"{json.dumps(source.metadata.get('matryoshka_dims'))}), so the manifest would promise sizes that were "
            "never trained (and the SDK would no longer warn that cutting its vectors loses quality). Drop "
            "--matryoshka-dims, or train with python -m trainer --matryoshka-dims to get sizes that hold."
        )
    if not recorded:
        return dims
    trained = _checked(recorded, where, full)
    untrained = [d for d in dims if d not in trained]
    if untrained:
        raise SourceError(
            f"--matryoshka-dims {list(flag or [])} names {untrained}, which this checkpoint was not trained for ({where} "
            f"{recorded}): drop --matryoshka-dims to export the trained sizes, or list some of them only"
        )
    return dims if flag else trained


def _checked(dims: list[int], where: str, full: int) -> list[int]:
    """``dims`` below ``full`` (the full size is always served; the manifest lists the smaller ones).

    Raises:
        SourceError: sizes out of 1..full or not descending, named with ``where`` they came from.
    """
    bad = [d for d in dims if not 1 <= d <= full]
    if bad or any(a <= b for a, b in zip(dims, dims[1:], strict=False)):
        raise SourceError(f"{where} {dims}: sizes must be descending, from {full} (this model's size) down to 1")
    return [d for d in dims if d < full]


def prompts(source: Source, flag: dict[str, str], default: str | None) -> tuple[dict[str, str], str | None]:
    """(prompts, default prompt name): the sentence-transformers config's, then the flags'."""
    found: dict[str, Any] = {}
    config = source.path / ST_CONFIG
    if config.is_file():
        found = json.loads(config.read_text(encoding="utf-8"))
    table = {str(k): str(v) for k, v in (found.get("prompts") or {}).items()} | flag
    name = default if default is not None else found.get("default_prompt_name")
    if name is not None and name not in table:
        raise SourceError(f"default prompt {name!r} is not one of the prompts {sorted(table)}: add it with "
                          f"--prompt '{name}=TEXT' or pick another --default-prompt-name")
    if source.pooling_skips_prompt and any(table.values()):
        raise SourceError(
            f"{source.path}/1_Pooling/config.json says include_prompt: false: sentence-transformers pools from the "
            "first token after the prompt (the mean of the rest, or that token for CLS pooling), and this export pools "
            f"every token it is given, so prompted texts would get other vectors. Prompts {sorted(k for k, v in table.items() if v)}: export a "
            "copy of the folder without them in config_sentence_transformers.json (and no --prompt), or with "
            "include_prompt: true if the model was trained that way."
        )
    if table:
        logger.info("prompts: %s (default %s)", ", ".join(f"{k}={v!r}" for k, v in table.items()), name)
    return table, name


def output_scales(encode: Callable[[list[str]], np.ndarray], calibration: Path | None,
                  probe_embeddings: np.ndarray) -> tuple[dict[str, list[float]], str]:
    """({"int8": scale of each size 1..dim}, where the sentences came from): the calibration file's first 512
    sentences embedded by ``encode`` (the torch model), else the gate's probe embeddings (n, dim)."""
    sentences = calibration_sentences(calibration) if calibration is not None else []
    if sentences:
        return {"int8": int8_scales(encode(sentences))}, f"{len(sentences)} sentences of {calibration}"
    return {"int8": int8_scales(probe_embeddings)}, f"the gate's {len(probe_embeddings)} probe sentences"
