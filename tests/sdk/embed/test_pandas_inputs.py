"""Inputs written by pandas: a ``category`` column (in Parquet, dictionary-encoded strings) is read as its strings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from simcse_sdk import Encoder
from simcse_sdk.embed import EmbedConfig, embed_corpus
from simcse_sdk.embed import __main__ as cli
from simcse_sdk.embed.errors import CorpusInputError

pd = pytest.importorskip("pandas")

TEXTS = ["a cat sits on the mat", "a dog runs home", "a cat sits on the mat", None, "rain all day",
         "a dog runs home", "the end"]  # repeats: what makes a column a category; None: a null in it


def category_frame() -> pd.DataFrame:
    return pd.DataFrame({"key": pd.Categorical([f"k{i}" for i in range(len(TEXTS))]), "text": pd.Categorical(TEXTS),
                         "n": range(len(TEXTS))})


def test_a_category_text_and_id_column_in_parquet_embed_as_their_strings(tmp_path: Path, tiny_model_dir: Path,
                                                                         by_id) -> None:
    path = tmp_path / "frame.parquet"
    category_frame().to_parquet(path, row_group_size=3)  # row groups: each its own dictionary
    schema = pq.read_schema(path)
    assert pa.types.is_dictionary(schema.field("text").type) and pa.types.is_dictionary(schema.field("key").type)
    want = Encoder(tiny_model_dir, variant="fp32").encode([t or "" for t in TEXTS])  # a null: a bad row, as ""

    out = tmp_path / "by-key"  # refused before: "column 'text' is dictionary<values=string, ...>, not text"
    s = embed_corpus(tiny_model_dir, [path], out, EmbedConfig(id_column="key", shard_rows=2, variant="fp32",
                                                              progress=False))
    assert (s.rows, s.bad_rows) == (7, 1)
    got = by_id(out)
    assert sorted(got) == [f"k{i}" for i in range(7)]
    np.testing.assert_allclose(np.stack([got[f"k{i}"] for i in range(7)]), want, atol=1e-5)
    assert [json.loads(line)["id"] for line in (out / "_bad_rows.jsonl").read_text().splitlines()] == ["k3"]

    out = tmp_path / "cli"  # simcse-embed, ids file:row
    assert cli.main([str(tiny_model_dir), str(path), "--out", str(out), "--variant", "fp32", "-q",
                     "--no-progress"]) == 0
    got = by_id(out)
    np.testing.assert_allclose(np.stack([got[f"{path}:{i + 1}"] for i in range(7)]), want, atol=1e-5)

    ints = tmp_path / "ints.parquet"  # a category of integer ids: dictionary<values=int64>
    pd.DataFrame({"key": pd.Categorical([7, 9]), "text": pd.Categorical(["x", "y"])}).to_parquet(ints)
    embed_corpus(tiny_model_dir, [ints], tmp_path / "ints", EmbedConfig(id_column="key", progress=False))
    assert sorted(by_id(tmp_path / "ints")) == ["7", "9"]


def test_a_category_of_bytes_or_numbers_is_still_not_text_and_named(tmp_path: Path, tiny_model_dir: Path) -> None:
    path = tmp_path / "bytes.parquet"
    pd.DataFrame({"text": pd.Categorical([b"a", b"b", b"a"]), "n": pd.Categorical([1, 2, 1])}).to_parquet(path)
    with pytest.raises(CorpusInputError, match=r"bytes.parquet' column 'text' is dictionary<values=binary, "
                                               r"indices=int8, ordered=0>, not text: name a string column with "
                                               r"--text-column"):
        embed_corpus(tiny_model_dir, [path], tmp_path / "out", EmbedConfig(progress=False))
    with pytest.raises(CorpusInputError, match=r"column 'n' is int64, not text"):  # Parquet keeps no int dictionary
        embed_corpus(tiny_model_dir, [path], tmp_path / "out", EmbedConfig(text_column="n", progress=False))
    assert not (tmp_path / "out").exists()


def test_the_same_frame_as_csv_reads_the_same(tmp_path: Path, tiny_model_dir: Path, by_id) -> None:
    path = tmp_path / "frame.csv"
    category_frame().to_csv(path, index=False)  # CSV holds no types: the category's strings, a null as ""
    out = tmp_path / "out"
    s = embed_corpus(tiny_model_dir, [path], out, EmbedConfig(id_column="key", variant="fp32", progress=False))
    assert (s.rows, s.bad_rows) == (7, 1)
    got = by_id(out)
    want = Encoder(tiny_model_dir, variant="fp32").encode([t or "" for t in TEXTS])
    np.testing.assert_allclose(np.stack([got[f"k{i}"] for i in range(7)]), want, atol=1e-5)
