"""gRPC client of a TF Serving compatible server (TF Serving's port 8500).

Needs grpcio and tensorflow-serving-api (installed with mtrec-tf; the latter imports all of
TensorFlow, about 3 s). Importing this module is cheap: TensorFlow is imported
when the first `GrpcClient` is made.

Tensors travel with explicit dtypes: strings as DT_STRING (str encoded to UTF-8 here, so str and
bytes never mix), floats as DT_FLOAT, ints as DT_INT64 (never the DT_INT32 that
`make_tensor_proto` picks for Python ints). String outputs come back as `str`, except outputs
named `*_bytes`, which stay `bytes` (as REST's `{"b64": ...}` does).

Example:
    >>> from serving.grpc_client import GrpcClient
    >>> with GrpcClient("localhost:8500") as client:
    ...     client.score("u1", ["i9"], "", candidates=["i1", "i2"])
    [{'item_id': 'i1', 'ctr': 0.04, 'cvr': 0.1, 'ctcvr': 0.004}, ...]
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

from serving.base_client import BaseClient, ContractSource
from serving.client_errors import InvalidRequestError, ServingError, error_for_code
from serving.contract import CONTRACT_METADATA_FIELD, DEFAULT_MODEL_NAME
from serving.requests_builder import TensorValue, UserRequest, VersionStatus, decode_utf8, shape_of

__all__ = ["GrpcClient", "UserRequest", "VersionStatus", "tensor_proto"]

_MODULES = ("grpc", "google.protobuf.json_format", "google.protobuf.wrappers_pb2", "tensorflow",
            "tensorflow_serving.apis.predict_pb2", "tensorflow_serving.apis.get_model_metadata_pb2",
            "tensorflow_serving.apis.get_model_status_pb2",
            "tensorflow_serving.apis.prediction_service_pb2_grpc",
            "tensorflow_serving.apis.model_service_pb2_grpc")

_MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # gRPC's default of 4 MiB is too small for embeddings


def load_apis() -> types.SimpleNamespace:
    """grpc, TensorFlow and the TF Serving protos, by their last name; a clear ImportError when
    grpcio or tensorflow-serving-api is missing.

    TensorFlow reads `TF_USE_LEGACY_KERAS` when it is first imported; when tf-keras is installed
    (a full mtrec-tf install) and nothing has imported TensorFlow yet, the flag is set as
    `mtrec_tf` sets it, so that importing `mtrec_tf` later in the same process still works.
    """
    if "tensorflow" not in sys.modules and "TF_USE_LEGACY_KERAS" not in os.environ \
            and importlib.util.find_spec("tf_keras") is not None:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    try:
        modules = {name.rsplit(".", 1)[-1]: importlib.import_module(name) for name in _MODULES}
    except ImportError as error:
        raise ImportError(f"GrpcClient needs grpcio and tensorflow-serving-api, which are missing "
                          f"({error}): pip install grpcio tensorflow-serving-api") from error
    return types.SimpleNamespace(**modules)


_NUMPY_DTYPES = {"float32": "float32", "float64": "float64", "int64": "int64", "int32": "int32",
                 "bool": "bool"}


def _flatten(values: Any) -> list:
    if isinstance(values, list):
        return [x for v in values for x in _flatten(v)]
    return [values]


def tensor_proto(value: TensorValue, apis: types.SimpleNamespace | None = None) -> Any:
    """A `TensorProto` of `value` with its dtype stated: str is encoded to UTF-8 bytes."""
    apis = apis or load_apis()
    tf = apis.tensorflow
    shape = shape_of(value.values)
    flat = _flatten(value.values) if shape else [value.values]
    if value.dtype == "string":
        flat = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in flat]
        return tf.make_tensor_proto(flat, dtype=tf.string, shape=shape)
    if value.dtype not in _NUMPY_DTYPES:
        raise TypeError(f"cannot send dtype {value.dtype!r}")
    import numpy as np

    array = np.asarray(flat, dtype=_NUMPY_DTYPES[value.dtype]).reshape(shape)
    return tf.make_tensor_proto(array, dtype=getattr(tf, value.dtype), shape=shape)


def _from_proto(name: str, proto: Any, apis: types.SimpleNamespace) -> Any:
    """Nested lists of an output; strings decoded from UTF-8 except outputs named `*_bytes`."""
    values = apis.tensorflow.make_ndarray(proto).tolist()
    return values if name.endswith("_bytes") else decode_utf8(values)


class GrpcClient(BaseClient):
    """Client of TF Serving's gRPC API: PredictionService.Predict and GetModelMetadata, and
    ModelService.GetModelStatus.

    Args:
        target: the server's `host:port`, e.g. "localhost:8500".
        model_name: the model's name on the server.
        version: a fixed model version, or None for the server's latest.
        timeout: the deadline of each attempt, in seconds.
        retries: how many times a request is sent again on UNAVAILABLE / RESOURCE_EXHAUSTED.
        backoff: seconds before the first retry, doubled before each next one.
        contract: the served export's contract (its version folder, its `contract.json` or that
            file's JSON); by default the `"contract"` metadata field of GetModelMetadata, which
            the development server answers and TF Serving refuses (then no values are checked).
    """

    def __init__(self, target: str, model_name: str = DEFAULT_MODEL_NAME, version: int | None = None,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.2,
                 contract: ContractSource | None = None):
        super().__init__(model_name, version, timeout, retries, backoff, contract)
        self._apis = load_apis()
        self.address = target
        grpc = self._apis.grpc
        self._channel = grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES)])
        self._predictions = self._apis.prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = self._apis.model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _model_spec(self, spec: Any) -> None:
        spec.name = self.model_name
        if self.version is not None:
            spec.version.value = self.version

    def _rpc(self, method: Callable[..., Any], request: Any) -> Any:
        """One call with the client's deadline; gRPC errors as typed `ServingError`s."""
        try:
            return method(request, timeout=self.timeout)
        except self._apis.grpc.RpcError as error:
            code = error.code() if hasattr(error, "code") else None
            details = error.details() if hasattr(error, "details") else str(error)
            name = getattr(code, "name", "UNKNOWN")
            if name == "DEADLINE_EXCEEDED" and math.isfinite(self.timeout):
                details = f"{details} (timeout {self.timeout:g} s)"
            raise error_for_code(name, details or name) from None

    def _predict_once(self, signature: str, inputs: Mapping[str, TensorValue]) -> dict[str, list]:
        request = self._apis.predict_pb2.PredictRequest()
        self._model_spec(request.model_spec)
        request.model_spec.signature_name = signature
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tensor_proto(value, self._apis))
        response = self._rpc(self._predictions.Predict, request)
        return {name: _from_proto(name, proto, self._apis) for name, proto in response.outputs.items()}

    def _status_once(self) -> dict[str, Any]:
        request = self._apis.get_model_status_pb2.GetModelStatusRequest()
        self._model_spec(request.model_spec)
        response = self._rpc(self._models.GetModelStatus, request)
        return self._apis.json_format.MessageToDict(response)

    def _metadata_once(self) -> tuple[dict[str, Any], dict[str, Any]]:
        apis = self._apis
        request = apis.get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._model_spec(request.model_spec)
        response = self._rpc(self._predictions.GetModelMetadata, request)
        signatures = apis.get_model_metadata_pb2.SignatureDefMap()
        if "signature_def" not in response.metadata or not response.metadata["signature_def"].Unpack(signatures):
            raise ServingError("the metadata answer holds no SignatureDefMap", code="INTERNAL")
        to_dict = apis.json_format.MessageToDict
        return (to_dict(response.model_spec, preserving_proto_field_name=True),
                to_dict(signatures, preserving_proto_field_name=True))

    def _contract_once(self) -> dict[str, Any] | None:
        apis = self._apis
        request = apis.get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=[CONTRACT_METADATA_FIELD])
        self._model_spec(request.model_spec)
        try:
            response = self._rpc(self._predictions.GetModelMetadata, request)
        except InvalidRequestError:
            return None  # TF Serving: "Metadata field contract is not supported"
        packed, text = response.metadata.get(CONTRACT_METADATA_FIELD), apis.wrappers_pb2.StringValue()
        return json.loads(text.value) if packed is not None and packed.Unpack(text) else None
