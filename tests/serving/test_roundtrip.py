"""A real export behind the development server, through both clients: every signature
answers as the SavedModel does in-process (the image signature as the in-memory model does),
every place that names the contract agrees, and the export's event types bound the client's."""

from __future__ import annotations

import io

import numpy as np
import pytest
import requests

from mtrec_tf.backend import tf
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.images import preprocess_image
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.export import export_model
from mtrec_tf.training.fit import build_model
from serving.client import RestClient
from serving.contract import SIGNATURES, read_contract
from serving.dev_server import DevServer
from serving.grpc_client import GrpcClient
from serving.requests_builder import UserRequest


@pytest.fixture(scope="module")
def export(tmp_path_factory, tiny_config, tiny_prepared):
    catalogue = build_catalogue(tiny_prepared.data.items, tiny_prepared.statistics, tiny_config.model.max_title_tokens)
    batch = next(iter(make_dataset(tiny_prepared.examples.parts["train"], batch_size=64,
                                   history_length=tiny_config.data.history_length, shuffle_buffer=10_000, seed=1)))
    model = build_model(tiny_config, tiny_prepared.statistics, catalogue)
    model.build_from_batch(batch)
    root = tmp_path_factory.mktemp("run") / "export"
    result = export_model(model, tiny_prepared.statistics, catalogue, tiny_config.data.history_length, root,
                          top_k=10)
    return result, catalogue, list(tiny_prepared.statistics.items), model


@pytest.fixture(scope="module")
def server(export):
    result = export[0]
    with DevServer(result.path.parent, rest_port=0, grpc_port=0, poll_seconds=60) as running:
        yield running


@pytest.fixture(scope="module")
def loaded(export):
    return tf.saved_model.load(str(export[0].path))


@pytest.fixture(params=["rest", "grpc"])
def client(request, server):
    made = RestClient(server.rest_url) if request.param == "rest" else GrpcClient(server.grpc_target)
    yield made
    made.close()


def _user_tensors(user_id, history, query):
    return {"user_id": tf.constant([user_id]), "history": tf.constant([history]),
            "history_event_type": tf.constant([["click"] * len(history)]),
            "history_time_gap": tf.zeros([1, len(history)]), "query": tf.constant([query])}


def test_recommend_and_score_equal_the_saved_model(client, loaded, export):
    items = export[2]
    history = items[:3]
    expected = loaded.signatures["retrieve"](**_user_tensors("u1", history, "手机 phone"))
    got = client.recommend("u1", history, "手机 phone", k=10)
    assert [item for item, _ in got] == [i.decode() for i in expected["item_ids"].numpy()[0]]
    np.testing.assert_allclose([s for _, s in got], expected["scores"].numpy()[0], atol=1e-5)

    candidates = items[5:9]
    expected = loaded.signatures["serving_default"](**_user_tensors("u1", history, "手机 phone"),
                                                    candidates=tf.constant([candidates]))
    scored = client.score("u1", history, "手机 phone", candidates)
    assert [row["item_id"] for row in scored] == candidates
    for name in ("ctr", "cvr", "ctcvr"):
        np.testing.assert_allclose([row[name] for row in scored], expected[name].numpy()[0], atol=1e-5)


def test_many_users_in_one_request_with_empty_and_unknown_inputs(client, export):
    items = export[2]
    users = [UserRequest("u1", items[:2], "phone"), UserRequest("", (), ""), UserRequest("new", ["no-such"], "")]
    answers = client.recommend_many(users, k=5)
    assert [len(a) for a in answers] == [5, 5, 5]
    alone = client.recommend_many(users[:1], k=5)[0]
    assert [item for item, _ in alone] == [item for item, _ in answers[0]]
    np.testing.assert_allclose([s for _, s in alone], [s for _, s in answers[0]], atol=1e-5)


def test_classifiers_and_embeddings(client, loaded, export):
    _, catalogue, items, _ = export
    categories = client.classify_query(["手机 phone", ""])
    expected = loaded.signatures["classify_query"](query=tf.constant(["手机 phone", ""]))
    assert [c for c, _ in categories[0]] == [c.decode() for c in expected["categories"].numpy()[0]]

    png = tf.io.encode_png(catalogue.image[1]).numpy()
    assert len(client.classify_image([png])[0]) == expected["categories"].shape[1]

    vectors = np.asarray(client.item_embedding(items[:2]))
    expected = loaded.signatures["item_embedding"](item_id=tf.constant(items[:2]))["embedding"]
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    user = np.asarray(client.user_embedding([UserRequest("u1", items[:3], "")]))
    assert user.shape == (1, vectors.shape[1])


def _encoded(pixels: np.ndarray, image_format: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format, quality=90)
    return buffer.getvalue()


def test_classify_image_equals_the_in_memory_model_on_images_that_need_resizing(client, export, tiny_prepared):
    _, catalogue, _, model = export
    size = catalogue.image.shape[1]
    photo = np.kron(catalogue.image[3], np.ones((2, 2, 1), np.uint8))[:80, :100]  # 100 wide, 80 high
    images = [_encoded(photo, "PNG"), _encoded(photo, "JPEG")]
    served = client.classify_image(images)
    pixels = tf.stack([preprocess_image(image, size) for image in images])
    probabilities = model.image_outputs(pixels, "image_category", training=False).numpy()  # (2, categories)
    categories = list(tiny_prepared.statistics.categories)
    for row, answer in zip(probabilities, served):
        np.testing.assert_allclose([p for _, p in answer], np.sort(row)[::-1][:len(answer)], atol=1e-5)
        np.testing.assert_allclose([p for _, p in answer], [row[categories.index(c)] for c, _ in answer], atol=1e-5)


def test_event_types_outside_the_export_are_refused_by_the_client(client, server, export, tiny_prepared):
    result, _, items, _ = export
    accepted = ", ".join(tiny_prepared.statistics.event_types)
    rest_with_file = RestClient(server.rest_url, contract=result.path)
    for refusing in (client, rest_with_file):  # the contract from the server's metadata, then from the folder
        with pytest.raises(ValueError) as error:
            refusing.recommend("u1", [(items[0], "cart", 60.0)], k=3)
        assert "'cart'" in str(error.value) and f"its event types are: {accepted}" in str(error.value)
        assert len(refusing.recommend("u1", [(items[0], "add_to_cart", 60.0)], k=3)) == 3
    rest_with_file.close()


def test_every_place_that_names_the_contract_agrees(client, export, loaded):
    result = export[0]
    written = read_contract(result.path)  # the export's contract.json
    assert client.contract().to_json() == written.to_json()  # as the server's metadata carries it
    metadata = client.metadata()
    served = {name: sig for name, sig in metadata["signatures"].items() if not name.startswith("__")}
    assert set(served) == set(written.signatures) == set(SIGNATURES) == set(loaded.signatures) \
        == set(result.signatures)
    for name, signature in SIGNATURES.items():
        assert set(served[name]["inputs"]) == set(signature.inputs)
        assert set(served[name]["outputs"]) == set(signature.outputs)
        assert {k: v["dtype"] for k, v in served[name]["inputs"].items()} == signature.inputs
        assert written.signatures[name]["inputs"] == served[name]["inputs"]  # dtypes and shapes
        assert written.signatures[name]["outputs"] == served[name]["outputs"]
    models_config = (result.path.parents[2] / "serving" / "models.config").read_text()
    assert f'name: "{client.model_name}"' in models_config
    assert result.path.parent.name == client.model_name
    assert client.status()[0].state == "AVAILABLE"


def _rest_predict(server, body: dict) -> requests.Response:
    return requests.post(f"{server.rest_url}/v1/models/mtrec:predict", json=body, timeout=60)


def _padded_user(user_id: str, query: str) -> dict:
    """One user with no history, as the clients send it: one padding event."""
    return {"user_id": tf.constant([user_id]), "history": tf.constant([[""]]),
            "history_event_type": tf.constant([[""]]), "history_time_gap": tf.zeros([1, 1]),
            "query": tf.constant([query])}


EMPTY_HISTORY = {"history": [], "history_event_type": [], "history_time_gap": []}


def test_an_empty_history_answers_as_no_history(server, loaded, export):
    items = export[2]
    row = {"user_id": "u1", **EMPTY_HISTORY, "query": "phone"}
    answer = _rest_predict(server, {"signature_name": "retrieve", "instances": [row, {**row, "user_id": "u2"}]})
    assert answer.status_code == 200, answer.text
    first = answer.json()["predictions"][0]
    expected = loaded.signatures["retrieve"](**_padded_user("u1", "phone"))
    assert first["item_ids"] == [i.decode() for i in expected["item_ids"].numpy()[0]]
    np.testing.assert_allclose(first["scores"], expected["scores"].numpy()[0], atol=1e-5)

    columns = {"user_id": ["u1"], "history": [[]], "history_event_type": [[]], "history_time_gap": [[]],
               "query": ["phone"], "candidates": [items[:3]]}
    answer = _rest_predict(server, {"inputs": columns})
    assert answer.status_code == 200, answer.text
    expected = loaded.signatures["serving_default"](**_padded_user("u1", "phone"), candidates=tf.constant([items[:3]]))
    for name in ("ctr", "cvr", "ctcvr"):
        np.testing.assert_allclose(answer.json()["outputs"][name], expected[name].numpy(), atol=1e-5)
        assert 0 < min(answer.json()["outputs"][name][0]) <= max(answer.json()["outputs"][name][0]) < 1


@pytest.mark.parametrize("form", ["instances", "inputs"])
def test_misshapen_user_inputs_get_a_400_naming_them(server, export, form):
    items = export[2]
    user = {"user_id": "u1", "history": items[:2], "history_event_type": ["click"],
            "history_time_gap": [1.0, 2.0], "query": ""}
    body = {"signature_name": "retrieve", form: [user] if form == "instances" else {k: [v] for k, v in user.items()}}
    answer = _rest_predict(server, body)
    assert answer.status_code == 400, answer.text
    assert "history_event_type holds 1 event per row but history holds 2" in answer.json()["error"]

    columns = {k: [v] for k, v in {**user, "history_event_type": ["click", "add_to_cart"]}.items()}
    answer = _rest_predict(server, {"signature_name": "retrieve", "inputs": {**columns, "user_id": ["u1", "u2"]}})
    assert answer.status_code == 400, answer.text
    assert "user_id: 2 rows" in answer.json()["error"] and "query: 1 row" in answer.json()["error"]
    answer = _rest_predict(server, {"signature_name": "retrieve", "inputs": columns})
    assert answer.status_code == 200, answer.text
