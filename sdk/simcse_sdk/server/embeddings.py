"""``POST /v1/embeddings`` as a plain ASGI app: the one route on the hot path, without a framework in between.

From the request's bytes to the response's bytes in one pass: headers read once from the ASGI scope,
the body checked against its limit while it arrives, the request validated (:mod:`.api.protocol`), its
inputs handed to the shared :class:`~.batching.RequestBatcher`, the answer written as two ASGI messages.
The other routes go through Starlette (:mod:`.app`); every error has OpenAI's body, as there. Measured
on a 2-core Xeon with 64 one-sentence clients, the Starlette route spent about 230 µs of event-loop CPU a
request, a tenth of it in a log line and another tenth in ``uuid4`` (docs/serving-performance.md has the figures).

A client that disconnects before its answer has its inputs skipped if they have not run yet; one that
disconnects while sending its body is not computed at all (counted as status 499, client_disconnected).

Example:
    >>> endpoint = EmbeddingsEndpoint(state)     # doctest: +SKIP
    >>> # an ASGI app: await endpoint(scope, receive, send)
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..similarity import normalize
from .api.api_error import ApiError
from .api.protocol import (
    EmbeddingRequest,
    check_dimensions,
    parse_json,
    parse_request,
    response_body,
    with_prompt,
)
from .batching import RequestBatcher
from .job import Job, Overloaded, TooLong
from .state import ServerState

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
JSON_HEADER = (b"content-type", b"application/json")
# Bodies up to this size are parsed and checked on the event loop (a sentence or a batch of them: well under 1 ms);
# a bigger one on a thread: checking and decoding the 1.4 million OpenAI token ids of an 8 MB body held the loop,
# /health and every other request, for about 1 s.
PARSE_ON_LOOP_BYTES = 64 * 1024


class ClientGone(Exception):
    """The client disconnected before its request body was complete."""


class EmbeddingsEndpoint:
    """The embeddings route of one server (its state: config, encoder, batcher, metrics)."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._ids = itertools.count()
        self._id_prefix = uuid.uuid4().hex[:12]  # request ids: this prefix and a counter (uuid4 costs a syscall)
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}  # labelled metrics, looked up once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        state, path = self.state, scope["path"]
        headers = dict(reversed(scope["headers"]))  # the first of a repeated header wins, as in Starlette's
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:200] or f"{self._id_prefix}{next(self._ids):08x}"
        extra: list[tuple[bytes, bytes]] = []
        try:
            check_key(headers.get(b"authorization", b"").decode("latin-1"), state.config.api_key)
            answer = await self._embed(headers, receive, extra, started)
            if answer is None:  # the client is gone: nobody to answer
                self.labelled(state.metrics.requests, path, "499").inc()
                return
            status, body = 200, answer
        except ApiError as e:
            state.metrics.failures.labels(reason=e.code).inc()
            status, body = e.status, e.body()
            extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in e.headers.items()]
        except Exception as e:  # noqa: BLE001 - still an OpenAI-shaped answer, and a log line with the cause
            logger.exception("POST %s failed (id=%s)", path, rid)
            state.metrics.failures.labels(reason="internal_error").inc()
            failed = ApiError(500, f"The server failed on this request ({type(e).__name__}: {e}); it is logged "
                                   f"with request id {rid}.", "internal_error")
            status, body, extra = 500, failed.body(), []
        total_ms = (time.perf_counter() - started) * 1000
        await send({"type": "http.response.start", "status": status, "headers": [
            JSON_HEADER, (b"content-length", str(len(body)).encode()), (b"x-request-id", rid.encode("latin-1")),
            (b"x-total-time-ms", f"{total_ms:.2f}".encode()), *extra]})
        await send({"type": "http.response.body", "body": body})
        self.labelled(state.metrics.requests, path, str(status)).inc()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("POST %s %d %.1fms id=%s", path, status, total_ms, rid)

    async def _embed(self, headers: dict[bytes, bytes], receive: Receive, extra: list[tuple[bytes, bytes]],
                     started: float) -> bytes | None:
        """The response body, or None when the client went away; raises :class:`ApiError`."""
        state = self.state
        cfg, m = state.config, state.metrics
        if not state.is_ready:
            raise state.unavailable()
        state.begin_request()
        m.in_flight.inc()
        try:
            check_encoding(headers.get(b"content-encoding"))
            try:
                body = await read_body(receive, headers.get(b"content-length"), cfg.max_body_bytes)
            except ClientGone:  # an abandoned body is not a request: nothing to parse, embed or answer
                m.failures.labels(reason="client_disconnected").inc()
                return None
            encoder, batcher = state.encoder, state.batcher
            assert encoder is not None and batcher is not None
            if len(body) > PARSE_ON_LOOP_BYTES:  # a big body is checked off the event loop, which keeps answering
                req, texts = await asyncio.get_running_loop().run_in_executor(None, self._request, body)
            else:
                req, texts = self._request(body)
            truncate = cfg.truncate if req.truncate is None else req.truncate
            try:
                job = batcher.submit(texts, req.token_ids, truncate)
            except Overloaded:
                raise ApiError(429, f"The server is overloaded: {batcher.queued} inputs are waiting, and this "
                                    f"request's {req.count} would pass the limit of {cfg.max_queue} (--max-queue); "
                                    f"retry after {cfg.retry_after} s.", "overloaded",
                               headers={"Retry-After": str(cfg.retry_after)}) from None
            result = await wait_unless_gone(receive, job, batcher)
            if result is None:
                return None
            emb = result.embeddings
            if req.dimensions is not None:  # Encoder.encode(dimensions=)'s cut: unit rows, the full size too
                emb = encoder.shaper.shape(emb, req.dimensions, "float32", normalize=True)
            elif cfg.normalize and not encoder.manifest.normalized:
                emb = normalize(emb)
            body = response_body(emb, req, cfg.served_name, result.prompt_tokens)
            self.labelled(m.inputs, req.input_kind).inc(req.count)
            m.tokens.inc(result.prompt_tokens)
            if result.truncated:
                m.truncated.inc(result.truncated)
            m.queue_seconds.observe(result.queue_s)
            m.request_seconds.observe(time.perf_counter() - started)
            extra += [(b"x-truncated-inputs", str(result.truncated).encode()),
                      (b"x-queue-time-ms", f"{result.queue_s * 1000:.2f}".encode()),
                      (b"x-inference-time-ms", f"{result.inference_s * 1000:.2f}".encode())]
            return body
        finally:
            m.in_flight.dec()
            state.end_request()

    def labelled(self, family: Any, *values: str) -> Any:
        """``family.labels(*values)``, looked up once (about 3 µs a call; a few label values on this route)."""
        key = (family, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*values)
        return child

    def _request(self, body: bytes) -> tuple[EmbeddingRequest, list[str] | None]:
        """The validated request and its texts (prompt applied), from the body's bytes; raises :class:`ApiError`."""
        state = self.state
        encoder, reader = state.encoder, state.token_ids
        assert encoder is not None and reader is not None
        req = parse_request(parse_json(body), state.config.max_inputs, reader)
        check_dimensions(req.dimensions, encoder.dim)
        return req, with_prompt(req, encoder.manifest)


def check_key(header: str, api_key: str | None) -> None:
    """401 unless ``header`` (the request's Authorization, "" if none) is ``Bearer <api_key>``; no key: no check."""
    if api_key is None:
        return
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        what = "is missing" if not header else "is wrong"
        raise ApiError(401, f"The API key {what}: send the header 'Authorization: Bearer <key>' with the key this "
                            "server was started with (--api-key or SIMCSE_API_KEY).", "invalid_api_key",
                       headers={"WWW-Authenticate": "Bearer"})


def check_encoding(value: bytes | None) -> None:
    """415 for a body in any Content-Encoding but identity: it was read as JSON as it came (a gzip body got a 400
    about lone surrogates, and plain JSON labelled gzip a 200)."""
    if value is None or value.strip().lower() in (b"", b"identity"):
        return
    shown = value.decode("latin-1")
    shown = shown if len(shown) <= 40 else shown[:40] + "…"
    raise ApiError(415, f"Content-Encoding {shown!r} is not supported: send an uncompressed UTF-8 JSON body (no "
                        "Content-Encoding header, or 'identity').", "unsupported_content_encoding", None)


async def read_body(receive: Receive, length: bytes | None, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to pass ``limit`` bytes; raises :class:`ClientGone`
    when the client disconnects before its last byte (what came is not the request it meant to send)."""
    too_big = ApiError(413, f"The request body is over this server's limit of {limit} bytes (--max-body-bytes): "
                            "send fewer or shorter inputs per request.", "body_too_large")
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_big
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise too_big
        return body
    chunks, size = [body], len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def wait_unless_gone(receive: Receive, job: Job, batcher: RequestBatcher) -> Any:
    """The job's result; None if the client disconnects first (its inputs are then skipped if not yet run)."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher: asyncio.Future[None] | None = None

    def watch() -> None:  # after the batcher's worker has had its turn: a lone input is answered by then
        nonlocal watcher
        if not job.future.done():
            watcher = asyncio.ensure_future(disconnected())
            watcher.add_done_callback(lambda w: None if w.cancelled() or job.future.done() else job.future.cancel())

    soon = asyncio.get_running_loop().call_soon(watch)
    try:
        return await job.future
    except asyncio.CancelledError:
        if watcher is None or not watcher.done():  # this request itself was cancelled (server shutting down)
            raise
        batcher.cancel(job)
        if batcher.metrics is not None:
            batcher.metrics.failures.labels(reason="client_disconnected").inc()
        return None
    except TooLong as e:
        raise ApiError(422, f"input[{e.index}] has {e.tokens} tokens, longer than this model's {e.max_tokens}, and "
                            "truncation is off: shorten it, or send \"truncate\": true (or start the server with "
                            "truncation on).",
                       "input_too_long", "input") from None
    finally:
        soon.cancel()
        if watcher is not None:
            watcher.cancel()
