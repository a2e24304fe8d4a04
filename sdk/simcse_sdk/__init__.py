"""simcse-sdk: fast sentence embeddings from exported SimCSE models, on CPU or GPU, without torch.

Example:
    >>> from simcse_sdk import Encoder, cosine_matrix
    >>> enc = Encoder("my-model")                                   # doctest: +SKIP
    >>> emb = enc.encode(["A cat sits.", "A dog runs.", "A kitten rests."])   # doctest: +SKIP
    >>> cosine_matrix(emb, emb).round(2)                            # doctest: +SKIP
"""

from __future__ import annotations

from .encoder import Encoder
from .errors import (
    DataDirError,
    DeviceError,
    InferenceError,
    InputError,
    IntegrityError,
    InvalidArgumentError,
    ManifestError,
    MissingExtraError,
    ModelDirError,
    SimcseError,
    VariantError,
)
from .model.manifest import Manifest
from .similarity import FaissIndex, cosine_matrix, normalize, pairwise_cosine, search

__version__ = "0.1.0"

__all__ = [
    "Encoder",
    "Manifest",
    "FaissIndex",
    "cosine_matrix",
    "pairwise_cosine",
    "normalize",
    "search",
    "SimcseError",
    "ModelDirError",
    "ManifestError",
    "MissingExtraError",
    "IntegrityError",
    "InputError",
    "InvalidArgumentError",
    "InferenceError",
    "DeviceError",
    "VariantError",
    "DataDirError",
]
