"""The REST and gRPC clients, one set of tests over both transports.

The `target` fixture yields each server to test: the in-test fakes of `fake_servers.py` always,
plus a real TF Serving when `MTREC_TFSERVING_REST` (e.g. http://localhost:8501) and/or
`MTREC_TFSERVING_GRPC` (e.g. localhost:8500) are set. A real server must serve the contract model
of `conftest.write_contract_model` as version 1 of model "mtrec". Tests that script failures or
inspect the requests take the `fake` fixture and are skipped against real servers.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from serving.base_client import BaseClient
from serving.client import RestClient
from serving.client_errors import (
    DeadlineExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    ServerUnavailableError,
    ServingError,
)
from serving.contract import CONTRACT_FILE, SIGNATURES, read_contract
from serving.grpc_client import GrpcClient, tensor_proto
from serving.requests_builder import TensorValue, UserRequest, VersionStatus, as_inputs

from fake_servers import FakeGrpcServer, FakeModel, FakeRestServer

REPO = Path(__file__).resolve().parents[2]
CATEGORIES = [("Books", 0.5), ("Food", 0.3), ("Toys", 0.2)]  # conftest.write_contract_model
REAL = {"rest": os.environ.get("MTREC_TFSERVING_REST"), "grpc": os.environ.get("MTREC_TFSERVING_GRPC")}
TARGETS = ["rest-fake", "grpc-fake"] + [f"{t}-tfserving" for t, address in REAL.items() if address]


@dataclasses.dataclass
class Target:
    transport: str
    address: str
    fake: FakeRestServer | FakeGrpcServer | None = None

    def client(self, **kwargs) -> BaseClient:
        kwargs = {"timeout": 10.0, "backoff": 0.01, **kwargs}
        cls = RestClient if self.transport == "rest" else GrpcClient
        return cls(self.address, **kwargs)


@pytest.fixture(scope="session")
def fake_model(contract_model_base) -> FakeModel:
    return FakeModel(contract_model_base)


@pytest.fixture(scope="session")
def fake_rest(fake_model):
    server = FakeRestServer(fake_model)
    yield server
    server.close()


@pytest.fixture(scope="session")
def fake_grpc(fake_model):
    server = FakeGrpcServer(fake_model)
    yield server
    server.close()


@pytest.fixture(params=TARGETS)
def target(request) -> Target:
    transport, kind = request.param.split("-")
    if kind == "tfserving":
        return Target(transport, REAL[transport])
    fake = request.getfixturevalue(f"fake_{transport}")
    return Target(transport, fake.url if transport == "rest" else fake.target, fake)


@pytest.fixture
def client(target):
    with target.client() as client:
        yield client


@pytest.fixture
def fake(target):
    """The target's fake server, reset before and after the test."""
    if target.fake is None:
        pytest.skip("needs the in-test fake: a real TF Serving cannot be told to fail, delay or record requests")
    target.fake.reset()
    yield target.fake
    target.fake.reset()


def _png() -> bytes:
    from mtrec_tf.backend import tf

    return tf.io.encode_png(tf.zeros([2, 3, 3], tf.uint8)).numpy()


def _approx(pairs):
    return [(name, pytest.approx(value)) for name, value in pairs]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- methods ---------------------------------------------------------------------------------------

def test_recommend_slices_k(client):
    assert client.recommend("u1", k=2) == [("i1", 3.0), ("i2", 2.0)]
    history = ["i4", ("i5", "purchase", 3600)]
    assert client.recommend("用户", history, query="红色 dress", k=3) == [("i1", 5.0), ("i2", 4.0), ("i3", 3.0)]


def test_recommend_k_above_the_exports_k(client):
    with pytest.raises(ValueError, match="k=4 is more than the 3 items"):
        client.recommend("u1", k=4)
    with pytest.raises(ValueError, match="k must be"):
        client.recommend("u1", k=0)


def test_recommend_many(client):
    users = [UserRequest("u1"), "u2", UserRequest("u3", ["i1", ("i2", "add_to_cart", 5.0)], query="toys")]
    assert client.recommend_many(users, k=2) == [[("i1", 3.0), ("i2", 2.0)], [("i1", 3.0), ("i2", 2.0)],
                                                 [("i1", 5.0), ("i2", 4.0)]]
    assert client.recommend_many([], k=2) == []


def test_recommend_many_sends_one_padded_request(client, fake):
    users = [UserRequest("u1"), UserRequest("u2", ["i1", "i2"]),
             UserRequest("u3", [("i3", "add_to_cart", 5), "i4", ("i5", "purchase", 60.5)], query="q")]
    assert client.recommend_many(users, k=1) == [[("i1", 3.0)], [("i1", 5.0)], [("i1", 6.0)]]
    assert len(fake.predict_calls) == 1
    signature, inputs = fake.predict_calls[0]
    assert signature == "retrieve"
    assert inputs == {
        "user_id": ["u1", "u2", "u3"],
        "history": [["", "", ""], ["i1", "i2", ""], ["i3", "i4", "i5"]],
        "history_event_type": [["", "", ""], ["click", "click", ""], ["add_to_cart", "click", "purchase"]],
        "history_time_gap": [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [5.0, 0.0, 60.5]],
        "query": ["", "", "q"],
    }
    client.recommend("u1", k=1)  # no history still sends rows of length 1, never (batch, 0)
    assert fake.predict_calls[1][1]["history"] == [[""]]


def test_score(client):
    scores = client.score("u1", ["i9", ("i8", "purchase", 10.0)], "", ["i1", "i2"])
    assert [s["item_id"] for s in scores] == ["i1", "i2"]
    for s in scores:
        assert (s["ctr"], s["cvr"], s["ctcvr"]) == pytest.approx((0.5, 0.25, 0.125))


def test_score_many(client):
    scores = client.score_many([UserRequest("u1"), "u2", UserRequest("u3", ["i1"])],
                               [["i1"], ["i2", "i3", "i4"], []])
    assert [[s["item_id"] for s in row] for row in scores] == [["i1"], ["i2", "i3", "i4"], []]
    assert all(s["ctr"] == pytest.approx(0.5) for row in scores for s in row)
    assert client.score_many([], []) == []


def test_score_many_pads_candidates_in_one_request(client, fake):
    client.score_many(["u1", "u2", "u3"], [["i1"], ["i2", "i3", "i4"], []])
    assert len(fake.predict_calls) == 1
    signature, inputs = fake.predict_calls[0]
    assert signature == "serving_default"
    assert inputs["candidates"] == [["i1", "", ""], ["i2", "i3", "i4"], ["", "", ""]]
    assert inputs["history"] == [[""], [""], [""]]


def test_classify_query(client):
    got = client.classify_query(["running shoes", "红色连衣裙"])
    assert got == [_approx(CATEGORIES), _approx(CATEGORIES)]
    assert client.classify_query([]) == []


def test_classify_image(client):
    assert client.classify_image([_png()]) == [_approx(CATEGORIES)]
    with pytest.raises(InvalidRequestError) as error:
        client.classify_image([_png(), b"not an image"])
    assert "image" in error.value.message.lower()
    assert error.value.code == "INVALID_ARGUMENT"


def test_embeddings(client):
    assert client.item_embedding(["i1", "商品", "item10"]) == [[2.0] * 4, [6.0] * 4, [6.0] * 4]
    assert client.user_embedding([UserRequest("abc", ["i1"]), "u12345"]) == [[3.0] * 4, [6.0] * 4]
    assert client.item_embedding([]) == []


def test_status(client):
    assert client.status() == [VersionStatus(1, "AVAILABLE", "OK", "")]
    assert client.status()[0].available


def test_metadata_matches_the_contract(client):
    metadata = client.metadata()
    assert metadata["name"] == "mtrec" and metadata["version"] == 1
    assert set(metadata["signatures"]) == set(SIGNATURES)
    for name, signature in SIGNATURES.items():
        served = metadata["signatures"][name]
        assert {k: v["dtype"] for k, v in served["inputs"].items()} == signature.inputs
        assert set(served["outputs"]) == set(signature.outputs)
        assert served["inputs"]["user_id" if "user_id" in signature.inputs else next(iter(signature.inputs))][
            "shape"] == [-1]
    assert metadata["signatures"]["retrieve"]["inputs"]["history"]["shape"] == [-1, -1]


def test_fixed_version(target):
    with target.client(version=1) as client:
        assert client.recommend("u1", k=1) == [("i1", 3.0)]
        assert [s.version for s in client.status()] == [1]
    with target.client(version=7) as client:
        with pytest.raises(ModelNotFoundError):
            client.recommend("u1", k=1)
        with pytest.raises(ModelNotFoundError):
            client.status()


def test_raw_predict(client):
    outputs = client.predict("classify_query", {"query": ["a", "b"]})
    assert outputs["categories"] == [["Books", "Food", "Toys"]] * 2


# --- the export's contract --------------------------------------------------------------------------

def test_a_given_contract_refuses_unknown_event_types_before_sending(target, fake, contract_model_base, tmp_path):
    version = contract_model_base / "1"
    for source in (version, version / CONTRACT_FILE, read_contract(version).to_json()):
        fake.reset()
        with target.client(contract=source) as client:
            with pytest.raises(ValueError) as error:
                client.recommend("u1", [("i1", "cart", 5.0), ("i2", "purchase", 1.0)], k=1)
            assert "history_event_type holds 'cart'" in str(error.value)
            assert "its event types are: click, add_to_cart, purchase" in str(error.value)
            with pytest.raises(ValueError, match="'view'"):
                client.score_many([UserRequest("u1", [("i1", "view", 1.0)])], [["i1"]])
            with pytest.raises(ValueError, match="'cart'"):
                client.predict("user_embedding", {"user_id": ["u"], "history": [["i1"]],
                                                  "history_event_type": [["cart"]], "history_time_gap": [[1.0]],
                                                  "query": [""]})
            assert fake.requests == []  # refused before sending
            assert client.recommend("u1", [("i1", "add_to_cart", 5.0)], k=1) == [("i1", 4.0)]
            assert len(fake.requests) == 1  # the given contract is not asked for
    with pytest.raises(FileNotFoundError, match="contract.json"):
        target.client(contract=tmp_path)


def test_without_a_contract_the_server_is_asked_once_and_nothing_is_checked(target, fake):
    # The fakes serve no contract, as TF Serving: every event type is sent as given.
    with target.client() as client:
        assert client.classify_query(["shoes"]) == [_approx(CATEGORIES)]  # no enumerated input: not asked
        assert client.recommend("u1", [("i1", "cart", 5.0)], k=1) == [("i1", 4.0)]
        assert client.recommend("u1", [("i1", "view", 5.0)], k=1) == [("i1", 4.0)]
        assert client.contract() is None
    metadata, predict = ("GET", "POST") if target.transport == "rest" else ("GetModelMetadata", "Predict")
    assert [request[0] for request in fake.requests] == [predict, metadata, predict, predict]


def test_a_server_down_when_the_contract_is_asked_for_fails_the_call_like_any(target, fake):
    fake.fail_next("UNAVAILABLE", "starting", times=1)
    with target.client() as client:
        assert client.recommend("u1", ["i1"], k=1) == [("i1", 4.0)]  # the contract's request retried
    assert len(fake.requests) == 3


# --- errors ----------------------------------------------------------------------------------------

def test_unknown_model_is_model_not_found(target):
    with target.client(model_name="nope") as client:
        with pytest.raises(ModelNotFoundError) as error:
            client.classify_query(["shoes"])
        with pytest.raises(ModelNotFoundError):
            client.metadata()
    assert "nope" in error.value.message
    assert error.value.code == "NOT_FOUND"
    assert error.value.status == (404 if target.transport == "rest" else "NOT_FOUND")
    assert error.value.attempts == 1
    assert "nope" in str(error.value)


def test_unknown_signature_is_invalid_request(client):
    with pytest.raises(InvalidRequestError, match="nope_signature"):
        client.predict("nope_signature", {"query": ["x"]})


def test_no_retry_on_invalid_argument(target, fake):
    fake.fail_next("INVALID_ARGUMENT", "bad input: history is ragged")
    with target.client() as client, pytest.raises(InvalidRequestError) as error:
        client.classify_query(["shoes"])
    assert error.value.message == "bad input: history is ragged"
    assert error.value.status == (400 if target.transport == "rest" else "INVALID_ARGUMENT")
    assert len(fake.requests) == 1


@pytest.mark.parametrize("code", ["UNAVAILABLE", "RESOURCE_EXHAUSTED"])
def test_retries_when_unavailable_or_overloaded(target, fake, code):
    fake.fail_next(code, "busy", times=2)
    with target.client(backoff=0.2) as client:
        sleeps = []
        client._sleep = sleeps.append
        assert client.classify_query(["shoes"]) == [_approx(CATEGORIES)]
    assert len(fake.requests) == 3
    assert sleeps == [0.2, 0.4]  # exponential backoff


def test_retries_status_and_metadata(client, fake):
    fake.fail_next("UNAVAILABLE", "starting", times=1)
    assert client.status()[0].state == "AVAILABLE"
    fake.fail_next("UNAVAILABLE", "starting", times=1)
    assert "retrieve" in client.metadata()["signatures"]
    assert len(fake.requests) == 4


def test_gives_up_after_retries(target, fake):
    fake.fail_next("UNAVAILABLE", "down for maintenance", times=10)
    with target.client(retries=2) as client, pytest.raises(ServerUnavailableError) as error:
        client.recommend("u1", k=1)
    assert error.value.message == "down for maintenance"
    assert error.value.status == (503 if target.transport == "rest" else "UNAVAILABLE")
    assert error.value.attempts == 3 and len(fake.requests) == 3
    assert "after 3 attempts" in str(error.value)


def test_connection_refused_is_unavailable(target):
    address = f"127.0.0.1:{_free_port()}"
    client = (RestClient(f"http://{address}", retries=1, backoff=0.01) if target.transport == "rest"
              else GrpcClient(address, retries=1, backoff=0.01, timeout=5.0))
    with client, pytest.raises(ServerUnavailableError) as error:
        client.classify_query(["shoes"])
    assert error.value.attempts == 2 and error.value.code == "UNAVAILABLE"


def test_timeout_is_deadline_exceeded_and_not_retried(target, fake):
    fake.delay = 1.0
    start = time.monotonic()
    with target.client(timeout=0.25) as client, pytest.raises(DeadlineExceededError) as error:
        client.recommend("u1", k=1)
    assert time.monotonic() - start < 0.9
    assert error.value.code == "DEADLINE_EXCEEDED" and isinstance(error.value, ServingError)
    assert len(fake.requests) == 1


def test_input_checks(client):
    with pytest.raises(TypeError, match="not a string"):
        client.recommend("u1", history="i1")
    with pytest.raises(TypeError, match="history event"):
        client.recommend("u1", history=[("i1", "click")])
    with pytest.raises(ValueError, match="padding"):
        client.score("u1", [], "", ["i1", ""])
    with pytest.raises(ValueError, match="2 users but 1 candidate lists"):
        client.score_many(["u1", "u2"], [["i1"]])
    with pytest.raises(TypeError, match="sequence"):
        client.classify_query("shoes")
    with pytest.raises(TypeError):
        client.classify_image(["not bytes"])
    with pytest.raises(ValueError, match="ragged"):
        client.predict("classify_query", {"query": [["a"], ["b", "c"]]})


# --- wire formats ----------------------------------------------------------------------------------

def test_grpc_sends_explicit_dtypes(fake_grpc):
    from tensorflow.core.framework import types_pb2

    fake_grpc.reset()
    with GrpcClient(fake_grpc.target, version=1) as client:
        client.recommend("用户", [("i1", "add_to_cart", 5)], k=1)
        client.predict("retrieve", {"user_id": ["u"], "history": [["i1"]], "history_event_type": [["click"]],
                                    "history_time_gap": [[7]], "query": [""]})  # ints, sent as float32
        client.classify_image([_png()])
    (_, retrieve), (_, raw), (_, image) = [call for call in fake_grpc.requests if call[0] == "Predict"]
    assert retrieve.model_spec.version.value == 1 and retrieve.model_spec.signature_name == "retrieve"
    for request in (retrieve, raw):
        dtypes = {name: tensor.dtype for name, tensor in request.inputs.items()}
        assert dtypes == {"user_id": types_pb2.DT_STRING, "history": types_pb2.DT_STRING,
                          "history_event_type": types_pb2.DT_STRING, "history_time_gap": types_pb2.DT_FLOAT,
                          "query": types_pb2.DT_STRING}
    assert list(retrieve.inputs["user_id"].string_val) == ["用户".encode()]
    assert list(image.inputs["image"].string_val) == [_png()]
    # Python ints become int64, never the int32 make_tensor_proto would pick.
    assert as_inputs("custom", {"n": [[1, 2]], "x": [0.5], "s": [b"\xff"]}) == {
        "n": TensorValue("int64", [[1, 2]]), "x": TensorValue("float32", [0.5]), "s": TensorValue("string", [b"\xff"])}
    assert tensor_proto(TensorValue("int64", [[1, 2]])).dtype == types_pb2.DT_INT64
    assert tensor_proto(TensorValue("float32", [[1, 2]])).dtype == types_pb2.DT_FLOAT


def test_rest_sends_columnar_json_with_b64_images(fake_rest):
    fake_rest.reset()
    with RestClient(fake_rest.url, version=1) as client:
        client.classify_image([_png()])
        client.item_embedding(["i1"])
    (method, path, body), (_, _, embedding_body) = fake_rest.requests
    assert (method, path) == ("POST", "/v1/models/mtrec/versions/1:predict")
    assert body == {"signature_name": "image_category",
                    "inputs": {"image": [{"b64": base64.b64encode(_png()).decode()}]}}
    assert embedding_body == {"signature_name": "item_embedding", "inputs": {"item_id": ["i1"]}}


def test_rest_reads_named_and_unnamed_single_outputs(fake_rest):
    with RestClient(fake_rest.url) as client:
        client._send = lambda *args: {"outputs": {"embedding": [[1.0, 2.0]]}}
        assert client.item_embedding(["i1"]) == [[1.0, 2.0]]
        client._send = lambda *args: {"outputs": [[3.0, 4.0]]}
        assert client.item_embedding(["i1"]) == [[3.0, 4.0]]
        client._send = lambda *args: {"outputs": [[3.0, 4.0]], "extra": 1}
        with pytest.raises(ServingError, match="does not hold 2 rows"):
            client.item_embedding(["i1", "i2"])


# --- imports ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("statement", ["import serving.client", "import serving.grpc_client",
                                       "from serving import RestClient, GrpcClient, UserRequest, ServingError"])
def test_importing_the_client_does_not_import_tensorflow(statement):
    code = (f"{statement}; import sys; "
            "assert not any(m.startswith(('tensorflow', 'mtrec_tf', 'keras')) for m in sys.modules), "
            "sorted(m for m in sys.modules if m.startswith(('tensorflow', 'mtrec_tf', 'keras')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_grpc_client_without_its_packages_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_serving.apis.predict_pb2", None)
    with pytest.raises(ImportError, match=r"pip install grpcio tensorflow-serving-api"):
        GrpcClient("localhost:8500")


def test_a_contract_without_history_searches_refuses_a_search_step(target, fake, contract_model_base):
    contract = read_contract(contract_model_base / "1").to_json()
    roles = {"search": ["search"], "click": ["click", "behaviour", "next_item"]}
    contract = {**contract, "event_roles": roles,
                "enumerations": {**contract["enumerations"], "history_event_type": ["search", "click"]}}
    with target.client(contract=contract) as client:
        with pytest.raises(ValueError, match=r"holds 'search': this model was trained without searches in the "
                                             r"history \(data.history_includes_searches\)"):
            client.recommend("u1", [("red shoes", "search", 60.0), ("i1", "click", 5.0)], k=1)
        assert fake.requests == []
    with target.client(contract={**contract, "history_searches": True}) as client:
        answer = client.recommend("u1", [("red shoes", "search", 60.0), ("i1", "click", 5.0)], k=1)
        assert [item for item, _ in answer] == ["i1"] and len(fake.requests) == 1  # sent like any step
