"""A small SavedModel with every signature of the serving contract and predictable answers,
so the protocol (client, development server) is tested apart from the trained model."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.contract import SIGNATURES, input_shape

CATEGORIES = ("Books", "Food", "Toys")
ITEMS = ("i1", "i2", "i3", "i4", "i5")
EMBEDDING_DIM = 4
EVENT_TYPES = ("click", "add_to_cart", "purchase")


def write_contract_model(path: Path, version: int = 1, offset: float = 0.0, with_contract: bool = True) -> Path:
    """Writes `path/<version>/` and returns it, with its `assets.extra/contract.json` (accepting the
    event types `EVENT_TYPES`) unless `with_contract` is false. Answers:

    - `serving_default`: ctr = 0.5 + offset and cvr = 0.25 for each non-empty candidate, 0 for padding;
    - `retrieve`: `ITEMS[:3]` for everyone, scores 3, 2, 1 plus the history length;
    - `classify_query`, `image_category`: `CATEGORIES` with probabilities 0.5, 0.3, 0.2
      (`image_category` fails on bytes that are not an image);
    - `item_embedding`, `user_embedding`: vectors of `EMBEDDING_DIM` holding the string length of
      the id.
    """
    from mtrec_tf.backend import tf

    module = tf.Module()
    categories = tf.constant(CATEGORIES)
    probabilities = tf.constant([0.5, 0.3, 0.2])

    def user_len(user_id):
        return tf.cast(tf.strings.length(user_id), tf.float32)

    def top_categories(n):
        return {"categories": tf.tile(categories[tf.newaxis], [n, 1]),
                "probabilities": tf.tile(probabilities[tf.newaxis], [n, 1])}

    def serving_default(user_id, history, history_event_type, history_time_gap, query, candidates):
        present = tf.cast(tf.not_equal(candidates, ""), tf.float32)
        ctr = (0.5 + offset) * present
        cvr = 0.25 * present
        return {"ctr": ctr, "cvr": cvr, "ctcvr": ctr * cvr}

    def retrieve(user_id, history, history_event_type, history_time_gap, query):
        n = tf.shape(user_id)[0]
        length = tf.reduce_sum(tf.cast(tf.not_equal(history, ""), tf.float32), axis=1, keepdims=True)
        return {"item_ids": tf.tile(tf.constant([ITEMS[:3]]), [n, 1]),
                "scores": tf.constant([[3.0, 2.0, 1.0]]) + length}

    def classify_query(query):
        return top_categories(tf.shape(query)[0])

    def image_category(image):
        shapes = tf.map_fn(lambda b: tf.shape(tf.io.decode_image(b, channels=3, expand_animations=False)),
                           image, fn_output_signature=tf.int32)
        with tf.control_dependencies([shapes]):  # else the unused decode is pruned and never fails
            return top_categories(tf.shape(image)[0])

    def item_embedding(item_id):
        return {"embedding": tf.tile(user_len(item_id)[:, tf.newaxis], [1, EMBEDDING_DIM])}

    def user_embedding(user_id, history, history_event_type, history_time_gap, query):
        return {"embedding": tf.tile(user_len(user_id)[:, tf.newaxis], [1, EMBEDDING_DIM])}

    functions = {"serving_default": serving_default, "retrieve": retrieve, "classify_query": classify_query,
                 "image_category": image_category, "item_embedding": item_embedding,
                 "user_embedding": user_embedding}
    signatures = {}
    for name, fn in functions.items():
        specs = [tf.TensorSpec(input_shape(key), getattr(tf, dtype), name=key)
                 for key, dtype in SIGNATURES[name].inputs.items()]
        function = tf.function(fn, input_signature=specs)
        setattr(module, name, function)
        signatures[name] = function.get_concrete_function()
    target = Path(path) / str(version)
    tf.saved_model.save(module, str(target), signatures=signatures)
    if with_contract:
        from mtrec_tf.export.export_contract import write_export_contract

        write_export_contract(target, {}, {name: ["behaviour"] for name in EVENT_TYPES}, history_length=3,
                              top_k=len(ITEMS[:3]))
    return target


@pytest.fixture(scope="session")
def contract_model_base(tmp_path_factory) -> Path:
    """A model base path holding version 1 of the contract model."""
    base = tmp_path_factory.mktemp("contract_model") / "mtrec"
    write_contract_model(base, version=1)
    return base
