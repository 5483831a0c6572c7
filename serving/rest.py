"""TF Serving's REST API over the standard library's threading HTTP server.

Routes, status codes and JSON bodies follow `tensorflow_serving/model_servers/http_rest_api_handler.cc`
and `http_rest_api_util.cc`: `GET /v1/models/{name}[/versions/{v}][/metadata]` and
`POST /v1/models/{name}[/versions/{v}]:predict`; every error is `{"error": "<message>"}` with the
HTTP status of its error code. Requests over `max_request_bytes` get 413. One addition: the
metadata answer carries the export's contract as `"contract"` beside `"metadata"`, when the
export has one (`serving.contract`).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from serving.contract import CONTRACT_METADATA_FIELD
from serving.repository import ModelRepository
from serving.status_codes import RequestError, invalid
from serving.tensors import arrays_to_response, parse_json, request_to_arrays, signature_name_of

logger = logging.getLogger(__name__)

_PREDICT = re.compile(r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
                      re.IGNORECASE)
_STATUS = re.compile(r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
                     re.IGNORECASE)
_API = re.compile(r"/v1/.*", re.IGNORECASE)
_DRAIN_LIMIT = 256 << 20   # read and drop an oversized body up to this size, so the client sees the 413
_SHUTDOWN_POLL_SECONDS = 0.1   # how soon `stop()` is noticed by the serving loop


class RestApi:
    """Answers one REST request: `handle(method, path, body)` gives the HTTP status and the JSON body."""

    def __init__(self, repository: ModelRepository):
        self.repository = repository

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            return 200, self._route(method, path, body)
        except RequestError as error:
            return error.http_status, {"error": error.message}
        except Exception as error:  # noqa: BLE001  (a bug answers 500; the server keeps serving)
            logger.exception("internal error on %s %s", method, path)
            return 500, {"error": f"Internal error: {type(error).__name__}: {error}"}

    def _route(self, method: str, path: str, body: bytes) -> dict[str, Any]:
        path = urlsplit(path).path
        if not _API.fullmatch(path):
            raise RequestError("NOT_FOUND", f"Not found: {path}; the API lives under /v1/")
        match = (_PREDICT if method == "POST" else _STATUS).fullmatch(path) if method in ("GET", "POST") else None
        if match is None:
            raise invalid(f"Malformed request: {method} {path}")
        name, version_text, label = unquote(match.group(1) or ""), match.group(2), match.group(3)
        if label is not None:
            raise invalid(f"Unrecognized servable version label: {unquote(label)}")
        version = int(version_text) if version_text else None
        if method == "POST":
            if match.group(4).lower() != "predict":
                raise invalid(f"The development server answers :predict only, not :{match.group(4)}")
            return self.predict(name, version, body)
        if not name:
            raise invalid("Missing model name in request.")
        if match.group(4):
            return self.metadata(name, version)
        return self.status(name, version)

    def status(self, name: str, version: int | None) -> dict[str, Any]:
        return {"model_version_status": [
            {"version": str(s.version), "state": s.state,
             "status": {"error_code": s.error_code, "error_message": s.error_message}}
            for s in self.repository.status(name, version)]}

    def metadata(self, name: str, version: int | None) -> dict[str, Any]:
        from google.protobuf import json_format

        model = self.repository.get(name, version)
        signature_defs = {key: json_format.MessageToDict(value, preserving_proto_field_name=True,
                                                         always_print_fields_with_no_presence=True)
                          for key, value in model.signature_defs.items()}
        answer = {"model_spec": {"name": name, "signature_name": "", "version": str(model.version)},
                  "metadata": {"signature_def": {"signature_def": signature_defs}}}
        if model.contract is not None:
            answer[CONTRACT_METADATA_FIELD] = model.contract.to_json()
        return answer

    def predict(self, name: str, version: int | None, body: bytes) -> dict[str, Any]:
        request = parse_json(body)
        signature_name = signature_name_of(request)
        model = self.repository.get(name, version)
        signature = model.signatures.get(signature_name)
        if signature is None:
            raise invalid(f'Serving signature name: "{signature_name}" not found in signature def')
        arrays, form = request_to_arrays(request, signature.inputs)
        return arrays_to_response(model.predict(signature, arrays), form)


class RestServer:
    """A `ThreadingHTTPServer` answering `RestApi` requests in a daemon thread.

    Args:
        api: what answers the requests.
        host: the address to listen on.
        port: the port; 0 picks a free one (read `port` after `start()`).
        max_request_bytes: larger request bodies get 413.
    """

    def __init__(self, api: RestApi, host: str = "127.0.0.1", port: int = 0, max_request_bytes: int = 16 << 20):
        handler = type("Handler", (_Handler,), {"api": api, "max_request_bytes": max_request_bytes})
        self._server = _HttpServer((host, port), handler)
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(_SHUTDOWN_POLL_SECONDS,),
                                        name="rest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128   # the listen backlog (the default, 5, is small for bursts of clients)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"    # keep-alive, so clients can reuse connections
    timeout = 120                    # seconds a connection may stay silent
    api: RestApi
    max_request_bytes: int

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes: with Nagle's algorithm on, the body would wait
        # for the client's delayed ACK (about 40 ms an answer).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def _answer(self, method: str) -> None:
        try:
            body = self._read_body()
        except RequestError as error:
            self._send(error.http_status, {"error": error.message})
            return
        status, payload = self.api.handle(method, self.path, body)
        self._send(status, payload)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise invalid(f"Bad Content-Length: {self.headers.get('Content-Length')!r}") from None
        if length > self.max_request_bytes:
            if length <= _DRAIN_LIMIT:
                self._drain(length)
            else:
                self.close_connection = True
            raise _too_large(length, self.max_request_bytes)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise invalid(f"Bad chunk size line: {line[:40]!r}") from None
            if size == 0:
                while self.rfile.readline(1024).strip():   # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > self.max_request_bytes:
                self.close_connection = True
                raise _too_large(total, self.max_request_bytes)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _drain(self, length: int) -> None:
        while length > 0:
            read = len(self.rfile.read(min(length, 1 << 20)))
            if not read:
                break
            length -= read

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        # A message may quote request text that is not encodable (a lone surrogate): escaped, still JSON.
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8", "backslashreplace")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's name)
        logger.debug("%s " + format, self.address_string(), *args)


def _too_large(size: int, limit: int) -> RequestError:
    return RequestError("RESOURCE_EXHAUSTED", f"Request body of {size} bytes is over the limit of {limit} bytes",
                        http_status=413)
