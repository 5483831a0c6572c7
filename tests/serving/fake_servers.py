"""Minimal in-test fakes of TF Serving (REST and gRPC), only to test the clients.

Both serve one SavedModel loaded with `tf.saved_model.load` under one name and version, answer
columnar predict, model status and metadata as TF Serving does, and can be told to fail
(`fail_next`) or to be slow (`delay`). They record every request: `requests` (the raw JSON body
or request proto) and `predict_calls` (signature name and inputs as Python lists, strings decoded).
Imported by tests only, after `tests/conftest.py` has imported `mtrec_tf` (tf-keras first).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from mtrec_tf.backend import tf
from serving.requests_builder import decode_utf8

# TF Serving's HTTP status of each code (tensorflow_serving/model_servers/http_server.cc).
HTTP_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "NOT_FOUND": 404,
               "RESOURCE_EXHAUSTED": 429, "INTERNAL": 500, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}


class FakeError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _python(array: np.ndarray) -> Any:
    """Nested lists of an array, bytes decoded when they are UTF-8."""
    return decode_utf8(np.asarray(array).tolist())


class FakeModel:
    """The newest version under `base`, loaded once, shared by both fakes."""

    def __init__(self, base: Path, name: str = "mtrec"):
        self.name = name
        self.version = max(int(p.name) for p in Path(base).iterdir() if p.name.isdigit())
        path = Path(base) / str(self.version)
        self.loaded = tf.saved_model.load(str(path))
        saved_model = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
        self.signature_defs = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in saved_model.meta_graphs[0].signature_def.items():
            self.signature_defs.signature_def[key].CopyFrom(signature)

    def check(self, name: str, version: int | None) -> None:
        if name != self.name or version not in (None, self.version):
            which = f"Latest({name})" if version is None else f"Specific({name}, {version})"
            raise FakeError("NOT_FOUND", f"Servable not found for request: {which}")

    def input_dtypes(self, signature: str) -> dict[str, tf.DType]:
        if signature not in self.loaded.signatures:
            raise FakeError("FAILED_PRECONDITION",
                            f'Serving signature key "{signature}" not found.')
        return {k: spec.dtype for k, spec in self.loaded.signatures[signature].structured_input_signature[1].items()}

    def predict(self, signature: str, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
        expected = self.input_dtypes(signature)
        if set(inputs) != set(expected):
            raise FakeError("INVALID_ARGUMENT", f"expected inputs {sorted(expected)}, got {sorted(inputs)}")
        try:
            tensors = {k: tf.constant(v, dtype=expected[k]) for k, v in inputs.items()}
            return {k: v.numpy() for k, v in self.loaded.signatures[signature](**tensors).items()}
        except (ValueError, TypeError) as error:
            raise FakeError("INVALID_ARGUMENT", str(error)) from None
        except tf.errors.InvalidArgumentError as error:
            raise FakeError("INVALID_ARGUMENT", error.message) from None


class _Fake:
    """What both fakes share: the scripted failures, the delay and the request log."""

    def __init__(self, model: FakeModel):
        self.model = model
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.failures: list[FakeError] = []
            self.delay = 0.0
            self.requests: list[Any] = []
            self.predict_calls: list[tuple[str, dict[str, Any]]] = []

    def fail_next(self, code: str, message: str, times: int = 1) -> None:
        """The next `times` requests answer `code` with `message`."""
        with self._lock:
            self.failures.extend(FakeError(code, message) for _ in range(times))

    def _arrive(self, request: Any, call: tuple[str, dict] | None = None) -> None:
        """Logs a request, then waits `delay` and raises the next scripted failure, if any."""
        with self._lock:
            self.requests.append(request)
            if call is not None:
                self.predict_calls.append(call)
            failure = self.failures.pop(0) if self.failures else None
            delay = self.delay
        time.sleep(delay)
        if failure is not None:
            raise failure


# --- REST ----------------------------------------------------------------------------------------

_PREDICT = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+))?:predict")
_MODEL = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+))?(/metadata)?")


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return value.encode("utf-8") if isinstance(value, str) else value


class FakeRestServer(_Fake):
    """TF Serving's REST API on 127.0.0.1, columnar predict only. `requests` holds
    `(method, path, json_body)`."""

    def __init__(self, model: FakeModel):
        super().__init__(model)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake._answer(self, "GET", None)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake._answer(self, "POST", body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a client that gave up
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler, method: str, body: bytes | None) -> None:
        try:
            status, answer = 200, self._handle(method, handler.path, body)
        except FakeError as error:
            status, answer = HTTP_STATUS.get(error.code, 500), {"error": error.message}
        data = json.dumps(answer).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client timed out and left

    def _handle(self, method: str, path: str, body: bytes | None) -> dict:
        model = self.model
        match = _PREDICT.fullmatch(path) if method == "POST" else _MODEL.fullmatch(path)
        if match is None:
            self._arrive((method, path, None))
            raise FakeError("NOT_FOUND", f"Malformed request: {method} {path}")
        version = int(match.group(2)) if match.group(2) else None
        if method == "GET":
            self._arrive((method, path, None))
            model.check(match.group(1), version)
            if match.group(3):
                return {"model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
                        "metadata": {"signature_def": json_format.MessageToDict(
                            model.signature_defs, preserving_proto_field_name=True)}}
            return {"model_version_status": [{"version": str(model.version), "state": "AVAILABLE",
                                              "status": {"error_code": "OK", "error_message": ""}}]}
        request = json.loads(body)
        signature = request.get("signature_name", "serving_default")
        inputs = {k: _from_json(v) for k, v in request.get("inputs", {}).items()}
        self._arrive((method, path, request), (signature, {k: _python(np.array(v, dtype=object))
                                                           for k, v in inputs.items()}))
        model.check(match.group(1), version)
        if "inputs" not in request:
            raise FakeError("INVALID_ARGUMENT", "the fake answers columnar requests ('inputs') only")
        outputs = {k: _python(v) for k, v in model.predict(signature, inputs).items()}
        return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}


# --- gRPC ----------------------------------------------------------------------------------------

class FakeGrpcServer(_Fake, prediction_service_pb2_grpc.PredictionServiceServicer,
                     model_service_pb2_grpc.ModelServiceServicer):
    """TF Serving's PredictionService (Predict, GetModelMetadata) and ModelService
    (GetModelStatus) on 127.0.0.1. `requests` holds `(rpc_name, request_proto)`."""

    def __init__(self, model: FakeModel):
        super().__init__(model)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(self, self.server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(self, self.server)
        self.target = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()

    def close(self) -> None:
        self.server.stop(0)

    def _run(self, context, function, *args):
        try:
            return function(*args)
        except FakeError as error:
            context.abort(getattr(grpc.StatusCode, error.code), error.message)

    @staticmethod
    def _version(spec) -> int | None:
        return spec.version.value if spec.HasField("version") else None

    def Predict(self, request, context):
        return self._run(context, self._predict, request)

    def _predict(self, request):
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        signature = request.model_spec.signature_name or "serving_default"
        self._arrive(("Predict", request), (signature, {k: _python(v) for k, v in inputs.items()}))
        self.model.check(request.model_spec.name, self._version(request.model_spec))
        for name, dtype in self.model.input_dtypes(signature).items():
            sent = request.inputs[name].dtype if name in request.inputs else dtype.as_datatype_enum
            if sent != dtype.as_datatype_enum:
                raise FakeError("INVALID_ARGUMENT", f"Expects arg {name} to be {dtype.name} but "
                                f"{tf.dtypes.as_dtype(sent).name} is provided")
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for name, value in self.model.predict(signature, inputs).items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response

    def GetModelMetadata(self, request, context):
        return self._run(context, self._metadata, request)

    def _metadata(self, request):
        self._arrive(("GetModelMetadata", request))
        self.model.check(request.model_spec.name, self._version(request.model_spec))
        if list(request.metadata_field) != ["signature_def"]:
            raise FakeError("INVALID_ARGUMENT", "Metadata field signature_def is required")
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = self.model.name
        response.model_spec.version.value = self.model.version
        response.metadata["signature_def"].Pack(self.model.signature_defs)
        return response

    def GetModelStatus(self, request, context):
        return self._run(context, self._status, request)

    def _status(self, request):
        self._arrive(("GetModelStatus", request))
        self.model.check(request.model_spec.name, self._version(request.model_spec))
        response = get_model_status_pb2.GetModelStatusResponse()
        status = response.model_version_status.add()
        status.version = self.model.version
        status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
        return response
