"""The client API shared by the REST and gRPC transports: request building, retries, parsing.

A transport implements five methods that send one request and raise a typed `ServingError`
(`serving.client_errors`) on failure: `_predict_once`, `_status_once`, `_metadata_once`,
`_contract_once` and `close`. Everything else (the public methods, retries with exponential
backoff on UNAVAILABLE and RESOURCE_EXHAUSTED only, padding, the contract's value checks, answer
parsing) lives here once.
"""

from __future__ import annotations

import abc
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from serving import requests_builder as rb
from serving.client_errors import ServingError
from serving.contract import DEFAULT_MODEL_NAME, ENUMERATED_INPUTS, SIGNATURES, Contract, read_contract
from serving.requests_builder import TensorValue, UserRequest, VersionStatus

T = TypeVar("T")
_Client = TypeVar("_Client", bound="BaseClient")
ContractSource = str | os.PathLike | Mapping[str, Any] | Contract
"""An export's version folder, its `contract.json`, that file's JSON object, or a `Contract`."""


class BaseClient(abc.ABC):
    """A client of one model on a TF Serving compatible server.

    Args:
        model_name: the model's name on the server.
        version: a fixed model version, or None for the server's latest.
        timeout: seconds to wait for each attempt's answer.
        retries: how many times a request is sent again when the server is down or overloaded.
        backoff: seconds before the first retry, doubled before each next one.
        contract: the served export's contract (`serving.contract`): its version folder, its
            `contract.json`, or that file's JSON. By default the client asks the server for it
            once, before the first request with an enumerated input (the development server
            serves it; TF Serving cannot, and then no values are checked).
    """

    def __init__(self, model_name: str = DEFAULT_MODEL_NAME, version: int | None = None,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.2,
                 contract: ContractSource | None = None):
        if not model_name or not isinstance(model_name, str):
            raise ValueError(f"model_name must be a non-empty string, got {model_name!r}")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
            raise ValueError(f"version must be a non-negative int or None, got {version!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
        if not (isinstance(retries, int) and retries >= 0):
            raise ValueError(f"retries must be an int >= 0, got {retries!r}")
        if not backoff >= 0:
            raise ValueError(f"backoff must be seconds >= 0, got {backoff!r}")
        self.model_name = model_name
        self.version = version
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        self._sleep: Callable[[float], None] = time.sleep
        self._contract = None if contract is None else read_contract(contract)
        self._contract_known = contract is not None

    # --- transport ------------------------------------------------------------------------------

    @abc.abstractmethod
    def _predict_once(self, signature: str, inputs: Mapping[str, TensorValue]) -> dict[str, list]:
        """Sends one Predict request; returns each output as nested lists, strings decoded."""

    @abc.abstractmethod
    def _status_once(self) -> dict[str, Any]:
        """TF Serving's model status JSON (`{"model_version_status": [...]}`)."""

    @abc.abstractmethod
    def _metadata_once(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The `ModelSpec` and the `SignatureDefMap` of the model, as TF Serving's JSON."""

    @abc.abstractmethod
    def _contract_once(self) -> Mapping[str, Any] | None:
        """The contract's JSON the server serves for the model, None when it serves none."""

    @abc.abstractmethod
    def close(self) -> None:
        """Releases the connection."""

    def __enter__(self: _Client) -> _Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, send: Callable[..., T], *args: Any) -> T:
        """`send(*args)`, sent again after `backoff * 2**i` seconds while the server is down or
        overloaded, at most `retries` more times; other errors are raised at once."""
        attempt = 0
        while True:
            try:
                return send(*args)
            except ServingError as error:
                error.attempts = attempt + 1
                if not error.retryable or attempt >= self.retries:
                    raise
            self._sleep(self.backoff * 2 ** attempt)
            attempt += 1

    # --- public API -----------------------------------------------------------------------------

    def predict(self, signature_name: str, inputs: Mapping[str, Any]) -> dict[str, list]:
        """Runs any signature on columnar `inputs` (nested lists, or `TensorValue`s).

        Contract inputs are sent with the contract's dtype; others by their values (int64 for
        ints, float32 for floats, string for str and bytes).

        Returns:
            Each output as nested lists; string outputs as `str`.
        """
        values = rb.as_inputs(signature_name, inputs)
        shapes = [rb.shape_of(value.values) for value in values.values()]  # ValueError when ragged
        if ENUMERATED_INPUTS.keys() & values.keys():
            contract = self.contract()
            if contract is not None:  # ValueError naming the accepted values
                contract.check_inputs(signature_name, {name: value.values for name, value in values.items()})
        outputs = self._call(self._predict_once, signature_name, values)
        batch = {shape[0] for shape in shapes if shape}
        if len(batch) == 1:
            rb.check_outputs(outputs, signature_name, batch.pop())
        return outputs

    def recommend(self, user_id: str, history: Sequence[rb.HistoryEvent] = (), query: str = "",
                  k: int = 10, features: Mapping[str, Any] | None = None) -> list[tuple[str, float]]:
        """The top `k` items for one user as `(item_id, score)`, best first (`retrieve`).

        Args:
            user_id: the user's id.
            history: item ids (clicks), or `(item_id, event_type, seconds_ago)` tuples, most recent
                last; the event types are the model's (`contract().enumerations`), e.g.
                "click", "add_to_cart", "purchase".
            query: the current search, "" for none.
            k: how many items, at most the export's K.
            features: the export's user and context features by name (`UserRequest.features`).

        Raises:
            ValueError: for an event type outside the export's contract, naming those it accepts,
                or a feature it does not take or needs and is not given.
        """
        return self.recommend_many([UserRequest(user_id, history, query, dict(features or {}))], k=k)[0]

    def recommend_many(self, users: Sequence[UserRequest | str], k: int = 10) -> list[list[tuple[str, float]]]:
        """`recommend` for many users in one request: a list of `(item_id, score)` per user."""
        if not (isinstance(k, int) and k >= 1):
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        inputs = rb.user_inputs(users)
        if not inputs["user_id"].values:
            return []
        inputs.update(self._feature_inputs("retrieve", [rb.as_user(u).features for u in users]))
        return rb.parse_recommendations(self.predict("retrieve", inputs), k)

    def score(self, user_id: str, history: Sequence[rb.HistoryEvent], query: str,
              candidates: Sequence[str], features: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Click and conversion probabilities of each candidate for one user (`serving_default`),
        with the export's user and context `features` by name where it takes some.

        Returns:
            `{"item_id", "ctr", "cvr", "ctcvr"}` per candidate, in the order given.
        """
        return self.score_many([UserRequest(user_id, history, query, dict(features or {}))], [candidates])[0]

    def score_many(self, users: Sequence[UserRequest | str],
                   candidates: Sequence[Sequence[str]]) -> list[list[dict[str, Any]]]:
        """`score` for many users in one request; `candidates[i]` belongs to `users[i]`."""
        inputs = rb.user_inputs(users)
        padded = rb.candidate_inputs(candidates)
        if len(padded.values) != len(inputs["user_id"].values):
            raise ValueError(f"{len(inputs['user_id'].values)} users but {len(padded.values)} "
                             "candidate lists")
        if not padded.values:
            return []
        inputs.update(self._feature_inputs("serving_default", [rb.as_user(u).features for u in users]))
        outputs = self.predict("serving_default", {**inputs, "candidates": padded})
        return rb.parse_scores(outputs, [list(c) for c in candidates])

    def classify_query(self, queries: Sequence[str], features: Sequence[Mapping[str, Any]] | None = None
                       ) -> list[list[tuple[str, float]]]:
        """The top categories of each query as `(category, probability)`, best first; `features`
        holds each query's context features, where the export takes some."""
        values = rb.strings_input(queries, "queries")
        if not values.values:
            return []
        rows = list(features) if features is not None else [{} for _ in values.values]
        if len(rows) != len(values.values):
            raise ValueError(f"{len(values.values)} queries but {len(rows)} rows of features")
        inputs = {"query": values, **self._feature_inputs("classify_query", rows)}
        return rb.parse_categories(self.predict("classify_query", inputs))

    def classify_image(self, images: Sequence[bytes]) -> list[list[tuple[str, float]]]:
        """The top categories of each encoded PNG or JPEG image (`image_category`)."""
        values = rb.bytes_input(images, "images")
        if not values.values:
            return []
        return rb.parse_categories(self.predict("image_category", {"image": values}))

    def item_embedding(self, item_ids: Sequence[str]) -> list[list[float]]:
        """The item tower's retrieval vector of each item."""
        values = rb.strings_input(item_ids, "item_ids")
        if not values.values:
            return []
        return rb.parse_embeddings(self.predict("item_embedding", {"item_id": values}))

    def user_embedding(self, users: Sequence[UserRequest | str]) -> list[list[float]]:
        """The user tower's retrieval vector of each user (id, history, query)."""
        inputs = rb.user_inputs(users)
        if not inputs["user_id"].values:
            return []
        inputs.update(self._feature_inputs("user_embedding", [rb.as_user(u).features for u in users]))
        return rb.parse_embeddings(self.predict("user_embedding", inputs))

    def _feature_inputs(self, signature: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, rb.TensorValue]:
        """The feature inputs of `signature` from each row's features. With a contract (given,
        or served: asked for once when the request has features), a feature it does not know
        or one the signature needs and no row gives is a ValueError naming it. Without one,
        the features are sent as given, typed by their values."""
        names = rb.feature_names(rows)
        # Asked for as for enumerated inputs: a bare `classify_query` asks nothing more.
        enumerated = ENUMERATED_INPUTS.keys() & SIGNATURES[signature].inputs.keys()
        asks = bool(names) or self._contract_known or bool(enumerated)
        contract = self.contract() if asks else None
        if contract is None:
            return rb.feature_inputs(rows, names)
        contract.check_features(signature, names)
        return rb.feature_inputs(rows, contract.feature_inputs(signature), contract.features)

    def status(self) -> list[VersionStatus]:
        """The state of each version of the model (of `version` only, when set), newest first."""
        return rb.parse_status(self._call(self._status_once))

    def metadata(self) -> dict[str, Any]:
        """The model's signatures: `{"name", "version", "signatures": {name: {"inputs",
        "outputs", "method_name"}}}`, dtypes named as in `serving.contract`."""
        return rb.parse_metadata(*self._call(self._metadata_once))

    def contract(self) -> Contract | None:
        """The served export's contract: the one given as `contract=`, else the server's, asked
        for once (with the retries of any request); None when the server serves none.

        With a contract, requests holding a value of an enumerated input (an event type) that
        the model does not know are refused before they are sent.
        """
        if not self._contract_known:
            data = self._call(self._contract_once)
            self._contract = None if data is None else Contract.from_json(
                data, f"served by {getattr(self, 'address', 'the server')}")
            self._contract_known = True
        return self._contract

    def __repr__(self) -> str:
        version = "latest" if self.version is None else self.version
        return (f"{type(self).__name__}({getattr(self, 'address', '')!r}, model_name={self.model_name!r}, "
                f"version={version})")
