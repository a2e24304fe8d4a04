"""Bulk embedding: text, JSONL, CSV or Parquet files in, Parquet shards of (id, embedding) out.

Runs in this process (``engine="local"``) or as a Ray Data job (``engine="ray"``), resumes where a
killed run stopped, and writes each shard atomically. Needs the ``embed`` extra (pyarrow, tqdm);
Ray needs the ``ray`` extra. Command line: ``simcse-embed MODEL_DIR INPUT... --out DIR``.

Owns the job (:mod:`.job`, :mod:`.plan`, :mod:`.config`, :mod:`.summary`), its files (:mod:`.io`), where it
runs (:mod:`.engines`), and the pieces for users' own pipelines: Ray Data (:mod:`.ray_data`, public as
``simcse_sdk.ray``) and Spark (:mod:`.spark`, public as ``simcse_sdk.spark``). May import the Encoder and the
core rooms (errors, model, inputs, runtimes), never the server or the evaluation.

Example:
    >>> from simcse_sdk.embed import EmbedConfig, embed_corpus
    >>> summary = embed_corpus("models/minilm", ["corpus.txt"], "embeddings/", EmbedConfig(shard_rows=10_000))   # doctest: +SKIP
    >>> print(summary.text())                                                                           # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .config import EmbedConfig
from .errors import (
    CorpusFileNotFoundError,
    CorpusInputError,
    EmbedConfigError,
    ExtraMissingError,
    OutputDirError,
    OutputPathError,
    ShardError,
)

__all__ = [
    "EmbedConfig",
    "embed_corpus",
    "Summary",
    "CorpusFileNotFoundError",
    "CorpusInputError",
    "EmbedConfigError",
    "ExtraMissingError",
    "OutputDirError",
    "OutputPathError",
    "ShardError",
]


def __getattr__(name: str) -> Any:  # the job needs pyarrow: import it only when asked for
    if name == "embed_corpus":
        from .job import embed_corpus

        return embed_corpus
    if name == "Summary":
        from .summary import Summary

        return Summary
    raise AttributeError(name)
