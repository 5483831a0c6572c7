"""The development server answers TF Serving's REST and gRPC requests over the contract model."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests

from serving.contract import CONTRACT_FILE, SIGNATURES, input_shape
from serving.dev_server import DevServer
from serving.tensors import ROW, arrays_to_response


def _contract_model():
    """This folder's conftest, loaded by path: pytest's own `conftest` module name is shared by folders."""
    spec = importlib.util.spec_from_file_location("contract_model_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CONTRACT = _contract_model()
CATEGORIES, EMBEDDING_DIM, ITEMS = _CONTRACT.CATEGORIES, _CONTRACT.EMBEDDING_DIM, _CONTRACT.ITEMS
write_contract_model = _CONTRACT.write_contract_model
MAX_REQUEST_BYTES = 1 << 20
USERS = ("u12", "user-0001")


@pytest.fixture(scope="module")
def server(contract_model_base):
    with DevServer(contract_model_base, poll_seconds=3600, max_request_bytes=MAX_REQUEST_BYTES) as server:
        yield server


@pytest.fixture(scope="module")
def png() -> bytes:
    import tensorflow as tf

    return tf.io.encode_png(tf.zeros([2, 3, 3], tf.uint8)).numpy()


def model_url(server, suffix: str = "") -> str:
    return f"{server.rest_url}/v1/models/mtrec{suffix}"


def instance(user_id: str, png: bytes) -> dict:
    """Every contract input for one request, in REST row form."""
    return {"user_id": user_id, "history": ["i1", "i2", ""], "history_event_type": ["click", "add_to_cart", ""],
            "history_time_gap": [5.0, 60, 0.0], "query": "red shoes", "candidates": ["i1", "i3", ""],
            "item_id": user_id, "image": {"b64": base64.b64encode(png).decode()}}


def rows(signature: str, png: bytes) -> list[dict]:
    return [{key: value for key, value in instance(user, png).items() if key in SIGNATURES[signature].inputs}
            for user in USERS]


def expected(signature: str) -> dict[str, list]:
    """The contract model's outputs for `rows(signature)`, output by output, rows first."""
    categories = {"categories": [list(CATEGORIES)] * 2, "probabilities": [[0.5, 0.3, 0.2]] * 2}
    embedding = {"embedding": [[float(len(user))] * EMBEDDING_DIM for user in USERS]}
    return {"serving_default": {"ctr": [[0.5, 0.5, 0.0]] * 2, "cvr": [[0.25, 0.25, 0.0]] * 2,
                                "ctcvr": [[0.125, 0.125, 0.0]] * 2},
            "retrieve": {"item_ids": [list(ITEMS[:3])] * 2, "scores": [[5.0, 4.0, 3.0]] * 2},
            "classify_query": categories, "image_category": categories,
            "item_embedding": embedding, "user_embedding": embedding}[signature]


def predict(server, body, suffix: str = "") -> requests.Response:
    if isinstance(body, (bytes, str)):
        return requests.post(model_url(server, suffix + ":predict"), data=body, timeout=30)
    return requests.post(model_url(server, suffix + ":predict"), json=body, timeout=30)


def assert_good_request_answered(server, png: bytes) -> None:
    answer = predict(server, {"signature_name": "classify_query", "instances": rows("classify_query", png)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["categories"] == list(CATEGORIES)


# ---- status and metadata ----------------------------------------------------------------------------

AVAILABLE_1 = {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                         "status": {"error_code": "OK", "error_message": ""}}]}


@pytest.mark.parametrize("suffix", ["", "/versions/1"])
def test_status_is_tf_serving_json(server, suffix):
    answer = requests.get(model_url(server, suffix), timeout=30)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == AVAILABLE_1


@pytest.mark.parametrize("suffix", ["/metadata", "/versions/1/metadata"])
def test_metadata_lists_every_contract_signature(server, suffix):
    answer = requests.get(model_url(server, suffix), timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_spec"] == {"name": "mtrec", "signature_name": "", "version": "1"}
    signature_defs = body["metadata"]["signature_def"]["signature_def"]
    assert set(SIGNATURES) <= set(signature_defs)
    for name, signature in SIGNATURES.items():
        signature_def = signature_defs[name]
        assert signature_def["method_name"] == "tensorflow/serving/predict"
        assert set(signature_def["outputs"]) == set(signature.outputs)
        assert set(signature_def["inputs"]) == set(signature.inputs)
        for key, dtype in signature.inputs.items():
            info = signature_def["inputs"][key]
            assert info["dtype"] == {"string": "DT_STRING", "float32": "DT_FLOAT"}[dtype]
            rank = len(input_shape(key))
            assert info["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}] * rank, "unknown_rank": False}
            assert isinstance(info["name"], str) and info["name"]


def _grpc_metadata(stub, *fields: str):
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=list(fields))
    request.model_spec.name = "mtrec"
    return stub.GetModelMetadata(request, timeout=30)


def _grpc_contract(response) -> dict | None:
    from google.protobuf import wrappers_pb2

    if "contract" not in response.metadata:
        return None
    text = wrappers_pb2.StringValue()
    assert response.metadata["contract"].Unpack(text)
    return json.loads(text.value)


def test_metadata_carries_the_exports_contract(server, grpc_stubs, contract_model_base):
    written = json.loads((contract_model_base / "1" / CONTRACT_FILE).read_text())
    assert written["enumerations"] == {"history_event_type": ["click", "add_to_cart", "purchase"]}
    for suffix in ("/metadata", "/versions/1/metadata"):
        body = requests.get(model_url(server, suffix), timeout=30).json()
        assert body["contract"] == written and set(body["metadata"]) == {"signature_def"}
    assert _grpc_contract(_grpc_metadata(grpc_stubs[0], "contract")) == written
    both = _grpc_metadata(grpc_stubs[0], "signature_def", "contract")
    assert set(both.metadata) == {"signature_def", "contract"} and _grpc_contract(both) == written
    assert set(_grpc_metadata(grpc_stubs[0], "signature_def").metadata) == {"signature_def"}


def test_an_export_without_a_contract_answers_none_and_a_broken_one_fails_its_load(tmp_path):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    base = tmp_path / "mtrec"
    write_contract_model(base, version=1, with_contract=False)
    write_contract_model(base, version=2)
    (base / "2" / CONTRACT_FILE).write_text("{not json")
    with DevServer(base, poll_seconds=3600) as server:
        states = requests.get(model_url(server), timeout=30).json()["model_version_status"]
        assert [(s["version"], s["state"]) for s in states] == [("2", "END"), ("1", "AVAILABLE")]
        assert "contract.json is not JSON" in states[0]["status"]["error_message"]
        assert "contract" not in requests.get(model_url(server, "/metadata"), timeout=30).json()
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            assert _grpc_contract(_grpc_metadata(stub, "contract")) is None


# ---- predict ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("signature", sorted(SIGNATURES))
def test_predict_row_form(server, png, signature):
    answer = predict(server, {"signature_name": signature, "instances": rows(signature, png)})
    assert answer.status_code == 200, answer.text
    want = expected(signature)
    if len(want) == 1:
        (values,) = want.values()
        assert answer.json() == {"predictions": values}
    else:
        assert answer.json() == {"predictions": [{name: values[row] for name, values in want.items()}
                                                 for row in range(2)]}


@pytest.mark.parametrize("signature", sorted(SIGNATURES))
def test_predict_columnar_form(server, png, signature):
    instances = rows(signature, png)
    inputs = {key: [row[key] for row in instances] for key in SIGNATURES[signature].inputs}
    answer = predict(server, {"signature_name": signature, "inputs": inputs})
    assert answer.status_code == 200, answer.text
    want = expected(signature)
    assert answer.json() == {"outputs": want if len(want) > 1 else next(iter(want.values()))}


@pytest.mark.parametrize("signature", ["classify_query", "image_category", "item_embedding"])
def test_one_input_signatures_take_bare_values(server, png, signature):
    (key,) = SIGNATURES[signature].inputs
    values = [row[key] for row in rows(signature, png)]
    for body, answer_key in (({"instances": values}, "predictions"), ({"inputs": values}, "outputs")):
        answer = predict(server, {"signature_name": signature, **body})
        assert answer.status_code == 200, answer.text
        assert answer_key in answer.json()


def test_default_signature_and_explicit_version(server, png):
    answer = predict(server, {"instances": rows("serving_default", png)}, "/versions/1")
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["ctr"] == [0.5, 0.5, 0.0]


def test_chunked_request_body(server, png):
    import json

    data = json.dumps({"signature_name": "classify_query", "instances": ["a", "b"]}).encode()
    answer = requests.post(model_url(server, ":predict"), data=iter([data[:10], data[10:]]), timeout=30)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 2


def test_outputs_bytes_and_utf8_like_tf_serving():
    outputs = {"label": np.array([["红色".encode(), b"\xff\xfe"]], dtype=object),
               "raw_bytes": np.array([b"ab"], dtype=object), "score": np.array([[0.1, 7.0]], dtype=np.float32)}
    assert arrays_to_response(outputs, ROW) == {"predictions": [
        {"label": ["红色", {"b64": "//4="}], "raw_bytes": {"b64": "YWI="}, "score": [0.1, 7.0]}]}


# ---- errors -----------------------------------------------------------------------------------------

def _bad(png: bytes, **changes) -> dict:
    row = {key: value for key, value in instance("u1", png).items() if key in SIGNATURES["serving_default"].inputs}
    row.update(changes)
    return {"instances": [{k: v for k, v in row.items() if v is not None}]}


def _columnar(**changes) -> dict:
    inputs = {"user_id": ["u1"], "history": [["i1"]], "history_event_type": [["click"]],
              "history_time_gap": [[1.0]], "query": [""]}
    inputs.update(changes)
    return {"signature_name": "retrieve", "inputs": {k: v for k, v in inputs.items() if v is not None}}


BAD_PREDICTS = {
    # name: (body or callable(png), url suffix, status, words the error must hold)
    "bad JSON": (b'{"instances": [', "", 400, ["JSON Parse error"]),
    "empty body": (b"", "", 400, ["empty"]),
    "not an object": (b"[1, 2]", "", 400, ["Is not object"]),
    "no instances or inputs": ({"signature_name": "retrieve"}, "", 400, ["'inputs' or 'instances'"]),
    "both instances and inputs": ({"instances": [1], "inputs": [1]}, "", 400, ["only one of"]),
    "empty instances": ({"instances": []}, "", 400, ["No values"]),
    "missing input (rows)": (lambda png: _bad(png, history=None), "", 400, ["history", "missing"]),
    "missing input (columns)": (_columnar(query=None), "", 400, ["Missing named input: query"]),
    "unknown input": (lambda png: _bad(png, colour="red"), "", 400, ["colour"]),
    "string for float": (lambda png: _bad(png, history_time_gap=["a", "b", "c"]), "", 400,
                         ["history_time_gap", "float"]),
    "number for string": (lambda png: _bad(png, user_id=7), "", 400, ["user_id", "string"]),
    "bool for float": (_columnar(history_time_gap=[[True]]), "", 400, ["history_time_gap", "float"]),
    "lossy float": (_columnar(history_time_gap=[[16777217]]), "", 400, ["history_time_gap", "precision"]),
    "bad base64": ({"signature_name": "image_category", "instances": [{"b64": "%%%"}]}, "", 400, ["base64"]),
    "malformed b64 object": ({"signature_name": "image_category", "inputs": {"image": [{"b64": 1}]}}, "", 400,
                             ["image", "base64"]),
    "not an image": ({"signature_name": "image_category",
                      "instances": [{"b64": base64.b64encode(b"not an image").decode()}]}, "", 400, ["image"]),
    "ragged history (rows)": (lambda png: {"instances": [_bad(png)["instances"][0],
                                                         {**_bad(png)["instances"][0], "history": ["i1"]}]},
                              "", 400, ["history"]),
    "ragged history (columns)": (_columnar(history=[["i1", "i2"], ["i3"]], user_id=["u1", "u2"]), "", 400,
                                 ["history"]),
    "wrong rank": (_columnar(user_id=[["u1"]]), "", 400, ["user_id", "shape"]),
    "unknown signature": ({"signature_name": "nope", "instances": ["x"]}, "", 400, ['"nope"', "not found"]),
    "signature name not a string": ({"signature_name": 3, "instances": ["x"]}, "", 400, ["signature_name"]),
    "unknown version": (lambda png: _bad(png), "/versions/7", 404, ["Specific(mtrec, 7)"]),
    "lone surrogate (rows)": (b'{"signature_name": "classify_query", "instances": [{"query": "a\\ud800"}]}', "",
                              400, ["key: query", '"a\\ud800"', "surrogate"]),
    "lone surrogate (columns)": (b'{"signature_name": "classify_query", "inputs": {"query": ["\\udfff"]}}', "",
                                 400, ["input: query", '"\\udfff"', "surrogate"]),
    "lone surrogate in a name": (b'{"signature_name": "\\ud800", "instances": ["x"]}', "", 400, ["not found"]),
    "history lengths differ (rows)": (lambda png: _bad(png, history_event_type=["click"]), "", 400,
                                      ["history_event_type holds 1 event per row but history holds 3"]),
    "history lengths differ (columns)": (_columnar(history_time_gap=[[1.0, 2.0]]), "", 400,
                                         ["history_time_gap holds 2 events per row but history holds 1"]),
    "batch sizes differ": (_columnar(user_id=["u1", "u2"]), "", 400,
                           ["user_id: 2 rows", "history, history_event_type, history_time_gap, query: 1 row"]),
    "batch sizes differ (one input)": (_columnar(query=["a", "b", "c"], history=[["i1"], ["i2"], ["i3"]]), "",
                                       400, ["history, query: 3 rows", "user_id: 1 row"]),
    "version label": (lambda png: _bad(png), "/labels/stable", 400, ["stable"]),
}


@pytest.mark.parametrize("case", sorted(BAD_PREDICTS))
def test_bad_predict_gets_tf_serving_error(server, png, case):
    body, suffix, status, words = BAD_PREDICTS[case]
    answer = predict(server, body(png) if callable(body) else body, suffix)
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    error = answer.json()["error"]
    for word in words:
        assert word in error
    assert_good_request_answered(server, png)


@pytest.mark.parametrize("method, path, status, words", [
    ("POST", "/v1/models/other:predict", 404, ["Latest(other)"]),
    ("GET", "/v1/models/other", 404, ["Could not find any versions of model other"]),
    ("GET", "/v1/models/mtrec/versions/7", 404, ["Could not find version 7 of model mtrec"]),
    ("GET", "/v1/models/mtrec/versions/7/metadata", 404, ["Specific(mtrec, 7)"]),
    ("GET", "/v1/models/other/metadata", 404, ["Latest(other)"]),
    ("GET", "/v1/models", 400, ["Missing model name"]),
    ("POST", "/v1/models/mtrec:explode", 400, ["Malformed request"]),
    ("PUT", "/v1/models/mtrec", 400, ["Malformed request"]),
    ("POST", "/v1/models/mtrec:classify", 400, [":predict"]),
    ("GET", "/elsewhere", 404, ["/v1/"]),
])
def test_bad_path_gets_tf_serving_error(server, png, method, path, status, words):
    answer = requests.request(method, server.rest_url + path, json={"instances": ["x"]}, timeout=30)
    assert answer.status_code == status, answer.text
    for word in words:
        assert word in answer.json()["error"]
    assert_good_request_answered(server, png)


def _no_history(row: dict) -> dict:
    return {**row, "history": [], "history_event_type": [], "history_time_gap": []}


def test_empty_history_is_one_padding_event(server, png, grpc_stubs):
    rest_rows = [_no_history(row) for row in rows("retrieve", png)]
    want = {"item_ids": [list(ITEMS[:3])] * 2, "scores": [[3.0, 2.0, 1.0]] * 2}   # no events counted
    answer = predict(server, {"signature_name": "retrieve", "instances": rest_rows})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": [{name: values[row] for name, values in want.items()} for row in range(2)]}
    columns = {key: [row[key] for row in rest_rows] for key in rest_rows[0]}
    answer = predict(server, {"signature_name": "retrieve", "inputs": columns})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"outputs": want}

    import tensorflow as tf

    request = grpc_request("retrieve", png)
    for key, dtype in (("history", tf.string), ("history_event_type", tf.string), ("history_time_gap", tf.float32)):
        request.inputs[key].CopyFrom(tf.make_tensor_proto(np.zeros([2, 0]), dtype=dtype) if dtype == tf.float32
                                     else tf.make_tensor_proto(np.empty([2, 0], dtype=object), dtype=dtype))
    response = grpc_stubs[0].Predict(request, timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["scores"]), want["scores"])


def test_oversized_payload_gets_413(server, png):
    body = {"signature_name": "classify_query", "instances": ["x" * MAX_REQUEST_BYTES]}
    answer = predict(server, body)
    assert answer.status_code == 413, answer.text
    assert str(MAX_REQUEST_BYTES) in answer.json()["error"]
    assert_good_request_answered(server, png)


def test_concurrent_requests_all_succeed(server, png):
    signatures = sorted(SIGNATURES)

    def call(index: int) -> tuple[str, int, dict]:
        signature = signatures[index % len(signatures)]
        answer = predict(server, {"signature_name": signature, "instances": rows(signature, png)})
        return signature, answer.status_code, answer.json()

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, range(48)))
    for signature, status, body in results:
        assert status == 200, body
        want = expected(signature)
        first = body["predictions"][0]
        assert first == (next(iter(want.values()))[0] if len(want) == 1 else {k: v[0] for k, v in want.items()})


# ---- versions ---------------------------------------------------------------------------------------

def test_new_versions_are_picked_up_and_bad_ones_reported(contract_model_base, tmp_path, png):
    base = tmp_path / "mtrec"
    base.mkdir()
    body = {"instances": rows("serving_default", png)}
    with DevServer(base, grpc_port=None, poll_seconds=3600) as server:
        answer = predict(server, body)
        assert answer.status_code == 503 and "No version" in answer.json()["error"]
        assert requests.get(model_url(server), timeout=30).status_code == 404

        shutil.copytree(contract_model_base / "1", base / "1")
        assert server.repository.refresh() == 1
        assert predict(server, body).json()["predictions"][0]["ctr"] == [0.5, 0.5, 0.0]

        write_contract_model(base, version=2, offset=0.1)
        assert server.repository.refresh() == 2
        assert predict(server, body).json()["predictions"][0]["ctr"] == [0.6, 0.6, 0.0]
        assert predict(server, body, "/versions/2").status_code == 200
        assert predict(server, body, "/versions/1").status_code == 404
        states = requests.get(model_url(server), timeout=30).json()["model_version_status"]
        assert [(s["version"], s["state"]) for s in states] == [("2", "AVAILABLE"), ("1", "END")]

        (base / "3").mkdir()
        (base / "3" / "saved_model.pb").write_bytes(b"not a SavedModel")
        assert server.repository.refresh() == 2
        status = requests.get(model_url(server, "/versions/3"), timeout=30).json()["model_version_status"][0]
        assert status["state"] == "END"
        assert status["status"]["error_code"] != "OK" and status["status"]["error_message"]
        assert predict(server, body).json()["predictions"][0]["ctr"] == [0.6, 0.6, 0.0]


def test_background_poll_picks_up_a_version_renamed_into_place(contract_model_base, tmp_path):
    base = tmp_path / "mtrec"
    shutil.copytree(contract_model_base / "1", base / "1")
    (base / "4").mkdir()    # incomplete: no saved_model.pb yet
    with DevServer(base, grpc_port=None, poll_seconds=0.1) as server:
        assert server.repository.refresh() == 1
        shutil.copytree(contract_model_base / "1", tmp_path / "staging")
        (base / "4").rmdir()
        os.rename(tmp_path / "staging", base / "4")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            answer = requests.get(model_url(server, "/metadata"), timeout=30).json()
            if answer["model_spec"]["version"] == "4":
                break
            time.sleep(0.05)
        assert answer["model_spec"]["version"] == "4"


def _write_warmup(version_dir: Path, signature: str, png: bytes) -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = version_dir / "assets.extra" / "tf_serving_warmup_requests"
    path.parent.mkdir(parents=True, exist_ok=True)
    request = grpc_request("classify_query", png)
    request.model_spec.signature_name = signature
    with tf.io.TFRecordWriter(str(path)) as writer:
        log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
        writer.write(log.SerializeToString())


def test_warmup_requests_are_replayed_and_a_failing_one_fails_the_load(contract_model_base, tmp_path, png):
    base = tmp_path / "mtrec"
    for version, signature in ((1, "classify_query"), (2, "missing_signature")):
        shutil.copytree(contract_model_base / "1", base / str(version))
        _write_warmup(base / str(version), signature, png)
    with DevServer(base, grpc_port=None, poll_seconds=3600) as server:
        assert server.repository.get("mtrec").version == 1
        assert server.repository.get("mtrec").warmup_requests == 1
        states = requests.get(model_url(server), timeout=30).json()["model_version_status"]
        assert [(s["version"], s["state"]) for s in states] == [("2", "END"), ("1", "AVAILABLE")]
        assert "missing_signature" in states[0]["status"]["error_message"]


# ---- gRPC -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def grpc_stubs(server):
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    with grpc.insecure_channel(server.grpc_target) as channel:
        yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
               model_service_pb2_grpc.ModelServiceStub(channel))


def grpc_request(signature: str, png: bytes):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "mtrec"
    request.model_spec.signature_name = signature
    for key in SIGNATURES[signature].inputs:
        values = [row[key] for row in rows(signature, png)]
        if key == "image":
            values = [png] * len(values)
        dtype = tf.float32 if SIGNATURES[signature].inputs[key] == "float32" else tf.string
        request.inputs[key].CopyFrom(tf.make_tensor_proto(values, dtype=dtype))
    return request


@pytest.mark.parametrize("signature", sorted(SIGNATURES))
def test_grpc_predict(grpc_stubs, png, signature):
    import tensorflow as tf

    response = grpc_stubs[0].Predict(grpc_request(signature, png), timeout=30)
    assert response.model_spec.name == "mtrec" and response.model_spec.version.value == 1
    assert response.model_spec.signature_name == signature
    want = expected(signature)
    assert set(response.outputs) == set(want)
    for name, values in want.items():
        got = tf.make_ndarray(response.outputs[name])
        if got.dtype == object:
            assert [[v.decode() for v in row] for row in got] == values
        else:
            np.testing.assert_allclose(got, values, rtol=1e-6)


def test_grpc_output_filter(grpc_stubs, png):
    request = grpc_request("classify_query", png)
    request.output_filter.append("probabilities")
    response = grpc_stubs[0].Predict(request, timeout=30)
    assert list(response.outputs) == ["probabilities"]
    assert list(response.outputs["probabilities"].float_val) == pytest.approx([0.5, 0.3, 0.2] * 2)


def test_grpc_metadata_and_status_match_rest(server, grpc_stubs):
    from google.protobuf import json_format
    from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "mtrec"
    response = grpc_stubs[0].GetModelMetadata(request, timeout=30)
    assert response.model_spec.name == "mtrec" and response.model_spec.version.value == 1
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_defs)
    rest = requests.get(model_url(server, "/metadata"), timeout=30).json()["metadata"]["signature_def"]
    assert json_format.MessageToDict(signature_defs, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True) == rest

    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "mtrec"
    status = grpc_stubs[1].GetModelStatus(status_request, timeout=30)
    assert json_format.MessageToDict(status, always_print_fields_with_no_presence=True) == AVAILABLE_1


def _set_input(key: str, values: list):
    def change(request) -> None:
        import tensorflow as tf

        request.inputs[key].CopyFrom(tf.make_tensor_proto(values))
    return change


GRPC_ERRORS = {
    # name: (change to a good `retrieve` request, status code, words the details must hold)
    "string for float": (_set_input("history_time_gap", [["a"], ["b"]]), "INVALID_ARGUMENT",
                         ["history_time_gap", "float"]),
    "wrong rank": (_set_input("user_id", [["u1"], ["u2"]]), "INVALID_ARGUMENT", ["user_id", "shape"]),
    "missing input": (lambda request: request.inputs.pop("query"), "INVALID_ARGUMENT",
                      ["Missing but required: {query}"]),
    "unknown model": (lambda request: setattr(request.model_spec, "name", "other"), "NOT_FOUND",
                      ["Latest(other)"]),
    "unknown signature": (lambda request: setattr(request.model_spec, "signature_name", "nope"),
                          "FAILED_PRECONDITION", ['"nope"']),
    "unknown output": (lambda request: request.output_filter.append("colour"), "INVALID_ARGUMENT", ["colour"]),
    "batch sizes differ": (_set_input("user_id", ["u1", "u2", "u3"]), "INVALID_ARGUMENT",
                           ["user_id: 3 rows", "query: 2 rows"]),
    "history lengths differ": (_set_input("history_event_type", [["click"], ["click"]]), "INVALID_ARGUMENT",
                               ["history_event_type holds 1 event per row but history holds 3"]),
}


@pytest.mark.parametrize("case", sorted(GRPC_ERRORS))
def test_grpc_errors(grpc_stubs, png, case):
    import grpc

    change, code, words = GRPC_ERRORS[case]
    request = grpc_request("retrieve", png)
    change(request)
    with pytest.raises(grpc.RpcError) as raised:
        grpc_stubs[0].Predict(request, timeout=30)
    assert raised.value.code() == getattr(grpc.StatusCode, code)
    for word in words:
        assert word in raised.value.details()
    assert grpc_stubs[0].Predict(grpc_request("retrieve", png), timeout=30).outputs["scores"].float_val


# ---- command line -----------------------------------------------------------------------------------

# What a background shell and a signal-blocking library leave to a child process: SIGINT ignored,
# SIGINT and SIGTERM blocked. Set in a small Python that then execs the server (both survive exec),
# not in a preexec_fn, which is unsafe in this multithreaded test process.
_EXEC_WITH_STOP_SIGNALS_IGNORED_AND_BLOCKED = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM}); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_command_line_serves_until_interrupted(contract_model_base, stop, tmp_path):
    command = [sys.executable, "-c", _EXEC_WITH_STOP_SIGNALS_IGNORED_AND_BLOCKED, "-m", "serving.dev_server",
               "--model-base-path", str(contract_model_base), "--rest-port", "0", "--no-grpc"]
    root = Path(__file__).resolve().parents[2]
    with open(tmp_path / "stderr", "w+") as stderr:
        process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        try:
            line = process.stdout.readline()
            assert "version 1" in line, (line, (tmp_path / "stderr").read_text()[-2000:])
            url = line.split("REST at ")[1].split()[0].rstrip(",.")
            assert requests.get(url, timeout=30).json() == AVAILABLE_1
            process.send_signal(stop)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()


ROOT = Path(__file__).resolve().parents[2]


def _popen(base: Path, *options: str, stderr: int = subprocess.DEVNULL) -> subprocess.Popen:
    command = [sys.executable, "-m", "serving.dev_server", "--model-base-path", str(base), "--rest-port", "0",
               *options]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def _address(line: str, what: str) -> str:
    """The URL or target after `what` in the server's first line."""
    assert what in line, line
    return line.split(what)[1].split()[0].rstrip(",.")


def predict_url(url: str, body: dict) -> requests.Response:
    return requests.post(url + ":predict", json=body, timeout=30)


def test_sigterm_stops_the_server_within_two_seconds(contract_model_base):
    import grpc
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    process = _popen(contract_model_base, "--grpc-port", "0")
    try:
        line = process.stdout.readline()
        with requests.Session() as session, grpc.insecure_channel(_address(line, "gRPC at ")) as channel:
            assert session.get(_address(line, "REST at "), timeout=30).json() == AVAILABLE_1   # kept alive
            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = "mtrec"
            assert model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
            start = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            assert time.monotonic() - start < 2.0
    finally:
        if process.poll() is None:
            process.kill()


def test_missing_base_path_is_reported_once_and_served_once_it_appears(contract_model_base, tmp_path):
    base = tmp_path / "mtrec"
    process = _popen(base, "--no-grpc", "--poll-seconds", "0.05", stderr=subprocess.PIPE)
    try:
        url = _address(process.stdout.readline(), "REST at ")
        assert predict_url(url, {"instances": ["x"]}).status_code == 503
        time.sleep(1.5)   # some 30 polls of the missing folder
        shutil.copytree(contract_model_base, tmp_path / "staging")
        os.rename(tmp_path / "staging", base)
        deadline = time.monotonic() + 60
        while (status := requests.get(url, timeout=30).json()) != AVAILABLE_1 and time.monotonic() < deadline:
            time.sleep(0.05)   # not yet there, or LOADING
        assert status == AVAILABLE_1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    assert stderr.count("cannot list model base path") == 1, stderr
    assert f"{base} (FileNotFoundError" in stderr


@pytest.mark.parametrize("entry", [["serving.dev_server"], ["trainer.cli", "serve"]], ids=["dev_server", "mtrec"])
def test_exit_if_missing_fails_at_once_with_status_2(tmp_path, entry):
    missing = tmp_path / "nowhere"
    result = subprocess.run([sys.executable, "-m", *entry, "--model-base-path", str(missing), "--exit-if-missing",
                             "--rest-port", "0", "--no-grpc"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 2, result.stderr
    assert f"error: model base path {missing} is not a folder (--exit-if-missing)" in result.stderr
    assert "Serving model" not in result.stdout
