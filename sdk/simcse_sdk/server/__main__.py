"""``simcse-serve MODEL_DIR`` / ``python -m simcse_sdk.server MODEL_DIR``: the embeddings server.

    simcse-serve models/minilm                         # http://127.0.0.1:8080, the fastest accurate variant
    curl -s 127.0.0.1:8080/v1/embeddings -H 'Content-Type: application/json' \\
         -d '{"input": ["A man plays a guitar."], "model": "minilm"}'
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..errors import SimcseError
from ..manifest import Manifest
from .config import API_KEY_ENV, ServerConfig


def parser() -> argparse.ArgumentParser:
    d = ServerConfig(model_dir="")
    p = argparse.ArgumentParser(
        prog="simcse-serve", description="Serve an exported model directory over HTTP with OpenAI's embeddings API "
        "(POST /v1/embeddings), batching the inputs of concurrent requests together.",
        epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", help="exported model directory (python -m export --ckpt CKPT --out DIR)")
    p.add_argument("--host", default=d.host, help="interface to listen on (default %(default)s: this machine only; "
                   "0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=d.port, help="TCP port (default %(default)s; 0 picks a free one and "
                   "logs it)")
    p.add_argument("--device", default=d.device, choices=["auto", "cpu", "cuda"],
                   help="where inference runs (default %(default)s: CUDA when onnxruntime-gpu sees a GPU)")
    p.add_argument("--variant", default=d.variant, help="model variant: a name from the model directory's manifest "
                   "(fp32, fp16, int8, ov-fp32, ov-bf16, ov-int8) or auto (default %(default)s: the fastest variant "
                   "here that passed the export gate and is as accurate on this CPU, measured at the first start "
                   "and cached)")
    p.add_argument("--threads", type=int, default=None, help="inference threads (default: the CPUs this "
                   "process may use, from its CPU affinity and cgroup quota)")
    p.add_argument("--model-name", default=None, help="model name shown in /v1/models and responses (default: the "
                   "model directory's name); requests may name any model")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="most inputs in one inference batch "
                   "(default %(default)s)")
    p.add_argument("--max-batch-tokens", type=int, default=d.max_batch_tokens, help="most padded tokens in one "
                   "inference batch, rows x longest row (default %(default)s)")
    p.add_argument("--max-queue", type=int, default=d.max_queue, help="most inputs admitted and not yet answered; "
                   "past it requests get 429 with Retry-After at once (default %(default)s)")
    p.add_argument("--max-inputs", type=int, default=d.max_inputs, help="most inputs in one request, else 413 "
                   "(default %(default)s, OpenAI's limit)")
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes, help="largest request body, else 413 "
                   "(default %(default)s)")
    p.add_argument("--no-truncate", dest="truncate", action="store_false", help="answer 422 for a text longer than "
                   "the model's max length instead of cutting it (requests may override with \"truncate\")")
    p.add_argument("--no-normalize", dest="normalize", action="store_false", help="return the model's raw "
                   "embeddings instead of unit-length ones")
    p.add_argument("--api-key", default=None, help=f"require 'Authorization: Bearer KEY' on the API routes "
                   f"(default: ${API_KEY_ENV} if set, else no key); /health, /ready and /metrics stay open")
    p.add_argument("--cors-origin", dest="cors_origins", action="append", default=[], metavar="ORIGIN",
                   help="allow browser requests from ORIGIN (repeatable; '*' for any); CORS is off by default")
    p.add_argument("--drain-timeout", type=float, default=d.drain_timeout, help="on SIGTERM, seconds to let "
                   "in-flight requests finish while new ones get 503 (default %(default)s)")
    p.add_argument("--token-ids", default=d.token_ids, choices=["auto", "model", "openai"],
                   help="how to read token id lists in 'input' (default %(default)s: this model's ids when a list is "
                   "framed by its special tokens, as its tokenizer gives them ([CLS] ... [SEP]), else OpenAI's ids, "
                   "as LangChain and other tiktoken clients send, decoded and embedded as text; model: only this "
                   "model's ids; openai: always OpenAI's)")
    p.add_argument("--openai-encoding", default=d.openai_encoding, choices=["cl100k_base", "o200k_base"],
                   help="OpenAI's encoding that OpenAI token ids are decoded with (default %(default)s, what "
                   "text-embedding-3-* and ada-002 clients use)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="log level; info logs one line per request (default %(default)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = vars(parser().parse_args(argv))
    log_level = args.pop("log_level")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = ServerConfig(**args)
        Manifest.load(config.model_dir)  # a wrong path fails here, before the port is opened
    except (SimcseError, ValueError) as e:
        print(f"simcse-serve: {e}", file=sys.stderr)
        return 2
    from .runner import run

    return run(config, log_level=log_level)


if __name__ == "__main__":
    sys.exit(main())
