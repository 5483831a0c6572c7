"""Request errors of the development server, with TF Serving's status codes for REST and gRPC."""

from __future__ import annotations

# tensorflow.error.Code, by number (TensorFlow's `OpError.error_code`).
CODE_NAMES = ("OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
              "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
              "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED")

# TF Serving's `ToHTTPStatusCode` (tensorflow_serving/model_servers/http_server.cc).
HTTP_STATUS = {"OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
               "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "RESOURCE_EXHAUSTED": 429,
               "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400, "UNIMPLEMENTED": 501,
               "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500, "UNAUTHENTICATED": 401}


class RequestError(Exception):
    """A request that cannot be answered: a `tensorflow.error.Code` name and TF Serving's message.

    Args:
        code: one of `CODE_NAMES`, e.g. "INVALID_ARGUMENT".
        message: what went wrong, sent to the client as is.
        http_status: the REST status when it is not the code's (413 for an oversized body).
    """

    def __init__(self, code: str, message: str, http_status: int | None = None):
        if code not in HTTP_STATUS:
            raise ValueError(f"unknown error code {code!r}; expected one of {CODE_NAMES}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = HTTP_STATUS[code] if http_status is None else http_status

    @classmethod
    def from_code_number(cls, number: int, message: str) -> RequestError:
        """From a TensorFlow error code number (`tf.errors.OpError.error_code`)."""
        return cls(CODE_NAMES[number] if 0 < number < len(CODE_NAMES) else "UNKNOWN", message)


def invalid(message: str) -> RequestError:
    return RequestError("INVALID_ARGUMENT", message)
