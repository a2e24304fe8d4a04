"""Every bad input gets a clear error naming the problem and the fix."""

import json

import numpy as np
import pytest
from simcse_sdk import (
    DeviceError,
    Encoder,
    InputError,
    IntegrityError,
    ManifestError,
    ModelDirError,
    SimcseError,
    VariantError,
)
from simcse_sdk.runtimes.onnxruntime import cuda_available


def test_missing_path(tmp_path):
    with pytest.raises(ModelDirError, match="does not exist.*python -m export") as e:
        Encoder(tmp_path / "nope")
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, SimcseError)


def test_missing_manifest(tmp_path):
    with pytest.raises(ModelDirError, match="No manifest.json.*not an exported model directory"):
        Encoder(tmp_path)


def test_unreadable_manifest(model_copy):
    (model_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="unreadable.*re-export"):
        Encoder(model_copy)


def test_unknown_format_version(model_copy):
    raw = json.loads((model_copy / "manifest.json").read_text())
    raw["format_version"] = 99
    (model_copy / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match="format_version 99.*reads format_version 1.*Upgrade simcse-sdk"):
        Encoder(model_copy)


def test_manifest_missing_field(model_copy):
    raw = json.loads((model_copy / "manifest.json").read_text())
    del raw["embedding_dim"]
    (model_copy / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match="embedding_dim"):
        Encoder(model_copy)


def test_missing_model_file(model_copy):
    (model_copy / "model.onnx").unlink()
    with pytest.raises(ModelDirError, match="fp32.*model.onnx.*missing"):
        Encoder(model_copy, variant="fp32")


def test_wrong_sha256(model_copy):
    with open(model_copy / "model.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(IntegrityError, match="sha256.*modified or truncated"):
        Encoder(model_copy, variant="fp32")


def test_missing_tokenizer(model_copy):
    (model_copy / "tokenizer.json").unlink()
    with pytest.raises(ModelDirError, match="tokenizer.json.*missing"):
        Encoder(model_copy, variant="fp32")


def test_empty_list_gives_empty_array(encoder):
    out = encoder.encode([])
    assert out.shape == (0, encoder.dim) and out.dtype == np.float32


def test_none(encoder):
    with pytest.raises(InputError, match="None.*list of strings"):
        encoder.encode(None)


def test_single_string(encoder):
    with pytest.raises(InputError, match=r"single string.*\[text\] as sentences rather than text"):
        encoder.encode("hello")


def test_non_string_item(encoder):
    with pytest.raises(InputError, match=r"sentences\[1\] is int.*not str") as e:
        encoder.encode(["fine", 3])
    assert isinstance(e.value, TypeError)


def test_unknown_variant_lists_what_exists(tiny_model_dir):
    with pytest.raises(VariantError, match=r"'fp16' is not in .*\['fp32', 'int8'\].*--fp16"):
        Encoder(tiny_model_dir, device="cpu", variant="fp16")


@pytest.mark.parametrize("name, fix", [("FP32", r"Did you mean 'fp32'\?"), (" Int8", r"Did you mean 'int8'\?"),
                                       ("fp64", r"Pass one of those, or 'auto' \(the exporter makes")])
def test_a_misspelt_variant_is_named_with_its_fix_and_no_export_flag_that_does_not_exist(tiny_model_dir, name, fix):
    with pytest.raises(VariantError, match=fix) as e:
        Encoder(tiny_model_dir, device="cpu", variant=name)
    assert "re-export with" not in str(e.value)


def test_cache_dir_of_the_wrong_type(tiny_model_dir):
    with pytest.raises(InputError, match="cache_dir must be a folder path.*got int 5"):
        Encoder(tiny_model_dir, device="cpu", cache_dir=5)


def test_search_over_an_empty_corpus_and_over_rows_of_no_values(encoder):
    idx, scores = encoder.search(["a query", "another"], [])
    assert idx.shape == scores.shape == (2, 0)
    idx, _ = encoder.search(["a query"], np.zeros((0, encoder.dim), dtype=np.float32))
    assert idx.shape == (1, 0)
    with pytest.raises(InputError, match=r"shape \(3, 0\): rows of no values"):
        encoder.search(["a query"], np.zeros((3, 0), dtype=np.float32))


def test_the_tokenizer_given_one_string_says_to_pass_a_list(encoder):
    with pytest.raises(InputError, match=r"single str: pass \[text\]"):
        encoder.tokenizer.encode("a str")


def test_unknown_device(tiny_model_dir):
    with pytest.raises(DeviceError, match="Unknown device 'gpu'"):
        Encoder(tiny_model_dir, device="gpu")


@pytest.mark.skipif(cuda_available(), reason="this onnxruntime has CUDA: the no-CUDA error cannot happen")
def test_cuda_without_provider_names_gpu_extra(tiny_model_dir):
    with pytest.raises(DeviceError, match=r"no CUDA provider.*simcse-sdk\[gpu\]"):
        Encoder(tiny_model_dir, device="cuda")


def test_auto_device_never_claims_cuda_without_it(tiny_model_dir):
    enc = Encoder(tiny_model_dir, device="auto")
    assert enc.device == ("cuda" if cuda_available() else "cpu")
    assert enc.runtime.providers[0] == ("CUDAExecutionProvider" if enc.device == "cuda" else "CPUExecutionProvider")


def test_int8_on_cuda_is_refused(tiny_model_dir, monkeypatch):
    import simcse_sdk.encoder as encoder_mod

    monkeypatch.setattr(encoder_mod, "resolve_device", lambda d: "cuda")
    with pytest.raises(VariantError, match="'int8' cannot run on cuda"):
        Encoder(tiny_model_dir, device="cuda", variant="int8")
