"""Fixtures for the embedding job: real sentences (STS-B test, wiki) written as input files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from simcse_sdk.model.manifest import Manifest


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


def rows_differ(got: np.ndarray, want: np.ndarray, model_dir: Path, variant: str) -> str | None:
    """Why the rows of a job (its own batches, threads, processes) differ from ``Encoder.encode`` of the same
    variant in one call; None when they match.

    onnxruntime's variants do not depend on batch composition: to 1e-5. OpenVINO's kernels do (measured on the
    real model, 1,200 STS-B sentences in one call against 12 calls of 100: ov-bf16 up to 9e-4, cosine >= 0.99998;
    ov-int8 1e-4; ov-int8 rows from Ray actors: cosine down to 0.99988), so their rows are held to a per-row
    cosine of 0.999, which a row of another sentence or of another variant does not reach (int8 against ov-int8:
    every row below 0.999, median 0.9915).
    """
    if got.shape != want.shape:
        return f"shapes differ: {got.shape} against {want.shape}"
    if Manifest.load(model_dir).variants[variant].runtime != "openvino":
        worst = float(np.abs(got - want).max(initial=0.0))
        return None if worst <= 1e-5 else f"max |difference| {worst:.2e} > 1e-5 ({variant})"
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))  # (rows,)
    return None if cos.min() >= 0.999 else f"row {int(cos.argmin())}: cosine {cos.min():.6f} < 0.999 ({variant})"


@pytest.fixture(scope="session")
def rows_match() -> Callable[[np.ndarray, np.ndarray, Path, str], None]:
    """Assert that a job's rows equal ``Encoder.encode`` of the variant it ran (see :func:`rows_differ`)."""

    def check(got: np.ndarray, want: np.ndarray, model_dir: Path, variant: str) -> None:
        problem = rows_differ(got, want, model_dir, variant)
        assert problem is None, problem

    return check


@pytest.fixture(scope="session")
def differ() -> Callable[[np.ndarray, np.ndarray, Path, str], str | None]:
    """:func:`rows_differ`, for tests that look for the variant a job ran."""
    return rows_differ
