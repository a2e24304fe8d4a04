"""The model directory: what ``python -m export`` writes and the SDK reads.

Owns the manifest (:mod:`.manifest`: variants, files, sha256, gate results, pooling, dimensions), its field
checks (:mod:`.schema`), the tokenizer (:mod:`.tokenizer`) and the prompts it names (:mod:`.prompts`). May import
:mod:`simcse_sdk.errors` only.
"""
