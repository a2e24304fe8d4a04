"""Fixtures for the embedding job: real sentences (STS-B test, wiki) written as input files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def sts_and_wiki(data_dir: Path, n: int) -> list[str]:
    """``n`` real sentences: STS-B test pairs' sentences, then wiki1m lines (some repeat, as in real corpora)."""
    sts = data_dir / "senteval" / "downstream" / "STS" / "STSBenchmark" / "sts-test.csv"
    out: list[str] = []
    for line in sts.read_text(encoding="utf-8").splitlines():
        out += [s for s in line.split("\t")[5:7] if s.strip()]
    wiki = next((data_dir / "train").glob("wiki1m*.txt"))
    with open(wiki, encoding="utf-8") as f:
        out += [s.rstrip("\n") for s in f if s.strip()]
    assert len(out) >= n, f"only {len(out)} sentences in {data_dir}"
    return out[:n]


@pytest.fixture(scope="session")
def real_sentences(data_dir: Path) -> list[str]:
    """3,000 real sentences."""
    return sts_and_wiki(data_dir, 3000)


def read_by_id(out: Path) -> dict[str, np.ndarray]:
    """The output folder read with pyarrow alone: id -> embedding."""
    table = pq.read_table(out)
    assert table.schema.field("id").type == pa.string()
    assert pa.types.is_fixed_size_list(table.schema.field("embedding").type)
    assert table.schema.field("embedding").type.value_type == pa.float32()
    dim = table.schema.field("embedding").type.list_size
    emb = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(-1, dim)  # (rows, dim)
    ids = table.column("id").to_pylist()
    assert len(set(ids)) == len(ids), "duplicate ids in the output"
    return dict(zip(ids, emb, strict=True))


@pytest.fixture(scope="session")
def by_id() -> Callable[[Path], dict[str, np.ndarray]]:
    """Read an output folder with pyarrow alone into id -> embedding (checking schema and unique ids)."""
    return read_by_id
