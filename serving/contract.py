"""The serving contract: signature, input and output names of an exported mtrec-tf model.

Pure Python, so the client, the development server, the exporter and the tests read the
same names. Every input is a batch: its first dimension is the number of requests.

Inputs (the same name means the same thing in every signature):
    user_id             string  (batch,)          unknown users are fine
    history             string  (batch, length)   item ids, most recent last, "" padding
    history_event_type  string  (batch, length)   "click", "cart", "purchase", ... beside `history`
    history_time_gap    float32 (batch, length)   seconds from each history event to the request
    query               string  (batch,)          "" when there is no search
    candidates          string  (batch, n)        item ids to score, "" padding
    item_id             string  (batch,)
    image               string  (batch,)          encoded PNG or JPEG bytes (`{"b64": ...}` over REST)
"""

from __future__ import annotations

import dataclasses

DEFAULT_MODEL_NAME = "mtrec"


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


def input_shape(name: str) -> list[None]:
    """The shape of an input, with unknown sizes as None."""
    return [None, None] if name in LIST_INPUTS else [None]
DEFAULT_EVENT_TYPE = "click"
