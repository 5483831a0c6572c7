"""Export: signatures equal the model, raw-feature edge cases, the contract file, atomic versions,
op audit, warmup requests and the TF Serving config."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mtrec_tf.backend import tf
from mtrec_tf.data.catalogue import build_catalogue
from mtrec_tf.data.images import preprocess_image
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.export import OpAuditError, export_model
from mtrec_tf.export.op_audit import check_saved_model, saved_model_op_types
from mtrec_tf.export.warmup import WARMUP_FILE
from mtrec_tf.training.fit import build_model
from serving.contract import CONTRACT_FILE, SIGNATURES, read_contract

REPO = Path(__file__).resolve().parents[2]
N = 100


@pytest.fixture(scope="module")
def model_and_batch(tiny_config, tiny_prepared):
    catalogue = build_catalogue(tiny_prepared.data.items, tiny_prepared.statistics, tiny_config.model.max_title_tokens)
    test = tiny_prepared.examples.parts["test"]
    batch = next(iter(make_dataset(test, batch_size=N, history_length=tiny_config.data.history_length,
                                   shuffle_buffer=10_000, seed=1)))
    model = build_model(tiny_config, tiny_prepared.statistics, catalogue)
    model.build_from_batch(batch)
    return model, catalogue, batch


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_config, tiny_prepared, model_and_batch):
    model, catalogue, _ = model_and_batch
    root = tmp_path_factory.mktemp("run") / "export"
    result = export_model(model, tiny_prepared.statistics, catalogue, tiny_config.data.history_length, root,
                          target="core", top_k=20)
    return result, tf.saved_model.load(str(result.path))


def _user_inputs(features: dict) -> dict:
    return {"user_id": features["user_id"], "history": features["history_item_ids"],
            "history_event_type": features["history_event_types"],
            "history_time_gap": tf.cast(features["history_time_gaps"], tf.float32), "query": features["query"]}


def test_every_contract_signature_is_exported_with_its_names(exported):
    result, loaded = exported
    assert sorted(loaded.signatures) == sorted(SIGNATURES) == result.signatures
    for name, signature in SIGNATURES.items():
        function = loaded.signatures[name]
        assert set(function.structured_input_signature[1]) == set(signature.inputs)
        assert set(function.structured_outputs) == set(signature.outputs)
        for key, spec in function.structured_input_signature[1].items():
            assert spec.dtype.name == signature.inputs[key]


def test_signatures_equal_the_model_on_raw_features(exported, model_and_batch):
    _, loaded = exported
    model, _, (features, _, _) = model_and_batch
    expected = model(features, training=False)

    scored = loaded.signatures["serving_default"](**_user_inputs(features), candidates=features["item_id"][:, None])
    has_item = features["item_id"].numpy() != b""  # other rows have an empty, padding, candidate
    assert has_item.sum() > 10
    np.testing.assert_allclose(scored["ctr"][:, 0].numpy()[has_item], expected["ctr"].numpy()[has_item], atol=1e-5)
    np.testing.assert_allclose(scored["ctcvr"][:, 0].numpy()[has_item], expected["cvr"].numpy()[has_item], atol=1e-5)
    np.testing.assert_allclose(scored["ctr"] * scored["cvr"], scored["ctcvr"], atol=1e-6)

    user = loaded.signatures["user_embedding"](**_user_inputs(features))["embedding"]
    np.testing.assert_allclose(user, expected["next_item"], atol=1e-5)

    classified = loaded.signatures["classify_query"](query=features["query"])
    top = tf.math.top_k(expected["query_category"], k=classified["probabilities"].shape[1])
    np.testing.assert_allclose(classified["probabilities"], top.values, atol=1e-5)

    items = model.item_lookup(features["item_id"])
    np.testing.assert_allclose(loaded.signatures["item_embedding"](item_id=features["item_id"])["embedding"],
                               model.item_vectors(items, "next_item", training=False), atol=1e-5)


def test_retrieve_equals_the_model_ranking_the_whole_catalogue(exported, model_and_batch, tiny_prepared):
    _, loaded = exported
    model, _, (features, _, _) = model_and_batch
    inputs = {k: v[:16] for k, v in _user_inputs(features).items()}
    answer = loaded.signatures["retrieve"](**inputs)
    items = list(tiny_prepared.statistics.items)
    user = model(features, training=False)["next_item"][:16]
    scores = tf.matmul(user, model.item_vectors(tf.range(1, len(items) + 1, dtype=tf.int64), "next_item",
                                                training=False), transpose_b=True)  # (16, items)
    np.testing.assert_allclose(answer["scores"], tf.math.top_k(scores, k=20).values, atol=1e-5)
    rows = [[items.index(i.decode()) for i in row] for row in answer["item_ids"].numpy()]
    np.testing.assert_allclose(tf.gather(scores, rows, batch_dims=1), answer["scores"], atol=1e-5)


def _encoded(pixels: np.ndarray, image_format: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format, quality=90)
    return buffer.getvalue()


def test_image_signature_equals_the_model_on_images_that_need_resizing(exported, model_and_batch, tiny_prepared):
    _, loaded = exported
    model, catalogue, _ = model_and_batch
    size = catalogue.image.shape[1]
    rng = np.random.default_rng(3)
    # Not the training size: 100 wide and 80 high, 37 x 51, and one of the catalogue's own.
    photos = [np.kron(catalogue.image[1], np.ones((2, 2, 1), np.uint8))[:80, :100],
              rng.integers(0, 256, (51, 37, 3), dtype=np.uint8), catalogue.image[2]]
    images = [_encoded(photos[0], "PNG"), _encoded(photos[0], "JPEG"), _encoded(photos[1], "PNG"),
              _encoded(photos[2], "PNG")]
    answer = loaded.signatures["image_category"](image=tf.constant(images))
    pixels = tf.stack([preprocess_image(image, size) for image in images])  # (4, size, size, 3)
    np.testing.assert_array_equal(pixels[3], catalogue.image[2])  # the size already: left as it is
    probabilities = model.image_outputs(pixels, "image_category", training=False)  # (4, categories)
    top = tf.math.top_k(probabilities, k=answer["probabilities"].shape[1])
    np.testing.assert_allclose(answer["probabilities"], top.values, atol=1e-5)
    # Each returned category with the model's probability of it (robust to near ties in the order).
    classes = [[list(tiny_prepared.statistics.categories).index(c.decode()) for c in row]
               for row in answer["categories"].numpy()]
    np.testing.assert_allclose(tf.gather(probabilities, classes, batch_dims=1), answer["probabilities"], atol=1e-5)


def test_many_candidates_score_as_one_row_each(exported, model_and_batch):
    _, loaded = exported
    _, _, (features, _, _) = model_and_batch
    users = {k: v[:4] for k, v in _user_inputs(features).items()}
    candidates = tf.reshape(features["item_id"][:12], [4, 3])
    together = loaded.signatures["serving_default"](**users, candidates=candidates)
    for column in range(3):
        alone = loaded.signatures["serving_default"](**users, candidates=candidates[:, column:column + 1])
        for name in ("ctr", "cvr", "ctcvr"):
            np.testing.assert_allclose(together[name][:, column], alone[name][:, 0], atol=1e-5)


def test_retrieve_ranks_the_catalogue_by_the_dot_product(exported, model_and_batch):
    _, loaded = exported
    _, _, (features, _, _) = model_and_batch
    inputs = {k: v[:8] for k, v in _user_inputs(features).items()}
    answer = loaded.signatures["retrieve"](**inputs)
    assert answer["item_ids"].shape == (8, 20)
    assert np.all(np.diff(answer["scores"].numpy(), axis=1) <= 1e-6)
    user = loaded.signatures["user_embedding"](**inputs)["embedding"]
    top_vectors = loaded.signatures["item_embedding"](item_id=tf.reshape(answer["item_ids"], [-1]))["embedding"]
    dots = tf.reduce_sum(tf.reshape(top_vectors, [8, 20, -1]) * user[:, None, :], axis=-1)
    np.testing.assert_allclose(dots, answer["scores"], atol=1e-4)


def test_empty_unknown_and_over_long_inputs_are_answered(exported, tiny_config):
    _, loaded = exported
    length = tiny_config.data.history_length
    history = [f"h{i}" for i in range(length + 7)]
    gaps = [float(i) for i in range(length + 7)]
    inputs = {"user_id": tf.constant(["", "new-user"]),
              "history": tf.constant([[""] * (length + 7), history]),
              "history_event_type": tf.constant([[""] * (length + 7), ["click"] * (length + 7)]),
              "history_time_gap": tf.constant([[0.0] * (length + 7), gaps]),
              "query": tf.constant(["", "完全 unseen wörds " * 50])}
    scored = loaded.signatures["serving_default"](**inputs, candidates=tf.constant([["no-such-item", ""]] * 2))
    assert np.isfinite(scored["ctr"].numpy()).all()
    assert (scored["ctr"].numpy()[:, 1] == 0).all()  # padding candidates score 0
    no_query = dict(inputs, query=tf.constant(["", ""]))
    assert np.isfinite(loaded.signatures["user_embedding"](**no_query)["embedding"].numpy()).all()
    assert loaded.signatures["classify_query"](query=tf.constant(["", ""]))["categories"].shape[0] == 2
    # Only the most recent `history_length` events count.
    cut = dict(inputs, history=tf.constant([[""] * 7 + [""] * length, [""] * 7 + history[7:]]),
               history_time_gap=tf.constant([[0.0] * (length + 7), [0.0] * 7 + gaps[7:]]))
    np.testing.assert_allclose(loaded.signatures["user_embedding"](**cut)["embedding"],
                               loaded.signatures["user_embedding"](**inputs)["embedding"], atol=1e-6)


def test_an_empty_history_is_no_events_and_mismatched_lengths_are_named(exported):
    _, loaded = exported
    user = {"user_id": tf.constant(["u1", "u2"]), "query": tf.constant(["", "phone"])}
    empty = {"history": tf.zeros([2, 0], tf.string), "history_event_type": tf.zeros([2, 0], tf.string),
             "history_time_gap": tf.zeros([2, 0], tf.float32)}
    padding = {"history": tf.constant([[""], [""]]), "history_event_type": tf.constant([[""], [""]]),
               "history_time_gap": tf.constant([[0.0], [0.0]])}
    for name in ("user_embedding", "retrieve"):
        got, expected = loaded.signatures[name](**user, **empty), loaded.signatures[name](**user, **padding)
        for output in got:
            np.testing.assert_array_equal(got[output].numpy(), expected[output].numpy())
    scored = loaded.signatures["serving_default"](**user, **empty, candidates=tf.constant([["x"], ["y"]]))
    assert np.isfinite(scored["ctr"].numpy()).all()
    mismatched = dict(padding, history_event_type=tf.constant([["click", "click"], ["click", "click"]]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="history and history_event_type describe the same"):
        loaded.signatures["user_embedding"](**user, **mismatched)
    # Two users but one row of history: the second user is not dropped, the request fails naming the input.
    with pytest.raises(tf.errors.InvalidArgumentError, match="history has a different batch size"):
        loaded.signatures["user_embedding"](**user, **{k: v[:1] for k, v in padding.items()})
    with pytest.raises(tf.errors.InvalidArgumentError, match="query has a different batch size"):
        loaded.signatures["serving_default"](**dict(user, query=tf.constant(["x"])), **padding,
                                             candidates=tf.constant([["x"], ["y"]]))


def test_image_signature_decodes_png_and_jpeg(exported, model_and_batch):
    _, loaded = exported
    _, catalogue, _ = model_and_batch
    pixels = catalogue.image[1]
    images = tf.constant([tf.io.encode_png(pixels).numpy(), tf.io.encode_jpeg(pixels).numpy()])
    answer = loaded.signatures["image_category"](image=images)
    assert answer["categories"].shape == (2, answer["probabilities"].shape[1])
    assert np.all(answer["probabilities"].numpy() <= 1.0)


def test_the_contract_file_says_what_the_export_serves(exported, tiny_config, tiny_prepared):
    result, loaded = exported
    assert (result.path / CONTRACT_FILE).is_file()
    contract = read_contract(result.path)
    assert contract.to_json() == result.contract.to_json()
    assert sorted(contract.signatures) == sorted(loaded.signatures)
    for name, function in loaded.signatures.items():
        saved = {key: {"dtype": spec.dtype.name, "shape": [-1 if d is None else d for d in spec.shape]}
                 for key, spec in function.structured_input_signature[1].items()}
        assert contract.signatures[name]["inputs"] == saved
        assert set(contract.signatures[name]["outputs"]) == set(function.structured_outputs)
    assert contract.signatures["retrieve"]["outputs"]["item_ids"] == {"dtype": "string", "shape": [-1, 20]}
    assert contract.signatures["serving_default"]["tasks"] == ["ctr", "cvr"]
    assert contract.signatures["image_category"]["tasks"] == ["image_category"]
    # The model's own event-type vocabulary: "add_to_cart", never the "cart" that README once said.
    assert contract.enumerations == {"history_event_type": tiny_prepared.statistics.event_types}
    assert "add_to_cart" in contract.enumerations["history_event_type"]
    assert (contract.history_length, contract.top_k) == (tiny_config.data.history_length, 20)


RENAMED = {"query_category": "query_topic", "ctr": "click", "cvr": "buy", "next_item": "next",
           "image_category": "picture"}


def test_renamed_tasks_keep_every_signature_and_its_outputs(tmp_path, tiny_config, tiny_prepared, model_and_batch):
    _, catalogue, batch = model_and_batch
    tasks = tuple(dataclasses.replace(t, name=RENAMED[t.name], parent=RENAMED.get(t.parent))
                  for t in tiny_config.tasks)
    model = build_model(dataclasses.replace(tiny_config, tasks=tasks), tiny_prepared.statistics, catalogue)
    model.build_from_batch(batch)
    result = export_model(model, tiny_prepared.statistics, catalogue, tiny_config.data.history_length,
                          tmp_path / "export", target="core", top_k=20)
    assert result.signatures == sorted(SIGNATURES)
    served = {name: signature["tasks"] for name, signature in read_contract(result.path).signatures.items()}
    assert served == {"serving_default": ["click", "buy"], "retrieve": ["next"], "user_embedding": ["next"],
                      "item_embedding": ["next"], "classify_query": ["query_topic"], "image_category": ["picture"]}

    loaded = tf.saved_model.load(str(result.path))
    features, _, _ = batch
    expected = model(features, training=False)
    scored = loaded.signatures["serving_default"](**_user_inputs(features), candidates=features["item_id"][:, None])
    has_item = features["item_id"].numpy() != b""
    np.testing.assert_allclose(scored["ctr"][:, 0].numpy()[has_item], expected["click"].numpy()[has_item], atol=1e-5)
    np.testing.assert_allclose(scored["ctcvr"][:, 0].numpy()[has_item], expected["buy"].numpy()[has_item], atol=1e-5)
    np.testing.assert_allclose(loaded.signatures["user_embedding"](**_user_inputs(features))["embedding"],
                               expected["next"], atol=1e-5)
    classified = loaded.signatures["classify_query"](query=features["query"])
    np.testing.assert_allclose(classified["probabilities"][:, 0], tf.reduce_max(expected["query_topic"], 1),
                               atol=1e-5)


def test_a_next_item_model_without_titles_or_images_exports_and_retrieves(tmp_path, tiny_config, tiny_prepared,
                                                                          model_and_batch):
    from mtrec_tf.config import select_tasks

    items = tiny_prepared.data.items.assign(title="", image=None)
    catalogue = build_catalogue(items, tiny_prepared.statistics, tiny_config.model.max_title_tokens)
    config = select_tasks(tiny_config, ["next_item"])
    model = build_model(config, tiny_prepared.statistics, catalogue)
    _, _, batch = model_and_batch
    model.build_from_batch(batch)
    assert not model.uses_titles and not model.uses_images
    result = export_model(model, tiny_prepared.statistics, catalogue, config.data.history_length,
                          tmp_path / "export", target="core", top_k=20)
    assert result.signatures == ["item_embedding", "retrieve", "user_embedding"]
    loaded = tf.saved_model.load(str(result.path))
    # No image array or image encoder in the export: the image encodings are (rows, 0).
    shapes = [tuple(shape) for _, shape in tf.train.list_variables(str(result.path / "variables" / "variables"))]
    assert (catalogue.size, 0) in shapes and not [shape for shape in shapes if len(shape) == 4]

    features, _, _ = batch
    inputs = {k: v[:16] for k, v in _user_inputs(features).items()}
    answer = loaded.signatures["retrieve"](**inputs)
    user = model(features, training=False)["next_item"][:16]
    vectors = model.item_vectors(tf.range(1, catalogue.size, dtype=tf.int64), "next_item", training=False)
    scores = tf.matmul(user, vectors, transpose_b=True)  # (16, items)
    np.testing.assert_allclose(answer["scores"], tf.math.top_k(scores, k=20).values, atol=1e-5)


def test_versions_appear_whole_and_never_overwrite(exported, tiny_config, tiny_prepared, model_and_batch):
    result, _ = exported
    model, catalogue, _ = model_and_batch
    base = result.path.parent
    assert [p.name for p in base.iterdir()] == ["1"]  # no staging directory is left behind
    with pytest.raises(FileExistsError):
        export_model(model, tiny_prepared.statistics, catalogue, tiny_config.data.history_length, base.parent,
                     version=1)


def test_an_export_removes_the_staging_folders_interrupted_exports_left(tmp_path, tiny_config, tiny_prepared,
                                                                         model_and_batch):
    import time

    from mtrec_tf.export.staging import STALE_SECONDS, host_id, staging_name

    model, catalogue, _ = model_and_batch
    root = tmp_path / "export"
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    left = [root / "mtrec" / f".1-{host_id()}-{killed.pid}-0123abcd", root / "mtrec" / ".1-d6711e56"]
    kept = [root / "mtrec" / staging_name(2), root / "other" / ".1-d6711e56", root / "mtrec" / ".notes"]
    for folder in left + kept:
        folder.mkdir(parents=True)
    an_hour_ago = time.time() - STALE_SECONDS - 60
    for folder in (left[1], kept[1]):
        os.utime(folder, (an_hour_ago, an_hour_ago))
    export_model(model, tiny_prepared.statistics, catalogue, tiny_config.data.history_length, root,
                 target="core", top_k=20)
    assert sorted(p.name for p in (root / "mtrec").iterdir()) == sorted(["1", kept[0].name, ".notes"])
    assert kept[1].is_dir()  # another model's folder is not this export's to clean


def test_warmup_holds_one_request_per_signature(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    result, _ = exported
    logs = []
    for record in tf.data.TFRecordDataset(str(result.path / WARMUP_FILE)):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log.predict_log.request)
    assert sorted(r.model_spec.signature_name for r in logs) == sorted(SIGNATURES)
    for request in logs:
        assert set(request.inputs) == set(SIGNATURES[request.model_spec.signature_name].inputs)


def test_serving_config_names_the_model_and_its_base_path(exported):
    result, _ = exported
    serving = result.path.parents[2] / "serving"
    config = (serving / "models.config").read_text()
    assert 'name: "mtrec"' in config and 'base_path: "/models/mtrec"' in config
    assert "max_batch_size" in (serving / "batching.config").read_text()
    assert "--enable_batching=true" in (serving / "run_tfserving.sh").read_text()


def test_core_export_answers_in_a_process_without_tensorflow_text(exported):
    result, _ = exported
    script = textwrap.dedent(f"""
        import sys
        import tensorflow as tf
        model = tf.saved_model.load({str(result.path)!r})
        answer = model.signatures["classify_query"](query=tf.constant(["手机 phone"]))
        assert answer["categories"].shape[0] == 1
        assert "tensorflow_text" not in sys.modules, "tensorflow_text was imported"
        print("ok")
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def test_audit_rejects_tf_text_ops_for_core_only(tmp_path):
    # Written in another process, so this one never imports tensorflow_text.
    script = textwrap.dedent(f"""
        import tensorflow as tf
        import tensorflow_text as text
        module = tf.Module()
        module.normalize = tf.function(lambda s: {{"text": text.normalize_utf8(s, "NFKC")}},
                                       input_signature=[tf.TensorSpec([None], tf.string)])
        tf.saved_model.save(module, {str(tmp_path)!r}, signatures={{"serving_default": module.normalize}})
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_USE_LEGACY_KERAS="1")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "NormalizeUTF8" in saved_model_op_types(tmp_path)
    with pytest.raises(OpAuditError, match="NormalizeUTF8"):
        check_saved_model(tmp_path, "core")
    assert "NormalizeUTF8" in check_saved_model(tmp_path, "tfserving")


def test_audit_finds_ops_that_only_occur_inside_library_functions(exported):
    result, _ = exported
    ops = saved_model_op_types(result.path)
    # The tokenizer's ops live inside the signature functions, not in the top-level graph.
    assert {"StaticRegexReplace", "StringSplitV2", "StringNGrams"} <= ops


def test_a_transformer_history_encoder_serves_like_the_model(tmp_path, tiny_config, tiny_prepared, model_and_batch):
    # (tests/models/test_multitask.py trains a step of it.)
    _, catalogue, batch = model_and_batch
    config = dataclasses.replace(tiny_config, model=dataclasses.replace(tiny_config.model,
                                                                        history_encoder="transformer"))
    model = build_model(config, tiny_prepared.statistics, catalogue)
    model.build_from_batch(batch)
    features, _, _ = batch
    result = export_model(model, tiny_prepared.statistics, catalogue, tiny_config.data.history_length,
                          tmp_path / "export", target="core", top_k=20)
    loaded = tf.saved_model.load(str(result.path))
    expected = model(features, training=False)
    scored = loaded.signatures["serving_default"](**_user_inputs(features), candidates=features["item_id"][:, None])
    has_item = features["item_id"].numpy() != b""
    np.testing.assert_allclose(scored["ctr"][:, 0].numpy()[has_item], expected["ctr"].numpy()[has_item], atol=1e-5)
    inputs = _user_inputs(features)
    np.testing.assert_allclose(loaded.signatures["user_embedding"](**inputs)["embedding"], expected["next_item"],
                               atol=1e-5)
    # A history longer than the position table is cut to its most recent events by the export.
    older = {"history": tf.concat([tf.fill([N, 3], features["item_id"][0]), inputs["history"]], axis=1),
             "history_event_type": tf.concat([tf.fill([N, 3], "click"), inputs["history_event_type"]], axis=1),
             "history_time_gap": tf.concat([tf.fill([N, 3], 60.0), inputs["history_time_gap"]], axis=1)}
    full = inputs["history"].numpy() != b""
    rows = full.sum(axis=1) == tiny_config.data.history_length  # full rows only: they drop the older events
    assert rows.any()
    served = loaded.signatures["user_embedding"](**{**inputs, **older})["embedding"].numpy()
    np.testing.assert_allclose(served[rows], expected["next_item"].numpy()[rows], atol=1e-5)
