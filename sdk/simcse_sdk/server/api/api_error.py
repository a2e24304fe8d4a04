"""The server's error answer: OpenAI's body ``{"error": {"message", "type", "param", "code"}}`` and a status.

Example:
    >>> bad("input[3] is a JSON number").status
    400
"""

from __future__ import annotations

import orjson


class ApiError(Exception):
    """An error answered with OpenAI's body: ``{"error": {"message", "type", "param", "code"}}``."""

    TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
             405: "invalid_request_error", 413: "invalid_request_error", 415: "invalid_request_error",
             422: "invalid_request_error",
             429: "rate_limit_error", 500: "server_error", 503: "service_unavailable"}

    def __init__(self, status: int, message: str, code: str, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}

    def body(self) -> bytes:
        return orjson.dumps({"error": {"message": self.message, "type": self.TYPES.get(self.status, "server_error"),
                                       "param": self.param, "code": self.code}})


def bad(message: str, param: str | None = "input", code: str = "invalid_input") -> ApiError:
    return ApiError(400, message, code, param)
