"""The server's OpenAPI 3.1 document: its routes and their bodies, declared once.

:data:`ROUTES` is the one list of routes: the app (:mod:`.app`) builds its routing table from
it, and :func:`document` renders it as ``GET /openapi.json``. The request fields the parser
accepts (:mod:`.protocol`) are the properties of :data:`REQUEST`, and its enumerations are the
parser's. So a route, field or status cannot be served without being documented; the tests
hold each response against this document (schemathesis, against the live server).

Example:
    >>> doc = document(ServerConfig(model_dir="m"), dimensions=384, vocab_size=30522)
    >>> doc["openapi"], sorted(doc["paths"])[:2]
    ('3.1.0', ['/embeddings', '/health'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import ServerConfig
from .token_ids import OPENAI_ENCODINGS

ENCODING_FORMATS = ("float", "base64")
JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ids(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
            "description": description}


# The embeddings request body. Its property names are the fields the parser knows; others are accepted and ignored,
# but for a near miss of one of them (dimension, encodingFormat: a 400 naming the field meant).
REQUEST: dict[str, Any] = {
    "type": "object",
    "description": "Fields besides these are ignored, except a near miss of one of them (dimension, encodingFormat, "
                   "prompt-name), refused with 400 naming the field meant.",
    "required": ["input"],
    "additionalProperties": True,
    "properties": {
        "input": {"description": "What to embed: a text, a list of texts, token ids, or a list of token id lists. "
                                 "Token ids are this model's full input (framed by its special tokens) or OpenAI's "
                                 "(decoded to text, see --token-ids). An empty text is embedded.",
                  "anyOf": [{"type": "string"},
                            {"type": "array", "items": {"type": "string"}, "minItems": 1},
                            {**_ids("one input as token ids"), "minItems": 1},
                            {"type": "array", "items": _ids("one input as token ids"), "minItems": 1}]},
        "model": {"type": ["string", "null"], "description": "Any name: the served model answers (GET /v1/models)."},
        "encoding_format": {"enum": [*ENCODING_FORMATS, None], "default": "float",
                            "description": "float: JSON numbers; base64: little-endian float32 bytes."},
        "dimensions": {"type": ["integer", "null"], "minimum": 1,
                       "description": "Cut each vector to its first N values, then renormalise (a Matryoshka "
                                      "model's trained sizes: GET /info, trained_dimensions)."},
        "prompt_name": {"type": ["string", "null"],
                        "description": "Put the model's prompt of this name before each text (GET /info lists them; "
                                       "an extension, as text-embeddings-inference's). Null: the model's default "
                                       "prompt, if it has one; \"\": no prompt. Not for this model's token ids."},
        "user": {"type": ["string", "null"], "description": "Accepted and ignored."},
        "truncate": {"type": ["boolean", "null"], "description": "Cut inputs longer than the model (true) or refuse "
                                                                 "them with 422 (false); null or absent: the server's "
                                                                 "policy (--no-truncate turns it off)."},
    },
}
KNOWN_FIELDS = frozenset(REQUEST["properties"])  # null in any of them but input means "the default"

SCHEMAS: dict[str, Any] = {
    "EmbeddingRequest": REQUEST,
    "Embedding": {"type": "object", "required": ["object", "index", "embedding"], "properties": {
        "object": {"const": "embedding"}, "index": {"type": "integer", "minimum": 0},
        "embedding": {"anyOf": [{"type": "array", "items": {"type": "number"}},
                                {"type": "string", "contentEncoding": "base64"}]}}},
    "EmbeddingResponse": {"type": "object", "required": ["object", "data", "model", "usage"], "properties": {
        "object": {"const": "list"}, "data": {"type": "array", "items": _ref("Embedding")},
        "model": {"type": "string"},
        "usage": {"type": "object", "required": ["prompt_tokens", "total_tokens"], "properties": {
            "prompt_tokens": {"type": "integer", "minimum": 0, "description": "This model's tokens read."},
            "total_tokens": {"type": "integer", "minimum": 0}}}}},
    "Model": {"type": "object", "required": ["id", "object", "created", "owned_by"], "properties": {
        "id": {"type": "string"}, "object": {"const": "model"}, "created": {"type": "integer"},
        "owned_by": {"type": "string"}}},
    "ModelList": {"type": "object", "required": ["object", "data"], "properties": {
        "object": {"const": "list"}, "data": {"type": "array", "items": _ref("Model")}}},
    "Info": {"type": "object", "required": ["model", "ready", "draining", "limits"], "properties": {
        "model": {"type": "string"}, "ready": {"type": "boolean"}, "draining": {"type": "boolean"},
        "limits": {"type": "object"}, "variant": {"type": "string"},
        "manifest_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "device": {"type": "string"}, "dimensions": {"type": "integer"}, "max_input_tokens": {"type": "integer"},
        "pooling": {"type": "string"}, "threads": {"type": "integer"}, "parallel_batches": {"type": "integer"},
        "vocab_size": {"type": "integer"}, "trained_dimensions": {"type": "array", "items": {"type": "integer"}},
        "prompts": {"type": "object", "additionalProperties": {"type": "string"}},
        "default_prompt_name": {"type": ["string", "null"]}, "token_ids": {"type": "object", "properties": {
            "policy": {"enum": ["auto", "model", "openai"]}, "openai_encoding": {"enum": list(OPENAI_ENCODINGS)},
            "model_special_tokens": {"type": "string"}}}}},
    "Status": {"type": "object", "required": ["status"], "properties": {
        "status": {"enum": ["ok", "ready", "loading", "draining", "error"]}, "message": {"type": "string"},
        "error": {"type": "string"}}},
    "Error": {"type": "object", "required": ["error"], "additionalProperties": False, "properties": {
        "error": {"type": "object", "required": ["message", "type", "param", "code"], "additionalProperties": False,
                  "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                                 "param": {"type": ["string", "null"]}, "code": {"type": "string"}}}}},
}

ERRORS = {400: "Malformed JSON or input; the message names the bad item and the fix.",
          401: "A missing or wrong API key (only when the server has one).",
          404: "No model of that id here: the message names the one this server serves.",
          413: "A body over --max-body-bytes, or more than --max-inputs inputs.",
          415: "A body in a Content-Encoding other than identity: send uncompressed UTF-8 JSON.",
          422: "A text longer than the model with truncation off.",
          429: "--max-queue inputs already wait; retry after Retry-After seconds.",
          500: "The server failed on this request (logged with its request id).",
          503: "Loading the model, or draining; retry after Retry-After seconds."}


@dataclass(frozen=True)
class RouteSpec:
    """One route: what the app serves at ``path`` and what the document says of it."""

    path: str
    method: str  # GET | POST
    handler: str  # name of the handler in simcse_sdk.server.app
    summary: str
    auth: bool  # behind the API key, when the server has one
    ok: str | None  # the 200 body's schema name; None: not JSON (see ok_media)
    errors: tuple[int, ...] = ()  # statuses besides 200 (500 is added for every route, 401 behind a key)
    ok_media: str = JSON
    body: bool = False  # takes an EmbeddingRequest
    tags: tuple[str, ...] = field(default=("embeddings",))
    params: tuple[str, ...] = ()  # path parameters, each a string ("/v1/models/{model}")


_EMBED_ERRORS = (400, 413, 415, 422, 429, 503)
ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("/v1/embeddings", "POST", "embeddings", "Embed texts (OpenAI's embeddings API)", True,
              "EmbeddingResponse", _EMBED_ERRORS, body=True),
    RouteSpec("/embeddings", "POST", "embeddings", "Embed texts (the same, without /v1)", True,
              "EmbeddingResponse", _EMBED_ERRORS, body=True),
    RouteSpec("/v1/models", "GET", "models", "The model this server serves", True, "ModelList"),
    RouteSpec("/models", "GET", "models", "The same, without /v1", True, "ModelList"),
    RouteSpec("/v1/models/{model}", "GET", "model", "One model by its id (OpenAI's models.retrieve)", True, "Model",
              (404,), params=("model",)),
    RouteSpec("/models/{model}", "GET", "model", "The same, without /v1", True, "Model", (404,), params=("model",)),
    RouteSpec("/info", "GET", "info", "Model, variant, device, dimensions, token-id policy and every limit", True,
              "Info", tags=("operations",)),
    RouteSpec("/health", "GET", "health", "Liveness: 500 when the model could not be loaded", False, "Status",
              (500,), tags=("operations",)),
    RouteSpec("/ready", "GET", "ready", "Readiness: 503 while loading and while draining", False, "Status",
              (503,), tags=("operations",)),
    RouteSpec("/metrics", "GET", "metrics", "Prometheus metrics", False, None, ok_media="text/plain",
              tags=("operations",)),
    RouteSpec("/openapi.json", "GET", "openapi", "This document", False, None, ok_media=JSON, tags=("operations",)),
)


def _header(description: str, kind: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": kind}}


def _operation(spec: RouteSpec, config: ServerConfig, dimensions: int, prompts: list[str]) -> dict[str, Any]:
    ok: dict[str, Any] = {"schema": _ref(spec.ok)} if spec.ok else {"schema": {"type": "object"}} \
        if spec.ok_media == JSON else {"schema": {"type": "string"}}
    headers = {"x-request-id": _header("the request's x-request-id, else one the server made")}
    if spec.handler == "embeddings":
        headers |= {"x-truncated-inputs": _header("inputs cut to the model's max length", "integer"),
                    "x-queue-time-ms": _header("time waiting for a round"),
                    "x-inference-time-ms": _header("tokenising and embedding time"),
                    "x-total-time-ms": _header("time in the server")}
    responses: dict[str, Any] = {"200": {"description": "OK", "content": {spec.ok_media: ok}, "headers": headers}}
    statuses = set(spec.errors) | {500} | ({401} if spec.auth and config.api_key else set())
    for status in sorted(statuses):  # /health and /ready answer their own body; an exception gets OpenAI's
        schema = {"anyOf": [_ref("Status"), _ref("Error")]} if spec.ok == "Status" else _ref("Error")
        responses[str(status)] = {"description": ERRORS[status], "content": {JSON: {"schema": schema}}}
        if status in (429, 503):
            responses[str(status)]["headers"] = {"Retry-After": _header("seconds to wait before retrying", "integer")}
        if status == 401:
            responses["401"]["headers"] = {"WWW-Authenticate": _header("Bearer: the scheme the key is sent in")}
    op: dict[str, Any] = {"operationId": f"{spec.handler}_{spec.path.strip('/').replace('/', '_').replace('.', '_')}",
                          "summary": spec.summary, "tags": list(spec.tags), "responses": responses}
    if spec.body:
        body = {**REQUEST, "properties": {**REQUEST["properties"]}}
        body["properties"]["dimensions"] = {**REQUEST["properties"]["dimensions"], "maximum": dimensions}
        body["properties"]["prompt_name"] = {**REQUEST["properties"]["prompt_name"], "enum": [*prompts, "", None]}
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    if spec.params:
        op["parameters"] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                            for n in spec.params]
    if spec.auth and config.api_key:
        op["security"] = [{"bearer": []}]
    return op


def document(config: ServerConfig, dimensions: int, vocab_size: int | None, prompts: list[str] | None = None
             ) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a server with ``config`` serving a model of ``dimensions`` and ``prompts``."""
    from ... import __version__

    paths: dict[str, Any] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, config, dimensions, prompts or [])
    vocab = f"; this model's vocabulary: {vocab_size} ids" if vocab_size else ""
    description = (f"OpenAI-compatible embeddings of {config.served_name!r} ({dimensions} dimensions; token ids: "
                   f"--token-ids {config.token_ids}, OpenAI's decoded with {config.openai_encoding}{vocab}).")
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "simcse-serve", "version": __version__, "description": description},
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
    if config.api_key:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return doc
