"""`assets.extra/tf_serving_warmup_requests`: one PredictRequest per signature, which TF
Serving replays at load so the first user request does not pay for tracing (300 to 900 ms)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtrec_tf.backend import tf
from mtrec_tf.io_utils import as_path, join, makedirs, parent
from serving.contract import SIGNATURES, feature_inputs

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"


def example_inputs(signature: str, item_ids: list[str], image_png: bytes, batch: int = 2,
                   features: Mapping[str, Mapping[str, Any]] | None = None,
                   behaviour: Sequence[str] = ("click", "purchase"),
                   search: str | None = None) -> dict[str, np.ndarray]:
    """Plausible inputs of `signature` for `batch` requests, from real catalogue items and
    `behaviour` event types (with a `search` type, the oldest history step is a past search,
    as the text path of a model with searches in the history needs), with the feature inputs it takes
    (`serving.contract.Contract.features`): a known value of each categorical feature, and a
    missing one of each numeric feature."""
    items = (list(item_ids) or ["unknown-item"]) * 3
    values = {
        "user_id": np.array(["warmup-user"] * batch, dtype=object),
        "history": np.array([["手机 phone" if search else items[0], *items[1:3]]] * batch, dtype=object),
        "history_event_type": np.array([[search or behaviour[0], behaviour[0], behaviour[-1]]] * batch, dtype=object),
        "history_time_gap": np.array([[3600.0, 600.0, 60.0]] * batch, dtype=np.float32),
        "query": np.array(["手机 phone"] * batch, dtype=object),
        "candidates": np.array([items[:5]] * batch, dtype=object),
        "item_id": np.array(items[:batch], dtype=object),
        "image": np.array([image_png] * batch, dtype=object),
    }
    inputs = {name: values[name] for name in SIGNATURES[signature].inputs}
    features = features or {}
    for name in feature_inputs(signature, features):
        info = features[name]
        if info["dtype"] == "float32":
            inputs[name] = np.full(batch, np.nan, dtype=np.float32)
        else:
            value = (info.get("values") or [""])[0]
            inputs[name] = np.array([[value]] * batch if info["kind"] == "multi_categorical" else [value] * batch,
                                    dtype=object)
    return inputs


def write_warmup_requests(export_dir: str | os.PathLike, model_name: str, signatures: list[str],
                          item_ids: list[str], image_png: bytes,
                          features: Mapping[str, Mapping[str, Any]] | None = None,
                          behaviour: Sequence[str] = ("click", "purchase"), search: str | None = None) -> Path | str:
    """Writes one `PredictionLog` per signature into the export; returns the file."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path = join(export_dir, WARMUP_FILE.as_posix())
    makedirs(parent(path))
    with tf.io.TFRecordWriter(path) as writer:
        for name in signatures:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=name))
            for key, value in example_inputs(name, item_ids, image_png, features=features,
                                             behaviour=behaviour, search=search).items():
                dtype = tf.float32 if value.dtype == np.float32 else tf.string
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return as_path(path)
