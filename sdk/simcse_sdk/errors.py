"""The SDK's errors: one base class, each subclass also derives the matching builtin.

Catch :class:`SimcseError` to handle every error the SDK raises on purpose, or the
builtin (``FileNotFoundError``, ``ValueError``...) where that reads better.

Example:
    >>> from simcse_sdk import Encoder, SimcseError
    >>> try:
    ...     Encoder("/no/such/dir")
    ... except SimcseError as e:
    ...     print(type(e).__name__)
    ModelDirError
"""

from __future__ import annotations


class SimcseError(Exception):
    """Base class of every error raised on purpose by simcse_sdk."""


class ModelDirError(SimcseError, FileNotFoundError):
    """The model directory, or a file it must hold, is missing; or its ``tokenizer.json`` cannot be parsed."""


class ManifestError(SimcseError, ValueError):
    """The manifest is unreadable, of an unknown format version, or inconsistent: a field of the wrong type, an
    ``embedding_dim`` that disagrees with the ONNX graph's declared output."""


class IntegrityError(SimcseError, ValueError):
    """A model file's sha256 does not match the manifest (the file was changed or truncated), or, with
    ``verify=False``, it is not a loadable ONNX file."""


class InputError(SimcseError, TypeError):
    """An argument has the wrong type: ``encode("one string")``, a dict or set of texts, bytes, a non-str item,
    ``batch_size=2.0``, ``normalize="yes"``, a token id list holding floats."""


class InvalidArgumentError(SimcseError, ValueError):
    """An argument has the right type but a bad value: ``batch_size=0`` (``None`` means "the default"),
    ``threads=-3``, ``top_k=0``, a text with a lone surrogate, a token id outside the vocabulary, a NaN/inf
    embedding row passed to ``search``/``cosine_matrix``/``FaissIndex``."""


class InferenceError(SimcseError, RuntimeError):
    """The inference runtime failed on a batch (out of memory, or a model directory whose parts disagree), or the
    model gave NaN/inf for an input."""


class DeviceError(SimcseError, RuntimeError):
    """The requested device or variant cannot run here (for example CUDA without onnxruntime-gpu)."""


class VariantError(SimcseError, KeyError):
    """The requested model variant is not in the model directory, or cannot run on the device."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class DataDirError(SimcseError, FileNotFoundError):
    """The data directory, or a file expected in it, is missing."""


class MissingExtraError(SimcseError, ImportError):
    """An optional part of the SDK needs a package that is not installed; the message names the extra."""
