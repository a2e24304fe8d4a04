"""What people write by hand: a FastAPI route that calls ``Encoder.encode`` once per request.

No batching across requests, no admission limit: the baseline of ``benchmarks/serving.py``.

    python benchmarks/serving/naive_server.py MODEL_DIR --port 8081
"""

from __future__ import annotations

import argparse
import base64

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from simcse_sdk import Encoder


class EmbeddingRequest(BaseModel):
    input: str | list[str]
    model: str | None = None
    encoding_format: str = "float"


def make_app(model_dir: str, variant: str) -> FastAPI:
    encoder = Encoder(model_dir, device="cpu", variant=variant)
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/embeddings")
    def embeddings(req: EmbeddingRequest) -> dict[str, object]:  # a plain `def`: FastAPI runs it on its thread pool
        texts = [req.input] if isinstance(req.input, str) else req.input
        emb = encoder.encode(texts, normalize=True)
        if req.encoding_format == "base64":
            rows: list[object] = [base64.b64encode(e.astype("<f4").tobytes()).decode() for e in emb]
        else:
            rows = [e.tolist() for e in emb]
        return {"object": "list", "model": req.model or "model",
                "data": [{"object": "embedding", "index": i, "embedding": r} for i, r in enumerate(rows)],
                "usage": {"prompt_tokens": 0, "total_tokens": 0}}

    return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--variant", default="int8")
    args = p.parse_args()
    uvicorn.run(make_app(args.model_dir, args.variant), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
