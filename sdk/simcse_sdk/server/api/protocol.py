"""OpenAI's embeddings API: request validation, error bodies and response bodies.

A request's ``input`` is a string, a list of strings, a list of token ids, or a list of
lists of token ids. Token ids are this model's full input (special tokens included, as
``Encoder.tokenizer.encode`` returns them) or OpenAI's, which are decoded to text: see
:mod:`simcse_sdk.server.api.token_ids`. An empty string is embedded, as ``Encoder.encode`` embeds it; an
empty list of token ids is refused. Unknown fields are ignored, but a near miss of a known one
(``dimension``, ``encodingFormat``) is refused: it would otherwise be ignored without a word.

Example:
    >>> from simcse_sdk.server.api.token_ids import TokenIdReader
    >>> reader = TokenIdReader("auto", (101,), (102,), 30522)
    >>> req = parse_request({"input": ["a", "b"], "encoding_format": "float"}, max_inputs=8, token_ids=reader)
    >>> req.texts, req.encoding_format
    (['a', 'b'], 'float')
"""

from __future__ import annotations

import base64
import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from ...errors import InvalidArgumentError
from ...model.prompts import prompt_text
from .api_error import ApiError, bad
from .openapi import ENCODING_FORMATS, KNOWN_FIELDS

if TYPE_CHECKING:
    from ...model.manifest import Manifest
    from .token_ids import TokenIdReader

NEAR_MISS = 0.85  # difflib's ratio from which an unknown field is taken for a misspelling of a known one: "dimension",
# "truncated", "users" are; vendor fields that real clients send ("input_type", "truncation", "task") are not


@dataclass
class EmbeddingRequest:
    """A validated request: either ``texts`` or ``token_ids`` is set."""

    texts: list[str] | None = None  # one string per input
    token_ids: list[np.ndarray] | None = None  # one int64 array per input
    encoding_format: str = "float"  # float | base64 (little-endian float32)
    dimensions: int | None = None  # cut each vector to this size, then renormalise
    prompt_name: str | None = None  # the model's prompt put before each text; None: its default, if any
    truncate: bool | None = None  # per-request override of the server's truncation policy
    model: str | None = None  # accepted, checked against the served name
    input_kind: str = "text"  # text | model_token_ids | openai_token_ids (decoded to text)
    extra: dict[str, Any] = field(default_factory=dict)  # user and unknown fields, accepted and ignored

    @property
    def count(self) -> int:
        return len(self.texts if self.texts is not None else self.token_ids or [])


def parse_json(body: bytes) -> Any:
    """The decoded JSON body, or a 400 that says why it is not JSON."""
    if not body.strip():
        raise bad("The request body is empty: send a JSON object such as {\"input\": [\"some text\"]}.",
                  param=None, code="invalid_json")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise bad(f"The request body is not valid JSON ({e}); send UTF-8 JSON without lone surrogates, "
                  "such as {\"input\": [\"some text\"]}.", param=None, code="invalid_json") from None


def parse_request(raw: Any, max_inputs: int, token_ids: TokenIdReader) -> EmbeddingRequest:
    """Validate a decoded body; raises :class:`ApiError` (400/413) naming the bad field and the fix."""
    if not isinstance(raw, dict):
        raise bad(f"The body must be a JSON object with an 'input' field, got a JSON {_json_type(raw)}.", None)
    if "input" not in raw:
        raise bad("Missing required field 'input': a string, a list of strings, or a list of token id lists.")
    _check_field_names(raw)
    req = EmbeddingRequest(extra={k: v for k, v in raw.items() if k not in KNOWN_FIELDS or k == "user"})
    _parse_input(raw["input"], req, max_inputs, token_ids)
    fmt = raw.get("encoding_format", "float")
    if fmt is None:
        fmt = "float"
    if fmt not in ENCODING_FORMATS:
        raise bad(f"encoding_format {_shown(fmt)} is not supported: use 'float' or 'base64'.", "encoding_format")
    req.encoding_format = fmt
    dims = raw.get("dimensions")
    if dims is not None and not _is_int(dims):
        raise bad(f"dimensions must be an integer, got {_shown(dims)}.", "dimensions")
    req.dimensions = None if dims is None else int(dims)
    prompt = raw.get("prompt_name")
    if prompt is not None and not isinstance(prompt, str):
        raise bad(f"prompt_name must be a string, got {_shown(prompt)}.", "prompt_name")
    req.prompt_name = prompt
    trunc = raw.get("truncate")
    if trunc is not None and not isinstance(trunc, bool):
        raise bad(f"truncate must be true or false, got {_shown(trunc)}.", "truncate")
    req.truncate = trunc
    model = raw.get("model")
    if model is not None and not isinstance(model, str):
        raise bad(f"model must be a string, got {_shown(model)}.", "model")
    req.model = model
    user = raw.get("user")
    if user is not None and not isinstance(user, str):
        raise bad(f"user must be a string, got {_shown(user)}.", "user")
    return req


def _check_field_names(raw: dict[str, Any]) -> None:
    """400 for an unknown field that is a near miss of a known one (``dimension``, ``encoding-format``,
    ``encodingFormat``): ignored like other unknown fields, it silently did nothing."""
    for key in raw:
        if key in KNOWN_FIELDS:
            continue
        plain = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower().replace("-", "_")  # camelCase, kebab-case
        meant = difflib.get_close_matches(plain, sorted(KNOWN_FIELDS), n=1, cutoff=NEAR_MISS)
        if meant:
            raise bad(f"Unknown field {_shown(key)}: did you mean {meant[0]!r}? This server ignores unknown fields, "
                      f"so it would do nothing; send it as {meant[0]!r}.", key[:100], "unknown_field")


def _parse_input(value: Any, req: EmbeddingRequest, max_inputs: int, token_ids: TokenIdReader) -> None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise bad(f"input must be a string or a list, got a JSON {_json_type(value)}.")
    if not value:
        raise bad("input is an empty list: send at least one text.", code="empty_input")
    if _is_int(value[0]):  # one input as token ids
        bad_item = next((i for i, x in enumerate(value) if not _is_int(x)), None)
        if bad_item is not None:
            x = value[bad_item]
            if _json_type(x) == "number":
                raise bad(f"input[{bad_item}] is {_number(x)}: token ids must be integers.")
            raise bad(f"input is a list of token ids, but input[{bad_item}] is a JSON {_json_type(x)}: "
                      "send a list of strings, or a list of integer token ids, not a mix.")
        value = [value]
    if len(value) > max_inputs:
        raise ApiError(413, f"input has {len(value)} items; this server takes at most {max_inputs} per request "
                            "(--max-inputs): split it into several requests.", "too_many_inputs", "input")
    first = value[0]
    if isinstance(first, str):
        for i, s in enumerate(value):
            if not isinstance(s, str):
                raise bad(f"input[{i}] is a JSON {_json_type(s)}, not a string: every item of a list of texts must "
                          "be a string.")
        req.texts = value
        return
    if _json_type(first) == "number":  # not an integer, or _is_int took it for one input's token ids
        raise bad(f"input[0] is {_number(first)}: token ids must be integers (a list of integers is one input as "
                  "token ids).")
    if not isinstance(first, list):
        raise bad(f"input[0] is a JSON {_json_type(first)}: items must be strings, or lists of token ids.")
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, list):
            raise bad(f"input[{i}] is not a list of integer token ids (got a JSON {_json_type(item)}): "
                      "send all items as token id lists, or all as strings.")
        if not item:  # [[]] embedded "" as OpenAI's ids, and [[101, 102], []] was refused as mixing two kinds
            raise bad(f"input[{i}] is an empty list of token ids: send at least one id (this model's own ids include "
                      "its special tokens), or the text \"\" to embed an empty text.", code="empty_input")
        j = next((j for j, t in enumerate(item) if not _is_int(t)), None)
        if j is not None:
            raise bad(f"input[{i}][{j}] is {_shown(item[j])}, a JSON {_json_type(item[j])}: token ids are integers.")
        big = next((t for t in item if not 0 <= t < 2**31), None)
        if big is not None:
            what = f"token id {_number(big)}" if abs(big) < 2**63 else _number(big)
            raise bad(f"input[{i}] holds {what}: token ids are integers from 0, below 2**31.", code="invalid_token_id")
        items.append([int(t) for t in item] if any(isinstance(t, float) for t in item) else item)
    req.texts, req.token_ids = token_ids.read(items)
    req.input_kind = "openai_token_ids" if req.texts is not None else "model_token_ids"


def _is_int(x: Any) -> bool:
    """A JSON integer: an int, or a number with no fraction (5.0), as JSON Schema's "integer" says."""
    return (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, float) and x.is_integer())


def _number(x: float) -> str:
    """A JSON number as messages show it: integral as an integer, past 64 bits by its size (orjson reads an integer
    from 2**64 on as a float: 2**64 arrives as 1.8446744073709552e+19, 1e300 as a float that int() spells out)."""
    if abs(x) >= 2**63:
        return "a number over 2**63" if x > 0 else "a number under -2**63"
    return str(int(x)) if isinstance(x, float) and x.is_integer() else repr(x)


def _shown(x: Any) -> str:
    """A value for a message: numbers as :func:`_number` says, anything else as its repr, cut at 60 characters."""
    if _json_type(x) == "number":
        return _number(x)
    text = repr(x)
    return text if len(text) <= 60 else text[:60] + "…"


def _json_type(x: Any) -> str:
    return {str: "string", bool: "boolean", int: "number", float: "number", list: "array", dict: "object",
            type(None): "null"}.get(type(x), type(x).__name__)


def check_dimensions(dimensions: int | None, dim: int) -> None:
    if dimensions is not None and not 1 <= dimensions <= dim:
        shown = f"={dimensions}" if abs(dimensions) < 2**63 else f" ({_number(dimensions)})"
        raise bad(f"dimensions{shown} is out of range: this model's embeddings have {dim} dimensions; "
                  f"ask for 1..{dim}.", "dimensions", "invalid_dimensions")


def with_prompt(req: EmbeddingRequest, manifest: Manifest) -> list[str] | None:
    """The request's texts with the model's prompt before each (``prompt_name``, else the default); 400 for an
    unknown name, or a name with this model's token ids (they are the model's input already)."""
    if req.texts is None:
        if req.prompt_name:  # "" asks for no prompt
            raise bad("prompt_name applies to texts, not to this model's token ids (they are its input as is): "
                      "send texts, or put the prompt's tokens in the ids.", "prompt_name")
        return None
    try:
        prompt = prompt_text(manifest, req.prompt_name)
    except InvalidArgumentError as e:
        raise bad(str(e), "prompt_name", "invalid_prompt_name") from None
    return [prompt + t for t in req.texts] if prompt else req.texts


def response_body(emb: np.ndarray, req: EmbeddingRequest, model: str, prompt_tokens: int) -> bytes:
    """OpenAI's response for (n, dim) float32 embeddings (already cut to ``dimensions``), in input order."""
    emb = np.ascontiguousarray(emb, dtype="<f4")
    if req.encoding_format == "base64":
        rows: list[Any] = [base64.b64encode(row.tobytes()).decode("ascii") for row in emb]
    else:
        rows = list(emb)  # orjson writes float32 arrays natively
    data = [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)]
    return orjson.dumps(
        {"object": "list", "data": data, "model": model,
         "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
