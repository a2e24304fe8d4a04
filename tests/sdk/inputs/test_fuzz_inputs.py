"""Property tests: whatever is thrown at ``encode`` / ``encode_ids``, the answer is a SimcseError or a correct result.

Correct means a finite (N, dim) float32 array whose row i equals the embedding of item i on its own
(input order kept whatever the batching). Any other exception fails the test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from simcse_sdk import Encoder, SimcseError

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def encoder(tiny_model_dir):
    return Encoder(tiny_model_dir, device="cpu", variant="fp32", threads=2)


# Any code point (control, private use, unassigned...) and awkward whitespace; lone surrogates separately.
CHARS = st.one_of(st.characters(), st.characters(), st.sampled_from(" \t\n\r\x00\u200b\ufeff\u3000"))
TEXT = st.one_of(
    st.text(CHARS, max_size=40),
    st.integers(100, 400).map(lambda n: " ".join(["word"] * n)),  # longer than max_seq_length: truncated
)
# A text with a lone surrogate (U+D800-U+DFFF): json.loads('"\\ud800"') gives one.
SURROGATE_TEXT = st.tuples(st.text(CHARS, max_size=10), st.integers(0xD800, 0xDFFF).map(chr),
                           st.text(CHARS, max_size=10)).map("".join)
VALID_TEXT = st.one_of(st.text(max_size=40), st.integers(100, 400).map(lambda n: "long " * n))  # no surrogates
OTHER_ITEM = st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=5), st.lists(st.text(max_size=3), max_size=2))
CONTAINERS = ("list", "tuple", "generator", "ndarray", "ndarray_object", "dict", "set", "bytes", "str", "none", "int")


def mostly(valid: st.SearchStrategy, anything: st.SearchStrategy, percent: int = 85) -> st.SearchStrategy:
    """``valid`` ``percent`` % of the time, else ``anything``: bad values in one place leave the others a turn."""
    return st.tuples(st.integers(0, 99), valid, anything).map(lambda t: t[1] if t[0] < percent else t[2])


BAD_OPTION = st.one_of(st.integers(-(2**70), 0), st.integers(2**63, 2**70), st.floats(), st.text(max_size=3),
                       st.booleans(), st.just([1]), st.none())
SIZE = mostly(st.one_of(st.none(), st.integers(1, 3), st.integers(1, 40)), BAD_OPTION)
TOKENS = mostly(st.one_of(st.none(), st.integers(1, 64), st.integers(1, 5000)), BAD_OPTION)
FLAG = mostly(st.booleans(), st.one_of(st.none(), st.integers(0, 1), st.text(max_size=2)))
ORDERED = ("list", "tuple", "generator", "ndarray", "ndarray_object")


def _wrap(kind: str, items: list) -> object:
    """``items`` in the container ``kind``; the ordered kinds keep the order of ``items``."""
    if kind == "list":
        return list(items)
    if kind == "tuple":
        return tuple(items)
    if kind == "generator":
        return (x for x in items)
    if kind == "ndarray":
        return np.array([str(x) for x in items])
    if kind == "ndarray_object":
        return np.array(items + [None], dtype=object)[:-1]  # 1-D even when items are lists
    if kind == "dict":
        return {repr(x): x for x in items}
    if kind == "set":
        return {repr(x) for x in items}
    if kind == "bytes":
        return "".join(map(str, items)).encode("utf-8", "surrogatepass")
    if kind == "str":
        return "".join(map(str, items))
    if kind == "none":
        return None
    return len(items)


def _ordered_items(kind: str, items: list) -> list:
    return [str(x) for x in items] if kind == "ndarray" else list(items)


def _check_result(encoder: Encoder, out: np.ndarray, items: list, normalize: bool, one) -> None:
    """``out`` is finite (N, dim) float32 and rows first, middle and last equal ``one(item)``."""
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert out.shape == (len(items), encoder.dim)
    assert np.isfinite(out).all()
    for i in sorted({0, len(items) // 2, len(items) - 1} if items else set()):
        np.testing.assert_allclose(out[i], one(items[i]), atol=1e-5)
    if normalize and len(items):
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)


@SETTINGS
@given(kind=mostly(st.sampled_from(ORDERED), st.sampled_from(CONTAINERS), 70), items=st.lists(TEXT, max_size=24),
       odd=mostly(st.none(), st.tuples(st.integers(0, 24), st.one_of(OTHER_ITEM, SURROGATE_TEXT)), 60),
       batch_size=SIZE, max_tokens=TOKENS, normalize=FLAG)
def test_encode_anything_gives_an_sdk_error_or_a_correct_result(encoder, kind, items, odd, batch_size, max_tokens,
                                                                 normalize):
    if odd is not None:  # one item that is not a str, or not valid Unicode, somewhere
        items = [*items[: odd[0]], odd[1], *items[odd[0]:]]
    try:
        out = encoder.encode(_wrap(kind, items), batch_size=batch_size, max_tokens=max_tokens, normalize=normalize)
    except SimcseError as e:
        event(f"{type(e).__name__}: {str(e)[:25]}")  # --hypothesis-show-statistics shows how often each outcome came up
        assert str(e)  # every SDK error says something
        return
    event("embedded")
    ordered = _ordered_items(kind, items)
    _check_result(encoder, out, ordered, bool(normalize), lambda t: encoder.encode([t], normalize=bool(normalize))[0])


@SETTINGS
@given(kind=st.sampled_from(ORDERED),
       items=st.lists(VALID_TEXT, max_size=24), batch_size=st.one_of(st.none(), st.integers(1, 40)),
       max_tokens=st.one_of(st.none(), st.integers(1, 5000)), normalize=st.booleans())
def test_valid_input_is_always_embedded_in_order(encoder, kind, items, batch_size, max_tokens, normalize):
    out = encoder.encode(_wrap(kind, items), batch_size=batch_size, max_tokens=max_tokens, normalize=normalize)
    _check_result(encoder, out, _ordered_items(kind, items), normalize,
                  lambda t: encoder.encode([t], normalize=normalize)[0])


VOCAB = 30522  # the tiny model's (real MiniLM) tokenizer
ID = mostly(st.integers(0, VOCAB - 1), st.one_of(st.integers(-3, VOCAB + 3), st.integers(-(2**70), 2**70)), 95)
ID_ITEM = st.one_of(
    st.lists(ID, max_size=132),
    st.lists(ID, max_size=132).map(tuple),
    st.lists(st.integers(0, VOCAB - 1), max_size=132).map(lambda x: np.asarray(x, dtype=np.int64)),
    st.lists(st.integers(0, VOCAB - 1), max_size=10).map(lambda x: np.asarray(x, dtype=np.int32)),
    st.lists(st.floats(), max_size=5),
    st.lists(st.floats(0, 100), max_size=5).map(np.asarray),
    st.lists(st.lists(st.integers(0, 9), max_size=3), max_size=3),
    st.text(max_size=5), st.integers(), st.none(),
)


@SETTINGS
@given(items=st.lists(mostly(st.lists(st.integers(0, VOCAB - 1), min_size=1, max_size=128), ID_ITEM, 80), max_size=12),
       batch_size=SIZE, normalize=FLAG)
def test_encode_ids_anything_gives_an_sdk_error_or_a_correct_result(encoder, items, batch_size, normalize):
    try:
        out = encoder.encode_ids(items, batch_size=batch_size, normalize=normalize)
    except SimcseError as e:
        event(type(e).__name__)
        assert str(e)
        return
    event("embedded")
    _check_result(encoder, out, items, bool(normalize),
                  lambda ids: encoder.encode_ids([ids], normalize=bool(normalize))[0])


@SETTINGS
@given(items=st.lists(st.lists(st.integers(0, VOCAB - 1), min_size=1, max_size=128), max_size=12),
       batch_size=st.one_of(st.none(), st.integers(1, 12)))
def test_valid_token_ids_are_always_embedded_in_order(encoder, items, batch_size):
    out = encoder.encode_ids(items, batch_size=batch_size)
    _check_result(encoder, out, items, False, lambda ids: encoder.encode_ids([ids])[0])
