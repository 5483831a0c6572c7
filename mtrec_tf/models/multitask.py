"""The multi-task model: shared encoders (`TextEncoder`, `ItemEncoder`, `UserEncoder`), one
head per configured task (made by its task type), and the training step.

    query text ──tokens──► token embedding ─► BiLSTM + attention ─────────► query vector
    item id ──► item embedding ┐
    text features (title) ─► token embedding ─► BiLSTM + attention (shared) ┤  (when some item has one)
    other items features (category, brand, price) ─► feature input layer ─┼► item tower
    image feature ─► CNN ─────────────────────────────────────────────────┘  (when some item has one)
    history ──► item + event type + time gap embeddings ─► BiLSTM + attention ─► user vector
                                   │                       (or causal self-attention)
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
masked loss into the total (with `model.gradient_surgery`, each task's gradient is taken
apart and their conflicts projected away before the step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from mtrec_tf.backend import keras, tf
from mtrec_tf.config import ConfigError, DataConfig, ModelConfig, TaskConfig
from mtrec_tf.data.catalogue import Catalogue
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.features.inputs import FeatureInputs, side_features
from mtrec_tf.features.spec import DEFAULT_FEATURES, FeatureConfig
from mtrec_tf.features.statistics import FeatureStatistics
from mtrec_tf.layers import MLP, MixtureOfExperts, PositionBias, ProgressiveLayeredExtraction, TargetAttention
from mtrec_tf.losses import UncertaintyWeighting
from mtrec_tf.models.gradient_surgery import combine_gradients, reaching_tasks
from mtrec_tf.models.item_encoder import CatalogueTensors, ItemEncoder
from mtrec_tf.models.text_encoder import TextEncoder, TokenBatch
from mtrec_tf.models.user_encoder import UserEncoder
from mtrec_tf.tasks import LossContext, TaskBatch, task_type
from mtrec_tf.tasks.retrieval import step_targets


def encodes_items(tasks: Sequence[TaskConfig]) -> bool:
    """Whether a model of `tasks` encodes items (a task reads the item or its image, or
    compares users with item tower vectors); without, no item feature (title, image) is read."""
    return any("item" in t.inputs or "image" in t.inputs or task_type(t.type).encodes_targets for t in tasks)


@dataclasses.dataclass(frozen=True)
class ModelData:
    """What the model is built from: vocabularies, statistics and the catalogue arrays, the
    most events a history holds (`data.history_length`), whether histories hold past
    searches (`data.history_includes_searches`) and the configuration's features."""

    statistics: DataStatistics
    catalogue: Catalogue
    history_length: int = DataConfig.history_length
    features: tuple[FeatureConfig, ...] = DEFAULT_FEATURES
    history_searches: bool = DataConfig.history_includes_searches


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

    def __init__(self, tasks: Sequence[TaskConfig], config: ModelConfig, model_data: ModelData, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not tasks:
            raise ConfigError("the model needs at least one task")
        self.tasks = tuple(tasks)
        self.config = config
        stats, catalogue = model_data.statistics, model_data.catalogue
        self._check_tasks(stats)

        # The label vocabulary of multiclass heads.
        self.category_lookup = keras.layers.StringLookup(vocabulary=list(stats.categories), num_oov_indices=1,
                                                         mask_token=None)
        self.num_categories = len(stats.categories)

        # Encoders, sharing the token table (queries, item texts) and the item table
        # (candidates, histories, retrieval targets).
        self.encodes_items = encodes_items(self.tasks)
        self.text_encoder = TextEncoder(stats.tokens, config, name="text_encoder")
        # The configuration's features, by the side they feed: the user vector, the item tower,
        # and the request context that tasks reading the query and the ranking tasks read.
        # Which encoded item features the tower reads follows from the saved catalogue, the
        # configuration and the tasks, so a run rebuilt from its run directory has the same
        # structure: a text feature when some item has a value of it and there is a text
        # encoder, the image when the catalogue holds images; none when no task encodes items.
        self.features = tuple(model_data.features)
        self.feature_stats = dict(stats.features)
        item_side = side_features(self.features, "item")
        item_texts = tuple(f.name for f in item_side if f.kind == "text" and f.name in catalogue.texts
                           and self.encodes_items and config.text_encoder != "none")
        self.uses_images = (self.encodes_items and catalogue.has_images  # an image array holds some image
                            and any(f.kind == "image" for f in item_side))
        readers = [task.name for task in self.tasks if "image" in task.inputs]
        if readers and not self.uses_images:
            raise ConfigError(f"tasks.{readers[0]} reads the item's image, but no item of the catalogue has one; "
                              "leave the task out (--tasks) or give the items images")
        user_features, item_features, context_features = (
            FeatureInputs([f for f in side_features(self.features, side) if not f.encoded], stats.features,
                          config.embedding_dim, name=f"{side}_features")
            for side in ("user", "item", "context"))
        self.item_encoder = ItemEncoder(stats, catalogue, config, self.text_encoder, item_texts,
                                        self.uses_images, item_features, name="item_encoder")
        self.user_encoder = UserEncoder(stats, config, self.item_encoder, model_data.history_length,
                                        user_features, self.text_encoder if model_data.history_searches else None,
                                        name="user_encoder")
        self.context_features = context_features if context_features.features else None
        self.target_attention = TargetAttention(name="target_attention")

        # Heads: each task type makes its own.
        self.ranking_tasks = [t for t in self.tasks if task_type(t.type).shares_ranking_bottom]
        # Which tasks train the shared encoders, by the input they encode (`model.encoder_training`):
        # an encoder whose input another task than the ranking ones reads may be left to those
        # tasks, by the ranking tasks ("not_ranking") or by every task but them ("readers", or
        # "image_readers" for the image encoder alone).
        owned = {name: any(name in t.inputs for t in self.tasks if t not in self.ranking_tasks)
                 for name in ("query", "image", "user")}
        encoders = ("query", "image")
        left_to_readers = {"readers": encoders, "image_readers": ("image",)}.get(config.encoder_training, ())
        self.ranking_trains = {name: config.encoder_training == "all" or not owned[name] for name in encoders}
        self.item_tower_trains = {name: name not in left_to_readers or not owned[name] for name in encoders}
        # What of the candidate's encoding the ranking tasks train (`model.ranking_item_gradient`):
        # all of it when no other task (a retrieval task's targets) trains the item side.
        item_side_owned = any(task_type(t.type).encodes_targets for t in self.tasks if t not in self.ranking_tasks)
        self.ranking_item_gradient = config.ranking_item_gradient if item_side_owned else True
        # Whether the ranking tasks train the user's encoding (`model.ranking_user_gradient`): they
        # do when no other task reads the user.
        self.ranking_user_gradient = config.ranking_user_gradient or not owned["user"]
        # Ranking tasks that read the same inputs share a bottom (MMoE, PLE); each task reads
        # exactly its configured inputs.
        groups: dict[tuple[str, ...], list[TaskConfig]] = {}
        for task in self.ranking_tasks:
            groups.setdefault(self.task_input_names(task), []).append(task)
        self.ranking_groups = [(names, tasks) for names, tasks in groups.items()]
        self.combinations = [self._make_combination(len(tasks), i) for i, (_, tasks) in enumerate(self.ranking_groups)]
        self.heads = {task.name: task_type(task.type).make_head(task, config, self.num_categories)
                      for task in self.tasks}
        # The slot's logit of tasks with `position_bias`, added in training and validation only.
        self.position_biases = {task.name: PositionBias(config.position_buckets, name=f"{task.name}_position_bias")
                                for task in self.tasks if task.position_bias}
        self.loss_weighting = (UncertaintyWeighting([t.name for t in self.tasks], name="uncertainty_weighting")
                               if config.loss_weighting == "uncertainty" else None)
        self.loss_trackers = {t.name: keras.metrics.Mean(name=f"{t.name}_loss") for t in self.tasks}
        self.total_tracker = keras.metrics.Mean(name="loss")
        self.task_metrics = {t.name: task_type(t.type).make_metric(t) for t in self.tasks}
        # Tasks that train every step of a history at once (`tasks.<name>.positions`).
        self.position_tasks = tuple(t.name for t in self.tasks if task_type(t.type).all_positions(t, config))
        # The event type whose steps are next-item targets in all-position training.
        self.next_item_type = stats.event_roles.next_item
        # The weights whose learning rate a task's `learning_rate_scale` multiplies (`build_from_batch`).
        self.rate_scaled_weights: list[tuple[tf.Variable, float]] = []

    # --- construction helpers -------------------------------------------------------------

    def task_input_names(self, task: TaskConfig) -> tuple[str, ...]:
        """The encodings a task's head reads: its configured inputs, and the request context
        (the context features) for a ranking task or one that reads the query."""
        names = tuple(task.inputs)
        if self.context_features is not None and (
                "query" in names or task_type(task.type).shares_ranking_bottom):
            names += ("context",)
        return tuple(sorted(names)) if task_type(task.type).shares_ranking_bottom else names

    def _check_tasks(self, stats: DataStatistics) -> None:
        for task in self.tasks:
            task_type(task.type).check(task, self.config, stats)

    def _make_combination(self, num_tasks: int, group: int) -> keras.layers.Layer:
        c = self.config
        suffix = f"_{group}" if group else ""
        if c.combination == "mmoe":
            return MixtureOfExperts(c.num_experts, c.expert_units, num_tasks, name=f"mmoe{suffix}")
        if c.combination == "ple":
            return ProgressiveLayeredExtraction(num_tasks, c.num_experts, max(1, c.num_experts // 2),
                                                c.expert_units, name=f"ple{suffix}")
        return MLP([c.expert_units], dropout=c.dropout, name=f"shared_bottom{suffix}")

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.total_tracker, *self.loss_trackers.values(), *self.task_metrics.values()]

    # --- encoders: the public API that training, evaluation and the export call --------------

    def encode_query(self, queries: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        """(batch,) query strings -> (batch, 2 * text_units) vectors (the shared text encoder)."""
        return self.text_encoder(queries, training=training)

    def encode_items(self, item_index: tf.Tensor, training: bool | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """Item tower vectors (n, embedding_dim) and image encodings of items by catalogue row,
        trained as the item tower trains the shared encoders (`model.encoder_training`)."""
        return self.item_encoder(item_index, training=training, text_gradient=self.item_tower_trains["query"],
                                 image_gradient=self.item_tower_trains["image"])

    def encode_user(self, features: dict, training: bool | None = None, steps: bool = False) -> tuple[tf.Tensor, ...]:
        """The user vector of each row's history, the history's item embeddings and their mask;
        with `steps`, the user vector after each step as well (`UserEncoder`)."""
        return self.user_encoder(features, training=training, steps=steps)

    def query_tokens(self, queries: tf.Tensor) -> TokenBatch:
        """The token batch of queries as the model reads them (with n-grams when a head reads them)."""
        return self.text_encoder.query_tokens(queries, ngrams=bool(self.ngram_heads()))

    def lookup_layers(self) -> list:
        """The string lookups of the model (items, tokens, categories, event types), whose tables
        an export must carry."""
        own = [layer for inputs in (self.user_encoder.features, self.item_encoder.feature_inputs,
                                    self.context_features) if inputs is not None for layer in inputs.lookup_layers()]
        return [self.item_encoder.item_lookup, self.text_encoder.token_lookup, self.category_lookup,
                self.user_encoder.event_type_lookup, *own]

    def item_features(self) -> tuple[str, ...]:
        """What the item tower reads (empty when no task encodes items)."""
        if not self.encodes_items:
            return ()
        texts = self.item_encoder.text_features
        return ("id",) + tuple(f.name for f in side_features(self.features, "item")
                               if not f.encoded or f.name in texts or f.kind == "image" and self.uses_images)

    @property
    def history_searches(self) -> bool:
        """Whether history steps may be past searches (`data.history_includes_searches`)."""
        return self.user_encoder.search_type is not None

    @property
    def uses_titles(self) -> bool:
        """Whether the item tower reads some text feature (`ItemEncoder.text_features`)."""
        return self.item_encoder.uses_titles

    def request_features(self, side: str) -> tuple[FeatureConfig, ...]:
        """The configuration's features a request carries: "user" or "context" ones."""
        return side_features(self.features, side)

    def feature_statistics(self, name: str) -> FeatureStatistics:
        """The training statistics of the feature `name`."""
        return self.feature_stats[name]

    @property
    def item_lookup(self) -> keras.layers.StringLookup:
        """Item ids -> catalogue rows (0 unknown)."""
        return self.item_encoder.item_lookup

    @property
    def catalogue(self) -> CatalogueTensors:
        """The catalogue's constants (`item_encoder.CatalogueTensors`)."""
        return self.item_encoder.catalogue

    @property
    def image_size(self) -> int:
        return self.item_encoder.image_size

    # --- forward -------------------------------------------------------------------------

    def call(self, features: dict, training: bool | None = None) -> dict:
        return self.forward(features, training)[0]

    def forward(self, features: dict, training: bool | None = None, extra_items: tf.Tensor | None = None,
                context_rows: tf.Tensor | None = None,
                item_table: tuple[tf.Tensor, tf.Tensor] | None = None,
                step_tasks: Sequence[str] = (), position_bias: bool = False) -> tuple[dict, dict, tf.Tensor | None]:
        """The outputs of `call`, the logits of the multiclass heads, and the item tower
        vectors of `extra_items` (indices), encoded together with the batch's own items.

        With `context_rows` (n,), `item_id` holds n candidates while the user and query
        features hold fewer rows, each encoded once: candidate i belongs to row
        `context_rows[i]` (scoring many candidates for one user).

        `item_table`, the item tower vectors and image encodings of every catalogue row as
        `item_features` gives them, replaces encoding the items (serving: they do not
        depend on the request).

        The tasks `step_tasks` (retrieval tasks of `position_tasks`, which read the user
        alone) output a user vector after every step of the history, (batch, time,
        retrieval_dim), for all-position training.

        With `position_bias`, tasks with a position-bias tower add the logit of each
        example's slot (`features["position"]`) to their own, as the observed labels are
        fitted; predictions and serving leave it out.
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
        # image or title encoders. Serving reads precomputed vectors from `item_table`.
        encodes_items = item_table is None and (uses_candidate or extra_items is not None)
        unique_queries, query_position = tf.unique(features["query"])

        texts = []
        ngram_scores: dict[str, tf.Tensor] = {}
        if "query" in needs:
            texts.append(self.query_tokens(unique_queries))
            # The n-gram bags score each distinct query once.
            ngram_scores = {name: per_candidate(tf.gather(head.ngram_scores(texts[0].ngrams, training=training),
                                                          query_position))
                            for name, head in self.ngram_heads().items()}
        encodes_titles = encodes_items and self.item_encoder.uses_titles
        if encodes_items:
            unique_items, item_position = tf.unique(item_index)
        first_item_text = len(texts)
        if encodes_titles:
            texts += self.item_encoder.texts(unique_items)
        # Queries and item texts go through the text encoder in one call.
        text_vectors = self.text_encoder.encode(texts, training) if texts else []
        if "query" in needs:
            encoded["query"] = per_candidate(tf.gather(text_vectors[0], query_position))
        if self.context_features is not None:
            encoded["context"] = per_candidate(self.context_features(features, training=training))
        # Set below whenever a task reads the items or `extra_items` is given.
        item_vectors: tf.Tensor = None
        image_vectors: tf.Tensor = None
        # The candidates' tower vectors the ranking tasks read, when they train less of them
        # (`ranking_item_gradient` false or encoders, `encoder_training`): what they do not train
        # behind a stop-gradient (training only; serving reads `item_table`).
        ranking_candidates: tf.Tensor | None = None
        table_gradient = self.ranking_item_gradient is True
        text_gradient, image_gradient = self.ranking_trains["query"], self.ranking_trains["image"]
        if encodes_items:
            parts = self.item_encoder.parts(unique_items, text_vectors[first_item_text:], training)
            item_vectors = tf.gather(self.item_encoder.combine(
                parts, training, text_gradient=self.item_tower_trains["query"],
                image_gradient=self.item_tower_trains["image"]), item_position)
            image_vectors = tf.gather(parts.images, item_position)
            if uses_candidate and not self.ranking_item_gradient:
                ranking_candidates = tf.stop_gradient(item_vectors[:candidates])
            elif uses_candidate and not (table_gradient and text_gradient and image_gradient):
                candidate_parts = parts.gather(item_position[:candidates])
                ranking_candidates = self.item_encoder.combine(candidate_parts, training, table_gradient,
                                                               text_gradient, image_gradient)
        elif item_table is not None:
            item_vectors, image_vectors = (tf.gather(table, item_index) for table in item_table)

        history_items = history_mask = None  # the history's item embeddings and mask, read with the user
        if "user" in needs:
            user_encodings = self.encode_user(features, training, steps=bool(step_tasks))
            encoded["user"], history_items, history_mask = map(per_candidate, user_encodings[:3])
        ranking_encoded = encoded
        if uses_candidate:
            encoded["image"] = image_vectors[:candidates]
            encoded["item"] = self._candidate_encoding(item_vectors[:candidates], candidate_index, needs,
                                                       history_items, history_mask, training)
            if ranking_candidates is not None:
                # The ranking tasks train the target attention (theirs alone) and what else they are let.
                ranking_item = self._candidate_encoding(ranking_candidates, candidate_index, needs,
                                                        history_items, history_mask, training, table_gradient)
                ranking_encoded = {**encoded, "item": ranking_item}
        for name, trains in (("query", text_gradient), ("image", image_gradient),
                             ("user", self.ranking_user_gradient)):
            if not trains and name in ranking_encoded:
                # The ranking tasks read the encoding without training its encoder.
                ranking_encoded = {**ranking_encoded, name: tf.stop_gradient(ranking_encoded[name])}

        outputs: dict[str, tf.Tensor] = {}
        logits: dict[str, tf.Tensor] = {}
        ranking_inputs = self._ranking_inputs(ranking_encoded, training)
        for task in self.tasks:
            if task.name in step_tasks:
                inputs = user_encodings[3]  # such a task reads the user alone
            elif task.name in ranking_inputs:
                inputs = ranking_inputs[task.name]
            else:
                inputs = self._concat(encoded, self.task_input_names(task))
            if task.name in ngram_scores:
                scores = self.heads[task.name](inputs, ngram_scores[task.name], training=training)
            else:
                scores = self.heads[task.name](inputs, training=training)
            if position_bias and task.name in self.position_biases:
                scores = scores + self.position_biases[task.name](features["position"])
            outputs[task.name], logits[task.name] = task_type(task.type).outputs(task, scores)
        for task in self.tasks:  # ESMM: p(child) = p(parent) * p(child | parent)
            if task.parent is not None:
                outputs[task.name] = outputs[task.parent] * outputs[task.name]
        return outputs, logits, (item_vectors[candidates:] if extra_items is not None else None)

    def _candidate_encoding(self, vectors: tf.Tensor, candidate_index: tf.Tensor, needs: set[str],
                            history_items: tf.Tensor | None, history_mask: tf.Tensor | None,
                            training: bool | None, table_gradient: bool = True) -> tf.Tensor:
        """The candidate's tower vector, and with a user its interest: the target attention of
        its id embedding over the history's items (DIN). Without `table_gradient`, the
        embeddings enter the attention through a stop-gradient."""
        if "user" not in needs:
            return vectors
        candidate = self.item_encoder.item_embedding(candidate_index)
        if not table_gradient:
            candidate, history_items = tf.stop_gradient(candidate), tf.stop_gradient(history_items)
        interest = self.target_attention([candidate, history_items], mask=history_mask, training=training)
        return tf.concat([vectors, interest], axis=-1)

    def _concat(self, encoded: dict, names: Sequence[str]) -> tf.Tensor:
        return tf.concat([encoded[name] for name in names], axis=-1)

    def _ranking_inputs(self, encoded: dict, training: bool | None) -> dict[str, tf.Tensor]:
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

    def image_outputs(self, pixels: tf.Tensor, task: str, training: bool | None = None) -> tf.Tensor:
        """The output of `task`, a task that reads the image alone, for pixels (n, size, size, 3) uint8."""
        scores = self.heads[task](self.item_encoder.image_encoder(pixels, training=training), training=training)
        config = self.task_config(task)
        return task_type(config.type).outputs(config, scores)[0]

    def position_biased_tasks(self) -> list[str]:
        """The tasks whose outputs the slot's logit changes in training: those with a
        position-bias tower, and their ESMM children."""
        biased = set(self.position_biases)
        while True:
            children = {task.name for task in self.tasks if task.parent in biased} - biased
            if not children:
                return [task.name for task in self.tasks if task.name in biased]
            biased |= children

    def task_config(self, name: str) -> TaskConfig:
        """The configuration of the task `name`."""
        return next(task for task in self.tasks if task.name == name)

    def ngram_heads(self) -> dict:
        """The heads that score the query's bag of n-grams, by task name."""
        return {name: head for name, head in self.heads.items() if getattr(head, "ngrams", None) is not None}

    def item_vectors(self, item_index: tf.Tensor, task: str, training: bool | None = None) -> tf.Tensor:
        """L2-normalised retrieval vectors (n, retrieval_dim) of items by index, for `task`."""
        vectors, _ = self.encode_items(item_index, training=training)
        return self.retrieval_item_vectors(vectors, task, training)

    def retrieval_item_vectors(self, tower_vectors: tf.Tensor, task: str, training: bool | None = None) -> tf.Tensor:
        return self.heads[task].item_vectors(tower_vectors, training=training)

    # --- losses and steps ----------------------------------------------------------------

    def compute_losses(self, features: dict, labels: dict, masks: dict,
                       training: bool) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        """Each task's masked loss and how many labelled examples (or steps) it averaged over.

        In training, the tasks of `position_tasks` learn from every step of each history
        (`tasks.retrieval.step_targets`); otherwise, as in validation, from each row's label.
        """
        targeted = [t for t in self.tasks if task_type(t.type).encodes_targets]
        step_tasks = [t.name for t in targeted if training and t.name in self.position_tasks]
        targets, trains = {}, {}
        for task in targeted:
            targets[task.name] = labels[task.label]
            if task.name in step_tasks:
                ids, steps = step_targets(features["history_item_ids"], features["history_event_types"],
                                          features["history_time_gaps"], labels[task.label], masks[task.label],
                                          self.next_item_type)
                # A step whose item is not in the catalogue has no target to learn.
                trains[task.name] = tf.logical_and(steps, self.item_lookup(ids) > 0)
                targets[task.name] = tf.boolean_mask(ids, trains[task.name])
        target_vectors: dict[str, tf.Tensor] = {}
        if targeted:
            # Targets of every retrieval task, encoded with the batch's items in one pass.
            target_index = tf.concat([self.item_lookup(targets[t.name]) for t in targeted], axis=0)
            outputs, logits, vectors = self.forward(features, training=training, extra_items=target_index,
                                                    step_tasks=step_tasks, position_bias=True)
            sizes = tf.stack([tf.shape(targets[t.name])[0] for t in targeted])
            target_vectors = dict(zip([t.name for t in targeted], tf.split(vectors, sizes, num=len(targeted))))
        else:
            outputs, logits, _ = self.forward(features, training=training, position_bias=True)
        context = LossContext(
            class_ids=lambda label: self.category_lookup(label) - 1,
            item_index=self.item_lookup,
            sampling_probability=self.catalogue.sampling_probability,
            click_share=self.catalogue.click_share,
            target_vectors=target_vectors,
            training=training,
            encode_items=lambda index: self.encode_items(index, training=training)[0],
            num_items=int(self.catalogue.sampling_probability.shape[0]) - 1,
        )
        losses, counts = {}, {}
        for task in self.tasks:
            if task.name in trains:
                output = outputs[task.name]  # (batch, time', dim): the history cut to its longest row
                cut = trains[task.name][:, :tf.shape(output)[1]]
                steps = tf.boolean_mask(output, cut)
                rows = tf.where(cut)[:, 0]  # the history each step belongs to
                batch = TaskBatch(targets[task.name], tf.ones(tf.shape(steps)[:1]), steps, None, rows)
            else:
                batch = TaskBatch(labels[task.label], tf.cast(masks[task.label], tf.float32), outputs[task.name],
                                  logits[task.name])
            losses[task.name], mask = task_type(task.type).loss(
                task, self.heads[task.name], self.task_metrics[task.name], batch, context)
            counts[task.name] = tf.reduce_sum(mask)
        return losses, counts

    def weighted_losses(self, losses: dict) -> list[tf.Tensor]:
        """Each task's loss times its fixed weight, in the tasks' order."""
        return [task.weight * losses[task.name] for task in self.tasks]

    def total_loss(self, losses: dict) -> tf.Tensor:
        if self.loss_weighting is not None:
            return self.loss_weighting(losses)
        return tf.add_n(self.weighted_losses(losses))

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
        if any(task.learning_rate_scale != 1.0 for task in self.tasks):
            self.rate_scaled_weights = self.task_rate_scales(data)
        self.reset_metrics()
        # Built models get their optimizer built before a backup is restored into it, so the
        # optimizer's step count and moments are restored with the weights.
        self.built = True

    def task_rate_scales(self, data: tuple[dict, dict, dict]) -> list[tuple[tf.Variable, float]]:
        """The weights whose learning rate differs from the configured one, with its factor.

        A weight takes the `learning_rate_scale` of the tasks that train it when they all have
        the same one; which tasks train it is which tasks' losses the backward pass of one batch
        connects it to (a gradient, zero or not, rather than none).
        """
        features, labels, masks = data
        with tf.GradientTape(persistent=True) as tape:
            losses, _ = self.compute_losses(features, labels, masks, training=False)
        variables = self.trainable_variables
        reaching = reaching_tasks([tape.gradient(losses[task.name], variables) for task in self.tasks])
        del tape
        scaled = []
        for variable, tasks in zip(variables, reaching):
            scales = {self.tasks[t].learning_rate_scale for t in tasks}
            if len(scales) == 1 and (scale := scales.pop()) != 1.0:
                scaled.append((variable, scale))
        return scaled

    def train_step(self, data: tuple[dict, dict, dict]) -> dict[str, tf.Tensor]:
        features, labels, masks = data
        # Replicas' gradients are summed: each replica contributes its share of the mean.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        surgery = self.config.gradient_surgery == "pcgrad"
        with tf.GradientTape(persistent=surgery) as tape:
            losses, counts = self.compute_losses(features, labels, masks, training=True)
            regularization = tf.add_n(self.losses) / replicas if self.losses else None
            if surgery:  # fixed weights only: the configuration refuses it with learned ones
                weighted = self.weighted_losses(losses)
                total = tf.add_n(weighted)
                task_objectives = [loss / replicas for loss in weighted]
            else:
                total = self.total_loss(losses)
                objective = total / replicas if regularization is None else total / replicas + regularization
        variables = self.trainable_variables
        if surgery:
            # One backward pass per task; their gradients combine without conflicts.
            gradients = combine_gradients([tape.gradient(task_objective, variables)
                                           for task_objective in task_objectives])
            if regularization is not None:
                gradients = [_add(g, r) for g, r in zip(gradients, tape.gradient(regularization, variables))]
            del tape
        else:
            gradients = tape.gradient(objective, variables)
        self.optimizer.apply_gradients(
            (g, v) for g, v in zip(gradients, variables) if g is not None
        )
        return self._update_trackers(losses, counts, total)

    def test_step(self, data: tuple[dict, dict, dict]) -> dict[str, tf.Tensor]:
        features, labels, masks = data
        losses, counts = self.compute_losses(features, labels, masks, training=False)
        return self._update_trackers(losses, counts, self.total_loss(losses))


def _add(gradient: Any, other: Any) -> Any:
    """The sum of two gradients of one variable, either of them `None`."""
    if gradient is None or other is None:
        return other if gradient is None else gradient
    return tf.convert_to_tensor(gradient) + tf.convert_to_tensor(other)
