"""Argument checks at the SDK's boundary: every bad value gets an SDK error naming it and the fix.

Wrong types raise :class:`~simcse_sdk.errors.InputError` (a ``TypeError``); right types with
bad values raise :class:`~simcse_sdk.errors.InvalidArgumentError` (a ``ValueError``). The
checks run before any work, so tokenizers, onnxruntime and numpy never see a value they
would reject with their own, internal, message.

Example:
    >>> check_sentences(("a", "b"))
    ['a', 'b']
    >>> check_sentences({"a": 1})
    Traceback (most recent call last):
    ...
    simcse_sdk.errors.InputError: sentences is a dict, not a list of strings: pass list(d.values()) to embed its values, or list(d) for its keys.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np

from ..errors import InferenceError, InputError, InvalidArgumentError, ManifestError

# Code points U+D800..U+DFFF: half of a UTF-16 pair, not text on their own (json.loads keeps "\ud800").
_SURROGATE = re.compile("[\ud800-\udfff]")

# The most threads a session may be given: far beyond any CPU's cores, low enough that a typo
# (threads=10**6) gets an error instead of onnxruntime trying to start that many threads.
MAX_THREADS = 1024

# Graph inputs the SDK knows how to feed (token_type_ids gets zeros).
FED_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _not_a_list(value: object, name: str, what: str, example: str, wrap: str,
                array_per_item: bool = False) -> InputError | None:
    """The error for container types that are not a list of items, else None (``wrap``: a str fixed;
    ``array_per_item``: each item is itself an array, so a 2-D array is not one to flatten)."""
    kind = type(value).__name__
    if value is None:
        return InputError(f"{name} is None: pass a {what}, e.g. {example}.")
    if isinstance(value, str):
        return InputError(f"{name} is a single string: pass a {what}, e.g. {wrap}.")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return InputError(f"{name} is {kind}: decode the bytes to text and pass a {what}, e.g. {example}.")
    if isinstance(value, Mapping):
        return InputError(
            f"{name} is a {kind}, not a {what}: pass list(d.values()) to embed its values, "
            "or list(d) for its keys."
        )
    if isinstance(value, AbstractSet):
        return InputError(
            f"{name} is a {kind}, which has no order, so rows could not be matched to inputs: "
            "pass a list (e.g. sorted(s))."
        )
    if isinstance(value, np.ndarray) and value.ndim != 1 and array_per_item:
        return InputError(f"{name} is a numpy array of shape {value.shape}: pass a {what}, one 1-D list or array per "
                          f"input (list(arr) for the rows of a 2-D array, once any padding is stripped: each row is "
                          f"read whole), e.g. {example}.")
    if isinstance(value, np.ndarray) and value.ndim != 1:
        return InputError(f"{name} is a numpy array of shape {value.shape}: pass a 1-D array or a {what}, e.g. {example}.")
    if not isinstance(value, Iterable):
        return InputError(f"{name} must be a {what}, got {kind} ({value!r:.40}); e.g. {example}.")
    return None


def lone_surrogate(text: str) -> re.Match[str] | None:
    """The first lone surrogate (``"\\ud800"``: half of a UTF-16 pair, which JSON can carry) in ``text``, or None."""
    return None if text.isascii() else _SURROGATE.search(text)


def check_sentences(sentences: object, name: str = "sentences") -> list[str]:
    """``sentences`` as a list of plain ``str``, or an SDK error naming the first bad item.

    Accepts a list, tuple, generator or other iterable of ``str`` (a 1-D numpy array of str too).
    Rejects a bare string, bytes, a dict (its keys are not its texts), a set (no order), non-str
    items, and texts with a lone surrogate (``"\\ud800"``: not valid Unicode; see ``Encoder.encode``).
    """
    error = _not_a_list(sentences, name, "list of strings", "['first text', 'second text']",
                        f"[text] as {name} rather than text")
    if error is not None:
        raise error
    items = sentences.tolist() if isinstance(sentences, np.ndarray) else list(sentences)  # type: ignore[call-overload]
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise InputError(f"{name}[{i}] is {type(s).__name__} ({s!r:.40}), not str: convert every item to text first.")
        if type(s) is not str:
            items[i] = s = str.__str__(s)  # a plain str (numpy.str_ and other subclasses), as tokenizers expects
        if (bad := lone_surrogate(s)) is not None:
            raise InvalidArgumentError(
                f"{name}[{i}] has a lone surrogate {bad.group()!r} at character {bad.start()}: it is not valid "
                "Unicode and cannot be tokenised. Replace such code points first, e.g. "
                "text.encode('utf-8', 'replace').decode('utf-8') (each becomes '?')."
            )
    return items


def check_token_ids(token_ids: object, vocab_size: int, max_len: int, name: str = "token_ids") -> list[np.ndarray]:
    """``token_ids`` as a list of 1-D int64 arrays, each of 1..``max_len`` ids in ``range(vocab_size)``."""
    error = _not_a_list(token_ids, name, "list of token id lists", "encode_ids([[101, 7592, 102]])",
                        "encoder.tokenizer.encode([text]) for its ids", array_per_item=True)
    if error is not None:
        raise error
    out: list[np.ndarray] = []
    items: Iterable[Any] = token_ids  # type: ignore[assignment]  # an iterable: _not_a_list checked it
    for i, item in enumerate(items):
        where = f"{name}[{i}]"
        if isinstance(item, (str, bytes, Mapping, AbstractSet)) or not isinstance(item, (np.ndarray, Iterable)):
            raise InputError(
                f"{where} is {type(item).__name__} ({item!r:.40}), not a list of token ids: pass one list of ints "
                "per input, as encoder.tokenizer.encode returns, e.g. [[101, 7592, 102]]."
            )
        seq = item if isinstance(item, np.ndarray) else list(item)
        try:
            arr = np.asarray(seq)
        except (ValueError, TypeError, OverflowError):
            arr = np.asarray([0, "ragged"], dtype=object)  # nested or ragged: reported below as not integers
        if arr.ndim != 1:
            raise InputError(f"{where} has shape {arr.shape}: each input is a 1-D list of token ids.")
        if arr.size == 0:
            raise InvalidArgumentError(
                f"{where} is empty: each input needs at least one id (tokenizer.encode(['']) gives [CLS] [SEP])."
            )
        if arr.dtype.kind not in "iu" or (not isinstance(seq, np.ndarray) and any(
                isinstance(v, (bool, np.bool_)) for v in seq)):  # numpy turns [101, True] into ints: True is no id
            for j, v in enumerate(arr.tolist() if isinstance(seq, np.ndarray) else seq):  # the values as given
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                    raise InputError(f"{where}[{j}] is {type(v).__name__} ({v!r:.40}), not an int token id.")
            # all Python ints, yet not one int64 array: some id is beyond 64 bits, so out of range below
            arr = np.asarray([int(v) for v in seq], dtype=object)
        if len(arr) > max_len:
            raise InvalidArgumentError(
                f"{where} has {len(arr)} ids; this model takes at most {max_len} (special tokens included): "
                "truncate it, or send the text to encode() which truncates for you."
            )
        if arr.dtype.kind == "O" or (arr.dtype.kind == "u" and arr.dtype.itemsize == 8):  # may not fit int64
            _check_range(arr, vocab_size, where)
        out.append(np.ascontiguousarray(arr, dtype=np.int64))
    if out:  # one vectorised pass over all ids; the slow search for the culprit only when there is one
        flat = np.concatenate(out)
        if flat.min() < 0 or flat.max() >= vocab_size:
            for i, arr in enumerate(out):
                _check_range(arr, vocab_size, f"{name}[{i}]")
    return out


def _check_range(arr: np.ndarray, vocab_size: int, where: str) -> None:
    bad = (arr < 0) | (arr >= vocab_size)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise InvalidArgumentError(
            f"{where}[{j}] = {arr[j]} is not a token id of this model: ids are in range(0, {vocab_size})."
        )


def check_int(value: object, name: str, *, none_means: str | None = None, minimum: int = 1,
              maximum: int | None = None) -> int | None:
    """An ``int`` in ``minimum..maximum`` (``None`` allowed when ``none_means`` says what it means)."""
    allowed = f"an int >= {minimum}" if maximum is None else f"an int in {minimum}..{maximum}"
    if none_means is not None:
        allowed += f", or None ({none_means})"
    if value is None and none_means is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be {allowed}; got {type(value).__name__} {value!r:.40}.")
    v = int(value)
    if v < minimum or (maximum is not None and v > maximum):
        raise InvalidArgumentError(f"{name}={v} is out of range: pass {allowed}.")
    return v


def count_arg(text: str) -> int:
    """The argparse type of a command's counts (``--batch-size``, ``--max-len``...): an int >= 1, so that argparse
    names the flag (``argument --batch-size: ...``) and 0 is refused, never read as "the default"."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def check_flag(value: object, name: str) -> bool:
    """A ``bool`` (numpy's too): ``normalize="no"`` is an error, not a truthy string."""
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False; got {type(value).__name__} {value!r:.40}.")
    return bool(value)


def check_name(value: object, name: str, valid: str) -> str:
    """A ``str`` option such as ``device``; the value itself is checked by its owner."""
    if not isinstance(value, str):
        raise InputError(f"{name} must be a str ({valid}); got {type(value).__name__} {value!r:.40}.")
    return value


def check_encoder_args(path: object, device: object, variant: object, threads: object, batch_size: object,
                       max_tokens: object, verify: object, parallel_batches: object, cache_dir: object = None) -> None:
    """Types and ranges of ``Encoder(...)``'s arguments, before anything is loaded."""
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"path must be a str or os.PathLike (the model directory); got {type(path).__name__} {path!r:.40}.")
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise InputError(f"cache_dir must be a folder path (str or os.PathLike) or None (the default cache); got "
                         f"{type(cache_dir).__name__} {cache_dir!r:.40}.")
    check_name(device, "device", "'cpu', 'cuda' or 'auto'")
    check_name(variant, "variant", "'auto' or a variant of the model directory: 'fp32', 'int8', 'ov-int8'...")
    check_int(threads, "threads", none_means="the CPUs available to this process", maximum=MAX_THREADS)
    check_int(batch_size, "batch_size")
    check_int(max_tokens, "max_tokens")
    check_flag(verify, "verify")
    check_flag(parallel_batches, "parallel_batches")


def check_callbacks(on_batch: object, on_idle: object) -> None:
    """``encode_ids``'s hooks: each a function or None (on_batch takes a Batch, on_idle nothing)."""
    for name, fn, what in (("on_batch", on_batch, "of one Batch"), ("on_idle", on_idle, "of no arguments")):
        if fn is not None and not callable(fn):
            raise InputError(f"{name} must be a function {what}, or None; got {type(fn).__name__}.")


def check_encode_args(batch_size: object, normalize: object, max_tokens: object, progress: object,
                      default_batch: int, default_tokens: int) -> tuple[int, bool, int, bool]:
    """``encode``'s options resolved: (batch_size, normalize, max_tokens, progress); ``None`` means the default."""
    bs = check_int(batch_size, "batch_size", none_means=f"the encoder's default, {default_batch}")
    mt = check_int(max_tokens, "max_tokens", none_means=f"the encoder's default, {default_tokens}")
    return (default_batch if bs is None else bs, check_flag(normalize, "normalize"),
            default_tokens if mt is None else mt, check_flag(progress, "progress"))


def check_loaded(manifest: Any, manifest_file: str, model_file: str, output_shape: list[Any],
                 input_names: list[str], vocab_size: int) -> None:
    """The manifest agrees with the loaded graph (its declared output and inputs) and the tokenizer."""
    if len(output_shape) != 2:
        raise ManifestError(
            f"The graph {model_file!r} declares output shape {output_shape}, not (batch, embedding_dim): "
            "it is not a sentence-embedding export; re-export the model with `python -m export`."
        )
    declared = output_shape[-1]
    if isinstance(declared, int) and declared != manifest.embedding_dim:
        raise ManifestError(
            f"Manifest {manifest_file!r} says embedding_dim {manifest.embedding_dim}, but the graph {model_file!r} "
            f"declares output shape {output_shape}: the two do not belong together; re-export the model."
        )
    unknown = [n for n in input_names if n not in FED_INPUTS]
    if unknown or "input_ids" not in input_names:
        raise ManifestError(
            f"The graph {model_file!r} takes inputs {input_names}; the SDK feeds {list(FED_INPUTS)} and needs "
            "input_ids: re-export the model with `python -m export`."
        )
    if manifest.pad_token_id >= vocab_size:
        raise ManifestError(
            f"Manifest {manifest_file!r} says pad_token_id {manifest.pad_token_id}, but the tokenizer has "
            f"{vocab_size} ids: re-export the model."
        )


def check_finite_output(out: np.ndarray, model_file: str) -> None:
    """Raise :class:`InferenceError` naming the first input whose embedding (a row of ``out``) is NaN or inf."""
    finite = np.isfinite(out).all(axis=1)  # (n,)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise InferenceError(
            f"The model {model_file!r} gave NaN or inf for input {i} ({int((~finite).sum())} of {len(out)} inputs): "
            "an fp16 overflow (try variant='fp32') or damaged weights (load with verify=True, or re-export the model)."
        )
