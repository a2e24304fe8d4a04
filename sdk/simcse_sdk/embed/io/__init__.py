"""The bulk job's files: input files resolved and read as records, output shards, the output's manifest.

May import :mod:`simcse_sdk.model` (the model's identity) and the job's config and errors.
"""
