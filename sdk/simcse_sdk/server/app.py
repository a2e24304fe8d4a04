"""The ASGI application: OpenAI-compatible routes over a shared :class:`RequestBatcher`.

Routes (declared once, in :data:`.api.openapi.ROUTES`, which ``GET /openapi.json`` documents):
``POST /v1/embeddings`` (and ``/embeddings``), ``GET /v1/models``, ``GET /info``, ``GET /health``
(liveness), ``GET /ready`` (readiness: 503 until the model is loaded and warm, and while
draining), ``GET /metrics`` (Prometheus), ``GET /openapi.json``. Every error has OpenAI's body shape.

Example:
    >>> from simcse_sdk.server import ServerConfig, create_app
    >>> app = create_app(ServerConfig(model_dir="models/minilm"))    # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8080)
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..model.manifest import Manifest
from .api.api_error import ApiError
from .api.openapi import ROUTES, document
from .config import ServerConfig
from .embeddings import EmbeddingsEndpoint, Receive, Scope, Send, check_key
from .metrics import CONTENT_TYPE
from .state import ServerState

logger = logging.getLogger(__name__)
JSON = "application/json"
Handler = Callable[[Request, ServerState], Awaitable[Response]]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


def error_response(e: ApiError) -> Response:
    return Response(e.body(), status_code=e.status, media_type=JSON, headers=e.headers)


class ServerApp:
    """The server's ASGI app: ``POST`` on the embeddings paths goes straight to :class:`.EmbeddingsEndpoint`
    (the hot path, no framework in between); everything else, lifespan included, to the Starlette app."""

    def __init__(self, routes_app: Starlette, embeddings: EmbeddingsEndpoint, cors_origins: list[str]) -> None:
        self.routes_app = routes_app
        self.state = routes_app.state
        self.embeddings = embeddings
        self._paths = frozenset(r.path for r in ROUTES if r.handler == "embeddings")
        self._asgi: Any = self._dispatch
        if cors_origins:  # around both paths: preflight requests and CORS headers on every answer
            self._asgi = CORSMiddleware(self._dispatch, allow_origins=cors_origins, allow_methods=["GET", "POST"],
                                        allow_headers=["*"], expose_headers=["*"])

    @property
    def routes(self) -> list[Any]:
        """The routing table (every route of :data:`.api.openapi.ROUTES`)."""
        return self.routes_app.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self._paths:
            await self.embeddings(scope, receive, send)
        else:
            await self.routes_app(scope, receive, send)


def create_app(config: ServerConfig, state: ServerState | None = None) -> ServerApp:
    """The ASGI app; the model loads in the background when the app starts (see ``/ready``)."""
    state = state or ServerState(config)
    embeddings = EmbeddingsEndpoint(state)
    known = frozenset(r.path for r in ROUTES)

    def route(path: str, fn: Handler, methods: list[str], auth: bool) -> Route:
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            rid = (request.headers.get("x-request-id") or uuid.uuid4().hex)[:200]
            try:
                if auth:
                    check_key(request.headers.get("authorization", ""), config.api_key)
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
            logger.debug("%s %s %d %.1fms id=%s", request.method, path, response.status_code, total_ms, rid)
            return response

        return Route(path, endpoint, methods=methods)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        path = request.url.path
        shown = path if len(path) <= 200 else path[:200] + "…"  # a path of any length comes back in the message
        msg = (f"No route {request.method} {shown}: this server has "
               + ", ".join(f"{r.method} {r.path}" for r in ROUTES) + ".")
        e = ApiError(status, msg, "unknown_route" if status == 404 else "method_not_allowed",
                     headers=dict(getattr(exc, "headers", None) or {}))  # 405: Allow
        response = error_response(e)
        response.headers["x-request-id"] = (request.headers.get("x-request-id") or uuid.uuid4().hex)[:200]
        state.metrics.failures.labels(reason=e.code).inc()
        # a route's own path, else one label: a raw path from the client would make a series per path it tries
        state.metrics.requests.labels(route=path if path in known else "unknown", status=str(status)).inc()
        return response

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        state.start_loading()
        yield
        await state.close()

    routes = [Route(r.path, embeddings, methods=[r.method]) if r.handler == "embeddings"
              else route(r.path, HANDLERS[r.handler], [r.method], auth=r.auth) for r in ROUTES]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: not_found})
    app.state.simcse = state
    return ServerApp(app, embeddings, config.cors_origins)


async def models(request: Request, state: ServerState) -> Response:
    return json_response({"object": "list", "data": [_model(state)]})


async def model(request: Request, state: ServerState) -> Response:
    """``GET /v1/models/{model}``: the served model by its id (any other id: 404, as OpenAI answers)."""
    name = request.path_params["model"]
    if name != state.config.served_name:
        shown = name if len(name) <= 200 else name[:200] + "…"
        raise ApiError(404, f"The model {shown!r} does not exist here: this server serves {state.config.served_name!r} "
                            "(GET /v1/models; --model-name sets it). Embedding requests take any model name.",
                       "model_not_found", "model")
    return json_response(_model(state))


def _model(state: ServerState) -> dict[str, object]:
    return {"id": state.config.served_name, "object": "model", "created": int(state.created), "owned_by": "simcse-sdk"}


async def info(request: Request, state: ServerState) -> Response:
    return json_response(state.describe())


async def health(request: Request, state: ServerState) -> Response:
    if state.load_error:
        return json_response({"status": "error", "error": state.load_error}, status=500)
    return json_response({"status": "ok"})


async def ready(request: Request, state: ServerState) -> Response:
    if not state.is_ready:
        e = state.unavailable()
        return json_response({"status": "draining" if state.draining else "loading", "message": e.message},
                             status=503, headers=e.headers)
    others = state.workers_unready()
    if others is not None:
        return json_response({"status": "loading", "message": f"The server is still loading: {others}"},
                             status=503, headers={"Retry-After": str(state.config.retry_after)})
    return json_response({"status": "ready"})


async def metrics(request: Request, state: ServerState) -> Response:
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)


async def openapi(request: Request, state: ServerState) -> Response:
    enc, ids = state.encoder, state.token_ids
    m = enc.manifest if enc is not None else Manifest.load(state.config.model_dir)
    return json_response(document(state.config, m.embedding_dim, ids.vocab_size if ids is not None else None,
                                  list(m.prompts)))


HANDLERS: dict[str, Handler] = {"models": models, "model": model, "info": info, "health": health, "ready": ready, "metrics": metrics,
                                "openapi": openapi}
