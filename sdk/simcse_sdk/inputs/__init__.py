"""The input boundary: every argument, text and token id checked before work starts, and the batches.

Owns the checks that turn bad values into SDK errors naming the value and the fix (:mod:`.validation`)
and the length-sorted, token-budget batches (:mod:`.batching`). May import :mod:`simcse_sdk.errors` only.
"""
