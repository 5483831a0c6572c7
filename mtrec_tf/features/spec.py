"""The `features:` section of the configuration: the shop's own columns and what each becomes.

A feature names a column of one table (`events`: request context; `items`: item attributes;
`users`: the optional profile table keyed by `user_id`), a kind, and the side of the model it
feeds (`user`, `item` or `context`). No TensorFlow and no pandas here: the configuration
imports this module.

The default set (`DEFAULT_FEATURES`, what a configuration without a `features:` section
gets) is the data contract's item columns: title (text), category, brand, price and image.
A `features:` section replaces it: list those you keep beside your own. The item id, the
query and the behaviour history are the tasks' inputs (`tasks.<name>.inputs`).

Example:
    features:
      title:      {table: items, kind: text}
      category:   {table: items, kind: categorical}
      price:      {table: items, kind: numeric, transform: log}
      age:        {table: users, kind: numeric, transform: quantile}
      occupation: {table: users, kind: categorical}
      genres:     {table: items, kind: multi_categorical, separator: "|"}
      hour:       {table: events, column: hour_of_day, kind: categorical}
"""

from __future__ import annotations

import dataclasses

from mtrec_tf.errors import ConfigError, check_choice

FEATURE_KINDS: tuple[str, ...] = ("categorical", "multi_categorical", "numeric", "text", "image")
# Kinds the item tower encodes with the shared encoders (the text encoder, the image encoder)
# rather than the feature input layer; they read the items table.
ENCODED_KINDS: tuple[str, ...] = ("text", "image")
FEATURE_TABLES: tuple[str, ...] = ("events", "items", "users")
FEATURE_SIDES: tuple[str, ...] = ("user", "item", "context")
NUMERIC_TRANSFORMS: tuple[str, ...] = ("zscore", "log", "quantile")
# The sides a table's columns may feed, the first being the default.
TABLE_SIDES: dict[str, tuple[str, ...]] = {"events": ("context", "user"), "items": ("item",), "users": ("user",)}
# Columns of the events table derived from `timestamp` (UTC) unless the table has its own.
DERIVED_EVENT_COLUMNS: tuple[str, ...] = ("hour_of_day", "day_of_week")
# Names taken by the examples' own columns and the serving signatures' inputs.
RESERVED_NAMES: frozenset[str] = frozenset({
    "example_type", "user_id", "timestamp", "query", "item_id", "position", "history_item_ids",
    "history_event_types", "history_time_gaps", "history", "history_event_type", "history_time_gap",
    "candidates", "image",
})
# Multi-categorical values are joined with this character in the examples (one string per row).
LIST_SEPARATOR = "\x1f"


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """One feature of the shop's own.

    Args:
        name: the feature's name: its column in the examples and its input in the serving
            signatures.
        table: "events", "items" or "users".
        kind: "categorical" (one value, an embedding of its id), "multi_categorical" (a list
            column, or text with values split on `separator`, mean-pooled embeddings) or
            "numeric" (a number, normalised on training statistics); of the items table also
            "text" (tokenised by the shared tokenizer, encoded by the shared text encoder) and
            "image" (the items table's `image` column, through the image encoder).
        column: the table's column (default: `name`); in the events table "hour_of_day" and
            "day_of_week" (0 Monday) are derived from `timestamp` when the table has no such column.
        side: what the feature feeds: "user" (the user vector: retrieval and ranking), "item"
            (the item tower: candidates and retrieval targets) or "context" (request time:
            ranking and the query classifier). Default: "context" for events, "item" for items,
            "user" for users; an events column may feed "user" too.
        dim: embedding width of a categorical or quantile-bucketed feature; 0 is the model's
            `embedding_dim` (the default set's category and brand, as wide as the item id).
        buckets: 0 builds a vocabulary from training (values seen fewer than `min_count`
            times share the out-of-vocabulary row); N hashes values into N buckets instead
            (for id-like columns of high cardinality).
        min_count: see `buckets`.
        transform: numeric only: "zscore", "log" (z-score of log1p) or "quantile" (buckets
            between `quantiles` training quantiles, embedded).
        quantiles: see `transform`.
        separator: multi_categorical only: what splits a text value into values.
        optional: whether a row may miss the value. A missing categorical value has its own
            row; a missing number a learned default and an indicator. A required feature's
            missing value is a bad row (`data.bad_rows`).
    """

    name: str
    table: str
    kind: str
    column: str = ""
    side: str = ""
    dim: int = 16
    buckets: int = 0
    min_count: int = 1
    transform: str = "zscore"
    quantiles: int = 10
    separator: str = "|"
    optional: bool = True

    def __post_init__(self) -> None:
        key = f"features.{self.name}"
        if not self.name.isidentifier():
            raise ConfigError(f"{key}: a feature's name is a serving input's name: letters, digits and _ "
                              "(not starting with a digit)")
        # Items features live in the catalogue, not in the examples or the signatures' inputs.
        if self.table != "items" and (self.name in RESERVED_NAMES or self.name.startswith(("label_", "mask_"))):
            raise ConfigError(f"{key}: the name {self.name!r} is taken by the model's own inputs; "
                              "choose another (and set `column` to read the column)")
        check_choice(f"{key}.table", self.table, FEATURE_TABLES, ConfigError)
        check_choice(f"{key}.kind", self.kind, FEATURE_KINDS, ConfigError)
        if not self.column:
            object.__setattr__(self, "column", self.name)
        if not self.side:
            object.__setattr__(self, "side", TABLE_SIDES[self.table][0])
        check_choice(f"{key}.side", self.side, FEATURE_SIDES, ConfigError)
        if self.side not in TABLE_SIDES[self.table]:
            raise ConfigError(f"{key}.side: a column of the {self.table} table feeds "
                              f"{' or '.join(TABLE_SIDES[self.table])}, not {self.side!r}")
        if self.table == "users" and self.column == "user_id" or self.table == "items" and self.column == "item_id":
            raise ConfigError(f"{key}: {self.column} is the {self.table} table's key, not a feature")
        if self.kind in ENCODED_KINDS and self.table != "items":
            raise ConfigError(f"{key}: {self.kind} features read the items table (a request's text is its query)")
        if self.kind == "image" and self.column != "image":
            raise ConfigError(f"{key}: an image feature reads the items table's image column, not {self.column!r}")
        check_choice(f"{key}.transform", self.transform, NUMERIC_TRANSFORMS, ConfigError)
        if self.dim < 0:
            raise ConfigError(f"{key}.dim must be 0 (the model's embedding_dim) or more, got {self.dim}")
        if self.buckets < 0 or self.min_count < 1 or self.quantiles < 2:
            raise ConfigError(f"{key}: buckets must be >= 0, min_count >= 1 and quantiles >= 2; got "
                              f"{self.buckets}, {self.min_count} and {self.quantiles}")
        if self.kind != "numeric" and self.transform != "zscore":
            raise ConfigError(f"{key}.transform applies to numeric features, not {self.kind}")
        if self.kind == "numeric" and self.buckets:
            raise ConfigError(f"{key}.buckets applies to categorical features; a numeric one is bucketed "
                              "with transform: quantile")
        if self.kind == "multi_categorical" and (not self.separator or LIST_SEPARATOR in self.separator):
            raise ConfigError(f"{key}.separator must be a non-empty string, got {self.separator!r}")

    @property
    def embedded(self) -> bool:
        """Whether the feature is an embedding (categorical kinds, bucketed numbers)."""
        return self.kind != "numeric" or self.transform == "quantile"

    @property
    def hashed(self) -> bool:
        return self.buckets > 0

    @property
    def encoded(self) -> bool:
        """Whether the shared text or image encoder encodes the feature (`ENCODED_KINDS`)."""
        return self.kind in ENCODED_KINDS


# What reading keeps of a feature's column (`mtrec_tf.data.validation.EXTRA_COLUMN_KINDS`).
STORED_AS: dict[str, str] = {"categorical": "text", "multi_categorical": "list", "numeric": "number",
                             "text": "text", "image": "image"}

# The data contract's item columns, as the default feature set.
DEFAULT_FEATURES: tuple[FeatureConfig, ...] = (
    FeatureConfig("title", "items", "text"),
    FeatureConfig("category", "items", "categorical", dim=0),
    FeatureConfig("brand", "items", "categorical", dim=0),
    FeatureConfig("price", "items", "numeric", transform="log"),
    FeatureConfig("image", "items", "image"),
)


def written_settings(feature: FeatureConfig) -> dict[str, object]:
    """A feature's settings as a configuration writes them: its table and kind, and those that
    differ from the defaults (its own name for `column`, its table's first side for `side`)."""
    plain = FeatureConfig(feature.name, feature.table, feature.kind, column=feature.column)
    settings = {field.name: getattr(feature, field.name) for field in dataclasses.fields(feature)}
    return {k: v for k, v in settings.items()
            if k in ("table", "kind") or k == "column" and v != feature.name or k != "name" and v != getattr(plain, k)}


def check_features(features: tuple[FeatureConfig, ...]) -> None:
    """Names are unique, and features that read the same column read it the same way."""
    names = [feature.name for feature in features]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"features: {repeated[0]!r} is defined twice")
    images = [feature.name for feature in features if feature.kind == "image"]
    if len(images) > 1:
        raise ConfigError(f"features: {images[0]!r} and {images[1]!r} both read the image column; keep one")
    seen: dict[tuple[str, str], FeatureConfig] = {}
    for feature in features:
        other = seen.setdefault((feature.table, feature.column), feature)
        if (STORED_AS[other.kind], other.separator) != (STORED_AS[feature.kind], feature.separator):
            raise ConfigError(f"features.{feature.name} ({feature.kind}) and features.{other.name} ({other.kind}) "
                              f"read column {feature.column!r} of the {feature.table} table in different ways")
