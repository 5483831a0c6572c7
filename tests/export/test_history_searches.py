"""Past searches in the history (`data.history_includes_searches`): examples, the user encoder,
and the export, whose answer with a past query in the history equals the in-memory model's."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mtrec_tf.backend import tf
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.data.prepare import prepare_data
from mtrec_tf.data.readers import load_data
from mtrec_tf.export import export_model
from mtrec_tf.training.fit import build_model
from serving.client import RestClient
from serving.contract import CONTRACT_FILE
from serving.dev_server import DevServer
from serving.requests_builder import UserRequest

N = 64


@pytest.fixture(scope="module")
def searches_config(tiny_config):
    return dataclasses.replace(tiny_config, data=dataclasses.replace(tiny_config.data,
                                                                     history_includes_searches=True))


@pytest.fixture(scope="module")
def searches_prepared(sample_world, searches_config):
    data = load_data(sample_world.events, sample_world.items, sample_world.queries)
    return prepare_data(data, searches_config.data, seed=searches_config.seed)


@pytest.fixture(scope="module")
def searches_model(searches_config, searches_prepared):
    prepared = searches_prepared
    catalogue = build_catalogue(prepared.data.items, prepared.statistics, searches_config.model.max_title_tokens)
    train = prepared.examples.parts["train"]
    batch = next(iter(make_dataset(train, batch_size=N, history_length=searches_config.data.history_length,
                                   shuffle_buffer=10_000, seed=3)))
    model = build_model(searches_config, prepared.statistics, catalogue)
    model.build_from_batch(batch)
    return model, catalogue, batch


def test_search_steps_hold_their_queries_strictly_before_each_example(searches_prepared, sample_world):
    events = sample_world.events
    searches = events[(events["event_type"] == "search") & (events["query"] != "")]
    asked = set(zip(searches["user_id"], searches["query"]))
    steps = with_search = 0
    for part in ("train", "validation", "test"):
        frame = searches_prepared.examples.parts[part].to_pandas()
        for row in frame.itertuples():
            gaps = np.asarray(row.history_time_gaps)
            assert (gaps > 0).all(), f"{part} example of {row.user_id} at {row.timestamp} sees its own second"
            kinds = list(row.history_event_types)
            for value, kind in zip(row.history_item_ids, kinds):
                if kind == "search":
                    steps += 1
                    assert (row.user_id, value) in asked  # the user's own query, as the step
            with_search += "search" in kinds
    assert steps > 1000 and with_search > 1000


def test_a_search_step_is_read_through_the_text_encoder(searches_model):
    model, _, _ = searches_model
    history = tf.constant([["i000001", "red phone"], ["i000001", "steel pan"], ["i000001", "steel pan"]])
    kinds = tf.constant([["click", "search"], ["click", "search"], ["click", "click"]])
    inputs = {"user_id": tf.constant(["u", "u", "u"]), "history_item_ids": history,
              "history_event_types": kinds, "history_time_gaps": tf.constant([[600.0, 60.0]] * 3)}
    user = model.encode_user(inputs, training=False)[0].numpy()
    assert not np.allclose(user[0], user[1], atol=1e-6), "the query's text must reach the user vector"
    assert not np.allclose(user[1], user[2], atol=1e-6)
    # A batch without any search step is answered too.
    plain = {**inputs, "history_event_types": tf.constant([["click", "click"]] * 3)}
    assert model.encode_user(plain, training=False)[0].shape[0] == 3


def test_the_served_answer_with_a_past_query_equals_the_model(tmp_path, searches_config, searches_prepared,
                                                              searches_model):
    model, catalogue, (features, _, _) = searches_model
    kinds = features["history_event_types"].numpy()
    assert (kinds == b"search").any(axis=1).sum() > 10  # rows with a past query in their history
    result = export_model(model, searches_prepared.statistics, catalogue, searches_config.data.history_length,
                          tmp_path / "export", target="core", top_k=20)
    contract = json.loads((result.path / CONTRACT_FILE).read_text(encoding="utf-8"))
    assert contract["history_searches"] is True
    loaded = tf.saved_model.load(str(result.path))
    inputs = {"user_id": features["user_id"], "history": features["history_item_ids"],
              "history_event_type": features["history_event_types"],
              "history_time_gap": tf.cast(features["history_time_gaps"], tf.float32), "query": features["query"]}
    expected = model(features, training=False)
    np.testing.assert_allclose(loaded.signatures["user_embedding"](**inputs)["embedding"], expected["next_item"],
                               atol=1e-5)
    scored = loaded.signatures["serving_default"](**inputs, candidates=features["item_id"][:, None])
    has_item = features["item_id"].numpy() != b""
    np.testing.assert_allclose(scored["ctr"][:, 0].numpy()[has_item], expected["ctr"].numpy()[has_item], atol=1e-5)

    # Through the development server and the REST client: a past query is a (text, "search", seconds) step.
    row = int(np.flatnonzero((kinds == b"search").any(axis=1))[0])
    history = [(item.decode(), kind.decode(), float(gap)) for item, kind, gap in
               zip(features["history_item_ids"][row].numpy(), kinds[row], features["history_time_gaps"][row].numpy())
               if item]
    with DevServer(result.path.parent, rest_port=0, grpc_port=None, poll_seconds=60) as server, \
            RestClient(server.rest_url) as client:
        embedding = client.user_embedding([UserRequest(features["user_id"][row].numpy().decode(), history,
                                                       features["query"][row].numpy().decode())])
    np.testing.assert_allclose(embedding[0], expected["next_item"][row], atol=1e-5)
