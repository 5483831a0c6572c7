"""Features of every kind end to end: configuration, validation, examples, model, export, the
development server and both clients; the served answer equals the in-memory model's."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_tf.backend import tf
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.export import export_model
from mtrec_tf.training.fit import build_model
from serving.client import RestClient
from serving.dev_server import DevServer
from serving.grpc_client import GrpcClient
from serving.requests_builder import UserRequest

USER_FEATURES = {"age": 33.0, "age_z": None, "city": "sh", "visitor": "u-42"}
CONTEXT_FEATURES = {"device": "ios", "hour": "21"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, feature_config, feature_prepared):
    catalogue = build_catalogue(feature_prepared.data.items, feature_prepared.statistics,
                                feature_config.model.max_title_tokens, features=feature_config.features)
    model = build_model(feature_config, feature_prepared.statistics, catalogue)
    dataset = make_dataset(feature_prepared.examples.parts["train"], batch_size=128,
                           history_length=feature_config.data.history_length, shuffle_buffer=10_000, seed=1)
    model.build_from_batch(next(iter(dataset)))
    model.fit(dataset.take(10), verbose=0)
    root = tmp_path_factory.mktemp("features_run") / "export"
    result = export_model(model, feature_prepared.statistics, catalogue, feature_config.data.history_length, root,
                          top_k=10)
    return model, result, list(feature_prepared.statistics.items)


@pytest.fixture(scope="module")
def server(trained):
    with DevServer(trained[1].path.parent, rest_port=0, grpc_port=0, poll_seconds=60) as running:
        yield running


@pytest.fixture(params=["rest", "grpc"])
def client(request, server):
    made = RestClient(server.rest_url) if request.param == "rest" else GrpcClient(server.grpc_target)
    yield made
    made.close()


def _in_memory_ctr(model, history, candidates, features):
    n = len(candidates)
    values = {
        "user_id": tf.constant(["u-42"] * n), "timestamp": tf.zeros([n], tf.int64), "query": tf.constant([""] * n),
        "item_id": tf.constant(candidates), "position": tf.fill([n], tf.constant(-1, tf.int64)),
        "history_item_ids": tf.constant([history] * n),
        "history_event_types": tf.constant([["click"] * len(history)] * n),
        "history_time_gaps": tf.zeros([n, len(history)]),
    }
    for name, value in features.items():
        dtype = tf.float32 if name in ("age", "age_z") else tf.string
        missing = np.nan if dtype == tf.float32 else ""
        values[name] = tf.constant([missing if value is None else value] * n, dtype)
    return model(values, training=False)["ctr"].numpy()


def test_the_export_takes_the_user_and_context_features_and_lists_them(trained, server) -> None:
    contract = RestClient(server.rest_url).contract()
    assert set(contract.features) == set(USER_FEATURES) | set(CONTEXT_FEATURES)
    assert contract.features["city"]["values"][:2] and contract.features["age"]["dtype"] == "float32"
    assert contract.feature_inputs("serving_default") == [*USER_FEATURES, *CONTEXT_FEATURES]
    assert contract.feature_inputs("classify_query") == list(CONTEXT_FEATURES)
    assert contract.feature_inputs("item_embedding") == []
    assert "tags" in trained[0].item_features() and "sales" in trained[0].item_features()


def test_served_scores_equal_the_in_memory_model_and_depend_on_the_features(trained, client) -> None:
    model, _, items = trained
    history, candidates = items[:3], items[5:9]
    request = UserRequest("u-42", history, features={**USER_FEATURES, **CONTEXT_FEATURES})
    served = [row["ctr"] for row in client.score_many([request], [candidates])[0]]
    expected = _in_memory_ctr(model, history, candidates, {**USER_FEATURES, **CONTEXT_FEATURES})
    np.testing.assert_allclose(served, expected, atol=1e-5)
    other = UserRequest("u-42", history, features={**USER_FEATURES, **CONTEXT_FEATURES, "device": "web", "age": None})
    changed = [row["ctr"] for row in client.score_many([other], [candidates])[0]]
    assert not np.allclose(served, changed, atol=1e-7)
    assert len(client.recommend_many([request], k=5)[0]) == 5
    assert len(client.classify_query(["phone"], [CONTEXT_FEATURES])[0]) >= 1


def test_the_client_names_an_unknown_or_a_missing_feature(client) -> None:
    with pytest.raises(ValueError, match=r"unknown feature 'colour' for serving_default: its features are age"):
        client.score_many([UserRequest("u", features={**USER_FEATURES, **CONTEXT_FEATURES, "colour": "red"})],
                          [["x"]])
    with pytest.raises(ValueError, match=r"missing feature 'device': retrieve takes features"):
        client.recommend_many([UserRequest("u", features=USER_FEATURES)])


def test_a_request_without_a_feature_input_gets_an_error_answer_and_the_server_keeps_serving(server, trained) -> None:
    import requests

    items = trained[2]
    body = {"signature_name": "serving_default", "inputs": {
        "user_id": ["u"], "history": [items[:2]], "history_event_type": [["click", "click"]],
        "history_time_gap": [[0.0, 0.0]], "query": [""], "candidates": [items[3:5]]}}
    answer = requests.post(f"{server.rest_url}/v1/models/mtrec:predict", json=body, timeout=30)
    assert answer.status_code == 400 and "error" in answer.json()
    assert requests.get(f"{server.rest_url}/v1/models/mtrec", timeout=30).status_code == 200
