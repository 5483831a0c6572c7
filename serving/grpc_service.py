"""TF Serving's gRPC API: `PredictionService.Predict` and `GetModelMetadata`, `ModelService.GetModelStatus`.

Follows TF Serving's `predict_util.cc` (input checks, `output_filter`, outputs written as typed
value fields), `get_model_metadata_impl.cc` (a `SignatureDefMap` packed in `Any` under
"signature_def") and `get_model_status_impl.cc`. One addition: the metadata field "contract"
answers the export's contract as JSON in a packed `StringValue` (left out for an export
without one; TF Serving refuses the field). Errors abort the call with the gRPC status of
their code and TF Serving's message. Imports TensorFlow (through `tensorflow_serving.apis`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import wrappers_pb2
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.contract import CONTRACT_METADATA_FIELD
from serving.repository import ModelRepository
from serving.status_codes import CODE_NAMES, RequestError, invalid
from serving.tensors import DEFAULT_SIGNATURE, TensorSpec, check_input_names, tf_type_name

logger = logging.getLogger(__name__)

SIGNATURE_DEF_FIELD = "signature_def"
# `Tensor::AsProtoField`: the typed repeated field each dtype's values go to.
_VALUE_FIELDS = {"float32": "float_val", "float64": "double_val", "int8": "int_val", "int16": "int_val",
                 "int32": "int_val", "uint8": "int_val", "uint16": "int_val", "int64": "int64_val",
                 "uint32": "uint32_val", "uint64": "uint64_val", "bool": "bool_val", "string": "string_val"}


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """`Predict` and `GetModelMetadata` over a `ModelRepository`; the other methods are UNIMPLEMENTED."""

    def __init__(self, repository: ModelRepository):
        self.repository = repository

    def Predict(self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext) -> Any:
        return _answer(context, self._predict, request)

    def GetModelMetadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest,
                         context: grpc.ServicerContext) -> Any:
        return _answer(context, self._metadata, request)

    def _predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        name, version = _model_spec(request)
        model = self.repository.get(name, version)
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        signature = model.signatures.get(signature_name)
        if signature is None:
            raise RequestError("FAILED_PRECONDITION", f'Serving signature key "{signature_name}" not found.')
        check_input_names(request.inputs, signature.inputs)
        arrays = {key: to_array(key, proto, signature.inputs[key]) for key, proto in request.inputs.items()}
        outputs = model.predict(signature, arrays, list(request.output_filter))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = name
        response.model_spec.signature_name = signature_name
        response.model_spec.version.value = model.version
        for key, array in outputs.items():
            response.outputs[key].CopyFrom(to_proto(array))
        return response

    def _metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest) -> Any:
        name, version = _model_spec(request)
        if not request.metadata_field:
            raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field not in (SIGNATURE_DEF_FIELD, CONTRACT_METADATA_FIELD):
                raise invalid(f"Metadata field {field} is not supported")
        model = self.repository.get(name, version)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = name
        response.model_spec.version.value = model.version
        if SIGNATURE_DEF_FIELD in request.metadata_field:
            signature_defs = get_model_metadata_pb2.SignatureDefMap()
            for key, signature_def in model.signature_defs.items():
                signature_defs.signature_def[key].CopyFrom(signature_def)
            response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_defs)
        if CONTRACT_METADATA_FIELD in request.metadata_field and model.contract is not None:
            contract = json.dumps(model.contract.to_json(), ensure_ascii=False)
            response.metadata[CONTRACT_METADATA_FIELD].Pack(wrappers_pb2.StringValue(value=contract))
        return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """`GetModelStatus` over a `ModelRepository`; `HandleReloadConfigRequest` is UNIMPLEMENTED."""

    def __init__(self, repository: ModelRepository):
        self.repository = repository

    def GetModelStatus(self, request: get_model_status_pb2.GetModelStatusRequest,
                       context: grpc.ServicerContext) -> Any:
        return _answer(context, self._status, request)

    def _status(self, request: get_model_status_pb2.GetModelStatusRequest) -> Any:
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in self.repository.status(*_model_spec(request)):
            entry = response.model_version_status.add(
                version=status.version, state=get_model_status_pb2.ModelVersionStatus.State.Value(status.state))
            entry.status.error_code = CODE_NAMES.index(status.error_code)
            entry.status.error_message = status.error_message
        return response


class GrpcServer:
    """A grpcio server with both services, on a thread pool.

    Args:
        repository: the models to serve.
        host: the address to listen on.
        port: the port; 0 picks a free one (read `port`).
        max_request_bytes: the largest request message accepted (RESOURCE_EXHAUSTED beyond).
        workers: the size of the thread pool.
    """

    def __init__(self, repository: ModelRepository, host: str = "127.0.0.1", port: int = 0,
                 max_request_bytes: int = 16 << 20, workers: int = 8):
        options = [("grpc.max_receive_message_length", max_request_bytes), ("grpc.max_send_message_length", -1),
                   ("grpc.so_reuseport", 0)]
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
                                   options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(repository),
                                                                            self._server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(repository), self._server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            self.port: int = self._server.add_insecure_port(address)
        except RuntimeError as error:
            raise OSError(f"cannot listen for gRPC on {address}: {error}") from None
        if not self.port:
            raise OSError(f"cannot listen for gRPC on {address}")

    def start(self) -> None:
        self._server.start()

    def stop(self, grace_seconds: float = 0.5) -> None:
        """Refuses new calls and waits up to `grace_seconds` for those in flight."""
        self._server.stop(grace_seconds).wait()


def to_array(name: str, proto: tensor_pb2.TensorProto, spec: TensorSpec) -> np.ndarray:
    """A request TensorProto as an array, INVALID_ARGUMENT unless it has the input's dtype."""
    wanted = tf.dtypes.as_dtype(spec.dtype)
    if proto.dtype != wanted.as_datatype_enum:
        try:
            sent = tf_type_name(tf.dtypes.as_dtype(proto.dtype).name)
        except TypeError:
            sent = f"DataType {proto.dtype}"
        raise invalid(f"Expects input {name} to be {tf_type_name(spec.dtype)} but {sent} is provided")
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError) as error:
        raise invalid(f"input {name}: the TensorProto cannot be read: {error}") from None


def to_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """An output array as TF Serving writes it: dtype, shape and the typed value field."""
    dtype = tf.dtypes.as_dtype(array.dtype)
    field = _VALUE_FIELDS.get(dtype.name)
    if field is None:
        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum, tensor_shape=tf.TensorShape(array.shape).as_proto())
    getattr(proto, field).extend(array.ravel().tolist())
    return proto


def _model_spec(request: Any) -> tuple[str, int | None]:
    if not request.HasField("model_spec"):
        raise invalid("Missing ModelSpec")
    spec: model_pb2.ModelSpec = request.model_spec
    if spec.WhichOneof("version_choice") == "version_label":
        raise invalid(f"Unrecognized servable version label: {spec.version_label}")
    return spec.name, spec.version.value if spec.HasField("version") else None


def _answer(context: grpc.ServicerContext, method: Callable[[Any], Any], request: Any) -> Any:
    try:
        return method(request)
    except RequestError as error:
        code, message = getattr(grpc.StatusCode, error.code), error.message
    except Exception as error:  # noqa: BLE001  (a bug answers INTERNAL; the server keeps serving)
        logger.exception("internal error in %s", getattr(method, "__name__", method))
        code, message = grpc.StatusCode.INTERNAL, f"Internal error: {type(error).__name__}: {error}"
    context.abort(code, message)
