"""``simcse-serve MODEL_DIR`` / ``python -m simcse_sdk.server MODEL_DIR``: the embeddings server.

    simcse-serve models/minilm                         # http://127.0.0.1:8080, the fastest accurate variant
    curl -s 127.0.0.1:8080/v1/embeddings -H 'Content-Type: application/json' \\
         -d '{"input": ["A man plays a guitar."], "model": "minilm"}'
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from ..errors import SimcseError
from ..inputs.help_format import RawDescriptionHelpFormat
from ..model.manifest import Manifest
from .config import ServerConfig

# Each flag: (flag, ServerConfig field, argparse options). Its help is the field's comment in ServerConfig.
FLAGS: list[tuple[str, str, dict[str, object]]] = [
    ("--host", "host", {}),
    ("--port", "port", {"type": int}),
    ("--device", "device", {"choices": ["auto", "cpu", "cuda"]}),
    ("--variant", "variant", {}),
    ("--threads", "threads", {"type": int}),
    ("--workers", "workers", {"type": int}),
    ("--model-name", "model_name", {}),
    ("--batch-size", "batch_size", {"type": int}),
    ("--max-batch-tokens", "max_batch_tokens", {"type": int}),
    ("--max-queue", "max_queue", {"type": int}),
    ("--max-inputs", "max_inputs", {"type": int}),
    ("--max-body-bytes", "max_body_bytes", {"type": int}),
    ("--no-truncate", "truncate", {"action": "store_false"}),
    ("--no-normalize", "normalize", {"action": "store_false"}),
    ("--api-key", "api_key", {}),
    ("--cors-origin", "cors_origins", {"action": "append", "metavar": "ORIGIN"}),
    ("--drain-timeout", "drain_timeout", {"type": float}),
    ("--retry-after", "retry_after", {"type": int}),
    ("--token-ids", "token_ids", {"choices": ["auto", "model", "openai"]}),
    ("--openai-encoding", "openai_encoding", {"choices": ["cl100k_base", "o200k_base"]}),
]


def parser() -> argparse.ArgumentParser:
    """The command line, from :class:`ServerConfig`: its fields' defaults and their comments as help."""
    # the fields' defaults, not a ServerConfig's: that reads (and checks) $SIMCSE_API_KEY, which --help must not need
    d, helps = {f.name: f.default for f in dataclasses.fields(ServerConfig)}, ServerConfig.field_help()
    p = argparse.ArgumentParser(
        prog="simcse-serve", description="Serve an exported model directory over HTTP with OpenAI's embeddings API "
        "(POST /v1/embeddings), batching the inputs of concurrent requests together.",
        epilog=__doc__, formatter_class=RawDescriptionHelpFormat)
    p.add_argument("model_dir", help=helps["model_dir"])
    for flag, name, options in FLAGS:
        default = d[name] if name != "api_key" else None  # never show a key read from the environment
        shown = "" if options.get("action") in ("store_false", "append") or default is None else " (default %(default)s)"
        extra = {"default": [] if options.get("action") == "append" else default} if options.get("action") != \
            "store_false" else {}
        # a --no-X flag's help says first that it turns X off: the field's comment describes X itself
        head = "turn off what is on by default: " if options.get("action") == "store_false" else ""
        p.add_argument(flag, dest=name, help=head + helps[name] + shown, **extra, **options)  # type: ignore[arg-type]
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="log level; debug logs one line per request (default %(default)s)")
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
