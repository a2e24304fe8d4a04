"""The evaluation's data: where the data directory is, and readers for SentEval's STS and transfer files.

May import :mod:`simcse_sdk.errors` and :mod:`simcse_sdk.evaluation.errors`.
"""
