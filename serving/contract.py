"""The serving contract: signature, input and output names of an exported mtrec-tf model, and
what one export accepts.

Pure Python, so the client, the development server, the exporter and the tests read the
same names. Every input is a batch: its first dimension is the number of requests.

Inputs (the same name means the same thing in every signature):
    user_id             string  (batch,)          unknown users are fine
    history             string  (batch, length)   item ids, most recent last, "" padding; a past
                                                  search's query text where the model takes
                                                  searches (the contract's `history_searches`)
    history_event_type  string  (batch, length)   "click", "add_to_cart", "purchase", ... beside
                                                  `history`: the export's `enumerations` list
                                                  them, its `event_roles` say their roles
    history_time_gap    float32 (batch, length)   seconds from each history event to the request
    query               string  (batch,)          "" when there is no search
    candidates          string  (batch, n)        item ids to score, "" padding
    item_id             string  (batch,)
    image               string  (batch,)          encoded PNG or JPEG bytes (`{"b64": ...}` over REST)

A model trained with features of the shop's own (the configuration's `features:`) takes
each user and context feature as one more input, named by the feature: the signatures
with `user_id` take the user features, those with `query` the context features
(`feature_inputs`). A categorical feature is a string (batch,) ("" when missing), a
multi-categorical one a string (batch, n) padded with "", a numeric one float32 (batch,)
(NaN when missing). The contract's `features` describe them.

`SIGNATURES` holds the names every export uses. Which of them one export has, with its
dtypes, shapes and the accepted values of enumerated inputs, is its `Contract`: the exporter
writes it into the version folder (`CONTRACT_FILE`) with `write_contract`, the development
server serves it in its metadata answer, and the clients read it (`read_contract`) to refuse
values the model does not know before sending them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT_MODEL_NAME = "mtrec"
DEFAULT_EVENT_TYPE = "click"
"""The event type of a history given as bare item ids."""


@dataclasses.dataclass(frozen=True)
class Signature:
    """One serving signature: its input names with dtypes, and its output names."""

    name: str
    inputs: dict[str, str]
    outputs: tuple[str, ...]
    doc: str


_USER = {"user_id": "string", "history": "string", "history_event_type": "string",
         "history_time_gap": "float32", "query": "string"}

SIGNATURES: dict[str, Signature] = {s.name: s for s in (
    Signature("serving_default", {**_USER, "candidates": "string"}, ("ctr", "cvr", "ctcvr"),
              "probabilities (batch, n) of a click, of a purchase after a click, and of both"),
    Signature("retrieve", dict(_USER), ("item_ids", "scores"),
              "the top-K items (batch, K) of the whole catalogue and their scores"),
    Signature("classify_query", {"query": "string"}, ("categories", "probabilities"),
              "the top categories (batch, K) of each query and their probabilities"),
    Signature("image_category", {"image": "string"}, ("categories", "probabilities"),
              "the top categories (batch, K) of each image and their probabilities"),
    Signature("item_embedding", {"item_id": "string"}, ("embedding",),
              "the item tower's retrieval vector (batch, dim)"),
    Signature("user_embedding", dict(_USER), ("embedding",),
              "the user tower's retrieval vector (batch, dim)"),
)}

HISTORY_INPUTS = ("history", "history_event_type", "history_time_gap")
LIST_INPUTS = (*HISTORY_INPUTS, "candidates")  # shape (batch, n); every other input is (batch,)
PADDING = ""

ENUMERATED_INPUTS = {"history_event_type": "event types"}
"""Inputs whose values a model knows from a fixed vocabulary, and what messages call them."""

CONTRACT_FILE = "assets.extra/contract.json"
"""Where an export keeps its contract, relative to the version folder."""

CONTRACT_FORMAT = 1

CONTRACT_METADATA_FIELD = "contract"
"""The development server's metadata key of the contract: beside `metadata` in the REST answer,
a `metadata_field` of gRPC GetModelMetadata (a JSON `google.protobuf.StringValue`)."""


def input_shape(name: str) -> list[None]:
    """The shape of an input, with unknown sizes as None."""
    return [None, None] if name in LIST_INPUTS else [None]


FEATURE_DTYPES = {"categorical": "string", "multi_categorical": "string", "numeric": "float32"}
FEATURE_MISSING = {"string": "", "float32": float("nan")}
"""The value that stands for a missing feature value, by dtype."""


def feature_shape(kind: str) -> list[None]:
    """The shape of a feature input of `kind`, with unknown sizes as None."""
    return [None, None] if kind == "multi_categorical" else [None]


def feature_inputs(signature: str, features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The features (name -> `{"side", ...}`) that `signature` takes as inputs: user features
    where it takes `user_id`, context features where it takes `query`."""
    inputs = SIGNATURES[signature].inputs
    return [name for name, info in features.items()
            if (info["side"] == "user" and "user_id" in inputs) or (info["side"] == "context" and "query" in inputs)]


@dataclasses.dataclass(frozen=True)
class Contract:
    """What one export serves: its signatures and the values its enumerated inputs accept.

    Args:
        signatures: signature name -> `{"inputs": {name: {"dtype", "shape"}}, "outputs":
            {...}, "tasks": [...], "doc": str}`; shapes hold -1 for a size that is not fixed.
        enumerations: input name -> the values the model knows (padding, "", is always fine).
        history_length: histories are cut to their most recent `history_length` events.
        top_k: the items `retrieve` returns.
        source: where the contract was read, for messages.
        features: the shop's own features the export takes, by name: `{"side": "user" |
            "context", "kind", "dtype", "shape", "values": [...]}` (`values`: the vocabulary of a
            categorical feature, for reference: other values are fine and share one row).
        event_roles: each event type the model knows -> its roles (`data.event_types`): the
            `behaviour` types are the history's item steps.
        history_searches: whether a history step may be a past search (its query text in
            `history`, the search type in `history_event_type`): the model was trained
            with `data.history_includes_searches`.
    """

    signatures: Mapping[str, Mapping[str, Any]]
    enumerations: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    history_length: int | None = None
    top_k: int | None = None
    source: str = ""
    features: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    event_roles: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    history_searches: bool = False

    def event_types_playing(self, role: str) -> list[str]:
        """The event types with `role` (`behaviour`, `search`, ...), in declared order."""
        return [name for name, roles in self.event_roles.items() if role in roles]

    def to_json(self) -> dict[str, Any]:
        """The contract as the JSON object of `CONTRACT_FILE`."""
        return {"format": CONTRACT_FORMAT, "history_length": self.history_length, "top_k": self.top_k,
                "signatures": {name: dict(value) for name, value in self.signatures.items()},
                "enumerations": {name: list(values) for name, values in self.enumerations.items()},
                "features": {name: dict(value) for name, value in self.features.items()},
                "event_roles": {name: list(roles) for name, roles in self.event_roles.items()},
                "history_searches": self.history_searches}

    def feature_inputs(self, signature: str) -> list[str]:
        """The feature inputs `signature` takes in this export."""
        return feature_inputs(signature, self.features) if signature in SIGNATURES else []

    def check_features(self, signature: str, given: Sequence[str]) -> None:
        """Raises ValueError naming an unknown feature, or one `signature` needs that is not given."""
        wanted = self.feature_inputs(signature)
        unknown = sorted(set(given) - set(wanted))
        missing = [name for name in wanted if name not in given]
        where = f"(the export's contract, {self.source or 'given'})"
        if unknown:
            known = ", ".join(wanted) or "none"
            raise ValueError(f"unknown feature {unknown[0]!r} for {signature}: its features are {known} {where}")
        if missing:
            raise ValueError(f"missing feature {missing[0]!r}: {signature} takes features {', '.join(wanted)}; give "
                             f"each user's value (None when it is not known) {where}")

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = "") -> Contract:
        """A contract from the JSON object of `CONTRACT_FILE`; ValueError when it is not one."""
        where = f" ({source})" if source else ""
        if not isinstance(data, Mapping) or not isinstance(data.get("signatures"), Mapping):
            raise ValueError(f"not an mtrec-tf serving contract{where}: no 'signatures' object")
        if data.get("format") != CONTRACT_FORMAT:
            raise ValueError(f"serving contract format {data.get('format')!r}{where}: this client reads "
                             f"format {CONTRACT_FORMAT}")
        enumerations = data.get("enumerations") or {}
        for name, values in enumerations.items():
            if not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
                raise ValueError(f"serving contract{where}: enumeration {name!r} is not a list of strings")
        features = data.get("features") or {}
        if not isinstance(features, Mapping) or not all(
                isinstance(v, Mapping) and v.get("side") in ("user", "context") for v in features.values()):
            raise ValueError(f"serving contract{where}: 'features' is not a mapping of feature descriptions")
        roles = data.get("event_roles") or {}
        if not isinstance(roles, Mapping) or not all(
                isinstance(v, list) and all(isinstance(r, str) for r in v) for v in roles.values()):
            raise ValueError(f"serving contract{where}: 'event_roles' is not a mapping of event type to roles")
        return cls(signatures=dict(data["signatures"]),
                   enumerations={name: tuple(values) for name, values in enumerations.items()},
                   history_length=data.get("history_length"), top_k=data.get("top_k"), source=source,
                   features={name: dict(value) for name, value in features.items()},
                   event_roles={name: tuple(value) for name, value in roles.items()},
                   history_searches=bool(data.get("history_searches", False)))

    def check_inputs(self, signature: str, inputs: Mapping[str, Any]) -> None:
        """Raises ValueError naming the accepted values when an enumerated input of `inputs`
        (nested lists, by input name) holds a value outside the export's vocabulary.

        Example:
            >>> contract.check_inputs("retrieve", {"history_event_type": [["cart"]]})
            ValueError: history_event_type holds 'cart', which this model does not know; its
            event types are: search, impression, click, add_to_cart, purchase (...)
        """
        for name, accepted in self.enumerations.items():
            if name not in inputs:
                continue
            unknown = sorted({value for value in _flat(inputs[name]) if value != PADDING and value not in accepted},
                             key=str)
            if unknown:
                what = ENUMERATED_INPUTS.get(name, "values")
                shown = ", ".join(repr(v) for v in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
                raise ValueError(f"{name} holds {shown}, which this model does not know; its {what} are: "
                                 f"{', '.join(accepted)} (the export's contract, {self.source or 'given'})")
        searches = self.event_types_playing("search")
        if not self.history_searches and searches and "history_event_type" in inputs \
                and searches[0] in _flat(inputs["history_event_type"]):
            raise ValueError(f"history_event_type holds {searches[0]!r}: this model was trained without searches "
                             "in the history (data.history_includes_searches); send its behaviour events only "
                             f"(the export's contract, {self.source or 'given'})")


def _flat(values: Any) -> list[Any]:
    if isinstance(values, (list, tuple)):
        return [x for v in values for x in _flat(v)]
    return [values.decode("utf-8", "replace") if isinstance(values, bytes) else values]


def make_contract(signature_defs: Mapping[str, Mapping[str, Mapping[str, Mapping[str, Any]]]],
                  tasks: Mapping[str, Sequence[str]], enumerations: Mapping[str, Sequence[str]],
                  history_length: int, top_k: int | None,
                  features: Mapping[str, Mapping[str, Any]] | None = None,
                  event_roles: Mapping[str, Sequence[str]] | None = None,
                  history_searches: bool = False) -> Contract:
    """The contract of an export from its saved signatures.

    Args:
        signature_defs: signature name -> `{"inputs": {name: {"dtype", "shape"}}, "outputs": ...}`
            as saved (internal signatures, `__...`, are left out).
        tasks: signature name -> the model tasks it serves.
        enumerations: input name -> the values the model knows.
        history_length: the export's history cut.
        top_k: the items `retrieve` returns; None without `retrieve`.
        features: the features the export takes (`Contract.features`).
        event_roles, history_searches: as in `Contract`.

    Raises:
        ValueError: when a signature's names or input dtypes differ from `SIGNATURES` and its
            features, so that an export never contradicts the names the clients use.
    """
    features = dict(features or {})
    signatures = {}
    for name, saved in sorted(signature_defs.items()):
        if name.startswith("__"):
            continue
        expected = SIGNATURES.get(name)
        if expected is None:
            raise ValueError(f"signature {name!r} is not in the serving contract ({', '.join(SIGNATURES)})")
        dtypes = {key: info["dtype"] for key, info in saved["inputs"].items()}
        wanted = {**expected.inputs, **{key: features[key]["dtype"] for key in feature_inputs(name, features)}}
        if dtypes != wanted or set(saved["outputs"]) != set(expected.outputs):
            raise ValueError(f"signature {name!r} takes {dtypes} and gives {sorted(saved['outputs'])}; the "
                             f"serving contract says {wanted} and {sorted(expected.outputs)}")
        signatures[name] = {"inputs": {key: dict(saved["inputs"][key]) for key in wanted},
                            "outputs": {key: dict(saved["outputs"][key]) for key in expected.outputs},
                            "tasks": list(tasks.get(name, ())), "doc": expected.doc}
    used = {key for signature in signatures.values() for key in signature["inputs"]}
    return Contract(signatures, {name: tuple(values) for name, values in enumerations.items() if name in used},
                    history_length, top_k if "retrieve" in signatures else None,
                    features={name: info for name, info in features.items() if name in used},
                    event_roles={name: tuple(roles) for name, roles in (event_roles or {}).items()},
                    history_searches=history_searches)


def write_contract(export_dir: str | os.PathLike, contract: Contract,
                   write_text: Callable[[str, str], None] | None = None) -> str:
    """Writes `contract` as `export_dir/CONTRACT_FILE`; returns the file's path.

    Args:
        export_dir: the version folder (local, or a URL that `write_text` can write).
        contract: what to write.
        write_text: `write_text(path, text)`, e.g. an atomic writer that knows `gs://`; by
            default a local file is written.
    """
    path = f"{os.fspath(export_dir).rstrip('/')}/{CONTRACT_FILE}"
    text = json.dumps(contract.to_json(), indent=2, ensure_ascii=False) + "\n"
    if write_text is None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    else:
        write_text(path, text)
    return path


def read_contract(source: str | os.PathLike | Mapping[str, Any] | Contract) -> Contract:
    """The contract of an export: a `Contract`, its JSON object, its `contract.json` file or the
    version folder that holds one.

    Raises:
        FileNotFoundError: when a folder has no `CONTRACT_FILE` (an export older than contracts).
        ValueError: when the file is not a contract.
    """
    if isinstance(source, Contract):
        return source
    if isinstance(source, Mapping):
        return Contract.from_json(source, "given")
    path = Path(source)
    if path.is_dir():
        path = path / CONTRACT_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{source} holds no {CONTRACT_FILE}: give an export's version folder "
                                    "(<export>/<model_name>/<version>) or its contract.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON: {error}") from None
    return Contract.from_json(data, str(path))
