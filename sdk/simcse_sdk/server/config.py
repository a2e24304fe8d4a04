"""The server's settings: one dataclass, filled from the command line (``simcse-serve --help``).

Example:
    >>> cfg = ServerConfig(model_dir="models/minilm", port=9000)
    >>> cfg.host, cfg.max_inputs
    ('127.0.0.1', 2048)
"""

from __future__ import annotations

import inspect
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

API_KEY_ENV = "SIMCSE_API_KEY"


@dataclass
class ServerConfig:
    """Everything the server needs; every limit is also reported by ``GET /info``."""

    model_dir: str  # exported model directory (python -m export --ckpt CKPT --out DIR)
    host: str = "127.0.0.1"  # interface to listen on: this machine only by default; 0.0.0.0 for every interface
    port: int = 8080  # TCP port; 0 picks a free one and logs it
    device: str = "auto"  # where inference runs: cpu, cuda, or auto (CUDA when onnxruntime-gpu sees a GPU)
    variant: str = "auto"  # a variant of the model directory (fp32, fp16, int8, ov-fp32, ov-bf16, ov-int8) or auto:
    # the fastest here that passed the export gate and is as accurate on this CPU, measured at the first start, cached
    threads: int | None = None  # inference threads (of each worker); default: the CPUs this process may use
    # (affinity, cgroup quota)
    workers: int = 1  # server processes sharing the port, each with its own model, batcher and threads; /metrics and
    # /ready speak for all of them. One event loop feeds about 6 to 12 cores of single sentence requests; one
    # process answers a lone client sooner (its lone input may run on all threads, a worker's never does)
    # (docs/serving-performance.md)
    model_name: str | None = None  # name shown in /v1/models and responses; default: the model directory's name
    # (requests may name any model)
    batch_size: int = 32  # most inputs in one inference batch
    max_batch_tokens: int = 8192  # most padded tokens in one inference batch (rows x longest row)
    max_queue: int = 16384  # most inputs admitted and not yet answered; past it requests get 429 with Retry-After
    max_inputs: int = 2048  # most inputs in one request (OpenAI's limit); more gets 413
    max_body_bytes: int = 8 * 1024 * 1024  # largest request body in bytes; more gets 413
    truncate: bool = True  # cut texts longer than the model's max length; off: answer 422 (requests may override
    # with "truncate")
    normalize: bool = True  # unit-length embeddings, as OpenAI's are; off: the model's raw output
    api_key: str | None = None  # require 'Authorization: Bearer KEY' on the API routes (default: $SIMCSE_API_KEY if
    # set, else no key; visible ASCII, whitespace around it dropped); /health, /ready, /metrics and /openapi.json
    # stay open
    cors_origins: list[str] = field(default_factory=list)  # allow browser requests from ORIGIN (repeatable; '*' for
    # any); CORS is off by default
    drain_timeout: float = 30.0  # on SIGTERM, seconds to let in-flight requests finish while new ones get 503
    retry_after: int = 1  # seconds clients are told to wait on 429 and 503
    token_ids: str = "auto"  # how to read token id lists in 'input': auto (this model's ids when a list is framed by
    # its special tokens, as its tokenizer gives them, else OpenAI's ids, as LangChain and other tiktoken clients
    # send, decoded and embedded as text), model (only this model's ids), openai (always OpenAI's)
    openai_encoding: str = "cl100k_base"  # OpenAI's encoding that OpenAI token ids are decoded with: cl100k_base
    # (text-embedding-3-*, ada-002) or o200k_base

    def __post_init__(self) -> None:
        self.api_key = _checked_key(self.api_key)
        for name in ("batch_size", "max_batch_tokens", "max_queue", "max_inputs", "max_body_bytes", "retry_after",
                     "workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        drain = self.drain_timeout
        if isinstance(drain, bool) or not isinstance(drain, (int, float)) or not 0 <= drain < float("inf"):
            raise ValueError(f"drain_timeout must be a number of seconds >= 0, got {drain!r}: 0 answers requests in "
                             "flight 503 at once on SIGTERM; the default lets them finish for 30 s.")
        if self.max_inputs > self.max_queue:
            raise ValueError(
                f"max_inputs ({self.max_inputs}) exceeds max_queue ({self.max_queue}): one request could never be "
                "admitted; raise --max-queue or lower --max-inputs."
            )
        from .api.token_ids import OPENAI_ENCODINGS, POLICIES

        if self.token_ids not in POLICIES:
            raise ValueError(f"token_ids must be one of {', '.join(POLICIES)}, got {self.token_ids!r}")
        if self.openai_encoding not in OPENAI_ENCODINGS:
            raise ValueError(f"openai_encoding must be one of {', '.join(OPENAI_ENCODINGS)}, "
                             f"got {self.openai_encoding!r}")
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0-65535 (0: a free one, logged), got {self.port!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be a positive integer, got {self.threads!r}")

    @classmethod
    def field_help(cls) -> dict[str, str]:
        """Each field's comment in this class body (with the comment lines under it): the help of its command-line
        flag, so ``simcse-serve --help`` says what the code says."""
        out: dict[str, str] = {}
        last = None
        for line in inspect.getsource(cls).splitlines():
            field_line = re.match(r"    (\w+): [^#]+#\s?(.*)$", line)
            more = re.match(r"    #\s?(.*)$", line)
            if field_line:
                last = field_line.group(1)
                out[last] = field_line.group(2).strip()
            elif more and last:
                out[last] += " " + more.group(1).strip()
            else:
                last = None
        return out

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


def _checked_key(key: str | None) -> str | None:
    """The API key to require: ``key`` (the flag), else $SIMCSE_API_KEY, else None (no key); stripped of the
    whitespace around it (a secret file's trailing newline), and refused unless it is visible ASCII."""
    where = "--api-key"
    if key is None:
        key, where = os.environ.get(API_KEY_ENV), API_KEY_ENV
        if key is None:
            return None
        if not key.strip():  # it meant no key when empty, and a key nobody could send when blank
            raise ValueError(f"{API_KEY_ENV} is set but empty: set it to a key, or unset it ('unset {API_KEY_ENV}') "
                             "to serve without a key")
    elif not key.strip():  # it accepted 'Bearer ' with nothing after it, and refused no header at all
        raise ValueError("api_key is empty: pass a key (--api-key KEY or SIMCSE_API_KEY), or leave it out for a "
                         "server without one")
    if key != key.strip():  # clients' tokens are stripped: a key with a newline locked everyone out
        key = key.strip()
        logger.info("the API key (%s) had whitespace around it, such as a secret file's trailing newline: removed",
                    where)
    odd = next((i for i, c in enumerate(key) if not "!" <= c <= "~"), None)
    if odd is not None:  # HTTP header values are ASCII in practice: such a key only worked from latin-1 clients
        c = key[odd]
        what = "a space" if c == " " else "a non-ASCII character" if ord(c) > 127 else "a control character"
        raise ValueError(f"the API key ({where}) holds {what} at position {odd + 1}: use visible ASCII characters "
                         "only (0x21-0x7e, as OpenAI's keys are), which every client can send in the Authorization "
                         "header")
    return key
