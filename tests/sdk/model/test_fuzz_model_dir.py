"""Fuzzing the model directory: each file corrupted or truncated in turn, manifest fields mutated at random.

Loading must then raise a SimcseError naming the damaged file, or load a model that embeds correctly.
Every other exception (tokenizers' ``Exception``, onnxruntime's ``InvalidProtobuf``...) fails the test.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from simcse_sdk import Encoder, IntegrityError, SimcseError

FILES = {"manifest.json": "fp32", "tokenizer.json": "fp32", "model.onnx": "fp32", "model.int8.onnx": "int8"}
LONG = " ".join(["word"] * 400)  # reaches max_seq_length, whatever the manifest says it is


def linked_copy(src: Path, dst: Path) -> Path:
    """``dst`` holding a symlink to each file of ``src``: a file is damaged by replacing its link (cheap)."""
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).symlink_to(f)
    return dst


def replace_file(model_dir: Path, name: str, data: bytes) -> None:
    (model_dir / name).unlink()
    (model_dir / name).write_bytes(data)


def assert_loads_and_embeds_or_names(model_dir: Path, variant: str, verify: bool, names: list[str]) -> str:
    """Load and embed; a SimcseError must name one of ``names``. Returns the outcome, for statistics."""
    try:
        enc = Encoder(model_dir, device="cpu", variant=variant, verify=verify, threads=1)
        out = enc.encode(["a short text", LONG, ""])
    except SimcseError as e:
        assert any(n in str(e) for n in names), f"{type(e).__name__} does not name {names}: {e}"
        return type(e).__name__
    assert out.dtype == np.float32 and out.shape == (3, enc.dim) and np.isfinite(out).all()
    return "loaded"


def _cut(fraction: float):
    return lambda b: b[: int(len(b) * fraction)]


CORRUPTIONS = {
    "empty": lambda b: b"",
    "first byte": lambda b: b[:1],
    "first 1%": _cut(0.01),
    "half": _cut(0.5),
    "all but the last 2 bytes": lambda b: b[:-2],  # the last may be a newline
    "garbage": lambda b: bytes(range(256)) * 64,
    "json null": lambda b: b"null",
    "json list": lambda b: b"[1, 2]",
    "json object": lambda b: b'{"unexpected": true}',
    "latin-1 bytes": lambda b: b"\xff\xfe{\x00",
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
@pytest.mark.parametrize("name", sorted(FILES))
def test_each_file_corrupted_names_the_file(tiny_model_dir, tmp_path, name, corruption):
    model_dir = linked_copy(tiny_model_dir, tmp_path / "model")
    replace_file(model_dir, name, CORRUPTIONS[corruption]((tiny_model_dir / name).read_bytes()))
    with pytest.raises(SimcseError, match=name.replace(".", r"\.")) as e:
        Encoder(model_dir, device="cpu", variant=FILES[name], verify=False, threads=1)
    if name.endswith(".onnx"):
        assert isinstance(e.value, IntegrityError) and "re-export" in str(e.value)
    if name == "tokenizer.json":
        assert "re-export" in str(e.value)


@pytest.mark.parametrize("name", ["model.onnx", "model.int8.onnx"])
def test_truncated_model_with_verify_fails_its_sha256(tiny_model_dir, tmp_path, name):
    model_dir = linked_copy(tiny_model_dir, tmp_path / "model")
    replace_file(model_dir, name, (tiny_model_dir / name).read_bytes()[:-1])
    with pytest.raises(IntegrityError, match=name.replace(".", r"\.") + ".*sha256"):
        Encoder(model_dir, device="cpu", variant=FILES[name], verify=True, threads=1)


@pytest.mark.parametrize("name", ["tokenizer.json", "model.onnx"])
def test_a_missing_file_is_named(tiny_model_dir, tmp_path, name):
    model_dir = linked_copy(tiny_model_dir, tmp_path / "model")
    (model_dir / name).unlink()
    with pytest.raises(SimcseError, match=name.replace(".", r"\.") + ".*missing"):
        Encoder(model_dir, device="cpu", variant="fp32", threads=1)


# -- manifest mutations ---------------------------------------------------------------------------
def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path into the parsed manifest (dict keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _read_by_the_sdk(path: tuple) -> bool:
    """Top-level fields, each variant's own fields, and the nested ones the SDK reads."""
    return (len(path) == 1 or (path[0] == "variants" and len(path) <= 3)
            or path[-2:] in (("gate", "passed"), ("gate", "failures")) or path == ("export_cpu", "int8_flags"))


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.integers(-2, 600), st.floats(),
              st.text(max_size=8),
              st.sampled_from(["tokenizer.json", "model.onnx", "model.int8.onnx", "report.md", "../model.onnx",
                               "/etc/hostname", "avg", "cls", "float16", "cuda", "openvino", "0" * 64])),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)),
    max_leaves=4,
)


@settings(max_examples=100, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), variant=st.sampled_from(["fp32", "int8"]), verify=st.booleans())
def test_manifest_mutations_give_an_sdk_error_naming_the_file_or_a_working_model(tiny_model_dir, data, variant,
                                                                                  verify):
    raw = json.loads((tiny_model_dir / "manifest.json").read_text())
    mutated = copy.deepcopy(raw)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = _paths(mutated) or [("pooling",)]
        read = [p for p in paths if _read_by_the_sdk(p)] or paths  # most mutations hit a field the SDK reads
        path = data.draw(st.one_of(*[st.sampled_from(read)] * 3, st.sampled_from(paths)), label="path")
        parent = mutated
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans(), label="delete"):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON, label="value")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = linked_copy(tiny_model_dir, Path(tmp) / "model")
        replace_file(model_dir, "manifest.json", json.dumps(mutated).encode())
        # The manifest may point at any file of the directory (or outside it): an error names the directory.
        event(assert_loads_and_embeds_or_names(model_dir, variant, verify, ["manifest.json", str(model_dir)]))
