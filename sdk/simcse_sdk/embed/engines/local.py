"""The local engine: this process, all its cores, the SDK's own batching, one shard after another.

Example:
    >>> from simcse_sdk import Encoder
    >>> from simcse_sdk.embed.engines.local import run_local
    >>> run_local(Encoder("models/minilm"), pending, config, "embeddings/", model, on_done=print)   # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ...encoder import Encoder
from ..config import EmbedConfig
from ..plan import ShardSpec
from .worker import embed_shard


def run_local(encoder: Encoder, pending: list[ShardSpec], config: EmbedConfig, out_dir: str | os.PathLike[str],
              model: dict[str, Any], on_done: Callable[[dict[str, Any]], None]) -> None:
    """Embed each shard of ``pending`` in order; ``on_done`` gets each shard's result as it is written."""
    for spec in pending:
        on_done(embed_shard(encoder, spec, config, out_dir, model))
