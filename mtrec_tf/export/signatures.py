"""The serving signatures of a trained model, on raw features, held by a slim `tf.Module`.

The module keeps the model's variables and `tf.function`s, not the Keras model object, so
the SavedModel is small and loads fast (DESIGN.md §1). The preprocessing in the graph is
the model's own (the tokenizer, the id lookups): there is no second implementation to
drift from training; images go through the catalogue's own `preprocess_image`. Which
signatures exist follows from the task types (`signature_tasks`), never from task names;
input and output names come from `serving.contract`.
"""

from __future__ import annotations

from collections.abc import Callable

from mtrec_tf.backend import tf
from mtrec_tf.data.images import preprocess_image
from mtrec_tf.export.signature_tasks import signature_tasks
from mtrec_tf.models import MultiTaskModel
from serving.contract import FEATURE_DTYPES, FEATURE_MISSING, SIGNATURES, feature_inputs, feature_shape, input_shape


def _specs(signature: str) -> list[tf.TensorSpec]:
    return [tf.TensorSpec(input_shape(name), getattr(tf, dtype), name=name)
            for name, dtype in SIGNATURES[signature].inputs.items()]


def feature_contract(model: MultiTaskModel) -> dict[str, dict]:
    """The contract's description of the user and context features `model` takes
    (`serving.contract.Contract.features`)."""
    described = {}
    for side in ("user", "context"):
        for feature in model.request_features(side):
            stats = model.feature_statistics(feature.name)
            described[feature.name] = {
                "side": side, "kind": feature.kind, "dtype": FEATURE_DTYPES[feature.kind],
                "shape": [-1, -1] if feature.kind == "multi_categorical" else [-1],
                "values": list(stats.vocabulary), "hashed": feature.hashed}
    return described


class ServingModule(tf.Module):
    """Serving functions of `model`, one per signature its task types support.

    Args:
        model: a trained multi-task model.
        item_ids: the catalogue's item ids in vocabulary order (row i + 1 of the model's tables).
        categories: category names in class order.
        history_length: histories are cut to their most recent `history_length` events.
        top_k: items returned by `retrieve`, categories by the classifiers.
    """

    def __init__(self, model: MultiTaskModel, item_ids: list[str], categories: list[str],
                 history_length: int, top_k: int = 100, top_categories: int = 5) -> None:
        super().__init__(name="mtrec_serving")
        # The variables are tracked, not the Keras model object: a slim SavedModel (DESIGN.md §1).
        # One call builds every layer (a model loaded from weights creates them lazily).
        self.model = self._no_dependency(model)
        self.history_length = history_length
        self.features = feature_contract(model)
        model.forward(self._features(tf.constant(1)), training=False)
        # Item tower vectors and image encodings of every catalogue row, computed once here:
        # they do not depend on the request.
        tower, images = [], []
        rows = model.catalogue.size
        for start in range(0, rows, 4096):
            vectors, encodings = model.encode_items(tf.range(start, min(start + 4096, rows), dtype=tf.int64),
                                                    training=False)
            tower.append(vectors)
            images.append(encodings)
        self.item_table = (tf.Variable(tf.concat(tower, 0), trainable=False, name="item_tower_vectors"),
                           tf.Variable(tf.concat(images, 0), trainable=False, name="item_image_encodings"))
        self.roles = signature_tasks(model.tasks)
        self.categories = tf.constant(categories)
        self.top_categories = min(top_categories, len(categories))
        self.image_size = model.image_size
        self.index: tuple[tf.Variable, tf.Variable] | None = None  # (vectors, item ids) to retrieve from
        if self.roles.retrieval is not None and item_ids:
            # A brute-force index as two variables, not a Keras layer: saving a layer traces its own functions.
            vectors = model.retrieval_item_vectors(self.item_table[0][1:], self.roles.retrieval, training=False)
            self.index = (tf.Variable(vectors, trainable=False, name="retrieval_item_vectors"),
                          tf.Variable(tf.constant(item_ids), trainable=False, name="retrieval_item_ids"))
            self.index_k = min(top_k, len(item_ids))
        # The model's variables are its trainable state; the catalogue's raw features are constants
        # that live on in `item_table` only.
        self.model_variables = list(model.variables)
        self.lookup_tables = [layer.lookup_table for layer in model.lookup_layers()]

    def signatures(self) -> dict[str, tf.types.experimental.PolymorphicFunction]:
        """The `tf.function` of every signature the model's tasks support, by name.

        Only those become attributes, so saving traces nothing else, and each once: saving
        traces again whatever was traced before it (the save context is part of the cache key).
        Autograph is off: the serving code branches on Python values only, and converting the
        model's source would take most of the export's time.
        """
        methods: dict[str, Callable[..., dict[str, tf.Tensor]]] = {
            "serving_default": self._score, "retrieve": self._retrieve, "user_embedding": self._user_embedding,
            "item_embedding": self._item_embedding, "classify_query": self._classify_query,
            "image_category": self._image_category}
        functions = {}
        for name in self.served_tasks():
            own = feature_inputs(name, self.features)
            specs = _specs(name) + [tf.TensorSpec(feature_shape(self.features[f]["kind"]),
                                                  getattr(tf, self.features[f]["dtype"]), name=f) for f in own]
            functions[name] = tf.function(_named(methods[name], [spec.name for spec in specs]),
                                          input_signature=specs, autograph=False)
            setattr(self, name, functions[name])
        return functions

    def served_tasks(self) -> dict[str, tuple[str, ...]]:
        """Signature name -> the tasks it serves, for every signature of this export."""
        return self.roles.signatures(has_catalogue=self.index is not None)

    # --- features ---------------------------------------------------------------------------

    def _features(self, n: tf.Tensor, user_id: tf.Tensor | None = None, history: tf.Tensor | None = None,
                  history_event_type: tf.Tensor | None = None, history_time_gap: tf.Tensor | None = None,
                  query: tf.Tensor | None = None, item_id: tf.Tensor | None = None,
                  own: dict[str, tf.Tensor] | None = None) -> dict[str, tf.Tensor]:
        """The model's feature dict for `n` rows; what is not given is blank, and the user and
        context features (`own`) not given are missing. An input with another number of rows
        fails naming it (TF Serving answers it as a 400)."""
        own = dict(own or {})
        given = [(name, value) for name, value in (("user_id", user_id), ("history", history), ("query", query),
                                                    *own.items()) if value is not None]
        checks = [tf.debugging.assert_equal(
            tf.shape(value)[0], n,
            message=f"{name} has a different batch size from the request's other inputs: every input holds one "
                    "row per request") for name, value in given]
        with tf.control_dependencies(checks):
            n = tf.identity(n)
        blank = tf.fill([n], "")
        if history is None:
            history = history_event_type = tf.fill([n, 1], "")
            history_time_gap = tf.zeros([n, 1])
        history, history_event_type, history_time_gap = self._recent(history, history_event_type, history_time_gap)
        for name, info in self.features.items():
            if name not in own:
                shape = [n, 1] if info["kind"] == "multi_categorical" else [n]
                own[name] = tf.fill(shape, tf.constant(FEATURE_MISSING[info["dtype"]], getattr(tf, info["dtype"])))
        return {**own,
            "user_id": blank if user_id is None else user_id,
            "timestamp": tf.zeros([n], tf.int64),
            "query": blank if query is None else query,
            "item_id": blank if item_id is None else item_id,
            "position": tf.fill([n], tf.constant(-1, tf.int64)),
            "history_item_ids": history,
            "history_event_types": history_event_type,
            "history_time_gaps": history_time_gap,
        }

    def _recent(self, history: tf.Tensor, event_type: tf.Tensor,
                time_gap: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The last `history_length` events of each row, left-aligned with "" / 0 padding.

        An empty history (length 0) is no events; inputs of different lengths fail with a
        message naming them (TF Serving answers it as a 400).
        """
        shape = tf.shape(history)
        checks = [tf.debugging.assert_equal(
            tf.shape(values), shape,
            message=f"history and {name} describe the same events: they must have the same shape")
            for name, values in (("history_event_type", event_type), ("history_time_gap", time_gap))]
        with tf.control_dependencies(checks):
            # One padding event more, so that a history of length 0 has a column to gather from.
            history, event_type, time_gap = (tf.pad(values, [[0, 0], [0, 1]], constant_values=pad)
                                             for values, pad in ((history, ""), (event_type, ""), (time_gap, 0.0)))
        present = tf.not_equal(history, "")
        lengths = tf.reduce_sum(tf.cast(present, tf.int32), axis=1)
        start = tf.maximum(lengths - self.history_length, 0)
        width = tf.maximum(tf.minimum(tf.reduce_max(lengths), self.history_length), 1)
        positions = start[:, tf.newaxis] + tf.range(width)[tf.newaxis, :]
        keep = positions < lengths[:, tf.newaxis]
        # Events are packed to the left first, so padding inside a row is ignored too.
        order = tf.argsort(tf.cast(~present, tf.int32), axis=1, stable=True)
        gather = tf.gather(order, tf.minimum(positions, tf.shape(history)[1] - 1), batch_dims=1)

        def take(values: tf.Tensor, pad: str | float) -> tf.Tensor:
            values = tf.gather(values, gather, batch_dims=1)
            return tf.where(keep, values, tf.fill(tf.shape(values), pad) if values.dtype == tf.string
                            else tf.zeros_like(values))

        return take(history, ""), take(event_type, ""), take(tf.cast(time_gap, tf.float32), 0.0)

    # --- signatures -------------------------------------------------------------------------

    def _score(self, user_id: tf.Tensor, history: tf.Tensor, history_event_type: tf.Tensor,
               history_time_gap: tf.Tensor, query: tf.Tensor, candidates: tf.Tensor,
               **own: tf.Tensor) -> dict[str, tf.Tensor]:
        batch, n = tf.shape(candidates)[0], tf.shape(candidates)[1]
        features = self._features(batch, user_id, history, history_event_type, history_time_gap, query,
                                  item_id=tf.reshape(candidates, [-1]), own=own)
        # Each user's history and query are encoded once, not once per candidate.
        rows = tf.repeat(tf.range(batch), n)
        outputs, _, _ = self.model.forward(features, training=False, context_rows=rows, item_table=self.item_table)
        present = tf.cast(tf.not_equal(candidates, ""), tf.float32)
        ctr = tf.reshape(outputs[self.roles.click], [batch, n]) * present
        # ESMM: the conversion task's output is p(click and buy).
        ctcvr = tf.reshape(outputs[self.roles.conversion], [batch, n]) * present
        return {"ctr": ctr, "cvr": tf.math.divide_no_nan(ctcvr, ctr), "ctcvr": ctcvr}

    def _user_embedding(self, user_id: tf.Tensor, history: tf.Tensor, history_event_type: tf.Tensor,
                        history_time_gap: tf.Tensor, query: tf.Tensor, **own: tf.Tensor) -> dict[str, tf.Tensor]:
        features = self._features(tf.shape(user_id)[0], user_id, history, history_event_type,
                                  history_time_gap, query, own=own)
        outputs, _, _ = self.model.forward(features, training=False, item_table=self.item_table)
        return {"embedding": outputs[self.roles.retrieval]}

    def _retrieve(self, user_id: tf.Tensor, history: tf.Tensor, history_event_type: tf.Tensor,
                  history_time_gap: tf.Tensor, query: tf.Tensor, **own: tf.Tensor) -> dict[str, tf.Tensor]:
        user = self._user_embedding(user_id, history, history_event_type, history_time_gap, query,
                                    **own)["embedding"]
        assert self.index is not None  # `served_tasks` has retrieve only with an index
        vectors, ids = self.index
        scores, rows = tf.math.top_k(tf.matmul(user, vectors, transpose_b=True), k=self.index_k)
        return {"item_ids": tf.gather(ids, rows), "scores": scores}

    def _item_embedding(self, item_id: tf.Tensor) -> dict[str, tf.Tensor]:
        tower = tf.gather(self.item_table[0], self.model.item_lookup(item_id))
        return {"embedding": self.model.retrieval_item_vectors(tower, self.roles.retrieval, training=False)}

    def _classify_query(self, query: tf.Tensor, **own: tf.Tensor) -> dict[str, tf.Tensor]:
        features = self._features(tf.shape(query)[0], query=query, own=own)
        outputs, _, _ = self.model.forward(features, training=False, item_table=self.item_table)
        return self._top_categories(outputs[self.roles.query_classifier])

    def _image_category(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        size = self.image_size
        # The catalogue's images went through the same function at training.
        pixels = tf.map_fn(lambda data: preprocess_image(data, size), image,
                           fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))  # (batch, size, size, 3)
        return self._top_categories(self.model.image_outputs(pixels, self.roles.image_classifier))

    def _top_categories(self, probabilities: tf.Tensor) -> dict[str, tf.Tensor]:
        top = tf.math.top_k(probabilities, k=self.top_categories)
        return {"categories": tf.gather(self.categories, top.indices), "probabilities": top.values}


def _named(method: Callable[..., dict[str, tf.Tensor]], names: list[str]) -> Callable[..., dict[str, tf.Tensor]]:
    """`method` taking its inputs by position in the order of `names` (the signature's inputs,
    features included), so that one `tf.function` serves any set of feature inputs."""
    def serve(*inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        return method(**dict(zip(names, inputs)))

    return serve
