"""The contract file of an export (`assets.extra/contract.json`), from what was saved.

The inputs and outputs are read back from the SavedModel's own SignatureDefs, so the file
says what TF Serving will serve; `serving.contract` checks the names and writes it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from mtrec_tf.io_utils import join, read_bytes, write_text_atomic
from serving.contract import Contract, make_contract, write_contract

SERVE_TAG = "serve"


def saved_signatures(export_dir: str | os.PathLike) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """Signature name -> `{"inputs": {name: {"dtype", "shape"}}, "outputs": {...}}` of a SavedModel's
    serving graph, internal ones (`__saved_model_init_op`) left out; dtypes named as TensorFlow
    names them ("string", "float32"), -1 for a size that is not fixed, None as the shape of
    unknown rank."""
    from mtrec_tf.backend import tf  # first: it loads TensorFlow with its native logs filtered

    # isort: split
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(read_bytes(join(export_dir, "saved_model.pb")))
    graph = next(g for g in saved_model.meta_graphs if SERVE_TAG in g.meta_info_def.tags)

    def info(tensor: Any) -> dict[str, Any]:
        shape = tensor.tensor_shape
        return {"dtype": tf.dtypes.as_dtype(tensor.dtype).name,
                "shape": None if shape.unknown_rank else [int(d.size) for d in shape.dim]}

    return {name: {"inputs": {key: info(value) for key, value in signature.inputs.items()},
                   "outputs": {key: info(value) for key, value in signature.outputs.items()}}
            for name, signature in graph.signature_def.items() if not name.startswith("__")}


def write_export_contract(export_dir: str | os.PathLike, tasks: Mapping[str, Sequence[str]],
                          event_roles: Mapping[str, Sequence[str]], history_length: int, top_k: int | None,
                          features: Mapping[str, Mapping[str, Any]] | None = None,
                          history_searches: bool = False) -> Contract:
    """Writes `export_dir/assets.extra/contract.json` for the SavedModel saved there.

    Args:
        export_dir: the (staging) version folder, holding `saved_model.pb`.
        tasks: signature name -> the model tasks it serves.
        event_roles: the model's event types and their roles (`data.event_types`):
            `history_event_type` accepts these types.
        history_length: the export's history cut.
        top_k: the items `retrieve` returns; None without `retrieve`.
        features: the user and context features the signatures take (`Contract.features`).
        history_searches: whether history steps may be past searches (`Contract`).

    Returns:
        The contract written.
    """
    contract = make_contract(saved_signatures(export_dir), tasks, {"history_event_type": list(event_roles)},
                             history_length, top_k, features, event_roles, history_searches)
    write_contract(export_dir, contract, write_text_atomic)
    return contract
