"""The ASGI application (Starlette): OpenAI-compatible routes over a shared :class:`RequestBatcher`.

Routes (declared once, in :data:`.openapi.ROUTES`, which ``GET /openapi.json`` documents):
``POST /v1/embeddings`` (and ``/embeddings``), ``GET /v1/models``, ``GET /info``, ``GET /health``
(liveness), ``GET /ready`` (readiness: 503 until the model is loaded and warm, and while
draining), ``GET /metrics`` (Prometheus), ``GET /openapi.json``. Every error has OpenAI's body shape.

Example:
    >>> from simcse_sdk.server import ServerConfig, create_app
    >>> app = create_app(ServerConfig(model_dir="models/minilm"))    # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8080)
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..model.manifest import Manifest
from ..similarity import normalize
from .api_error import ApiError
from .batching import Overloaded, TooLong
from .config import ServerConfig
from .metrics import CONTENT_TYPE
from .openapi import ROUTES, document
from .protocol import check_dimensions, parse_json, parse_request, response_body, with_prompt
from .state import ServerState

logger = logging.getLogger(__name__)
JSON = "application/json"
Handler = Callable[[Request, ServerState], Awaitable[Response]]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


def error_response(e: ApiError) -> Response:
    return Response(e.body(), status_code=e.status, media_type=JSON, headers=e.headers)


def create_app(config: ServerConfig, state: ServerState | None = None) -> Starlette:
    """The Starlette app; the model loads in the background when the app starts (see ``/ready``)."""
    state = state or ServerState(config)

    def route(path: str, fn: Handler, methods: list[str], auth: bool) -> Route:
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            rid = (request.headers.get("x-request-id") or uuid.uuid4().hex)[:200]
            try:
                if auth:
                    _check_key(request, config)
                response = await fn(request, state)
            except ApiError as e:
                state.metrics.failures.labels(reason=e.code).inc()
                response = error_response(e)
            except Exception as e:  # noqa: BLE001 - still an OpenAI-shaped answer, and a log line with the cause
                logger.exception("%s %s failed (id=%s)", request.method, path, rid)
                state.metrics.failures.labels(reason="internal_error").inc()
                response = error_response(ApiError(500, f"The server failed on this request ({type(e).__name__}: {e}); "
                                                        f"it is logged with request id {rid}.", "internal_error"))
            total_ms = (time.perf_counter() - started) * 1000
            response.headers["x-request-id"] = rid
            response.headers["x-total-time-ms"] = f"{total_ms:.2f}"
            state.metrics.requests.labels(route=path, status=str(response.status_code)).inc()
            logger.info("%s %s %d %.1fms id=%s%s", request.method, path, response.status_code, total_ms, rid,
                        getattr(request.state, "log", ""))
            return response

        return Route(path, endpoint, methods=methods)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        msg = (f"No route {request.method} {request.url.path}: this server has "
               + ", ".join(f"{r.method} {r.path}" for r in ROUTES) + ".")
        response = error_response(ApiError(status, msg, "unknown_route" if status == 404 else "method_not_allowed",
                                           headers=dict(getattr(exc, "headers", None) or {})))  # 405: Allow
        response.headers["x-request-id"] = request.headers.get("x-request-id") or uuid.uuid4().hex
        return response

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        state.start_loading()
        yield
        await state.close()

    middleware = []
    if config.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=config.cors_origins, allow_methods=["GET", "POST"],
                                     allow_headers=["*"], expose_headers=["*"]))
    routes = [route(r.path, HANDLERS[r.handler], [r.method], auth=r.auth) for r in ROUTES]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={HTTPException: not_found})
    app.state.simcse = state
    return app


def _check_key(request: Request, config: ServerConfig) -> None:
    if config.api_key is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), config.api_key.encode()):
        what = "is missing" if not header else "is wrong"
        raise ApiError(401, f"The API key {what}: send the header 'Authorization: Bearer <key>' with the key this "
                            "server was started with (--api-key or SIMCSE_API_KEY).", "invalid_api_key")


def _unavailable(state: ServerState) -> ApiError:
    why = "is draining (shutting down)" if state.draining else "is still loading the model"
    if state.load_error:
        why = f"could not load the model ({state.load_error})"
    return ApiError(503, f"The server {why}; retry after {state.config.retry_after} s.", "not_ready",
                    headers={"Retry-After": str(state.config.retry_after)})


async def read_body(request: Request, limit: int) -> bytes:
    too_big = ApiError(413, f"The request body is over this server's limit of {limit} bytes (--max-body-bytes): "
                            "send fewer or shorter inputs per request.", "body_too_large")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def embeddings(request: Request, state: ServerState) -> Response:
    cfg, m = state.config, state.metrics
    if not state.is_ready:
        raise _unavailable(state)
    state.begin_request()
    m.in_flight.inc()
    try:
        started = time.perf_counter()
        raw = parse_json(await read_body(request, cfg.max_body_bytes))
        encoder, batcher = state.encoder, state.batcher
        assert encoder is not None and batcher is not None
        assert state.token_ids is not None
        req = parse_request(raw, cfg.max_inputs, state.token_ids)
        check_dimensions(req.dimensions, encoder.dim)
        texts = with_prompt(req, encoder.manifest)
        truncate = cfg.truncate if req.truncate is None else req.truncate
        try:
            job = batcher.submit(texts, req.token_ids, truncate)
        except Overloaded:
            raise ApiError(429, f"The server is overloaded: {batcher.queued} inputs are waiting and the limit is "
                                f"{cfg.max_queue} (--max-queue); retry after {cfg.retry_after} s.", "overloaded",
                           headers={"Retry-After": str(cfg.retry_after)}) from None
        result = await _wait_unless_gone(request, job, batcher)
        if result is None:  # the client is gone: nobody to answer
            return Response(status_code=499)
        emb = result.embeddings
        if req.dimensions is not None and req.dimensions < encoder.dim:  # Encoder.encode(dimensions=)'s cut: unit rows
            emb = encoder.shaper.shape(emb, req.dimensions, "float32", normalize=True)
        elif cfg.normalize and not encoder.manifest.normalized:
            emb = normalize(emb)
        body = response_body(emb, req, cfg.served_name, result.prompt_tokens)
        m.inputs.labels(kind=req.input_kind).inc(req.count)
        m.tokens.inc(result.prompt_tokens)
        m.truncated.inc(result.truncated)
        m.queue_seconds.observe(result.queue_s)
        m.request_seconds.observe(time.perf_counter() - started)
        request.state.log = f" inputs={req.count} tokens={result.prompt_tokens} truncated={result.truncated}"
        return Response(body, media_type=JSON, headers={
            "x-truncated-inputs": str(result.truncated),
            "x-queue-time-ms": f"{result.queue_s * 1000:.2f}",
            "x-inference-time-ms": f"{result.inference_s * 1000:.2f}",
        })
    finally:
        m.in_flight.dec()
        state.end_request()


async def _wait_unless_gone(request: Request, job: Any, batcher: Any) -> Any:
    """The job's result; None if the client disconnects first (the job is then skipped if not yet run)."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({job.future, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if job.future not in done:
        batcher.cancel(job)
        state_metrics = batcher.metrics
        if state_metrics is not None:
            state_metrics.failures.labels(reason="client_disconnected").inc()
        return None
    try:
        return job.future.result()
    except TooLong as e:
        raise ApiError(422, f"input[{e.index}] is longer than this model's {e.max_tokens} tokens and truncation is "
                            "off: shorten it, or send \"truncate\": true (or start the server with truncation on).",
                       "input_too_long", "input") from None


async def models(request: Request, state: ServerState) -> Response:
    return json_response({"object": "list", "data": [
        {"id": state.config.served_name, "object": "model", "created": int(state.created), "owned_by": "simcse-sdk"}]})


async def info(request: Request, state: ServerState) -> Response:
    return json_response(state.describe())


async def health(request: Request, state: ServerState) -> Response:
    if state.load_error:
        return json_response({"status": "error", "error": state.load_error}, status=500)
    return json_response({"status": "ok"})


async def ready(request: Request, state: ServerState) -> Response:
    if not state.is_ready:
        e = _unavailable(state)
        return json_response({"status": "draining" if state.draining else "loading", "message": e.message},
                             status=503, headers=e.headers)
    return json_response({"status": "ready"})


async def metrics(request: Request, state: ServerState) -> Response:
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)


async def openapi(request: Request, state: ServerState) -> Response:
    enc, ids = state.encoder, state.token_ids
    m = enc.manifest if enc is not None else Manifest.load(state.config.model_dir)
    return json_response(document(state.config, m.embedding_dim, ids.vocab_size if ids is not None else None,
                                  list(m.prompts)))


HANDLERS: dict[str, Handler] = {"embeddings": embeddings, "models": models, "info": info, "health": health,
                                "ready": ready, "metrics": metrics, "openapi": openapi}
