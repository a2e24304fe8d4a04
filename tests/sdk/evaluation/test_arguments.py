"""The evaluation entry points check their arguments, and encode's output, before using them."""

from __future__ import annotations

import numpy as np
import pytest
from simcse_sdk import InputError, InvalidArgumentError
from simcse_sdk.evaluation import (
    EncodeOutputError,
    TaskError,
    alignment_uniformity,
    evaluate_sts,
    evaluate_transfer,
)


def test_evaluation_arguments(tmp_path):
    with pytest.raises(InputError, match=r"encode must be a function.*e\.g\. Encoder\(\.\.\.\)\.encode; got str"):
        evaluate_sts("my-model", tmp_path)
    with pytest.raises(InputError, match="data_dir must be a path"):
        evaluate_sts(lambda s: np.ones((len(s), 2)), 5)
    with pytest.raises(InputError, match="progress must be True or False"):
        evaluate_sts(lambda s: np.ones((len(s), 2)), tmp_path, progress="yes")
    with pytest.raises(InputError, match="tasks must be None, a comma-separated str or a list"):
        evaluate_sts(lambda s: np.ones((len(s), 2)), tmp_path, tasks=[1, 2])
    with pytest.raises(InvalidArgumentError, match="k=1 is out of range"):
        evaluate_transfer(lambda s: np.ones((len(s), 2)), tmp_path, k=1)
    with pytest.raises(TaskError, match="Unknown split 'validation'; valid splits: train, dev, test"):
        alignment_uniformity(lambda s: np.ones((len(s), 2)), tmp_path, split="validation")
    with pytest.raises(InvalidArgumentError, match="threshold must be a finite gold score"):
        alignment_uniformity(lambda s: np.ones((len(s), 2)), tmp_path, threshold=float("nan"))


def test_encode_output_with_nan_names_the_sentence(tmp_path, write_sts):
    root = write_sts(tmp_path, "STS16-en-test", {"x": [("a b", "c d", "1"), ("e f", "g h", "2")]})

    def encode(sentences):
        out = np.ones((len(sentences), 4), dtype=np.float32)
        out[[s == "e f" for s in sentences]] = np.nan
        return out

    with pytest.raises(EncodeOutputError, match="encode returned NaN or inf for sentence 'e f'"):
        evaluate_sts(encode, root, tasks=["STS16"], progress=False, expected_pairs={})
    with pytest.raises(EncodeOutputError, match="not an array of numbers"):
        evaluate_sts(lambda s: [["x"]] * len(s), root, tasks="STS16", progress=False, expected_pairs={})
