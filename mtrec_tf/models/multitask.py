"""The multi-task model: shared embeddings and encoders, one head per configured task.

    query text ──tokens──► token embedding ─► BiLSTM + attention ─────────► query vector
    item id ──► item embedding ┐
    title ────► token embedding ─► BiLSTM + attention (shared with query) ┤
    category, brand, price ───────────────────────────────────────────────┼► item tower
    image ────► CNN ──────────────────────────────────────────────────────┘
    history ──► item + event type + time gap embeddings ─► BiLSTM + attention ─► user vector
                                   └─► target attention w.r.t. the candidate (DIN)

Heads read the encodings their task names as inputs ("query", "user", "item", "image").
A multiclass head that reads the query also adds the linear scores of the query's hashed
n-grams to its logits (`model.ngram_buckets`: wide beside the deep text encoder). With
`model.text_encoder="none"` no text is encoded: such a head is its n-gram bag alone.
Ranking tasks (binary and regression heads that read the item) share a bottom, MMoE or
PLE; multiclass heads are towers on their inputs; retrieval compares a user tower with
the item tower. `call` returns a dict keyed by task name:

- multiclass: class probabilities (batch, classes);
- binary: probability (batch,); with a parent task (ESMM) the product with the parent's;
- regression: prediction (batch,);
- retrieval: the L2-normalised user vector (batch, retrieval_dim).

Labels and masks come from `mtrec_tf.data.pipeline`; `train_step` weighs each task's
masked loss into the total.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import numpy as np

from mtrec_tf.backend import keras, tf
from mtrec_tf.config import ConfigError, ModelConfig, TaskConfig
from mtrec_tf.data.catalogue import Catalogue
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.layers import (
    MLP, ImageEncoder, MixtureOfExperts, ProgressiveLayeredExtraction, SequenceEncoder, TargetAttention,
)
from mtrec_tf.losses import UncertaintyWeighting
from mtrec_tf.tasks import LossContext, TaskBatch, task_type
from mtrec_tf.text.tokenizer import ngram_ids, subword_ids, tokenize

TIME_GAP_BUCKETS = 16
_NEVER = "\x00never"


class TokenBatch(NamedTuple):
    """Token ids (n, tokens), 0 padding; hashed subword ids (n, tokens, max_subwords) or None;
    hashed n-gram ids (n, grams), 0 padding, or None."""

    ids: tf.Tensor
    subwords: tf.Tensor | None
    ngrams: tf.Tensor | None = None


@dataclasses.dataclass(frozen=True)
class CatalogueTensors:
    """What the model looks up by item index or token id, as constants (never checkpointed).

    Attributes:
        titles: int32 (items + 1, max_title_tokens) title token ids.
        category, brand: int32 (items + 1,) ids; price: float32 (items + 1,) standardised.
        image: uint8 (items + 1, size, size, 3), or None when the model reads no image.
        token_subwords: int (tokens + 2, max_subwords) hashed subwords of each token id, or None.
        sampling_probability: float32 (items + 1,) each item's share of the training clicks.
    """

    titles: tf.Tensor
    category: tf.Tensor
    brand: tf.Tensor
    price: tf.Tensor
    image: tf.Tensor | None
    token_subwords: tf.Tensor | None
    sampling_probability: tf.Tensor

    @property
    def size(self) -> int:
        """Rows, the unknown item included."""
        return int(self.category.shape[0])


@dataclasses.dataclass(frozen=True)
class ModelData:
    """What the model is built from: vocabularies, statistics and the catalogue arrays."""

    statistics: DataStatistics
    catalogue: Catalogue


class MultiTaskModel(keras.Model):
    """Shared representations behind one head per task.

    Args:
        tasks: the task configurations.
        config: sizes and structure.
        model_data: vocabularies, statistics and catalogue.

    Call arguments:
        features: dict of batched features (`mtrec_tf.data.pipeline.output_signature`):
            `user_id` (batch,), `query` (batch,), `item_id` (batch,), `history_item_ids`,
            `history_event_types` (batch, time) strings, `history_time_gaps` (batch, time).

    Returns:
        dict of outputs keyed by task name (see the module docstring).
    """

    def __init__(self, tasks: Sequence[TaskConfig], config: ModelConfig, model_data: ModelData, **kwargs):
        super().__init__(**kwargs)
        if not tasks:
            raise ConfigError("the model needs at least one task")
        self.tasks = tuple(tasks)
        self.config = config
        stats, catalogue = model_data.statistics, model_data.catalogue
        self._check_tasks(stats)
        d = config.embedding_dim

        # Lookups: strings on the outside, ids inside.
        # An empty vocabulary is not allowed: a placeholder that never occurs stands in.
        self.item_lookup = keras.layers.StringLookup(vocabulary=list(stats.items) or [_NEVER],
                                                     num_oov_indices=1, mask_token=None)
        self.token_lookup = keras.layers.StringLookup(vocabulary=list(stats.tokens) or [_NEVER],
                                                      num_oov_indices=1, mask_token="")
        self.category_lookup = keras.layers.StringLookup(vocabulary=list(stats.categories), num_oov_indices=1,
                                                         mask_token=None)
        self.event_type_lookup = keras.layers.StringLookup(vocabulary=list(stats.event_types), num_oov_indices=1,
                                                           mask_token=None)
        self.num_categories = len(stats.categories)

        # Shared embedding tables.
        self.item_embedding = keras.layers.Embedding(max(len(stats.items), 1) + 1, d, name="item_embedding")
        self.token_embedding = keras.layers.Embedding(max(len(stats.tokens), 1) + 2, d, name="token_embedding")
        self.subword_embedding = None
        if config.subword_buckets:
            self.subword_embedding = keras.layers.Embedding(config.subword_buckets + 1, d, name="subword_embedding")
        self.category_embedding = keras.layers.Embedding(len(stats.categories) + 1, d, name="category_embedding")
        self.brand_embedding = keras.layers.Embedding(len(stats.brands) + 1, d, name="brand_embedding")
        self.event_type_embedding = keras.layers.Embedding(len(stats.event_types) + 1, d, name="event_type_embedding")
        self.time_gap_embedding = keras.layers.Embedding(TIME_GAP_BUCKETS + 1, d, name="time_gap_embedding")
        self.user_hashing = None
        if config.user_buckets:
            self.user_hashing = keras.layers.Hashing(config.user_buckets)
            self.user_embedding = keras.layers.Embedding(config.user_buckets, d, name="user_embedding")
        self._gap_mean, self._gap_std = stats.time_gap_log_mean, stats.time_gap_log_std

        # The catalogue's item features and other data fixed at construction are constants, not
        # variables: checkpoints hold trainable state only, whatever the catalogue's size.
        token_subwords = None
        if config.subword_buckets:
            # Row i holds the subwords of token id i (ids 0 and 1 are padding and unknown).
            vocabulary = tf.constant(["", ""] + (list(stats.tokens) or [_NEVER]))
            token_subwords = subword_ids(vocabulary, config.subword_buckets, config.max_subwords)
        # Without any image (and no task reading one) the image encoder is left out.
        self.uses_images = bool(catalogue.has_image.any()) or any("image" in t.inputs for t in self.tasks)
        popularity = np.asarray((0,) + tuple(stats.item_popularity), dtype=np.float64) + 1.0
        self.catalogue = CatalogueTensors(
            titles=tf.constant(catalogue.title_tokens),
            category=tf.constant(catalogue.category),
            brand=tf.constant(catalogue.brand),
            price=tf.constant(catalogue.price),
            image=tf.constant(catalogue.image) if self.uses_images else None,
            token_subwords=token_subwords,
            sampling_probability=tf.constant((popularity / popularity.sum()).astype(np.float32)),
        )
        self.image_size = int(catalogue.image.shape[1])

        # Encoders.
        self.text_encoder = (SequenceEncoder(config.text_units, name="text_encoder")
                             if config.text_encoder == "bilstm" else None)
        self.history_encoder = SequenceEncoder(config.history_units, name="history_encoder")
        self.image_encoder = ImageEncoder(config.image_dim, backbone_path=config.image_backbone, name="image_encoder")
        self.item_tower = MLP([], output_units=d, name="item_tower")
        self.target_attention = TargetAttention(name="target_attention")

        # Heads: each task type makes its own.
        self.ranking_tasks = [t for t in self.tasks if task_type(t.type).shares_ranking_bottom]
        # Ranking tasks that read the same inputs share a bottom (MMoE, PLE); each task reads
        # exactly its configured inputs.
        groups: dict[tuple[str, ...], list[TaskConfig]] = {}
        for task in self.ranking_tasks:
            groups.setdefault(tuple(sorted(task.inputs)), []).append(task)
        self.ranking_groups = [(names, tasks) for names, tasks in groups.items()]
        self.combinations = [self._make_combination(len(tasks), i) for i, (_, tasks) in enumerate(self.ranking_groups)]
        self.heads = {task.name: task_type(task.type).make_head(task, config, self.num_categories)
                      for task in self.tasks}
        self.loss_weighting = (UncertaintyWeighting([t.name for t in self.tasks], name="uncertainty_weighting")
                               if config.loss_weighting == "uncertainty" else None)
        self.loss_trackers = {t.name: keras.metrics.Mean(name=f"{t.name}_loss") for t in self.tasks}
        self.total_tracker = keras.metrics.Mean(name="loss")
        self.task_metrics = {t.name: task_type(t.type).make_metric(t) for t in self.tasks}

    # --- construction helpers -------------------------------------------------------------

    def _check_tasks(self, stats: DataStatistics) -> None:
        for task in self.tasks:
            task_type(task.type).check(task, self.config, stats)

    def _make_combination(self, num_tasks: int, group: int):
        c = self.config
        suffix = f"_{group}" if group else ""
        if c.combination == "mmoe":
            return MixtureOfExperts(c.num_experts, c.expert_units, num_tasks, name=f"mmoe{suffix}")
        if c.combination == "ple":
            return ProgressiveLayeredExtraction(num_tasks, c.num_experts, max(1, c.num_experts // 2),
                                                c.expert_units, name=f"ple{suffix}")
        return MLP([c.expert_units], dropout=c.dropout, name=f"shared_bottom{suffix}")

    @property
    def metrics(self):
        return [self.total_tracker, *self.loss_trackers.values(), *self.task_metrics.values()]

    # --- encoders ------------------------------------------------------------------------

    def query_tokens(self, queries: tf.Tensor) -> TokenBatch:
        """(batch,) strings -> token ids (batch, <= max_query_tokens), 0 padding, their
        subword ids, computed from the strings so that unseen words get them too, and the
        hashed n-grams of the kept tokens when a head reads them."""
        c = self.config
        tokens = tokenize(queries)[:, : c.max_query_tokens]
        ids = tf.ragged.map_flat_values(self.token_lookup, tokens).to_tensor(default_value=0)
        ngrams = (ngram_ids(tokens, c.ngram_buckets, c.ngram_order, c.ngram_char_width)
                  if self.ngram_heads() else None)
        if not c.subword_buckets:
            return TokenBatch(ids, None, ngrams)
        subwords = tf.ragged.map_flat_values(lambda t: subword_ids(t, c.subword_buckets, c.max_subwords), tokens)
        return TokenBatch(ids, subwords.to_tensor(default_value=0, shape=[None, None, c.max_subwords]), ngrams)

    def title_tokens(self, item_index: tf.Tensor) -> TokenBatch:
        """Title token ids (n, max_title_tokens) of items by index, and their subword ids."""
        ids = tf.gather(self.catalogue.titles, item_index)
        subwords = self.catalogue.token_subwords
        return TokenBatch(ids, None if subwords is None else tf.gather(subwords, ids))

    def encode_texts(self, batches: Sequence[TokenBatch], training=None) -> list[tf.Tensor]:
        """Token batches (n_i, tokens_i) -> encodings (n_i, 2 * text_units).

        All batches go through the shared text encoder in one call, cut to the longest
        text present. A token's embedding is its own plus the mean of its subwords'.
        Without a text encoder (`model.text_encoder="none"`) every text is encoded as a
        constant 1, so a tower over the query alone is a learned class bias.
        """
        if self.text_encoder is None:
            return [tf.ones([tf.shape(b.ids)[0], 1]) for b in batches]
        widths = [tf.shape(b.ids)[1] for b in batches]
        width = tf.maximum(tf.reduce_max(tf.stack(widths)), 1)  # all texts empty: one padding step
        token_ids = tf.concat([tf.pad(tf.cast(b.ids, tf.int64), [[0, 0], [0, width - w]])
                               for b, w in zip(batches, widths)], axis=0)  # (sum n_i, width)
        mask = token_ids > 0
        length = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)), 1)
        token_ids, mask = token_ids[:, :length], mask[:, :length]
        embedded = self.token_embedding(token_ids)
        if self.subword_embedding is not None:
            subwords = tf.concat([tf.pad(b.subwords, [[0, 0], [0, width - w], [0, 0]])
                                  for b, w in zip(batches, widths)], axis=0)[:, :length]
            present = tf.cast(subwords > 0, embedded.dtype)[..., tf.newaxis]
            summed = tf.reduce_sum(self.subword_embedding(subwords) * present, axis=2)
            embedded += summed / tf.maximum(tf.reduce_sum(present, axis=2), 1.0)
        encoded = self.text_encoder(embedded, mask=mask, training=training)
        return tf.split(encoded, [tf.shape(b.ids)[0] for b in batches], axis=0)

    def item_features(self, unique_items: tf.Tensor, titles: tf.Tensor, training=None) -> tuple[tf.Tensor, tf.Tensor]:
        """Item tower vectors (n, embedding_dim) and image encodings (n, image_dim; (n, 0) for a
        model without images) of items given by index, with their encoded titles."""
        catalogue = self.catalogue
        parts = [
            self.item_embedding(unique_items),
            titles,
            self.category_embedding(tf.gather(catalogue.category, unique_items)),
            self.brand_embedding(tf.gather(catalogue.brand, unique_items)),
            tf.gather(catalogue.price, unique_items)[:, tf.newaxis],
        ]
        images = tf.zeros([tf.shape(unique_items)[0], 0])
        if catalogue.image is not None:
            images = self.image_encoder(tf.gather(catalogue.image, unique_items), training=training)
            parts.append(images)
        return self.item_tower(tf.concat(parts, axis=-1), training=training), images

    def encode_items(self, item_index: tf.Tensor, training=None) -> tuple[tf.Tensor, tf.Tensor]:
        """Item tower vectors and image encodings of items by index (each distinct one once)."""
        unique, position = tf.unique(tf.reshape(item_index, [-1]))
        (titles,) = self.encode_texts([self.title_tokens(unique)], training)
        vectors, images = self.item_features(unique, titles, training)
        return tf.gather(vectors, position), tf.gather(images, position)

    def encode_history(self, features: dict, training=None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The user vector (batch, 2 * history_units), history item embeddings and mask."""
        ids = features["history_item_ids"]
        mask = tf.not_equal(ids, "")
        length = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)), 1)
        ids, mask = ids[:, :length], mask[:, :length]
        types = features["history_event_types"][:, :length]
        gaps = tf.cast(features["history_time_gaps"][:, :length], tf.float32)
        gap_z = (tf.math.log1p(tf.maximum(gaps, 0.0)) - self._gap_mean) / self._gap_std
        gap_bucket = tf.clip_by_value(tf.cast(tf.floor((gap_z + 3.0) / 6.0 * TIME_GAP_BUCKETS), tf.int64),
                                      0, TIME_GAP_BUCKETS - 1) + 1
        items = self.item_embedding(self.item_lookup(ids))  # (batch, time, d)
        steps = items + self.event_type_embedding(self.event_type_lookup(types)) + self.time_gap_embedding(gap_bucket)
        user = self.history_encoder(steps, mask=mask, training=training)
        if self.user_hashing is not None:
            user = tf.concat([user, self.user_embedding(self.user_hashing(features["user_id"]))], axis=-1)
        return user, items, mask

    # --- forward -------------------------------------------------------------------------

    def call(self, features: dict, training=None) -> dict:
        return self.forward(features, training)[0]

    def forward(self, features: dict, training=None, extra_items: tf.Tensor | None = None,
                context_rows: tf.Tensor | None = None,
                item_table: tuple[tf.Tensor, tf.Tensor] | None = None) -> tuple[dict, dict, tf.Tensor | None]:
        """The outputs of `call`, the logits of the multiclass heads, and the item tower
        vectors of `extra_items` (indices), encoded together with the batch's own items.

        With `context_rows` (n,), `item_id` holds n candidates while the user and query
        features hold fewer rows, each encoded once: candidate i belongs to row
        `context_rows[i]` (scoring many candidates for one user).

        `item_table`, the item tower vectors and image encodings of every catalogue row as
        `item_features` gives them, replaces encoding the items (serving: they do not
        depend on the request).
        """
        def per_candidate(x: tf.Tensor) -> tf.Tensor:
            return x if context_rows is None else tf.gather(x, context_rows)

        needs = {name for task in self.tasks for name in task.inputs}
        encoded: dict[str, tf.Tensor] = {}
        candidate_index = self.item_lookup(features["item_id"])
        uses_candidate = "item" in needs or "image" in needs
        item_index = candidate_index if uses_candidate else tf.zeros([0], tf.int64)
        candidates = tf.shape(item_index)[0]
        if extra_items is not None:
            item_index = tf.concat([item_index, extra_items], axis=0)
        # Items are encoded only when some task reads them: a text-only model never runs the
        # image or title encoders (nor the image CNN on an empty batch, which some oneDNN
        # Conv2D kernels get wrong). Serving reads precomputed vectors from `item_table`.
        encodes_items = item_table is None and (uses_candidate or extra_items is not None)
        unique_queries, query_position = tf.unique(features["query"])

        # Queries and titles share one text encoder call.
        texts = []
        ngram_scores: dict[str, tf.Tensor] = {}
        if "query" in needs:
            texts.append(self.query_tokens(unique_queries))
            # The n-gram bags score each distinct query once.
            ngram_scores = {name: per_candidate(tf.gather(head.ngram_scores(texts[0].ngrams, training=training),
                                                          query_position))
                            for name, head in self.ngram_heads().items()}
        if encodes_items:
            unique_items, item_position = tf.unique(item_index)
            texts.append(self.title_tokens(unique_items))
        text_vectors = self.encode_texts(texts, training) if texts else []
        if "query" in needs:
            encoded["query"] = per_candidate(tf.gather(text_vectors[0], query_position))
        item_vectors = image_vectors = None
        if encodes_items:
            item_vectors, image_vectors = self.item_features(unique_items, text_vectors[-1], training)
            item_vectors = tf.gather(item_vectors, item_position)
            image_vectors = tf.gather(image_vectors, item_position)
        elif item_table is not None:
            item_vectors, image_vectors = (tf.gather(table, item_index) for table in item_table)

        if "user" in needs:
            encoded["user"], history_items, history_mask = map(per_candidate, self.encode_history(features, training))
        if uses_candidate:
            encoded["image"] = image_vectors[:candidates]
            encoded["item"] = item_vectors[:candidates]
            if "user" in needs:
                candidate = self.item_embedding(candidate_index)
                interest = self.target_attention([candidate, history_items], mask=history_mask, training=training)
                encoded["item"] = tf.concat([encoded["item"], interest], axis=-1)

        outputs: dict[str, tf.Tensor] = {}
        logits: dict[str, tf.Tensor] = {}
        ranking_inputs = self._ranking_inputs(encoded, training)
        for task in self.tasks:
            inputs = ranking_inputs[task.name] if task.name in ranking_inputs else self._concat(encoded, task.inputs)
            if task.name in ngram_scores:
                scores = self.heads[task.name](inputs, ngram_scores[task.name], training=training)
            else:
                scores = self.heads[task.name](inputs, training=training)
            outputs[task.name], logits[task.name] = task_type(task.type).outputs(task, scores)
        for task in self.tasks:  # ESMM: p(child) = p(parent) * p(child | parent)
            if task.parent is not None:
                outputs[task.name] = outputs[task.parent] * outputs[task.name]
        return outputs, logits, (item_vectors[candidates:] if extra_items is not None else None)

    def _concat(self, encoded: dict, names: Sequence[str]) -> tf.Tensor:
        return tf.concat([encoded[name] for name in names], axis=-1)

    def _ranking_inputs(self, encoded: dict, training) -> dict[str, tf.Tensor]:
        """Each ranking task's input: its group's shared bottom, or its own gate's mixture."""
        inputs = {}
        for (names, tasks), combination in zip(self.ranking_groups, self.combinations):
            shared = self._concat(encoded, names)
            if isinstance(combination, MLP):
                bottom = combination(shared, training=training)
                inputs.update({t.name: bottom for t in tasks})
            else:
                inputs.update({t.name: x for t, x in zip(tasks, combination(shared, training=training))})
        return inputs

    def image_outputs(self, pixels: tf.Tensor, task: str, training=None) -> tf.Tensor:
        """The output of `task`, a task that reads the image alone, for pixels (n, size, size, 3) uint8."""
        scores = self.heads[task](self.image_encoder(pixels, training=training), training=training)
        return task_type(self.task_config(task).type).outputs(self.task_config(task), scores)[0]

    def task_config(self, name: str) -> TaskConfig:
        """The configuration of the task `name`."""
        return next(task for task in self.tasks if task.name == name)

    def ngram_heads(self) -> dict:
        """The heads that score the query's bag of n-grams, by task name."""
        return {name: head for name, head in self.heads.items() if getattr(head, "ngrams", None) is not None}

    def item_vectors(self, item_index: tf.Tensor, task: str, training=None) -> tf.Tensor:
        """L2-normalised retrieval vectors (n, retrieval_dim) of items by index, for `task`."""
        vectors, _ = self.encode_items(item_index, training=training)
        return self.retrieval_item_vectors(vectors, task, training)

    def retrieval_item_vectors(self, tower_vectors: tf.Tensor, task: str, training=None) -> tf.Tensor:
        return self.heads[task].item_vectors(tower_vectors, training=training)

    # --- losses and steps ----------------------------------------------------------------

    def compute_losses(self, features: dict, labels: dict, masks: dict, training: bool):
        targeted = [t for t in self.tasks if task_type(t.type).encodes_targets]
        target_index = None
        if targeted:
            # Targets of every retrieval task, encoded with the batch's items in one pass.
            target_index = tf.concat([self.item_lookup(labels[t.label]) for t in targeted], axis=0)
        outputs, logits, target_vectors = self.forward(features, training=training, extra_items=target_index)
        context = LossContext(
            class_ids=lambda label: self.category_lookup(label) - 1,
            item_index=self.item_lookup,
            sampling_probability=self.catalogue.sampling_probability,
            target_vectors=dict(zip([t.name for t in targeted],
                                    tf.split(target_vectors, len(targeted)) if targeted else [])),
            training=training,
        )
        losses, counts = {}, {}
        for task in self.tasks:
            batch = TaskBatch(labels[task.label], tf.cast(masks[task.label], tf.float32), outputs[task.name],
                              logits[task.name])
            losses[task.name], mask = task_type(task.type).loss(
                task, self.heads[task.name], self.task_metrics[task.name], batch, context)
            counts[task.name] = tf.reduce_sum(mask)
        return losses, counts

    def total_loss(self, losses: dict) -> tf.Tensor:
        if self.loss_weighting is not None:
            return self.loss_weighting(losses)
        return tf.add_n([task.weight * losses[task.name] for task in self.tasks])

    def _update_trackers(self, losses: dict, counts: dict, total: tf.Tensor) -> dict:
        # Each task's loss is averaged over its labelled examples, not over batches.
        for name, value in losses.items():
            self.loss_trackers[name].update_state(value, sample_weight=counts[name])
        self.total_tracker.update_state(total)
        return {m.name: m.result() for m in self.metrics}

    def build_from_batch(self, data: tuple[dict, dict, dict]) -> None:
        """Creates every weight (heads, retrieval towers, loss weights) from one batch."""
        features, labels, masks = data
        losses, _ = self.compute_losses(features, labels, masks, training=False)
        self.total_loss(losses)
        self.reset_metrics()
        # Built models get their optimizer built before a backup is restored into it, so the
        # optimizer's step count and moments are restored with the weights.
        self.built = True

    def train_step(self, data):
        features, labels, masks = data
        with tf.GradientTape() as tape:
            losses, counts = self.compute_losses(features, labels, masks, training=True)
            total = self.total_loss(losses)
            regularization = tf.add_n(self.losses) if self.losses else 0.0
            # Replicas' gradients are summed: each replica contributes its share of the mean.
            objective = (total + regularization) / tf.distribute.get_strategy().num_replicas_in_sync
        variables = self.trainable_variables
        gradients = tape.gradient(objective, variables)
        self.optimizer.apply_gradients(
            (g, v) for g, v in zip(gradients, variables) if g is not None
        )
        return self._update_trackers(losses, counts, total)

    def test_step(self, data):
        features, labels, masks = data
        losses, counts = self.compute_losses(features, labels, masks, training=False)
        return self._update_trackers(losses, counts, self.total_loss(losses))
