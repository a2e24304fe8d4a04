"""The model directory's manifest: the contract between the exporter and the SDK.

A model directory holds ``manifest.json``, ``tokenizer.json`` and one ONNX file per
variant. The manifest says how the graph pools (pooling runs inside the graph), whether
its output is already L2-normalised, the max sequence length, the embedding size, and for
each variant its file, sha256, dtype and the accuracy gate it passed.

Example:
    >>> from simcse_sdk.model.manifest import Manifest
    >>> m = Manifest.load("my-model")          # doctest: +SKIP
    >>> m.pooling, m.embedding_dim, sorted(m.variants)   # doctest: +SKIP
    ('avg', 384, ['fp32', 'int8'])
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IntegrityError, ManifestError, ModelDirError
from .schema import check_manifest_fields, check_sizes_and_prompts

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
TOKENIZER_NAME = "tokenizer.json"
POOLERS = ("cls", "cls_before_pooler", "avg", "avg_first_last", "avg_top2")
DTYPES = {"fp32": "float32", "fp16": "float16", "int8": "int8"}


@dataclass
class Variant:
    """One ONNX file of the model directory."""

    file: str  # file name inside the model directory
    sha256: str  # hex digest of the file, checked before the file is loaded
    dtype: str  # float32 | float16 | int8: the weights' precision
    device: str = "any"  # where it is meant to run: any | cpu | cuda
    fused_ops: dict[str, int] = field(default_factory=dict)  # fused op type -> count in the graph
    quantization: dict[str, Any] = field(default_factory=dict)  # int8 recipe (per-channel, excluded nodes...)
    gate: dict[str, Any] = field(default_factory=dict)  # accuracy measured against torch at export time
    runtime: str = "onnxruntime"  # what runs the file: onnxruntime (an ONNX graph) | openvino (an OpenVINO IR)
    runtime_options: dict[str, Any] = field(default_factory=dict)  # e.g. OpenVINO's {"precision": "bf16"}
    extra_files: dict[str, str] = field(default_factory=dict)  # other files it loads (IR weights) -> sha256


@dataclass
class Manifest:
    """What the SDK needs to know about an exported model directory."""

    pooling: str  # pooler baked into the graph: one of POOLERS
    normalized: bool  # True when the graph's output is already L2-normalised
    max_seq_length: int  # longer inputs are truncated to this many tokens
    embedding_dim: int  # size of one sentence embedding
    variants: dict[str, Variant]  # variant name (fp32 | fp16 | int8) -> file description
    inputs: list[str] = field(default_factory=lambda: ["input_ids", "attention_mask"])  # graph input names
    pad_token_id: int = 0  # id used to pad input_ids (BERT 0, RoBERTa 1)
    source: dict[str, Any] = field(default_factory=dict)  # checkpoint path, model type, its metadata
    versions: dict[str, str] = field(default_factory=dict)  # library versions at export time
    export_cpu: dict[str, Any] = field(default_factory=dict)  # CPU model and flags at export time (int8 kernels)
    trained_dims: list[int] = field(default_factory=list)  # Matryoshka sizes below embedding_dim also trained as
    # embeddings, descending (the full size always is, and is not listed); []: the full size only
    prompts: dict[str, str] = field(default_factory=dict)  # prompt name -> text put before each input ("query: ")
    default_prompt_name: str | None = None  # the prompt encode() uses when none is named; None: no prompt
    output_scales: dict[str, list[float]] = field(default_factory=dict)  # "int8" -> calibrated scale of sizes 1..dim
    refused: dict[str, list[str]] = field(default_factory=dict)  # variants the export's accuracy gate refused -> why
    format_version: int = FORMAT_VERSION  # bumped on incompatible changes

    # -- reading -----------------------------------------------------------------------------
    @classmethod
    def load(cls, model_dir: str | os.PathLike[str]) -> Manifest:
        """Read and validate ``<model_dir>/manifest.json``."""
        root = Path(model_dir)
        if not root.exists():
            raise ModelDirError(
                f"Model directory {str(root)!r} does not exist. Create one with "
                "`python -m export --ckpt CHECKPOINT --out DIR`, or pass the path of an exported model."
            )
        if not root.is_dir():
            raise ModelDirError(f"{str(root)!r} is a file, not a model directory: pass the folder holding {MANIFEST_NAME}.")
        path = root / MANIFEST_NAME
        if not path.is_file():
            raise ModelDirError(
                f"No {MANIFEST_NAME} in {str(root)!r}: this is not an exported model directory. "
                "Export a checkpoint with `python -m export --ckpt CHECKPOINT --out DIR`."
            )
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ManifestError(f"Manifest {str(path)!r} is unreadable ({e}); re-export the model.") from e
        return cls.from_dict(raw, where=str(path))

    @classmethod
    def from_dict(cls, raw: Any, where: str = MANIFEST_NAME) -> Manifest:
        """Build a manifest from parsed JSON, checking the fields the SDK relies on."""
        if not isinstance(raw, dict):
            raise ManifestError(f"Manifest {where!r} must hold a JSON object; re-export the model.")
        version = raw.get("format_version")
        if type(version) is not int or version != FORMAT_VERSION:  # True and 1.0 equal 1, but are not a version
            raise ManifestError(
                f"Manifest {where!r} has format_version {version!r}; this simcse-sdk reads "
                f"format_version {FORMAT_VERSION}. Upgrade simcse-sdk or re-export the model with this version."
            )
        check_manifest_fields(raw, where)
        known = set(Variant.__dataclass_fields__)  # fields a newer exporter adds are ignored, as at the top level
        try:
            variants = {name: Variant(**{k: x for k, x in v.items() if k in known}) for name, v in raw["variants"].items()}
            fields = {k: raw[k] for k in ("pooling", "normalized", "max_seq_length", "embedding_dim")}
            optional = {k: raw[k] for k in ("inputs", "pad_token_id", "source", "versions", "export_cpu",
                                            "trained_dims", "prompts", "default_prompt_name", "output_scales", "refused")
                        if k in raw}
        except (KeyError, TypeError, AttributeError) as e:
            raise ManifestError(f"Manifest {where!r} is missing or mangles field {e}; re-export the model.") from e
        manifest = cls(variants=variants, format_version=version, **fields, **optional)
        if manifest.pooling not in POOLERS:
            raise ManifestError(f"Manifest {where!r}: unknown pooling {manifest.pooling!r}; expected one of {POOLERS}.")
        if not manifest.variants:
            raise ManifestError(f"Manifest {where!r} lists no variants; re-export the model.")
        check_sizes_and_prompts(manifest, where)
        return manifest

    # -- writing -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-able data."""
        return asdict(self)

    def save(self, model_dir: str | os.PathLike[str]) -> Path:
        """Write ``manifest.json`` atomically into ``model_dir``."""
        path = Path(model_dir) / MANIFEST_NAME
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        return path

    # -- files -------------------------------------------------------------------------------
    def variant_path(self, model_dir: str | os.PathLike[str], name: str, verify: bool = True) -> Path:
        """Path of variant ``name``'s ONNX file, checked to exist and (optionally) to match its sha256."""
        variant = self.variants[name]
        path = Path(model_dir) / variant.file
        if not path.is_file():
            raise ModelDirError(
                f"Variant {name!r} file {str(path)!r} is missing from the model directory; "
                "copy the whole directory again or re-export the model."
            )
        for extra in variant.extra_files:
            if not isinstance(extra, str) or Path(extra).is_absolute() or ".." in Path(extra).parts:
                raise ManifestError(f"Variant {name!r} lists extra file {extra!r}, which is not a file name inside "
                                    "the model directory; re-export the model.")
            if not (Path(model_dir) / extra).is_file():
                raise ModelDirError(
                    f"Variant {name!r} needs {str(Path(model_dir) / extra)!r}, which is missing from the model "
                    "directory; copy the whole directory again or re-export the model."
                )
        if verify:
            for file, expected in [(variant.file, variant.sha256), *variant.extra_files.items()]:
                digest = sha256_file(Path(model_dir) / file)
                if digest != expected:
                    raise IntegrityError(
                        f"{str(Path(model_dir) / file)!r} has sha256 {digest[:16]}..., the manifest expects "
                        f"{expected[:16]}...: the file was modified or truncated. Copy it again or re-export the model."
                    )
        return path


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a model directory is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
