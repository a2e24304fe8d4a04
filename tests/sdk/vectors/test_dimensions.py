"""Requested sizes and output types: checked, cut and renormalised, untrained sizes logged once."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from simcse_sdk.errors import InputError, InvalidArgumentError
from simcse_sdk.vectors.dimensions import SizeNotice, check_dimensions, check_output, cut


@pytest.mark.parametrize(("value", "error", "message"), [
    (0, InvalidArgumentError, r"dimensions=0 is out of range: .* 32 dimensions; ask for 1..32"),
    (33, InvalidArgumentError, r"dimensions=33 is out of range"),
    (8.0, InputError, r"dimensions must be an int from 1 to 32, or None; got float 8.0"),
    (True, InputError, r"got bool True"),
    ("8", InputError, r"got str '8'"),
])
def test_bad_dimensions_name_the_value_and_the_range(value: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        check_dimensions(value, 32)


def test_good_dimensions_and_outputs() -> None:
    assert check_dimensions(None, 32) is None and check_dimensions(np.int64(8), 32) == 8
    assert [check_output(o) for o in ("float32", "int8", "ubinary")] == ["float32", "int8", "ubinary"]
    with pytest.raises(InvalidArgumentError, match="output must be one of float32, int8, ubinary; got 'binary'"):
        check_output("binary")


@pytest.mark.parametrize(("size", "full", "fix"), [
    (12, 32, r"ask for dimensions=16 or 8\.$"),
    (300, 300, r"ask for dimensions=296\.$"),  # a model of 300: 304 is no size it has
    (4, 4, r"use output='float32' or 'int8'\.$"),
    (4, None, r"ask for dimensions=8\.$"),
])
def test_ubinary_of_a_size_not_a_multiple_of_8_suggests_sizes_the_model_has(size: int, full: int | None,
                                                                             fix: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"{size} is not a multiple of 8: {fix}"):
        check_output("ubinary", size, full)


def test_cut_renormalises_each_row() -> None:
    x = np.array([[3.0, 4.0, 100.0], [0.0, 0.0, 1.0]], np.float32)
    np.testing.assert_allclose(cut(x, 2), [[0.6, 0.8], [0.0, 0.0]], atol=1e-7)


def test_an_untrained_size_is_logged_once_a_trained_one_never(caplog: pytest.LogCaptureFixture) -> None:
    notice = SizeNotice([16, 8], 32, "m")
    with caplog.at_level(logging.WARNING, logger="simcse_sdk.vectors.dimensions"):
        for d in (32, 16, 8, 12, 12, 12):
            notice.check(d)
    assert [r.getMessage() for r in caplog.records] == [
        "dimensions=12 was not trained in m (trained: 32, 16, 8): its vectors lose more quality than a trained "
        "size's; pick one of those"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="simcse_sdk.vectors.dimensions"):
        SizeNotice([], 32, "m").check(16)
    assert "trained at 32 dimensions only" in caplog.text and "--matryoshka-dims" in caplog.text
