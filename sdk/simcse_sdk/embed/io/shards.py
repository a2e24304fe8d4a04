"""Output shards: ``part-<index>.parquet`` files with an ``id`` and an ``embedding`` column.

``embedding`` is a ``fixed_size_list<float32>[dim]``, which pyarrow, pandas, DuckDB and Spark read
without this package. Each shard is written to a hidden temporary file in the same folder, synced,
then renamed: a shard file that exists is complete, so a killed job leaves nothing half-written and
a rerun skips the shards that exist. Readers of the folder ignore ``.``- and ``_``-prefixed names
(the temporary files, ``_manifest.json``, ``_bad_rows.jsonl``). The shard's bad rows and the model
that embedded it are kept in the file's own metadata.

Example:
    >>> import pyarrow.parquet as pq
    >>> table = pq.read_table("embeddings/")                     # doctest: +SKIP
    >>> table.schema                                            # doctest: +SKIP
    id: string
    embedding: fixed_size_list<element: float>[384]
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ShardError, flag, require

require("pyarrow", "embed", "The embedding job")
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

PREFIX = "part-"
SUFFIX = ".parquet"
META_KEY = b"simcse.shard"


def shard_name(index: int) -> str:
    """File name of shard ``index``."""
    return f"{PREFIX}{index:06d}{SUFFIX}"


def embedding_array(emb: np.ndarray) -> pa.FixedSizeListArray:
    """(N, width) vectors as a fixed-size-list array of N rows: float32 (other floats are cast), or ``encode``'s
    int8 (output="int8") and uint8 packed bits (output="ubinary") as they are."""
    dtype = emb.dtype if emb.dtype in (np.int8, np.uint8) else np.float32
    emb = np.ascontiguousarray(emb, dtype=dtype)  # (N, width)
    return pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), emb.shape[1])


def shard_table(ids: list[str], emb: np.ndarray) -> pa.Table:
    """The shard's table: ``id`` string, ``embedding`` fixed_size_list<float32>[dim]."""
    return pa.table({"id": pa.array(ids, type=pa.string()), "embedding": embedding_array(emb)})


def write_shard(out_dir: str | os.PathLike[str], index: int, ids: list[str], emb: np.ndarray,
                info: dict[str, Any]) -> Path:
    """Write shard ``index`` atomically (temporary file, fsync, rename); ``info`` goes into its metadata."""
    table = shard_table(ids, emb)
    meta = dict(info, index=index, rows=len(ids))
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    final = Path(out_dir) / shard_name(index)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table, f, compression="zstd")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)  # a retried or duplicate writer replaces an identical shard
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def complete_shards(out_dir: str | os.PathLike[str]) -> dict[int, Path]:
    """Index -> path of every complete shard file in ``out_dir``."""
    found = {}
    for p in Path(out_dir).glob(f"{PREFIX}*{SUFFIX}"):
        stem = p.name[len(PREFIX): -len(SUFFIX)]
        if stem.isdigit():
            found[int(stem)] = p
    return found


def shard_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata a shard was written with (index, rows, bad rows, model), read from its footer only."""
    meta = pq.read_schema(path).metadata or {}
    if META_KEY not in meta:
        return {}
    return json.loads(meta[META_KEY])


def readable_shards(shards: dict[int, Path]) -> tuple[dict[int, Path], list[tuple[Path, str]]]:
    """Of ``shards`` (:func:`complete_shards`), (index -> path of each whose Parquet footer reads, [(path, why) of
    each that does not]): a shard truncated or damaged after it was written (a copy cut short, a full disk) is not
    taken as done."""
    good, bad = {}, []
    for index, path in sorted(shards.items()):
        try:
            shard_info(path)
        except (OSError, ValueError, pa.ArrowException) as e:  # ArrowInvalid: "Parquet magic bytes not found"
            bad.append((path, str(e) or type(e).__name__))
        else:
            good[index] = path
    return good, bad


def remove_temporaries(out_dir: str | os.PathLike[str]) -> int:
    """Delete leftover temporary shard files (from a killed job); returns how many."""
    n = 0
    for p in Path(out_dir).glob(f".{PREFIX}*.tmp"):
        p.unlink(missing_ok=True)
        n += 1
    return n


def other_files(out_dir: str | os.PathLike[str]) -> list[str]:
    """Names in ``out_dir`` that a Parquet reader of the folder would read but that are not shards of a job
    (readers skip ``.``- and ``_``-prefixed names), sorted."""
    shards = {p.name for p in complete_shards(out_dir).values()}
    return sorted(p.name for p in Path(out_dir).iterdir() if not p.name.startswith((".", "_")) and p.name not in shards)


def duplicate_ids(files: list[Path]) -> tuple[int, list[str]]:
    """(rows whose id an earlier row already has, up to 5 such ids) over the ``id`` column of these shards: a
    vector store keyed on the id would keep one of them. Reads only that column."""
    import pyarrow.compute as pc

    ids = pa.chunked_array([_ids(f) for f in files] or [pa.array([], pa.string())])
    counts = pc.value_counts(ids)
    repeated = pc.filter(counts, pc.greater(counts.field("counts"), 1))
    extra = int(pc.sum(repeated.field("counts")).as_py() or 0) - len(repeated)
    return extra, [str(v) for v in repeated.field("values")[:5].to_pylist()]


def _ids(path: Path) -> pa.Array:
    try:
        return pq.read_table(path, columns=["id"]).column("id").combine_chunks()
    except (OSError, ValueError, pa.ArrowException) as e:
        raise ShardError(f"{path} cannot be read ({e}): the file is damaged. Delete it and rerun the same command "
                         f"(its shard is rebuilt), or pass {flag('--overwrite')} to start over.") from e
