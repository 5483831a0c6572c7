"""Warm start: the multi-task model's shared token and item tables from `mtrec pretrain` output."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mtrec_tf.config import ConfigError, ModelConfig
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.embeddings.store import StoredVectors, load_vectors

if TYPE_CHECKING:
    from mtrec_tf.models import MultiTaskModel

# Pre-training kind -> (the model's Embedding layer, by its encoder and attribute, the statistics vocabulary).
TABLES = {"words": ("text_encoder.token_embedding", "tokens"), "items": ("item_encoder.item_embedding", "items")}


def warm_start_dirs(init_embeddings: str) -> list[Path]:
    """The folders of `model.init_embeddings`: one, or a comma-separated list."""
    return [Path(part.strip()) for part in init_embeddings.split(",") if part.strip()]


def check_compatible(stored: StoredVectors, config: ModelConfig, statistics: DataStatistics,
                     source: Path) -> None:
    """Raises `ConfigError` naming what differs between the vectors and the model's table."""
    vocabulary = tuple(getattr(statistics, TABLES[stored.kind][1]))
    if stored.vectors.shape[1] != config.embedding_dim:
        raise ConfigError(f"model.init_embeddings: {source} has {stored.kind} vectors of dimension "
                          f"{stored.vectors.shape[1]} but model.embedding_dim is {config.embedding_dim}")
    if stored.vocabulary != vocabulary:
        differ = next((i for i, (a, b) in enumerate(zip(stored.vocabulary, vocabulary)) if a != b),
                      min(len(stored.vocabulary), len(vocabulary)))
        found = stored.vocabulary[differ] if differ < len(stored.vocabulary) else "<end>"
        wanted = vocabulary[differ] if differ < len(vocabulary) else "<end>"
        raise ConfigError(
            f"model.init_embeddings: the {stored.kind} vocabulary of {source} ({len(stored.vocabulary):,} "
            f"entries) differs from the model's ({len(vocabulary):,}) at entry {differ}: {found!r} vs "
            f"{wanted!r}; pre-train on the same data and configuration")


def apply_warm_start(model: MultiTaskModel, config: ModelConfig, statistics: DataStatistics) -> bool:
    """Assigns pre-trained vectors into the built model's shared tables.

    Args:
        model: a built `MultiTaskModel` (its tables exist).
        config: the model configuration; `init_embeddings` names the folder(s).
        statistics: the vocabularies the model was built from.

    Returns:
        Whether tables were frozen (`freeze_embeddings`): the caller must compile the model
        again before training so that the frozen tables stay fixed.
    """
    if not config.init_embeddings:
        return False
    seen: dict[str, Path] = {}
    for source in warm_start_dirs(config.init_embeddings):
        try:
            stored = load_vectors(source)
        except (FileNotFoundError, ValueError) as error:
            raise ConfigError(f"model.init_embeddings: {error}") from error
        if stored.kind in seen:
            raise ConfigError(f"model.init_embeddings: {seen[stored.kind]} and {source} both hold {stored.kind}")
        seen[stored.kind] = source
        check_compatible(stored, config, statistics, source)
        encoder, attribute = TABLES[stored.kind][0].split(".")
        layer = getattr(getattr(model, encoder), attribute)
        table = layer.embeddings
        rows = min(table.shape[0], stored.vectors.shape[0])  # an empty vocabulary has a placeholder row
        table[:rows].assign(stored.vectors[:rows])
        if config.freeze_embeddings:
            layer.trainable = False
    return bool(config.freeze_embeddings and seen)
