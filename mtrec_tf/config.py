"""Frozen dataclass configuration, YAML files and `key=value` overrides.

No TensorFlow here: the command line resolves and writes a configuration before any
TensorFlow import.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Sequence
from typing import Any

import yaml

from mtrec_tf.data.event_types import DEFAULT_EVENT_TYPES, EventTypes
from mtrec_tf.data.schema import BAD_ROW_POLICIES, UNKNOWN_ITEM_POLICIES
from mtrec_tf.errors import ConfigError, check_choice
from mtrec_tf.features.spec import DEFAULT_FEATURES, FeatureConfig, check_features, written_settings

SPLIT_METHODS = ("time", "leave_last_out", "random")


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """How events are split into training, validation and test parts.

    Args:
        method: "time" cuts all events at two global timestamps (quantiles of the event
            times); "leave_last_out" holds out each user's last click for test and the one
            before it for validation, as sequential recommendation benchmarks do; "random"
            assigns events to parts at random (seeded), for published protocols that use
            it, such as the TensorFlow Recommenders MovieLens tutorials. It is not
            leak-free for sequences: prefer "time" for your own data.
        validation_fraction: share of events in validation ("time" and "random").
        test_fraction: share of events in test ("time" and "random").
        min_user_clicks: with "leave_last_out", users with fewer clicks stay in training.
    """

    method: str = "time"
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    min_user_clicks: int = 3

    def __post_init__(self) -> None:
        check_choice("data.split.method", self.method, SPLIT_METHODS, ConfigError)
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"data.split.{name} must be in [0, 1), got {value!r}")
        if self.validation_fraction + self.test_fraction >= 1.0:
            raise ConfigError(
                "data.split.validation_fraction + data.split.test_fraction must be below 1, "
                f"got {self.validation_fraction} + {self.test_fraction}"
            )


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the data come from and how examples are built.

    Args:
        events, items, queries: files or folders of shards; all None means the built-in
            sample world.
        users: the optional users table (`user_id` and profile columns, read by `features`
            of table "users").
        sample_scale, sample_seed: size and seed of the built-in sample world.
        sample_event_types: its event types, "default" or "extended" (adds view and
            favorite events; `event_types` must declare them, as
            `configs/sample_extended_events.yaml` does).
        bad_rows: "error" stops at the first bad row; "skip" drops or repairs bad rows and
            reports how many and why.
        unknown_items: events whose item is not in the catalogue are kept as
            out-of-vocabulary ("keep") or dropped ("drop"); counted either way.
        event_types: the shop's event types and their roles (`mtrec_tf.data.event_types`),
            written `{type: [role, ...]}`; default search, impression, click, add_to_cart and
            purchase.
        history_length: how many past behaviour events (by default click, add to cart,
            purchase) an example carries, most recent last.
        history_includes_searches: the history also holds the user's past searches (with a
            query), in time order among the behaviour events: each such step is the query's
            text, encoded by the shared text encoder, with the search's event type.
        min_token_count: query tokens seen fewer times in training are out of vocabulary.
        image_validation_fraction, image_test_fraction: items held out for the image task.
        split: see `SplitConfig`.
        examples: a `mtrec data examples` output folder to train from: its shards are
            streamed instead of examples being built from the tables (the other data
            settings are then those it was built with, `examples_dir.use_examples`).
    """

    events: str | None = None
    items: str | None = None
    queries: str | None = None
    users: str | None = None
    sample_scale: int = 1
    sample_seed: int = 0
    sample_event_types: str = "default"
    bad_rows: str = "error"
    unknown_items: str = "keep"
    event_types: EventTypes = DEFAULT_EVENT_TYPES
    history_length: int = 50
    history_includes_searches: bool = False
    min_token_count: int = 1
    image_validation_fraction: float = 0.1
    image_test_fraction: float = 0.1
    split: SplitConfig = dataclasses.field(default_factory=SplitConfig)
    examples: str | None = None

    def __post_init__(self) -> None:
        check_choice("data.bad_rows", self.bad_rows, BAD_ROW_POLICIES, ConfigError)
        check_choice("data.unknown_items", self.unknown_items, UNKNOWN_ITEM_POLICIES, ConfigError)
        if self.history_length < 1:
            raise ConfigError(f"data.history_length must be at least 1, got {self.history_length}")
        if self.sample_scale < 1:
            raise ConfigError(f"data.sample_scale must be at least 1, got {self.sample_scale}")
        check_choice("data.sample_event_types", self.sample_event_types, SAMPLE_EVENT_TYPE_SETS, ConfigError)
        undeclared = [t for t in ("view", "favorite") if t not in self.event_types.names]
        if self.sample_event_types == "extended" and self.events is None and undeclared:
            raise ConfigError(f"data.sample_event_types 'extended' logs {', '.join(undeclared)} events: declare them "
                              "in data.event_types (configs/sample_extended_events.yaml does)")
        if (self.events is None) != (self.items is None):
            raise ConfigError("data.events and data.items go together: give both or neither")
        if self.users is not None and self.events is None:
            raise ConfigError("data.users goes with data.events and data.items "
                              "(the built-in sample has no users table)")


# The sample shop's event-type sets: its default five, or with view and favorite
# (`mtrec_tf.data.sample_events`).
SAMPLE_EVENT_TYPE_SETS = ("default", "extended")
COMBINATIONS = ("shared_bottom", "mmoe", "ple")
RETRIEVAL_SIMILARITIES = ("cosine", "dot")
TEXT_ENCODERS = ("bilstm", "none")
HISTORY_ENCODERS = ("bilstm", "transformer")
HISTORY_NORMS = ("pre", "post")  # CausalSelfAttentionEncoder's `norm` and `activation`
HISTORY_ACTIVATIONS = ("relu", "gelu")
HISTORY_POSITIONS = ("forward", "backward")
HISTORY_FREQUENCY_WINDOWS = ("causal", "whole")
ENCODER_TRAININGS = ("all", "not_ranking", "readers", "image_readers")
LOSS_WEIGHTINGS = ("fixed", "uncertainty")
GRADIENT_SURGERIES = ("none", "pcgrad")
OPTIMIZERS = ("adam", "lazy_adam")


@dataclasses.dataclass(frozen=True)
class TaskConfig:
    """One task: a head of the model, its label, loss and weight.

    Args:
        name: the task's name; the model's output and metrics are keyed by it.
        type: "multiclass", "binary", "regression" or "retrieval".
        label: the example label the task learns (`label_<label>` / `mask_<label>`).
        inputs: the encoded inputs the head reads: any of "query", "user", "item", "image".
        weight: the weight of the task's loss in the total loss.
        parent: for a "binary" task, another binary task whose probability multiplies
            this one's, as ESMM does for conversion: p(buy) = p(click) * p(buy | click).
        label_smoothing: for a "multiclass" task, the share of the target spread evenly
            over all classes; it tempers over-confidence on noisy labels (a query's label
            is the category of the item clicked after it, not always the one searched for).
        loss: "" for the type's loss (softmax cross-entropy, binary cross-entropy, squared
            error, in-batch sampled softmax), or "hinge" for a "multiclass" task: the
            multiclass hinge loss of Crammer and Singer, a linear SVM's when the head is
            linear. Its probabilities (the softmax of the scores) rank the classes but are
            not calibrated. For a "retrieval" task: "full_softmax", cross-entropy over the
            whole catalogue (every item encoded at every step; catalogues up to
            `tasks.retrieval.FULL_SOFTMAX_MAX_ITEMS` items), or "sampled_softmax", the in-batch
            softmax with `negatives` more items drawn from the catalogue at every step.
        negatives: items drawn per step as extra negatives by "sampled_softmax".
        negatives_top_up: `negatives` is the number of candidates a step has in all: only as
            many items are drawn as the batch's own targets fall short of it. A retrieval
            task's rows are then as many candidates in a multi-task batch, where they are a
            share of the rows, as in a batch of its own. On the sample (scale 3, far validation,
            seed 15) next_item topped up to 512 by "clicks" in the five-task model moved
            tail_recall@50 from 0.350 to 0.525 and Recall@50 from 0.693 to 0.653: not the default.
        negative_sampling: how they are drawn: "popularity" (by training clicks, plus one so
            that every item is drawn now and then), "clicks" (by training clicks alone, as the
            batch's own targets come: an item never clicked in training is never drawn, as it
            is never a target) or "uniform".
        positions: for a "retrieval" task, which steps of a history train: "last", one
            example per click (its history, and its query, predict the clicked item); "all",
            every step of a user's history at once (the history encoder runs once over a
            sequence and each step predicts the next click), for a task that reads the user
            alone (a step has no query of its own) with the causal `model.history_encoder`
            "transformer"; "auto" (the default) is "all" where it applies and "last"
            otherwise. Validation and evaluation score the last step of each example either
            way.
        event_type: for a "binary" task, label it by an event type of the shop's
            (`data.event_types`) instead of an events column: an impression's label is 1 when
            an event of that type on its item follows it in its session (a `favorite` task,
            as `ctr` is labelled by the click), and `label` names it.
        position_bias: for a "binary" or "regression" task that reads the item, learn the
            slot each impression was shown in (the examples' `position`): a shallow tower's
            logit (`mtrec_tf.layers.PositionBias`, `model.position_buckets` slots) is added
            to the task's logit in training and validation and left out of predictions,
            evaluation and serving, so that the served score ranks items by relevance
            rather than by the slot they happened to get.
        learning_rate_scale: multiplies `training.learning_rate` (and its schedule) for the
            weights this task trains that no task of another scale trains too: its head and
            tower, and the encoders only tasks of its scale reach. Adam's steps do not grow
            with the loss weight on weights one task trains alone; this factor does. Weights
            tasks of different scales share keep the configured rate.
    """

    name: str
    type: str
    label: str
    inputs: tuple[str, ...]
    weight: float = 1.0
    parent: str | None = None
    label_smoothing: float = 0.0
    loss: str = ""
    negatives: int = 0
    negatives_top_up: bool = False
    negative_sampling: str = "popularity"
    positions: str = "auto"
    position_bias: bool = False
    event_type: str = ""
    learning_rate_scale: float = 1.0

    def __post_init__(self) -> None:
        from mtrec_tf.tasks import TASK_TYPES

        check_choice(f"tasks.{self.name}.type", self.type, tuple(TASK_TYPES), ConfigError)
        own_losses = TASK_TYPES[self.type].other_losses
        if self.loss and self.loss not in own_losses:
            takers = [name for name, kind in TASK_TYPES.items() if self.loss in kind.other_losses]
            if takers:
                raise ConfigError(f"tasks.{self.name}.loss {self.loss!r} applies to {', '.join(takers)} tasks, "
                                  f"not {self.type!r}")
            choices = f" or one of {', '.join(own_losses)}" if own_losses else ""
            raise ConfigError(f"tasks.{self.name}.loss must be empty (the type's loss){choices}; got {self.loss!r}")
        check_choice(f"tasks.{self.name}.negative_sampling", self.negative_sampling, NEGATIVE_SAMPLINGS,
                     ConfigError)
        if (self.loss == "sampled_softmax") != (self.negatives > 0):
            raise ConfigError(f"tasks.{self.name}: negatives (got {self.negatives}) must be at least 1 with "
                              f"loss 'sampled_softmax', and 0 with any other loss (got {self.loss or 'the default'!r})")
        if self.negatives_top_up and self.loss != "sampled_softmax":
            raise ConfigError(f"tasks.{self.name}.negatives_top_up applies to loss 'sampled_softmax' "
                              f"(got {self.loss or 'the default'!r})")
        check_choice(f"tasks.{self.name}.positions", self.positions, POSITIONS, ConfigError)
        if self.positions != "auto" and not TASK_TYPES[self.type].trains_positions:
            raise ConfigError(f"tasks.{self.name}.positions applies to retrieval tasks, not {self.type!r}")
        if self.position_bias and not TASK_TYPES[self.type].shares_ranking_bottom:
            raise ConfigError(f"tasks.{self.name}.position_bias applies to binary and regression tasks, "
                              f"not {self.type!r}")
        if self.position_bias and "item" not in self.inputs:
            raise ConfigError(f"tasks.{self.name}.position_bias learns the slot an item was shown in: the task "
                              f"must read the item (inputs: {', '.join(self.inputs)})")
        if self.event_type and not TASK_TYPES[self.type].labelled_by_events:
            labelled = ", ".join(name for name, kind in TASK_TYPES.items() if kind.labelled_by_events)
            raise ConfigError(f"tasks.{self.name}.event_type labels {labelled} tasks (whether the event followed "
                              f"an impression), not {self.type!r} ones")
        if self.loss == "hinge" and self.label_smoothing:
            raise ConfigError(f"tasks.{self.name}: label_smoothing applies to the cross-entropy loss, not 'hinge'")
        unknown = sorted(set(self.inputs) - set(TASK_INPUTS))
        if unknown:
            raise ConfigError(
                f"tasks.{self.name}.inputs: unknown input {unknown[0]!r}; known: {', '.join(TASK_INPUTS)}"
            )
        if self.weight < 0:
            raise ConfigError(f"tasks.{self.name}.weight must not be negative, got {self.weight}")
        if not self.learning_rate_scale > 0:
            raise ConfigError(f"tasks.{self.name}.learning_rate_scale must be positive, got {self.learning_rate_scale}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"tasks.{self.name}.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.label_smoothing and not TASK_TYPES[self.type].takes_label_smoothing:
            raise ConfigError(f"tasks.{self.name}.label_smoothing applies to multiclass tasks, not {self.type!r}")


TASK_INPUTS = ("query", "user", "item", "image")
NEGATIVE_SAMPLINGS = ("popularity", "clicks", "uniform")
POSITIONS = ("auto", "last", "all")


def default_tasks() -> tuple[TaskConfig, ...]:
    """The five e-commerce tasks."""
    return (
        # A query's label is the category clicked after it, which is not always the one
        # searched for: smoothing tempers the classifier's confidence on such labels.
        TaskConfig("query_category", "multiclass", "query_category", ("query",), label_smoothing=0.1),
        TaskConfig("ctr", "binary", "ctr", ("user", "item", "query")),
        TaskConfig("cvr", "binary", "cvr", ("user", "item", "query"), parent="ctr"),
        TaskConfig("next_item", "retrieval", "next_item", ("user", "query")),
        # The image encoder also serves the item tower; a larger weight keeps the image
        # task from being drowned by the ranking tasks' gradients (6 against 3, far
        # validation period, four seeds: next_item Recall@50 +0.003, tail +0.04).
        TaskConfig("image_category", "multiclass", "image_category", ("image",), weight=6.0),
    )


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Sizes and structure of the multi-task model.

    Args:
        embedding_dim: width of the shared item, token, category and brand embeddings.
        text_encoder: "bilstm" encodes queries and titles with the shared BiLSTM and
            attention pooling; "none" encodes no text, so a multiclass head that reads the
            query is its n-gram bag alone (plus a learned class bias): fastText's linear
            classifier, for text-only configurations with plenty of labelled text, where
            it is more accurate and many times faster. Other tasks cannot read the query
            then, and the item tower does without the title.
        text_units: units of each direction of the text BiLSTM.
        history_encoder: how the behaviour history becomes the user vector: "bilstm", a
            BiLSTM with attention pooling (a `2 * history_units` wide vector); "transformer",
            causal self-attention blocks with learned positions (SASRec), read at the most
            recent event (`history_units` wide). Event-type and time-gap embeddings are
            added to each step's item embedding either way (`UserEncoder`: the
            transformer's are causal). On the sample (seeds 42 and 1) the transformer is
            level with the BiLSTM on the ranking and classification tasks (ctr AUC 0.677,
            0.681 against 0.675, 0.678) but lowers next_item Recall@50 (0.788 -> 0.761,
            0.798 -> 0.754); it trains all positions at once where a retrieval task reads
            the user alone (`TaskConfig.positions`).
        history_units: units of each direction of the behaviour BiLSTM, or the width of
            the transformer.
        history_heads: attention heads of the transformer; `history_units` must be a
            multiple of it.
        history_blocks: self-attention blocks of the transformer.
        history_feedforward_units: hidden width of the transformer's feed-forward parts;
            0 makes it `history_units` (SASRec's choice; BSARec's is four times that).
        history_norm: the transformer's blocks: "pre" (pre-LN, SASRec's block) or "post"
            (BERT's post-LN blocks after a layer norm of the input sum, as BERT4Rec and
            BSARec use; `CausalSelfAttentionEncoder`).
        history_activation: of the transformer's feed-forward parts, "relu" or "gelu".
        history_init_stddev: the transformer's projections and position table start from
            N(0, history_init_stddev^2) (0.02 in BERT and BSARec); 0 keeps Keras' defaults
            (Glorot-uniform kernels, positions uniform in [-0.05, 0.05]).
        history_frequency_mix: weight in [0, 1) of BSARec's low-pass filter beside the
            attention of each post-LN block, made causal (`CausalSelfAttentionEncoder`'s
            `frequency_mix`); 0 turns it off. Needs `history_norm: post`.
        history_frequency_bins: the lowest frequencies that filter keeps over a window of
            `data.history_length` steps (BSARec's `c` is twice this less one).
        history_frequency_window: which steps that filter reads: "causal", those up to each
            step; "whole", every step of the history, as BSARec's FFT does, so a step reads
            later ones and only the last step may train: retrieval tasks then train one
            example per click (`positions: auto` means "last"; "all" is refused).
        history_positions: what the transformer's learned positions count: "forward", the
            steps before each step (a step's output does not depend on how many follow it);
            "backward", the steps after it, so the newest step is always position 0 (SASRec's
            and BSARec's left-padded windows).
        history_dropout: dropout rate inside the transformer (its inputs, attention
            weights, feed-forward part and residual branches).
        max_query_tokens, max_title_tokens: longer texts are truncated.
        subword_buckets: hash buckets of the character trigrams added to each token's
            embedding (fastText subwords), so misspelt and unseen words are understood;
            0 turns them off. Off by default: on the sample they lift query intents
            (0.876 -> 0.896 single-task) but cost the ranking tasks of the five-task model
            (ctr AUC 0.688 -> 0.659, next_item Recall@50 0.807 -> 0.784).
        max_subwords: trigrams kept per token.
        ngram_buckets: hash buckets of the bag of query token n-grams whose linear scores
            are added to the logits of multiclass heads that read the query (a wide, linear
            part beside the deep BiLSTM, as in Wide & Deep; fastText's classifier); 0 turns
            it off. It hands the head exact n-gram evidence that the BiLSTM learns slowly.
        ngram_order: the longest n-gram of that bag, in tokens (Chinese: characters).
        ngram_char_width: the bag also holds the character n-grams of this width of every
            word longer than one character, so a misspelt word keeps most of its bag; 0: none.
        ngram_dropout: share of each training query's n-grams left out of its bag.
        user_buckets: hashed user-id embedding buckets; 0 turns it off.
        image_dim: output width of the image encoder.
        image_backbone: a Keras image model file used instead of the small CNN.
        combination: "shared_bottom", "mmoe" or "ple" for the ranking tasks.
        num_experts, expert_units: of MMoE and PLE.
        tower_units: hidden units of each task tower.
        retrieval_dim: width of the user and item vectors compared by `next_item`.
        retrieval_temperature: the in-batch softmax divides scores by it. 0.05 against 0.1 in
            the five-task model (the sample's far validation period, scale 3, seeds 16, 17,
            18): coverage@50 +0.05, Recall@50 -0.002 (-0.011 to +0.008), CTCVR AUC -0.009.
        retrieval_similarity: how `next_item` compares user and item vectors: "cosine"
            (both L2-normalised, so scores lie in [-1, 1] before the temperature) or "dot"
            (unnormalised, as SASRec scores; pair it with `retrieval_temperature=1`).
        tie_item_embeddings: `next_item` scores users against the item embeddings that
            histories read (SASRec's shared input and output embeddings): an item's retrieval
            vector is its id embedding plus a linear map of its other features, with no item
            tower in the head; `retrieval_dim` must equal `embedding_dim`. Every item's vector
            is then trained by each history it appears in as well as by each click on it.
        loss_weighting: "fixed" weights from the tasks, or learned "uncertainty" weights.
        gradient_surgery: how the tasks' weighted gradients combine on the weights two or
            more of them train: "none" sums them; "pcgrad" first projects each off every other
            it conflicts with (Yu et al. 2020), at the cost of one backward pass per task.
            Needs fixed loss weights. Not the default: on the sample's far validation period
            (scale 3, seeds 12, 13, 14, against "none") next_item Recall@50 +0.0013 ± 0.0012,
            tail_recall@50 +0.025 ± 0.007 and coverage@50 +0.008 ± 0.005, but CTCVR AUC
            -0.004 ± 0.002 and ctr AUC -0.002 ± 0.001, query and image accuracy level; it
            costs 1.45x per training example on the five-task model. With the image weight 6
            (seeds 16, 17, 18): Recall@50 -0.0015, +0.0004, +0.0004, tail_recall@50 -0.04.
        ranking_item_gradient: what of the candidate's encoding the ranking tasks (binary
            and regression heads that read the item) train, in a model with a retrieval task
            (whose targets train the item side; without one they train all of it, whatever
            this says): true, all of it (the shared item encoder, its embedding tables and
            the target attention); "encoders", all but the embedding tables (the item id's
            and the other item features': the ranking tasks read them through a
            stop-gradient, while the item tower, the target attention and, as
            `encoder_training` says, the image and title encoders learn from them); false (the
            default), none of the shared encoding: only the target attention, which they alone
            read. Impressions favour popular items: their gradient in the shared item side
            keeps next_item from the long tail. On the sample (scale 1, seeds 42, 1, 2,
            validation, "encoders" against true): tail_recall@50 0.884 against 0.000,
            coverage@50 0.984 against 0.791, Recall@50 +0.004, ctr AUC +0.009, image accuracy
            +0.058, CTCVR AUC -0.003 and query accuracy -0.005 (within two standard errors).
            False against "encoders" (scale 3, cosine, `not_ranking`, validation, seeds 6, 3,
            4, means): tail_recall@50 +0.028, Recall@50 +0.0014, coverage@50 +0.003, image
            accuracy +0.003, ctr AUC and query accuracy level (-0.0003), CTCVR AUC -0.007.
        ranking_user_gradient: whether the ranking tasks train the user's encoding (the history
            encoder and, through the history, the item id table) in a model where another task
            (a retrieval task) reads the user too; false (the default): they read the user
            vector through a stop-gradient, and the user side is that task's to learn, as the
            item side is with `ranking_item_gradient` false. Chosen on the sample's validation
            period with training stopped one period earlier (`bench/mtl_claim.py --part
            far_validation`; scale 3, seeds 9, 10, 11, false against true): next_item Recall@50
            +0.0054, +0.0050, +0.0043; CTCVR AUC +0.010, +0.003 and ctr AUC +0.007, -0.002
            (seeds 10, 11); query accuracy level; image accuracy -0.025, +0.014.
        encoder_training: which tasks train the shared text and image encoders: "all", every
            task whose inputs pass through them (the query a task reads, the items' text
            features and image in the item tower); "not_ranking", all but the ranking tasks,
            which read those encodings through a stop-gradient; "readers", only the tasks
            other than the ranking ones that read the encoder's input directly (query
            classification the text encoder, image classification the image encoder);
            "image_readers", "readers" for the image encoder and "not_ranking" for the text
            encoder (against "not_ranking" on the sample's far validation period, scale 3,
            seeds 12, 13, 15: image accuracy +0.003, -0.008, +0.061, next_item Recall@50
            -0.010, -0.008, -0.006). The last three apply to an encoder only when the model
            has such a task; otherwise every task trains it. "not_ranking" is the default,
            chosen on the sample's validation part (scale 3, cosine schedule, seeds 3, 4, 5)
            against "all": next_item Recall@50 +0.0045 (on every seed), query accuracy
            +0.0008, CTCVR AUC +0.008 and image accuracy +0.034 (seeds 4, 5), ctr AUC
            -0.001; Recall@50 came level with the single-task model's
            (paired difference -0.0018, standard error 0.0024; -0.0061, 0.0033 with "all").
            Under the constant rate (seeds 42, 1, 2) it had cost image accuracy 0.031. The
            test part's verdict is in the README's claim section.
        position_buckets: slots with a row of their own in the position-bias tower of
            tasks with `position_bias` (later slots share the last row).
        dropout: dropout rate in towers and the shared bottom.
        init_embeddings: a `mtrec pretrain` output folder to warm-start shared tables.
        freeze_embeddings: keep warm-started tables fixed.
    """

    embedding_dim: int = 32
    text_encoder: str = "bilstm"
    text_units: int = 32
    history_encoder: str = "bilstm"
    history_units: int = 32
    history_heads: int = 2
    history_blocks: int = 2
    history_feedforward_units: int = 0
    history_norm: str = "pre"
    history_activation: str = "relu"
    history_init_stddev: float = 0.0
    history_frequency_mix: float = 0.0
    history_frequency_bins: int = 2
    history_frequency_window: str = "causal"
    history_positions: str = "forward"
    history_dropout: float = 0.2
    max_query_tokens: int = 16
    max_title_tokens: int = 24
    subword_buckets: int = 0
    max_subwords: int = 10
    ngram_buckets: int = 65536
    ngram_order: int = 2
    ngram_char_width: int = 3
    ngram_dropout: float = 0.0
    user_buckets: int = 0
    image_dim: int = 32
    image_backbone: str | None = None
    combination: str = "shared_bottom"
    num_experts: int = 4
    expert_units: int = 64
    tower_units: tuple[int, ...] = (64,)
    retrieval_dim: int = 32
    retrieval_temperature: float = 0.1
    retrieval_similarity: str = "cosine"
    tie_item_embeddings: bool = False
    loss_weighting: str = "fixed"
    gradient_surgery: str = "none"
    ranking_item_gradient: bool | str = False
    ranking_user_gradient: bool = False
    encoder_training: str = "not_ranking"
    position_buckets: int = 20
    dropout: float = 0.2
    init_embeddings: str | None = None
    freeze_embeddings: bool = False

    def __post_init__(self) -> None:
        check_choice("model.combination", self.combination, COMBINATIONS, ConfigError)
        check_choice("model.text_encoder", self.text_encoder, TEXT_ENCODERS, ConfigError)
        check_choice("model.history_encoder", self.history_encoder, HISTORY_ENCODERS, ConfigError)
        check_choice("model.history_norm", self.history_norm, HISTORY_NORMS, ConfigError)
        check_choice("model.history_activation", self.history_activation, HISTORY_ACTIVATIONS, ConfigError)
        check_choice("model.history_positions", self.history_positions, HISTORY_POSITIONS, ConfigError)
        check_choice("model.history_frequency_window", self.history_frequency_window, HISTORY_FREQUENCY_WINDOWS,
                     ConfigError)
        check_choice("model.encoder_training", self.encoder_training, ENCODER_TRAININGS, ConfigError)
        check_choice("model.loss_weighting", self.loss_weighting, LOSS_WEIGHTINGS, ConfigError)
        check_choice("model.gradient_surgery", self.gradient_surgery, GRADIENT_SURGERIES, ConfigError)
        if self.gradient_surgery != "none" and self.loss_weighting != "fixed":
            raise ConfigError(f"model.gradient_surgery={self.gradient_surgery} combines the fixed task weights' "
                              f"gradients: set model.loss_weighting=fixed (got {self.loss_weighting!r})")
        for name in ("embedding_dim", "text_units", "history_units", "image_dim", "retrieval_dim",
                     "max_query_tokens", "max_title_tokens", "max_subwords", "num_experts", "expert_units",
                     "ngram_order", "history_heads", "history_blocks", "position_buckets", "history_frequency_bins"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be at least 1, got {getattr(self, name)}")
        for name in ("subword_buckets", "ngram_buckets", "ngram_char_width", "history_feedforward_units"):
            if getattr(self, name) < 0:
                raise ConfigError(f"model.{name} must be 0 or more, got {getattr(self, name)}")
        for name in ("dropout", "ngram_dropout", "history_dropout", "history_frequency_mix"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"model.{name} must be in [0, 1), got {getattr(self, name)}")
        if self.history_encoder == "transformer" and self.history_units % self.history_heads:
            raise ConfigError(f"model.history_units ({self.history_units}) must be a multiple of "
                              f"model.history_heads ({self.history_heads}) for the transformer")
        if self.history_init_stddev < 0:
            raise ConfigError(f"model.history_init_stddev must be 0 or more, got {self.history_init_stddev}")
        if self.ranking_item_gradient not in (True, False, "encoders"):
            raise ConfigError("model.ranking_item_gradient must be true, false or encoders, "
                              f"got {self.ranking_item_gradient!r}")
        if self.history_frequency_mix and self.history_norm != "post":
            raise ConfigError("model.history_frequency_mix needs model.history_norm: post (BSARec's blocks), "
                              f"got {self.history_norm!r}")
        if self.retrieval_temperature <= 0:
            raise ConfigError(f"model.retrieval_temperature must be positive, got {self.retrieval_temperature}")
        check_choice("model.retrieval_similarity", self.retrieval_similarity, RETRIEVAL_SIMILARITIES, ConfigError)
        if self.tie_item_embeddings and self.retrieval_dim != self.embedding_dim:
            raise ConfigError(f"model.tie_item_embeddings compares users with the item embeddings themselves: "
                              f"model.retrieval_dim ({self.retrieval_dim}) must equal model.embedding_dim "
                              f"({self.embedding_dim})")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How the model is fitted.

    Args:
        batch_size: examples per step.
        epochs: passes over the training examples.
        learning_rate: of the optimizer.
        learning_rate_schedule: "cosine" (the default): the rate decays from `learning_rate`
            to 0 over `epochs` along half a cosine (Loshchilov and Hutter); "constant". On the
            sample (scale 3, seeds 3, 4, 5, validation) cosine lifts the five-task model's
            Recall@50 by 0.016, ctr AUC by 0.011 and CTCVR AUC by 0.017, and the single-task
            models' as much.
        optimizer: "adam", or "lazy_adam": Adam that updates only the rows of an
            embedding table or n-gram bag that a batch looked up (`LazyAdam`). Much faster
            with large tables: 3.7x on the online_shopping n-gram bag of 2^20 buckets
            (`bench/optimizer_speed.py`), 1.07x on the five-task sample model.
        checkpoint_every_steps: also checkpoint every this many steps (0: epoch ends only).
        early_stopping_metric: a validation metric such as "val_ctr_auc", or a retrieval
            task's ranking of the whole catalogue such as "val_next_item_ndcg@10" (computed
            each epoch when chosen); "" turns early stopping off. The best weights are restored.
        early_stopping_mode: "max" or "min".
        patience: epochs without improvement before stopping.
        shuffle_buffer: examples in the shuffle buffer.
        steps_per_epoch: cap on steps per epoch (0: a full pass).
        length_sorted_batches: 0 (the default) draws each batch uniformly; N > 0 sorts every
            N batches' worth of shuffled training examples by history length and cuts them
            into batches, in shuffled order, so that a batch of short histories skips the
            steps no history of it fills (the history encoders read up to the longest
            history in the batch). Faster where most histories are much shorter than
            `data.history_length` (one example per click on sequence data); a batch then
            holds users of about one history length, which the full softmax does not mind
            but in-batch negatives do. In-memory training examples only (not shard files).
        example_type_batches: 0 (the default) mixes the example types in each batch; N > 0
            groups every N batches' worth of shuffled training examples by type (query,
            impression, next_item, image) and cuts them into batches, in shuffled order, so
            that a batch but those at a group's edge trains the tasks of one type (a retrieval
            task's in-batch softmax then sees a whole batch of candidates, not its share of
            one). In-memory training examples only (not shard files).
    """

    batch_size: int = 512
    epochs: int = 4
    learning_rate: float = 0.003
    learning_rate_schedule: str = "cosine"
    optimizer: str = "adam"
    checkpoint_every_steps: int = 0
    early_stopping_metric: str = ""
    early_stopping_mode: str = "max"
    patience: int = 2
    shuffle_buffer: int = 20_000
    steps_per_epoch: int = 0
    length_sorted_batches: int = 0
    example_type_batches: int = 0

    def __post_init__(self) -> None:
        check_choice("training.early_stopping_mode", self.early_stopping_mode, ("max", "min"), ConfigError)
        check_choice("training.optimizer", self.optimizer, OPTIMIZERS, ConfigError)
        check_choice("training.learning_rate_schedule", self.learning_rate_schedule, ("constant", "cosine"),
                     ConfigError)
        if self.batch_size < 1 or self.epochs < 1:
            raise ConfigError("training.batch_size and training.epochs must be at least 1")
        if self.learning_rate <= 0:
            raise ConfigError(f"training.learning_rate must be positive, got {self.learning_rate}")
        if self.length_sorted_batches < 0:
            raise ConfigError(f"training.length_sorted_batches must be 0 or more, got {self.length_sorted_batches}")
        if self.example_type_batches < 0:
            raise ConfigError(f"training.example_type_batches must be 0 or more, got {self.example_type_batches}")


TUNERS = ("random", "bayesian", "hyperband")
WEIGHT_SEARCHES = ("log", "simplex", "fixed")


@dataclasses.dataclass(frozen=True)
class TuningConfig:
    """What `mtrec tune` searches and how it scores a trial.

    Args:
        objective: the validation score to maximise, a weighted sum of task metrics such as
            "0.4 * ctr.auc + 0.3 * next_item.recall@50 + 0.3 * query_category.accuracy", or
            the same as a mapping from "task.metric" to its coefficient. Coefficients are
            positive; each metric keeps its own direction (log loss and RMSE count
            negatively). "" weighs every task's headline metric equally.
        tuner: "random", "bayesian" or "hyperband".
        max_trials: trials of the search in all (a resumed search counts the earlier ones).
        weights: how task loss weights are searched: "log" (each weight log-uniform in
            `weight_range`), "simplex" (weights that sum to the number of searched tasks,
            uniform on the simplex) or "fixed" (kept as configured).
        weight_range: lowest and highest weight of the "log" search.
        tasks: the tasks whose weights are searched; empty: every task.
        learning_rate: empty, or the lowest and highest learning rate (log scale).
        embedding_dim: empty, or the `model.embedding_dim` values to try.
        units: empty, or the values to try for `model.text_units` and `model.history_units`.
        hyperband_factor: the reduction factor of the "hyperband" tuner, whose longest
            trials train for `training.epochs`.
    """

    objective: str | dict[str, float] = ""  # a mapping becomes the canonical text
    tuner: str = "random"
    max_trials: int = 10
    weights: str = "log"
    weight_range: tuple[float, ...] = (0.1, 10.0)
    tasks: tuple[str, ...] = ()
    learning_rate: tuple[float, ...] = ()
    embedding_dim: tuple[int, ...] = ()
    units: tuple[int, ...] = ()
    hyperband_factor: int = 3

    def __post_init__(self) -> None:
        from mtrec_tf.tuning.objective import canonical_objective

        # A mapping becomes the canonical text, so that the YAML round trip is exact.
        object.__setattr__(self, "objective", canonical_objective(self.objective))
        check_choice("tuning.tuner", self.tuner, TUNERS, ConfigError)
        check_choice("tuning.weights", self.weights, WEIGHT_SEARCHES, ConfigError)
        if not isinstance(self.max_trials, int) or self.max_trials < 1:
            raise ConfigError(f"tuning.max_trials must be a whole number of at least 1, got {self.max_trials!r}")
        if not isinstance(self.hyperband_factor, int) or self.hyperband_factor < 2:
            raise ConfigError(f"tuning.hyperband_factor must be a whole number of at least 2, "
                              f"got {self.hyperband_factor!r}")
        _check_range("tuning.weight_range", self.weight_range, required=True)
        _check_range("tuning.learning_rate", self.learning_rate, required=False)
        for name in ("embedding_dim", "units"):
            values = getattr(self, name)
            if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
                raise ConfigError(f"tuning.{name} must list whole numbers of at least 1, got {list(values)}")
            if len(set(values)) != len(values):
                raise ConfigError(f"tuning.{name} lists a value twice: {list(values)}")
        if len(set(self.tasks)) != len(self.tasks):
            raise ConfigError(f"tuning.tasks names a task twice: {list(self.tasks)}")


def _check_range(key: str, values: Sequence[Any], required: bool) -> None:
    if not values and not required:
        return
    if (len(values) != 2 or any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in values)
            or not 0 < values[0] < values[1]):
        raise ConfigError(f"{key} must be [low, high] with 0 < low < high{'' if required else ', or empty'}; "
                          f"got {list(values)}")


@dataclasses.dataclass(frozen=True)
class Config:
    """The whole configuration of a run; written into the run directory as config.yaml."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    tasks: tuple[TaskConfig, ...] = dataclasses.field(default_factory=default_tasks)
    seed: int = 42
    tuning: TuningConfig = dataclasses.field(default_factory=TuningConfig)
    # Without a `features:` section, the data contract's item columns (`DEFAULT_FEATURES`).
    features: tuple[FeatureConfig, ...] = DEFAULT_FEATURES

    def __post_init__(self) -> None:
        check_features(self.features)
        if any(feature.table == "users" for feature in self.features) and self.data.users is None:
            users = next(f.name for f in self.features if f.table == "users")
            raise ConfigError(f"features.{users} reads the users table: give it with --users (data.users)")
        readers = [task.name for task in self.tasks if "image" in task.inputs]
        if readers and not any(feature.kind == "image" for feature in self.features):
            raise ConfigError(f"tasks.{readers[0]} reads the item's image: the features need the image feature "
                              "(image: {table: items, kind: image}), or leave the task out")
        names = [task.name for task in self.tasks]
        if not names:
            raise ConfigError("tasks: at least one task is needed")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"tasks: task {duplicates[0]!r} is defined twice")
        _check_parents(self.tasks)
        _check_positions(self.tasks, self.model)
        for option in ("length_sorted_batches", "example_type_batches"):
            if getattr(self.training, option) and self.data.examples:
                raise ConfigError(f"training.{option} sorts the training examples in memory, and "
                                  f"data.examples reads them from shard files ({self.data.examples}): set it to 0")
        if self.model.history_frequency_mix and self.model.history_frequency_bins > self.data.history_length // 2:
            raise ConfigError(f"model.history_frequency_bins ({self.model.history_frequency_bins}) must be at most "
                              f"data.history_length // 2 ({self.data.history_length // 2})")
        _check_event_type_labels(self.tasks, self.data.event_types)
        for name in self.tuning.tasks:
            if name not in names:
                raise ConfigError(f"tuning.tasks names {name!r}, which is not a task; tasks: {', '.join(names)}")
        if self.tuning.objective:
            from mtrec_tf.tuning.objective import parse_objective

            parse_objective(self.tuning.objective, {task.name: task.type for task in self.tasks})

    def task(self, name: str) -> TaskConfig:
        for task in self.tasks:
            if task.name == name:
                return task
        raise ConfigError(f"no task named {name!r}; tasks: {', '.join(t.name for t in self.tasks)}")


def _check_event_type_labels(tasks: Sequence[TaskConfig], event_types: EventTypes) -> None:
    """A task labelled by an event type names a declared type and a label of its own."""
    from mtrec_tf.data.examples import DERIVED_LABELS

    for task in tasks:
        if task.event_type and task.event_type not in event_types.names:
            raise ConfigError(f"tasks.{task.name}.event_type {task.event_type!r} is not a declared event type; "
                              f"data.event_types: {', '.join(event_types.names)}")
        if task.event_type and task.label in DERIVED_LABELS:
            raise ConfigError(f"tasks.{task.name}.label {task.label!r} is a label the log derives; a label of an "
                              "event type needs a name of its own")


def _check_positions(tasks: Sequence[TaskConfig], model: ModelConfig) -> None:
    """Each task's training positions fit the model, and a task that trains all positions has
    its label to itself (its examples are reduced to one per history stretch)."""
    from mtrec_tf.tasks import TASK_TYPES

    for task in tasks:
        kind = TASK_TYPES[task.type]
        kind.check_positions(task, model)
        if kind.all_positions(task, model):
            sharing = [t.name for t in tasks if t.label == task.label and t.name != task.name]
            if sharing:
                raise ConfigError(
                    f"tasks.{task.name} trains all positions of label {task.label!r}, which keeps one example per "
                    f"history stretch, and {', '.join(sharing)} learn the same label one example per click: give "
                    f"tasks.{task.name}.positions=last, or each task a label of its own")


def _check_parents(tasks: Sequence[TaskConfig]) -> None:
    """ESMM parents form a forest of tasks of one type that takes parents: no self-parent, no
    parent of another type, no cycle."""
    from mtrec_tf.tasks import TASK_TYPES

    by_name = {task.name: task for task in tasks}
    for task in tasks:
        if task.parent is None:
            continue
        key = f"tasks.{task.name}.parent"
        if task.parent == task.name:
            raise ConfigError(f"{key}: task {task.name!r} cannot be its own parent")
        parent = by_name.get(task.parent)
        if parent is None:
            raise ConfigError(f"{key} names {task.parent!r}, which is not a task")
        if not TASK_TYPES[task.type].takes_parent:
            takers = [name for name, kind in TASK_TYPES.items() if kind.takes_parent]
            raise ConfigError(f"{key}: a {task.type} task has no parent; only {', '.join(takers)} tasks do (ESMM)")
        if parent.type != task.type:
            raise ConfigError(f"{key}: task {task.name!r} is {task.type} but its parent {parent.name!r} is "
                              f"{parent.type}; a parent's probability multiplies its child's, so both are {task.type}")
    for task in tasks:
        chain = [task.name]
        while (parent_name := by_name[chain[-1]].parent) is not None:
            chain.append(parent_name)
            if chain[-1] in chain[:-1]:
                cycle = chain[chain.index(chain[-1]):]
                raise ConfigError(f"tasks: the parents form a cycle: {' -> '.join(cycle)}")


def to_dict(config: Any) -> dict[str, Any]:
    """A plain nested dict of a dataclass configuration; tasks become a mapping by name."""
    values = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name == "tasks" and isinstance(config, Config):
            value = {entry.name: {k: v for k, v in _plain(to_dict(entry)).items() if k != "name"} for entry in value}
        elif field.name == "features" and isinstance(config, Config):
            value = {entry.name: written_settings(entry) for entry in value}
        elif isinstance(value, EventTypes):
            value = value.to_mapping()
        elif dataclasses.is_dataclass(value):
            value = to_dict(value)
        values[field.name] = _plain(value)
    return values


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def from_dict(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    """Builds dataclass `cls` from a nested dict, rejecting unknown keys by their full name."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'configuration'} must be a mapping, got {values!r}")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown configuration key {prefix}{unknown[0]}; "
            f"known keys here: {', '.join(prefix + name for name in fields)}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        hint = hints[name]
        if name == "tasks" and cls is Config:
            kwargs[name] = _tasks_from_dict(value)
        elif name == "features" and cls is Config:
            kwargs[name] = _features_from_dict(value)
        elif hint is EventTypes:
            kwargs[name] = EventTypes.from_mapping(value, key=f"{prefix}{name}")
        elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
            kwargs[name] = from_dict(hint, value or {}, prefix=f"{prefix}{name}.")
        else:
            kwargs[name] = checked_value(f"{prefix}{name}", value, hint)
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ConfigError(f"{prefix.rstrip('.') or 'configuration'}: {error}") from None


def checked_value(key: str, value: Any, hint: Any) -> Any:
    """`value` in the form of its field's type `hint` (lists become tuples, whole numbers floats
    where a float is expected); a value of another type is a ConfigError naming the key."""
    if not _has_type(value, hint):
        raise ConfigError(f"{key}: expected {_describe_type(hint)}, got {value!r}")
    if typing.get_origin(hint) is tuple:
        return tuple(float(v) if _plain_type(hint) is float else v for v in value)
    if hint is float:
        return float(value)
    return value


def _has_type(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, option) for option in typing.get_args(hint))
    if origin is tuple:
        return isinstance(value, (list, tuple)) and all(_has_type(v, _plain_type(hint)) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _plain_type(hint: Any) -> Any:
    """The element type of `tuple[X, ...]`."""
    return typing.get_args(hint)[0]


_TYPE_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false",
               type(None): "nothing (null)"}


def _describe_type(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe_type(option) for option in typing.get_args(hint))
    if origin is tuple:
        return f"a list of {_describe_type(_plain_type(hint)).removeprefix('a ')}s"
    if origin is dict:
        return "a mapping"
    return _TYPE_NAMES.get(hint, getattr(hint, "__name__", str(hint)))


def _tasks_from_dict(values: Any) -> tuple[TaskConfig, ...]:
    if not isinstance(values, dict):
        raise ConfigError(f"tasks must be a mapping from task name to its settings, got {values!r}")
    return tuple(from_dict(TaskConfig, {"name": name, **(spec or {})}, prefix=f"tasks.{name}.")
                 for name, spec in values.items())


def _features_from_dict(values: Any) -> tuple[FeatureConfig, ...]:
    """The features of a `features:` mapping; a name without settings (`brand: null`, or
    `--set features.brand=null`) is left out."""
    if not values:
        return ()
    if not isinstance(values, dict):
        raise ConfigError(f"features must be a mapping from feature name to its settings, got {values!r}")
    for name, spec in values.items():
        if spec is not None and not isinstance(spec, dict):
            raise ConfigError(f"features.{name} must be a mapping of settings (or null to leave it out), got {spec!r}")
    return tuple(from_dict(FeatureConfig, {"name": name, **spec}, prefix=f"features.{name}.")
                 for name, spec in values.items() if spec is not None)


def select_tasks(config: Config, names: Sequence[str]) -> Config:
    """The configuration with only the named tasks (a parent stays only if named too).

    The tuning section forgets the other tasks: their objective terms and searched weights.
    """
    known = {task.name for task in config.tasks}
    missing = [name for name in names if name not in known]
    if missing:
        raise ConfigError(f"--tasks names {missing[0]!r}, which is not a task; tasks: {', '.join(sorted(known))}")
    kept = tuple(
        dataclasses.replace(task, parent=task.parent if task.parent in names else None)
        for task in config.tasks if task.name in names
    )
    tuning = config.tuning
    if tuning.objective or tuning.tasks:
        from mtrec_tf.tuning.objective import canonical_objective, objective_terms

        terms = {key: weight for key, weight in objective_terms(tuning.objective).items()
                 if key.partition(".")[0] in names}
        searched = tuple(name for name in tuning.tasks if name in names)
        # No searched task left keeps the weights fixed (an empty list would mean every task).
        weights = "fixed" if tuning.tasks and not searched else tuning.weights
        tuning = dataclasses.replace(tuning, objective=canonical_objective(terms), tasks=searched, weights=weights)
    return dataclasses.replace(config, tasks=kept, tuning=tuning)


def apply_overrides(values: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Applies `key.sub=value` strings (values parsed as YAML scalars) to a nested dict."""
    result = _deep_copy(values)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {override!r}")
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part} is not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    return result


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = _deep_copy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "tasks":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _deep_copy(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in values.items()}


PRESETS: dict[str, tuple[str, ...]] = {
    "default": (),
    # Small and quick: for smoke tests, notebooks and trying things on a laptop.
    "tiny": (
        "model.embedding_dim=8", "model.text_units=8", "model.history_units=8", "model.image_dim=8",
        "model.expert_units=16", "model.tower_units=[16]", "model.retrieval_dim=8",
        "model.max_query_tokens=8", "model.max_title_tokens=12", "model.subword_buckets=2048", "model.max_subwords=6",
        "model.ngram_buckets=1024",
        "data.history_length=10", "training.epochs=1", "training.batch_size=256",
        "training.shuffle_buffer=2000",
        # A run this brief learns most at the full rate throughout.
        "training.learning_rate_schedule=constant",
    ),
}


def _read_text(path: str | os.PathLike) -> str:
    """A local file's text (without loading TensorFlow), or a URL's (`gs://`, through its file systems)."""
    from mtrec_tf.io_utils import is_url, read_text

    if is_url(path):
        return read_text(path)
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def load_config(path: str | os.PathLike | None = None, overrides: Sequence[str] = (),
                preset: str | None = None) -> Config:
    """Reads a configuration: a preset, then a YAML file on top, then `--set` overrides."""
    if preset is not None:
        check_choice("preset", preset, PRESETS, ConfigError)
    values: dict[str, Any] = apply_overrides({}, PRESETS[preset]) if preset else {}
    if path is not None:
        loaded = yaml.safe_load(_read_text(path)) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        values = _merge(values, loaded)
    # Overrides of tasks, features or event types apply to the default set when the file has none.
    defaults = to_dict(Config())
    for section in ("tasks", "features"):
        if section not in values:
            values = {**values, section: defaults[section]}
    data = values.get("data") or {}
    if isinstance(data, dict) and "event_types" not in data:
        values = {**values, "data": {**data, "event_types": defaults["data"]["event_types"]}}
    return from_dict(Config, apply_overrides(values, overrides))


def dump_config(config: Config) -> str:
    """The configuration as YAML text that `load_config` reads back to an equal Config."""
    return yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True)
