"""Transfer tasks: loaders on hand-made files, each protocol end to end with a fake encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from simcse_sdk.evaluation import TaskError, evaluate_transfer
from simcse_sdk.evaluation.data.transfer_data import Labelled, TransferData, load_transfer
from simcse_sdk.evaluation.transfer import binary_f1, features, run_task

WORDS = ["the", "a", "film", "movie", "plot", "cast", "really", "quite", "story", "it"]


def sentences(label_words: list[str], labels: np.ndarray, seed: int) -> list[str]:
    """Random filler plus one word that gives the label away (a noisy one for 10% of rows)."""
    rng = np.random.default_rng(seed)
    out = []
    for lab in labels:
        word = label_words[lab] if rng.random() > 0.1 else label_words[rng.integers(len(label_words))]
        filler = rng.choice(WORDS, size=5).tolist()
        out.append(" ".join([*filler[:2], word, *filler[2:]]))
    return out


def labelled(n: int, n_classes: int, seed: int) -> Labelled:
    labels = np.random.default_rng(seed).integers(0, n_classes, size=n)
    return Labelled(sentences([f"w{k}" for k in range(n_classes)], labels, seed), labels)


def test_binary_protocol(hash_encoder) -> None:
    data = TransferData("MR", 2, train=labelled(400, 2, 0))
    score = run_task(hash_encoder, data, k=4, inner_k=3)
    assert score.accuracy > 85 and score.n_test == 400 and len(score.c) == 4
    assert "4-fold" in score.protocol


def test_split_protocol_and_kfold_protocol(hash_encoder) -> None:
    sst = TransferData(
        "SST2", 2, train=labelled(300, 2, 1), dev=labelled(100, 2, 2), test=labelled(100, 2, 3)
    )
    assert run_task(hash_encoder, sst).accuracy > 85
    trec = TransferData("TREC", 6, train=labelled(600, 6, 4), test=labelled(120, 6, 5))
    score = run_task(hash_encoder, trec, k=3)
    assert score.accuracy > 80 and score.f1 is None and score.n_train == 600


def test_pair_features_and_f1(hash_encoder) -> None:
    rows = Labelled(["a b", "c"], np.array([1, 0]), ["a b", "d"])
    f = features(hash_encoder, rows, progress=False, desc="x")
    assert f.shape == (2, 2 * 64)
    np.testing.assert_allclose(f[0, :64], 0.0)  # |u - v| of identical sentences
    assert binary_f1(np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0])) == pytest.approx(0.5)


def test_loaders_on_hand_made_files(tmp_path: Path) -> None:
    root = tmp_path / "senteval/downstream"
    (root / "CR").mkdir(parents=True)
    (root / "CR/custrev.pos").write_text("good  one .\n\nfine\n")
    (root / "CR/custrev.neg").write_text("bad\n")
    cr = load_transfer(tmp_path, "CR", expected={})
    assert cr.train.first == ["good one .", "", "fine", "bad"]  # blank lines kept, as SentEval
    assert cr.train.labels.tolist() == [1, 1, 1, 0] and cr.test is None

    (root / "TREC").mkdir()
    (root / "TREC/train_5500.label").write_bytes(b"NUM:date When was it ?\nLOC:city Which sister\xf0city ?\n")
    (root / "TREC/TREC_10.label").write_text("HUM:ind Who is it ?\n")
    trec = load_transfer(tmp_path, "TREC", expected={})
    assert trec.train.first == ["When was it ?", "Which sister\u00f0city ?"]  # latin-1 fallback
    assert trec.train.labels.tolist() == [5, 4] and trec.test is not None and trec.test.labels.tolist() == [3]

    (root / "MRPC").mkdir()
    header = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    (root / "MRPC/msr_paraphrase_train.txt").write_text(header + "1\t1\t2\tone\ttwo\n0\t3\t4\tx\ty\n")
    (root / "MRPC/msr_paraphrase_test.txt").write_text(header + "1\t5\t6\tp\tq\n")
    mrpc = load_transfer(tmp_path, "MRPC", expected={})
    assert (mrpc.train.first, mrpc.train.second, mrpc.train.labels.tolist()) == (
        ["one", "x"],
        ["two", "y"],
        [1, 0],
    )

    (root / "SST/binary").mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (root / f"SST/binary/sentiment-{split}").write_text("fine film . \t1\nbad \t0\n")
    sst = load_transfer(tmp_path, "SST2", expected={})
    assert sst.dev is not None and sst.dev.first == ["fine film .", "bad"]


def test_unknown_transfer_task(tmp_path: Path, hash_encoder) -> None:
    with pytest.raises(TaskError, match="MR, CR, SUBJ, MPQA, SST2, TREC, MRPC"):
        evaluate_transfer(hash_encoder, tmp_path, tasks=["SICK-E"])


@pytest.mark.real
def test_trec_real_with_fake_encoder(data_dir: Path, hash_encoder) -> None:
    result = evaluate_transfer(hash_encoder, data_dir, tasks=["trec"], progress=False, k=3)
    assert list(result.tasks) == ["TREC"]
    assert 40 < result.accuracies["TREC"] <= 100  # bag of random word vectors: well above chance (~19%)
    assert result.table().splitlines()[0] == "| TREC | Avg. |"
    assert json.loads(json.dumps(result.to_dict()))["tasks"]["TREC"]["n_test"] == 500
