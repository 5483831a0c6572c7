"""Typed errors of the serving clients, the same over REST and gRPC.

Every error carries the server's own message (`message`), the transport's status (`status`: the
HTTP status code over REST, the gRPC code name over gRPC) and the canonical gRPC code name
(`code`), so callers can branch on `code` whatever the transport.

Pure Python: the REST client imports this module and must not import TensorFlow.
"""

from __future__ import annotations

# HTTP statuses of TF Serving's REST API and the gRPC codes they stand for (TF Serving maps
# INVALID_ARGUMENT, FAILED_PRECONDITION and OUT_OF_RANGE all to 400). 502 comes from proxies in
# front of a server that is down.
_CODE_BY_HTTP_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
    500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

RETRYABLE_CODES = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED"})
"""Codes of a server that is down or overloaded: the only answers a client retries."""


class ServingError(Exception):
    """An error answer from a model server, or no answer at all.

    Attributes:
        message: the server's message (or the transport's, when no answer came).
        status: the HTTP status code over REST, the gRPC code name over gRPC; None when no
            answer came over REST.
        code: the canonical gRPC code name, e.g. "INVALID_ARGUMENT", whatever the transport.
        attempts: how many times the request was sent.
    """

    def __init__(self, message: str, status: int | str | None = None, code: str = "UNKNOWN",
                 attempts: int = 1):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.attempts = attempts

    @property
    def retryable(self) -> bool:
        """Whether the server was down or overloaded, so that sending again may succeed."""
        return self.code in RETRYABLE_CODES

    def __str__(self) -> str:
        status = "" if self.status is None or self.status == self.code else f", {self.status}"
        tries = f", after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.message} ({self.code}{status}{tries})"


class InvalidRequestError(ServingError):
    """The server rejected the request (HTTP 400; INVALID_ARGUMENT, FAILED_PRECONDITION)."""


class ModelNotFoundError(ServingError):
    """The server has no such model or version (HTTP 404, NOT_FOUND)."""


class ServerUnavailableError(ServingError):
    """The server was down or overloaded on every attempt (HTTP 503 / 429, connection refused;
    UNAVAILABLE, RESOURCE_EXHAUSTED)."""


class DeadlineExceededError(ServingError):
    """No answer within the client's timeout, or the server's own deadline passed."""


_ERROR_BY_CODE: dict[str, type[ServingError]] = {
    "INVALID_ARGUMENT": InvalidRequestError, "FAILED_PRECONDITION": InvalidRequestError,
    "OUT_OF_RANGE": InvalidRequestError, "NOT_FOUND": ModelNotFoundError,
    "UNAVAILABLE": ServerUnavailableError, "RESOURCE_EXHAUSTED": ServerUnavailableError,
    "DEADLINE_EXCEEDED": DeadlineExceededError,
}


def error_for_code(code: str, message: str, status: int | str | None = None) -> ServingError:
    """The typed error for a canonical gRPC code name; `status` defaults to the code."""
    error_type = _ERROR_BY_CODE.get(code, ServingError)
    return error_type(message, status=code if status is None else status, code=code)


def error_for_http_status(status: int, message: str) -> ServingError:
    """The typed error for an HTTP status of TF Serving's REST API."""
    code = _CODE_BY_HTTP_STATUS.get(status, "INVALID_ARGUMENT" if 400 <= status < 500 else "UNKNOWN")
    return error_for_code(code, message, status=status)
