"""OpenAI's embeddings API: request validation, error bodies and response bodies.

A request's ``input`` is a string, a list of strings, a list of token ids, or a list of
lists of token ids. Token ids are this model's full input (special tokens included, as
``Encoder.tokenizer.encode`` returns them) or OpenAI's, which are decoded to text: see
:mod:`simcse_sdk.server.api.token_ids`. An empty string is embedded, as ``Encoder.encode`` embeds it.

Example:
    >>> from simcse_sdk.server.api.token_ids import TokenIdReader
    >>> reader = TokenIdReader("auto", (101,), (102,), 30522)
    >>> req = parse_request({"input": ["a", "b"], "encoding_format": "float"}, max_inputs=8, token_ids=reader)
    >>> req.texts, req.encoding_format
    (['a', 'b'], 'float')
"""

from __future__ import annotations

import base64
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
    req = EmbeddingRequest(extra={k: v for k, v in raw.items() if k not in KNOWN_FIELDS or k == "user"})
    _parse_input(raw["input"], req, max_inputs, token_ids)
    fmt = raw.get("encoding_format", "float")
    if fmt is None:
        fmt = "float"
    if fmt not in ENCODING_FORMATS:
        raise bad(f"encoding_format {fmt!r} is not supported: use 'float' or 'base64'.", "encoding_format")
    req.encoding_format = fmt
    dims = raw.get("dimensions")
    if dims is not None and not _is_int(dims):
        raise bad(f"dimensions must be an integer, got {dims!r}.", "dimensions")
    req.dimensions = None if dims is None else int(dims)
    prompt = raw.get("prompt_name")
    if prompt is not None and not isinstance(prompt, str):
        raise bad(f"prompt_name must be a string, got {prompt!r:.60}.", "prompt_name")
    req.prompt_name = prompt
    trunc = raw.get("truncate")
    if trunc is not None and not isinstance(trunc, bool):
        raise bad(f"truncate must be true or false, got {trunc!r}.", "truncate")
    req.truncate = trunc
    model = raw.get("model")
    if model is not None and not isinstance(model, str):
        raise bad(f"model must be a string, got {model!r}.", "model")
    req.model = model
    user = raw.get("user")
    if user is not None and not isinstance(user, str):
        raise bad(f"user must be a string, got {user!r}.", "user")
    return req


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
            raise bad(f"input is a list of token ids, but input[{bad_item}] is a JSON {_json_type(value[bad_item])}: "
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
    if not isinstance(first, list):
        raise bad(f"input[0] is a JSON {_json_type(first)}: items must be strings, or lists of token ids.")
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, list):
            raise bad(f"input[{i}] is not a list of integer token ids (got a JSON {_json_type(item)}): "
                      "send all items as token id lists, or all as strings.")
        j = next((j for j, t in enumerate(item) if not _is_int(t)), None)
        if j is not None:
            raise bad(f"input[{i}][{j}] is {item[j]!r}, a JSON {_json_type(item[j])}: token ids are integers.")
        big = next((t for t in item if not 0 <= t < 2**31), None)
        if big is not None:
            raise bad(f"input[{i}] holds token id {big}: token ids are integers from 0, below 2**31.",
                      code="invalid_token_id")
        items.append([int(t) for t in item] if any(isinstance(t, float) for t in item) else item)
    req.texts, req.token_ids = token_ids.read(items)
    req.input_kind = "openai_token_ids" if req.texts is not None else "model_token_ids"


def _is_int(x: Any) -> bool:
    """A JSON integer: an int, or a number with no fraction (5.0), as JSON Schema's "integer" says."""
    return (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, float) and x.is_integer())


def _json_type(x: Any) -> str:
    return {str: "string", bool: "boolean", int: "number", float: "number", list: "array", dict: "object",
            type(None): "null"}.get(type(x), type(x).__name__)


def check_dimensions(dimensions: int | None, dim: int) -> None:
    if dimensions is not None and not 1 <= dimensions <= dim:
        raise bad(f"dimensions={dimensions} is out of range: this model's embeddings have {dim} dimensions; "
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
