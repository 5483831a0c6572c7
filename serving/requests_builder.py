"""Columnar request inputs and answer parsing shared by the REST and gRPC clients.

Pure Python (no TensorFlow, no NumPy): inputs are nested lists tagged with the contract's dtype
(`TensorValue`); each transport encodes them for its wire. Every batch is rectangular: histories
and candidate lists are padded at the end with "" (item ids, event types) and 0.0 (time gaps),
at least to length 1, because the server rejects ragged rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from serving.client_errors import ServingError
from serving.contract import DEFAULT_EVENT_TYPE, SIGNATURES

HistoryEvent = str | tuple[str, str, float]
"""An item id (a click, no time gap) or `(item_id, event_type, seconds_ago)`."""

PADDING = ""


@dataclasses.dataclass(frozen=True)
class UserRequest:
    """One user of a batch request.

    Args:
        user_id: the user's id; unknown users are fine.
        history: item ids, or `(item_id, event_type, seconds_ago)` tuples, most recent last.
        query: the text of the current search, "" when there is none.
        features: the export's user and context features (the shop's own, `features:` of
            its configuration) by name: a string (categorical), a list of strings
            (multi-categorical) or a number (numeric); None when the value is not known.
    """

    user_id: str
    history: Sequence[HistoryEvent] = ()
    query: str = ""
    features: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TensorValue:
    """A rectangular input: nested lists of Python values and a contract dtype name
    ("string", "float32", "int64", "bool"). Strings are `str`, or `bytes` for binary values."""

    dtype: str
    values: list


def decode_utf8(values: Any) -> Any:
    """Nested lists with each `bytes` value decoded from UTF-8 where it is valid UTF-8."""
    if isinstance(values, list):
        return [decode_utf8(v) for v in values]
    if isinstance(values, bytes):
        try:
            return values.decode("utf-8")
        except UnicodeDecodeError:
            return values
    return values


def infer_dtype(values: Any) -> str:
    """The dtype name of nested lists by their first scalar: int64 for ints (never int32), float32
    for floats, string for str and bytes."""
    while isinstance(values, (list, tuple)):
        if not values:
            return "string"
        values = values[0]
    if isinstance(values, bool):
        return "bool"
    if isinstance(values, int):
        return "int64"
    if isinstance(values, float):
        return "float32"
    if isinstance(values, (str, bytes)):
        return "string"
    raise TypeError(f"cannot send a value of type {type(values).__name__}: {values!r}")


def shape_of(values: Any) -> list[int]:
    """The shape of rectangular nested lists (`[]` for a scalar); ValueError for ragged rows."""
    if not isinstance(values, list):
        return []
    shapes = {tuple(shape_of(v)) for v in values}
    if len(shapes) > 1:
        raise ValueError(f"ragged rows (the server rejects them), shapes {sorted(shapes)}: {values!r:.200}")
    return [len(values), *(shapes.pop() if shapes else ())]


def as_inputs(signature: str, inputs: Mapping[str, Any]) -> dict[str, TensorValue]:
    """`inputs` as `TensorValue`s: the contract's dtype for a contract input, else inferred."""
    known = SIGNATURES[signature].inputs if signature in SIGNATURES else {}
    return {name: value if isinstance(value, TensorValue)
            else TensorValue(known.get(name) or infer_dtype(value), _as_list(value))
            for name, value in inputs.items()}


def _as_list(value: Any) -> list:
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # a NumPy array
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"an input must be a list (a batch), not {type(value).__name__}: {value!r}")
    return [_as_list(v) if isinstance(v, (list, tuple)) else v for v in value]


def _check_batch(values: Any, what: str, kind: type | tuple[type, ...]) -> list:
    """`values` as a list, refusing a lone string where a batch of them was meant."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{what} must be a sequence (a batch), not {type(values).__name__}: {values!r}")
    values = list(values)
    for value in values:
        if not isinstance(value, kind):
            raise TypeError(f"{what} must hold {getattr(kind, '__name__', kind)}, got {value!r}")
    return values


def normalize_history(history: Sequence[HistoryEvent]) -> list[tuple[str, str, float]]:
    """`(item_id, event_type, seconds_ago)` for each event: bare ids are clicks with no gap."""
    if isinstance(history, (str, bytes)):
        raise TypeError(f"history must be a sequence of item ids or tuples, not a string: {history!r}")
    events = []
    for event in history:
        if isinstance(event, str):
            event = (event, DEFAULT_EVENT_TYPE, 0.0)
        elif not (isinstance(event, (tuple, list)) and len(event) == 3 and isinstance(event[0], str)
                  and isinstance(event[1], str) and isinstance(event[2], (int, float))):
            raise TypeError(f"a history event is an item id or (item_id, event_type, seconds_ago), "
                            f"got {event!r}")
        if not event[0]:
            raise ValueError(f'"" is padding, not an item id: history {list(history)!r}')
        events.append((event[0], event[1], float(event[2])))
    return events


def as_user(user: UserRequest | str) -> UserRequest:
    """A `UserRequest` for a request or a bare user id."""
    if isinstance(user, str):
        return UserRequest(user)
    if not isinstance(user, UserRequest):
        raise TypeError(f"expected a UserRequest or a user id, got {user!r}")
    return user


def user_inputs(users: Sequence[UserRequest | str]) -> dict[str, TensorValue]:
    """The user features of a batch (`user_id`, the history triple, `query`), histories padded."""
    requests = [as_user(u) for u in _check_batch(users, "users", (UserRequest, str))]
    histories = [normalize_history(u.history) for u in requests]
    for user in requests:
        if not isinstance(user.query, str):
            raise TypeError(f"query must be a string, got {user.query!r}")
    length = max([1] + [len(h) for h in histories])
    pad = (PADDING, PADDING, 0.0)
    rows = [h + [pad] * (length - len(h)) for h in histories]  # (batch, length) of triples
    return {
        "user_id": TensorValue("string", [u.user_id for u in requests]),
        "history": TensorValue("string", [[e[0] for e in row] for row in rows]),
        "history_event_type": TensorValue("string", [[e[1] for e in row] for row in rows]),
        "history_time_gap": TensorValue("float32", [[e[2] for e in row] for row in rows]),
        "query": TensorValue("string", [u.query for u in requests]),
    }


def feature_names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The feature names given in any of `rows`, in order of first appearance."""
    for row in rows:
        if not isinstance(row, Mapping):
            raise TypeError(f"features must be a mapping of feature name to value, got {row!r}")
    return list(dict.fromkeys(name for row in rows for name in row))


def feature_inputs(rows: Sequence[Mapping[str, Any]], names: Sequence[str],
                   described: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, TensorValue]:
    """One input per feature of `names` from each row's values (a row without a value, or with
    None, is missing: "" or NaN), typed by the contract's description (`described`) where
    known, else by the values: strings, lists of strings (padded with ""), or numbers."""
    inputs = {}
    for name in names:
        values = [row.get(name) for row in rows]
        info = (described or {}).get(name)
        kind = info["kind"] if info else _feature_kind(name, values)
        if kind == "numeric":
            column: list = [_number(name, v) for v in values]
            inputs[name] = TensorValue("float32", column)
        elif kind == "multi_categorical":
            lists = [_strings(name, v) for v in values]
            length = max([1] + [len(v) for v in lists])
            inputs[name] = TensorValue("string", [v + [PADDING] * (length - len(v)) for v in lists])
        else:
            inputs[name] = TensorValue("string", [_string(name, v) for v in values])
    return inputs


def _feature_kind(name: str, values: Sequence[Any]) -> str:
    given = [v for v in values if v is not None]
    if given and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given):
        return "numeric"
    if given and all(isinstance(v, (list, tuple)) for v in given):
        return "multi_categorical"
    return "categorical"


def _number(name: str, value: Any) -> float:
    if value is None:
        return float("nan")  # FEATURE_MISSING["float32"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"feature {name!r} is numeric: give a number or None, not {value!r}")
    return float(value)


def _string(name: str, value: Any) -> str:
    if value is None:
        return PADDING
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"feature {name!r} is categorical: give a string or None, not {value!r}")
    return str(value)


def _strings(name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"feature {name!r} is multi-categorical: give a list of strings or None, not {value!r}")
    return [_string(name, v) for v in value if v is not None and v != PADDING]


def candidate_inputs(candidates: Sequence[Sequence[str]]) -> TensorValue:
    """Candidate item ids per user, padded with "" to the longest list (at least 1)."""
    lists = [_check_batch(c, "candidates", str) for c in _check_batch(candidates, "candidates", Sequence)]
    for items in lists:
        if PADDING in items:
            raise ValueError(f'"" is padding, not an item id: candidates {items!r}')
    length = max([1] + [len(c) for c in lists])
    return TensorValue("string", [c + [PADDING] * (length - len(c)) for c in lists])


def strings_input(values: Sequence[str], what: str) -> TensorValue:
    """A batch of strings."""
    return TensorValue("string", _check_batch(values, what, str))


def bytes_input(values: Sequence[bytes], what: str) -> TensorValue:
    """A batch of binary strings (sent as `{"b64": ...}` over REST)."""
    return TensorValue("string", [bytes(v) for v in _check_batch(values, what, (bytes, bytearray))])


# --- answers ---------------------------------------------------------------------------------

def check_outputs(outputs: Mapping[str, Any], signature: str, batch: int) -> None:
    """Raises ServingError when the answer lacks a contract output or has another batch size."""
    for name in SIGNATURES[signature].outputs if signature in SIGNATURES else ():
        if name not in outputs:
            raise ServingError(f"the answer of {signature!r} has no output {name!r}: it has "
                               f"{sorted(outputs)}", code="INTERNAL")
    for name, value in outputs.items():
        if not isinstance(value, list) or len(value) != batch:
            raise ServingError(f"output {name!r} of {signature!r} does not hold {batch} rows",
                               code="INTERNAL")


def parse_recommendations(outputs: Mapping[str, list], k: int) -> list[list[tuple[str, float]]]:
    """The top `k` `(item_id, score)` of each user; `k` must not exceed the export's K."""
    top_k = len(outputs["item_ids"][0]) if outputs["item_ids"] else k
    if k > top_k:
        raise ValueError(f"k={k} is more than the {top_k} items the model's retrieve signature "
                         "returns (the export's K)")
    return [[(item, float(score)) for item, score in zip(items[:k], scores[:k]) if item != PADDING]
            for items, scores in zip(outputs["item_ids"], outputs["scores"])]


def parse_scores(outputs: Mapping[str, list], candidates: Sequence[Sequence[str]]) -> list[list[dict]]:
    """`{"item_id", "ctr", "cvr", "ctcvr"}` for each candidate of each user, padding cut off."""
    return [[{"item_id": item, "ctr": float(ctr[j]), "cvr": float(cvr[j]), "ctcvr": float(ctcvr[j])}
             for j, item in enumerate(items)]
            for items, ctr, cvr, ctcvr in zip(candidates, outputs["ctr"], outputs["cvr"], outputs["ctcvr"])]


def parse_categories(outputs: Mapping[str, list]) -> list[list[tuple[str, float]]]:
    """`(category, probability)` of each row, best first."""
    return [[(category, float(p)) for category, p in zip(categories, probabilities) if category != PADDING]
            for categories, probabilities in zip(outputs["categories"], outputs["probabilities"])]


def parse_embeddings(outputs: Mapping[str, list]) -> list[list[float]]:
    """The `embedding` of each row as floats."""
    return [[float(x) for x in row] for row in outputs["embedding"]]


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """The state of one model version, as `GET /v1/models/<name>` and GetModelStatus report it."""

    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""

    @property
    def available(self) -> bool:
        return self.state == "AVAILABLE"


def parse_status(answer: Mapping[str, Any]) -> list[VersionStatus]:
    """Version states from TF Serving's model status JSON, newest version first."""
    states = []
    for entry in answer.get("model_version_status", []):
        status = entry.get("status") or {}
        states.append(VersionStatus(int(entry.get("version", 0)), str(entry.get("state", "UNKNOWN")),
                                    str(status.get("error_code", "OK")), str(status.get("error_message", ""))))
    return sorted(states, key=lambda s: -s.version)


_DTYPE_NAMES = {"DT_STRING": "string", "DT_FLOAT": "float32", "DT_DOUBLE": "float64",
                "DT_INT64": "int64", "DT_INT32": "int32", "DT_BOOL": "bool"}


def _tensor_info(info: Mapping[str, Any]) -> dict[str, Any]:
    dtype = str(info.get("dtype", "DT_INVALID"))
    shape = info.get("tensor_shape") or {}
    dims = None if shape.get("unknown_rank") else [int(d.get("size", 0)) for d in shape.get("dim", [])]
    return {"dtype": _DTYPE_NAMES.get(dtype, dtype.removeprefix("DT_").lower()), "shape": dims}


def parse_metadata(model_spec: Mapping[str, Any], signature_def_map: Mapping[str, Any]) -> dict[str, Any]:
    """Signature metadata from TF Serving's JSON (a `ModelSpec` and a `SignatureDefMap`).

    Returns:
        `{"name", "version", "signatures": {name: {"inputs": {name: {"dtype", "shape"}},
        "outputs": {...}, "method_name"}}}` with contract dtype names ("string", "float32", ...),
        -1 for unknown dimensions, and None as the shape of unknown rank. Internal signatures
        (`__saved_model_init_op`) are left out.
    """
    signatures = {}
    for name, signature in (signature_def_map.get("signature_def") or {}).items():
        if name.startswith("__"):
            continue
        signatures[name] = {
            "inputs": {k: _tensor_info(v) for k, v in (signature.get("inputs") or {}).items()},
            "outputs": {k: _tensor_info(v) for k, v in (signature.get("outputs") or {}).items()},
            "method_name": signature.get("method_name", ""),
        }
    version = model_spec.get("version")
    if isinstance(version, Mapping):  # an Int64Value printed as a message
        version = version.get("value")
    return {"name": model_spec.get("name", ""), "version": int(version) if version not in (None, "") else None,
            "signatures": signatures}
