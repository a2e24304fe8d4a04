"""An OpenAI-compatible embeddings server over an exported model directory (the ``serve`` extra).

Start it with ``simcse-serve MODEL_DIR`` or ``python -m simcse_sdk.server MODEL_DIR``; call it with
any OpenAI client. Inputs of concurrent requests are batched together (see :mod:`.batching`; a request on its way: :mod:`.job`).

Owns the HTTP surface (:mod:`.app`, the hot route :mod:`.embeddings`, and the wire in :mod:`.api`: request
parsing, OpenAI's error body and token ids, the OpenAPI document), batching across requests, metrics, the
life cycle (:mod:`.state`, :mod:`.runner`, and :mod:`.supervisor` for ``--workers``) and the command line.
May import the Encoder and the core rooms, never the bulk job or the evaluation.

Example:
    >>> from openai import OpenAI                                                   # doctest: +SKIP
    >>> client = OpenAI(base_url="http://127.0.0.1:8080/v1", api_key="unused")      # doctest: +SKIP
    >>> client.embeddings.create(model="minilm", input=["A cat sits."]).data[0].embedding[:3]  # doctest: +SKIP
"""

from __future__ import annotations

from ..errors import MissingExtraError

try:
    import orjson  # noqa: F401
    import prometheus_client  # noqa: F401
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised without the extra installed
    raise MissingExtraError(
        f"simcse_sdk.server needs the 'serve' extra ({e.name} is not installed): pip install 'simcse-sdk[serve]'"
    ) from e

from .app import create_app
from .config import ServerConfig
from .runner import run
from .state import ServerState

__all__ = ["ServerConfig", "ServerState", "create_app", "run"]
