"""One unit of work, the same for every engine: read a shard, embed its texts, write its file.

Example:
    >>> from simcse_sdk import Encoder
    >>> from simcse_sdk.embed.engines.worker import embed_shard
    >>> result = embed_shard(Encoder("models/minilm"), spec, config, "embeddings/", model)   # doctest: +SKIP
    >>> result["rows"], result["bad"]                                                       # doctest: +SKIP
    (10000, 2)
"""

from __future__ import annotations

import os
import time
from typing import Any

from ...encoder import Encoder
from ..config import EmbedConfig
from ..io.shards import write_shard
from ..plan import ShardSpec, read_shard


def embed_shard(encoder: Encoder, spec: ShardSpec, config: EmbedConfig, out_dir: str | os.PathLike[str],
                model: dict[str, Any]) -> dict[str, Any]:
    """Embed shard ``spec`` with ``encoder`` into ``out_dir``; returns {"index", "rows", "bad", "seconds"}.

    ``model`` (files' sha256, variant) is stored in the shard's metadata, so every shard says
    what made it.
    """
    start = time.perf_counter()
    rows = read_shard(spec, config)
    emb = encoder.encode(rows.texts, batch_size=config.batch_size, max_tokens=config.max_tokens,
                         normalize=config.normalize, dimensions=config.dimensions, output=config.output,
                         prompt_name=config.prompt_name)  # (rows, dim) float32, or int8 / packed uint8
    info = {"input": spec.path, "first_line": spec.first_line, "planned_rows": spec.rows,
            "bad_rows": rows.bad, "variant": encoder.variant, "model_sha256": model.get("files", {})}
    write_shard(out_dir, spec.index, rows.ids, emb, info)
    return {"index": spec.index, "rows": len(rows.ids), "bad": len(rows.bad), "seconds": time.perf_counter() - start}
