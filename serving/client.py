"""REST client of a TF Serving compatible server (TF Serving's port 8501, or the development server).

Depends on `requests` only: this module and everything it imports never import TensorFlow or
`mtrec_tf`, so `import serving.client` takes a tenth of a second.

Example:
    >>> from serving.client import RestClient
    >>> client = RestClient("http://localhost:8501")
    >>> client.recommend("u1", history=["i9", ("i4", "purchase", 3600.0)], k=5)
    [('i1', 3.2), ...]
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

from serving.base_client import BaseClient, ContractSource
from serving.client_errors import DeadlineExceededError, ServerUnavailableError, ServingError, error_for_http_status
from serving.contract import CONTRACT_METADATA_FIELD, DEFAULT_MODEL_NAME, SIGNATURES
from serving.requests_builder import TensorValue, UserRequest, VersionStatus

__all__ = ["RestClient", "UserRequest", "VersionStatus"]


def _encode(value: Any) -> Any:
    """JSON for nested values: binary strings as `{"b64": ...}`."""
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def _decode(value: Any) -> Any:
    """Nested JSON values with `{"b64": ...}` objects turned back into bytes."""
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return value


class RestClient(BaseClient):
    """Client of TF Serving's REST API: columnar `:predict`, model status and metadata.

    Args:
        base_url: the server, e.g. "http://localhost:8501" ("http://" is added when missing).
        model_name: the model's name on the server.
        version: a fixed model version, or None for the server's latest.
        timeout: seconds to wait for each attempt (connecting, and each read of the answer).
        retries: how many times a request is sent again on HTTP 503 / 429 or a refused connection.
        backoff: seconds before the first retry, doubled before each next one.
        contract: the served export's contract (its version folder, its `contract.json` or that
            file's JSON); by default the `"contract"` of the server's metadata answer, which the
            development server adds and TF Serving does not (then no values are checked).
    """

    def __init__(self, base_url: str, model_name: str = DEFAULT_MODEL_NAME, version: int | None = None,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.2,
                 contract: ContractSource | None = None):
        super().__init__(model_name, version, timeout, retries, backoff, contract)
        if "://" not in base_url:
            base_url = "http://" + base_url
        self.address = base_url.rstrip("/")
        self._session = requests.Session()

    @property
    def model_url(self) -> str:
        url = f"{self.address}/v1/models/{quote(self.model_name, safe='')}"
        return url if self.version is None else f"{url}/versions/{self.version}"

    def close(self) -> None:
        self._session.close()

    def _send(self, method: str, url: str, body: dict | None = None) -> dict[str, Any]:
        """One HTTP request; the JSON answer, or a typed error with the server's message."""
        # NaN (a missing numeric feature) is sent as the literal NaN, which TF Serving's REST API accepts.
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            response = self._session.request(method, url, data=data, headers=headers, timeout=self.timeout)
        except requests.Timeout as error:
            raise DeadlineExceededError(f"no answer from {url} within {self.timeout:g} s: {error}",
                                        code="DEADLINE_EXCEEDED") from error
        except requests.ConnectionError as error:
            raise ServerUnavailableError(f"cannot reach {url}: {error}", code="UNAVAILABLE") from error
        except requests.RequestException as error:
            raise ServingError(f"{method} {url} failed: {error}") from error
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code != 200:
            if isinstance(answer, dict) and "error" in answer:
                message = str(answer["error"])
            else:
                message = response.text.strip() or f"{response.status_code} {response.reason}"
            raise error_for_http_status(response.status_code, message)
        if not isinstance(answer, dict):
            raise ServingError(f"{method} {url} answered something else than a JSON object: "
                               f"{response.text[:200]!r}", status=response.status_code, code="INTERNAL")
        return answer

    def _predict_once(self, signature: str, inputs: Mapping[str, TensorValue]) -> dict[str, list]:
        body = {"signature_name": signature, "inputs": {k: _encode(v.values) for k, v in inputs.items()}}
        answer = self._send("POST", f"{self.model_url}:predict", body)
        if "outputs" not in answer:
            raise ServingError(f"the answer has no 'outputs': {sorted(answer)}", status=200, code="INTERNAL")
        outputs = answer["outputs"]
        if not isinstance(outputs, dict) or set(outputs) == {"b64"}:
            # TF Serving leaves the name out when a signature has a single output.
            names = SIGNATURES[signature].outputs if signature in SIGNATURES else ("outputs",)
            outputs = {names[0] if len(names) == 1 else "outputs": outputs}
        return {name: _decode(value) for name, value in outputs.items()}

    def _status_once(self) -> dict[str, Any]:
        return self._send("GET", self.model_url)

    def _metadata_once(self) -> tuple[dict[str, Any], dict[str, Any]]:
        answer = self._send("GET", f"{self.model_url}/metadata")
        return answer.get("model_spec") or {}, (answer.get("metadata") or {}).get("signature_def") or {}

    def _contract_once(self) -> dict[str, Any] | None:
        contract = self._send("GET", f"{self.model_url}/metadata").get(CONTRACT_METADATA_FIELD)
        return contract if isinstance(contract, dict) else None
