"""The accuracy gate's probe set: a variant wrong only on long inputs is refused."""

from __future__ import annotations

import zlib

import numpy as np

from export.gate import LONG_TEXT_SENTENCES, LONG_TEXTS, Thresholds, check_variant, long_texts, reference


def hashed(sentences: list[str]) -> np.ndarray:
    """Unit vectors that differ per text (a stand-in for a model: the gate compares, it does not score quality)."""
    rows = [np.random.default_rng(zlib.crc32(s.encode())).standard_normal(16) for s in sentences]
    out = np.asarray(rows, dtype=np.float32).reshape(len(sentences), 16)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def wrong_when_long(sentences: list[str]) -> np.ndarray:
    """The reference, except on texts of more than 600 characters (as a variant whose error grows with length)."""
    out = hashed(sentences)
    out[[len(s) > 600 for s in sentences]] *= -1
    return out


def test_the_probe_set_holds_long_texts_of_its_sentences():
    sentences = [f"sentence number {i} of the probe set." for i in range(LONG_TEXT_SENTENCES * LONG_TEXTS + 5)]
    long = long_texts(sentences)
    step = len(sentences) // LONG_TEXT_SENTENCES  # across the whole set, which may come sorted by length
    assert len(long) == LONG_TEXTS and long[1] == " ".join(sentences[1 :: step][:LONG_TEXT_SENTENCES])
    assert long_texts(sentences[:LONG_TEXT_SENTENCES - 1]) == []  # too few sentences for one


def test_a_variant_wrong_only_on_long_inputs_is_refused(data_dir):
    ref = reference(hashed, str(data_dir))
    assert f"{LONG_TEXTS} texts of {LONG_TEXT_SENTENCES}" in ref.probe_set
    assert sum(len(s) > 600 for s in ref.sentences) == LONG_TEXTS  # STS-B dev and SICK-R trial sentences are short
    same = check_variant("int8", hashed, ref, Thresholds(), str(data_dir), "cpu")
    assert same.passed and same.min_cos > 0.999999
    long_wrong = check_variant("int8", wrong_when_long, ref, Thresholds(), str(data_dir), "cpu")
    assert not long_wrong.passed and long_wrong.min_cos < -0.99  # the short sentences alone would have passed
    assert long_wrong.stsb_dev_delta == 0.0
