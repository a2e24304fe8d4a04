"""The STS table over sizes and output types, and the evaluation CLI's --dimensions / --output."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
from scipy.stats import spearmanr
from simcse_sdk import Encoder
from simcse_sdk.evaluation import evaluate_sts
from simcse_sdk.evaluation.__main__ import main
from simcse_sdk.evaluation.data.senteval import load_pairs
from simcse_sdk.evaluation.sizes import evaluate_sizes


@pytest.fixture(scope="module")
def enc(tiny_matryoshka_dir) -> Encoder:
    return Encoder(tiny_matryoshka_dir, device="cpu", variant="fp32")


def test_each_pair_scores_as_encode_shapes_it(enc: Encoder, data_dir) -> None:
    res = evaluate_sizes(enc, data_dir, [32, 8], ["float32", "int8", "ubinary"], tasks=["STS-B"])
    assert list(res.scores) == [(d, o) for d in (32, 8) for o in ("float32", "int8", "ubinary")]
    # the full size asked for is encode(dimensions=32)'s: renormalised rows (the raw ones differ from them in the last
    # bits of the cosines, which swaps near-ties of this tiny random model: 2.8e-4 apart once)
    full = evaluate_sts(lambda texts: enc.encode(texts, dimensions=32), data_dir, tasks=["STS-B"]).scores["STS-B"]
    assert res.scores[(32, "float32")]["STS-B"] == pytest.approx(full, abs=1e-9)
    bytes_row = res.table().splitlines()[-1]
    assert [c.strip() for c in bytes_row.strip("|").split("|")] == ["bytes / vector", "128", "32", "4", "32", "8", "1"]


class HashEncoder:
    """A stand-in Encoder whose vectors differ per sentence (the tiny random model's barely do)."""

    def __init__(self, dim: int) -> None:
        from simcse_sdk.vectors.output import OutputShaper

        self.dim = dim
        self.shaper = OutputShaper(dim, [], [1.0] * dim, "hash")

    def encode(self, sentences: list[str]) -> np.ndarray:
        return np.stack([np.random.default_rng(zlib.crc32(s.encode())).normal(size=self.dim) for s in sentences]
                        ).astype(np.float32)


@pytest.mark.parametrize("dim", [16, 384])
def test_packed_bits_score_as_hamming_by_hand(data_dir, dim) -> None:
    # Pairs at the same Hamming distance tie, as they do by hand: at 384 bits, cosines of unit ±1 rows had come
    # out a rounding step apart for equal distances, which broke the ties (STS-B 80.8570 against 80.8592 for minilm)
    enc = HashEncoder(dim)
    res = evaluate_sizes(enc, data_dir, [dim], ["ubinary"], tasks=["STS-B"])  # type: ignore[arg-type]
    (sub,) = load_pairs(data_dir, "STS-B")
    a, b = enc.encode(list(sub.first)) > 0, enc.encode(list(sub.second)) > 0
    ham = (a != b).sum(axis=1)
    assert res.scores[(dim, "ubinary")]["STS-B"] == pytest.approx(100 * spearmanr(-ham, sub.gold)[0], abs=1e-9)


def test_cli_prints_one_table_and_writes_bytes_per_vector(tiny_matryoshka_dir, data_dir, tmp_path, capsys) -> None:
    out = tmp_path / "sizes.json"
    assert main([str(tiny_matryoshka_dir), "--variant", "fp32", "--data-dir", str(data_dir), "--dimensions", "32,8",
                 "--output", "float32,ubinary", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "STS by size and output" in printed and "| 32 float32 | 32 ubinary | 8 float32 | 8 ubinary |" in printed
    sizes = json.loads(out.read_text())["sizes"]
    assert sorted(sizes) == ["32/float32", "32/ubinary", "8/float32", "8/ubinary"]
    assert sizes["8/ubinary"]["bytes_per_vector"] == 1 and len(sizes["8/ubinary"]["sts"]) == 8  # 7 tasks + Avg.


def test_cli_refuses_bad_sizes_and_types(tiny_matryoshka_dir, capsys) -> None:
    with pytest.raises(SystemExit):
        main([str(tiny_matryoshka_dir), "--output", "float32,binary"])
    assert "output types are float32, int8, ubinary" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--sentence-transformers", "x", "--dimensions", "8"])
    assert "score an exported MODEL_DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tiny_matryoshka_dir), "--tasks", "dev", "--dimensions", "8"])
    assert "which --tasks dev leaves out: add sts" in capsys.readouterr().err
