"""Serving: the contract, the Python clients (REST, gRPC) and the development server.

The client names below load on first use, so `import serving` imports nothing heavy (and never
TensorFlow): `from serving import RestClient` loads `requests` only; `GrpcClient` loads
TensorFlow when a client is made.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RestClient": "serving.client",
    "GrpcClient": "serving.grpc_client",
    "UserRequest": "serving.requests_builder",
    "Contract": "serving.contract",
    "read_contract": "serving.contract",
    "VersionStatus": "serving.requests_builder",
    "ServingError": "serving.client_errors",
    "InvalidRequestError": "serving.client_errors",
    "ModelNotFoundError": "serving.client_errors",
    "ServerUnavailableError": "serving.client_errors",
    "DeadlineExceededError": "serving.client_errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'serving' has no attribute {name!r}")
