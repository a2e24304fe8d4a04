"""The server's settings: one dataclass, filled from the command line (``simcse-serve --help``).

Example:
    >>> cfg = ServerConfig(model_dir="models/minilm", port=9000)
    >>> cfg.host, cfg.max_inputs
    ('127.0.0.1', 2048)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

API_KEY_ENV = "SIMCSE_API_KEY"


@dataclass
class ServerConfig:
    """Everything the server needs; every limit is also reported by ``GET /info``."""

    model_dir: str  # exported model directory (python -m export)
    host: str = "127.0.0.1"  # interface to listen on; loopback unless asked otherwise
    port: int = 8080  # TCP port
    device: str = "auto"  # cpu | cuda | auto, as Encoder(device=)
    variant: str = "auto"  # fp32 | fp16 | int8 | auto, as Encoder(variant=)
    threads: int | None = None  # inference threads; None: the CPUs this process may use (affinity, cgroup quota)
    model_name: str | None = None  # name served in /v1/models and responses; None: the model directory's name
    batch_size: int = 32  # most inputs in one inference batch
    max_batch_tokens: int = 8192  # most padded tokens (rows x longest row) in one inference batch
    max_queue: int = 16384  # most inputs waiting or running; past it requests get 429 at once
    max_inputs: int = 2048  # most inputs in one request (OpenAI's limit); more gets 413
    max_body_bytes: int = 8 * 1024 * 1024  # largest request body; more gets 413
    truncate: bool = True  # cut texts longer than the model's max length (else 422); requests may override
    normalize: bool = True  # L2-normalise embeddings, as OpenAI's are
    api_key: str | None = None  # Bearer token required on the API routes; None: no key (env SIMCSE_API_KEY)
    cors_origins: list[str] = field(default_factory=list)  # origins allowed by CORS; empty: CORS off
    drain_timeout: float = 30.0  # seconds SIGTERM waits for in-flight requests before closing
    retry_after: int = 1  # seconds clients are told to wait on 429 / 503
    token_ids: str = "auto"  # id lists: auto (this model's full inputs, else OpenAI's) | model | openai
    openai_encoding: str = "cl100k_base"  # OpenAI's encoding that OpenAI token ids are decoded with (or o200k_base)

    def __post_init__(self) -> None:
        if self.api_key is None:
            self.api_key = os.environ.get(API_KEY_ENV) or None
        for name in ("batch_size", "max_batch_tokens", "max_queue", "max_inputs", "max_body_bytes", "retry_after"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_inputs > self.max_queue:
            raise ValueError(
                f"max_inputs ({self.max_inputs}) exceeds max_queue ({self.max_queue}): one request could never be "
                "admitted; raise --max-queue or lower --max-inputs."
            )
        from .token_ids import OPENAI_ENCODINGS, POLICIES

        if self.token_ids not in POLICIES:
            raise ValueError(f"token_ids must be one of {', '.join(POLICIES)}, got {self.token_ids!r}")
        if self.openai_encoding not in OPENAI_ENCODINGS:
            raise ValueError(f"openai_encoding must be one of {', '.join(OPENAI_ENCODINGS)}, "
                             f"got {self.openai_encoding!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be a positive integer, got {self.threads!r}")

    @property
    def served_name(self) -> str:
        """The model name clients see."""
        return self.model_name or os.path.basename(os.path.normpath(self.model_dir))

    def limits(self) -> dict[str, Any]:
        """The limits a client needs to size its requests (secrets left out)."""
        d = asdict(self)
        for k in ("api_key", "model_dir", "host", "port", "cors_origins", "model_name"):
            d.pop(k)
        d["api_key_required"] = self.api_key is not None
        return d
