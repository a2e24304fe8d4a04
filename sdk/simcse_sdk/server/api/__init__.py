"""The server's API, as it goes over the wire: request parsing and response bytes (:mod:`.protocol`), OpenAI's
error body (:mod:`.api_error`), OpenAI's token ids (:mod:`.token_ids`) and the OpenAPI document every route is
built from (:mod:`.openapi`). Imports nothing of the server but its config; the rest of the server builds on it.

Example:
    >>> from simcse_sdk.server.api.api_error import ApiError
    >>> ApiError(429, "slow down", "overloaded").status
    429
"""
