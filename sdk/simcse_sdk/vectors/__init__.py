"""The vectors handed to users: Matryoshka cuts (``dimensions``) and compact outputs (``int8``, ``ubinary``).

Owns :mod:`.dimensions` (checking a requested size, cutting and renormalising, the once-a-size notice for sizes
that were not trained) and :mod:`.precision` (scalar int8 with the export's calibrated scale, packed sign bits,
bytes per vector, and the cosine between compact vectors). ``Encoder.encode``, the server, ``simcse-embed`` and
the evaluation all shape their vectors here, so a 64-dim int8 vector is the same bytes from every path.

May import: :mod:`simcse_sdk.errors`. Imported by the public face (encoder, similarity), server, embed, evaluation.
"""
