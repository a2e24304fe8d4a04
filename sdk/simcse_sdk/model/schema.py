"""The manifest's field types, checked when it is read: a hand-edited or damaged manifest gets a
:class:`~simcse_sdk.errors.ManifestError` naming the file, the field and what it must hold.

Unknown fields are ignored (a newer exporter may add some; incompatible changes bump
``format_version`` instead).

Example:
    >>> check_manifest_fields({"pooling": "avg", "normalized": "yes"}, "m/manifest.json")
    Traceback (most recent call last):
    ...
    simcse_sdk.errors.ManifestError: Manifest 'm/manifest.json': field normalized must be true or false, got 'yes'; re-export the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from ..errors import ManifestError

Check = tuple[str, Callable[[Any], bool]]  # (what it must be, in words; test)


def _int(minimum: int) -> Check:
    return f"an integer >= {minimum}", lambda v: type(v) is int and v >= minimum


def _one_of(*values: str) -> Check:
    return f"one of {list(values)}", lambda v: isinstance(v, str) and v in values


def _list_of_str() -> Check:
    return "a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)


def _plain_file(v: Any) -> bool:
    """A relative path inside the model directory (no '..', not absolute)."""
    if not isinstance(v, str) or not v or "\0" in v:
        return False
    parts = PurePosixPath(v.replace("\\", "/")).parts
    return not PureWindowsPath(v).is_absolute() and not v.startswith("/") and ".." not in parts


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


BOOL: Check = ("true or false", lambda v: isinstance(v, bool))
OBJECT: Check = ("a JSON object", lambda v: isinstance(v, dict))
STRING: Check = ("a string", lambda v: isinstance(v, str))

# field -> (required, check). Values are what json.loads gives: bool is not an int here.
TOP: dict[str, tuple[bool, Check]] = {
    "pooling": (True, STRING),  # the pooler name is checked against POOLERS by Manifest.from_dict
    "normalized": (True, BOOL),
    "max_seq_length": (True, _int(2)),  # [CLS] and [SEP] at least
    "embedding_dim": (True, _int(1)),
    "variants": (True, ("a non-empty JSON object of variant name -> variant", lambda v: isinstance(v, dict) and bool(v))),
    "inputs": (False, _list_of_str()),
    "pad_token_id": (False, _int(0)),
    "source": (False, OBJECT),
    "versions": (False, OBJECT),
    "export_cpu": (False, OBJECT),
    "trained_dims": (False, ("a list of integers >= 1", lambda v: isinstance(v, list)
                             and all(type(x) is int and x >= 1 for x in v))),
    "prompts": (False, ("a JSON object of prompt name -> text",
                        lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()))),
    "default_prompt_name": (False, ("a string or null", lambda v: v is None or isinstance(v, str))),
    "output_scales": (False, ("a JSON object of output -> list of positive numbers", lambda v: isinstance(v, dict)
                              and all(isinstance(x, list) and all(_positive(y) for y in x) for x in v.values()))),
    "refused": (False, ("a JSON object of variant name -> list of reasons", lambda v: isinstance(v, dict)
                        and all(isinstance(x, list) and all(isinstance(y, str) for y in x) for x in v.values()))),
}
VARIANT: dict[str, tuple[bool, Check]] = {
    "file": (True, ("a file name inside the model directory", _plain_file)),
    "sha256": (True, ("64 lowercase hex digits", lambda v: isinstance(v, str) and re.fullmatch("[0-9a-f]{64}", v) is not None)),
    "dtype": (True, _one_of("float32", "float16", "int8")),  # manifest.DTYPES' values
    "device": (False, _one_of("any", "cpu", "cuda")),
    "runtime": (False, _one_of("onnxruntime", "openvino")),
    "runtime_options": (False, OBJECT),
    "extra_files": (False, ("a JSON object of file name -> sha256",
                            lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()))),
    "fused_ops": (False, OBJECT),
    "quantization": (False, OBJECT),
    "gate": (False, OBJECT),
}
# Nested fields the SDK reads.
NESTED: dict[tuple[str, str], Check] = {
    ("gate", "passed"): BOOL,
    ("gate", "failures"): _list_of_str(),
    ("export_cpu", "int8_flags"): _list_of_str(),
}


def _check(obj: dict[str, Any], spec: dict[str, tuple[bool, Check]], prefix: str, where: str) -> None:
    for key, (required, (what, ok)) in spec.items():
        if key not in obj:
            if required:
                raise ManifestError(f"Manifest {where!r} lacks field {prefix}{key} ({what}); re-export the model.")
            continue
        value = obj[key]
        if not ok(value):
            raise ManifestError(
                f"Manifest {where!r}: field {prefix}{key} must be {what}, got {value!r:.60}; re-export the model."
            )
        for (parent, child), (what2, ok2) in NESTED.items():
            if parent == key and child in value and not ok2(value[child]):
                raise ManifestError(
                    f"Manifest {where!r}: field {prefix}{key}.{child} must be {what2}, got {value[child]!r:.60}; "
                    "re-export the model."
                )


def check_manifest_fields(raw: dict[str, Any], where: str) -> None:
    """Raise :class:`ManifestError` at the first field of ``raw`` (parsed manifest.json) of the wrong type."""
    _check(raw, TOP, "", where)
    for name, variant in raw["variants"].items():
        if not isinstance(variant, dict):
            raise ManifestError(
                f"Manifest {where!r}: field variants.{name} must be a JSON object, got {variant!r:.60}; "
                "re-export the model."
            )
        _check(variant, VARIANT, f"variants.{name}.", where)


def check_sizes_and_prompts(manifest: Any, where: str) -> None:
    """Cross-field checks: trained sizes within the embedding size and descending, the default prompt listed."""
    dims, full = manifest.trained_dims, manifest.embedding_dim
    if any(d > full for d in dims) or any(a <= b for a, b in zip(dims, dims[1:], strict=False)):
        raise ManifestError(f"Manifest {where!r}: trained_dims {dims} must be descending sizes of at most "
                            f"embedding_dim {full}; re-export the model.")
    name = manifest.default_prompt_name
    if name is not None and name not in manifest.prompts:
        raise ManifestError(f"Manifest {where!r}: default_prompt_name {name!r} is not one of prompts "
                            f"{sorted(manifest.prompts)}; re-export the model.")
