"""configs/sequential.yaml: the sequence model (all-position transformer, BERT blocks, tied item
embeddings, full softmax) trains on data without text and learns an order planted in it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mtrec_tf.config import load_config
from mtrec_tf.data.prepare import prepare_data
from mtrec_tf.data.readers import load_data
from mtrec_tf.training.fit import train
from mtrec_tf.training.scoring import evaluate_model

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "sequential.yaml"
ITEMS, USERS, LENGTH = 40, 240, 9


def planted_sequences(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user clicks through the catalogue in one fixed order from a random start; no titles."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(ITEMS)
    rows = []
    for user in range(USERS):
        start = int(rng.integers(ITEMS))
        for step in range(LENGTH):
            rows.append((f"u{user}", step, "click", f"i{order[(start + step) % ITEMS]}"))
    events = pd.DataFrame(rows, columns=["user_id", "timestamp", "event_type", "item_id"])
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(ITEMS)], "title": "", "category": "none"})
    return events, items


def test_the_sequence_configuration_learns_a_planted_order(tmp_path):
    config = load_config(CONFIG, ["training.epochs=12", "training.batch_size=32", "training.learning_rate=0.01",
                                  "training.patience=12"])
    events, items = planted_sequences()
    prepared = prepare_data(load_data(events, items), config.data, seed=config.seed)
    result = train(config, tmp_path / "run", prepared=prepared, verbose=0)
    encoder = result.model.user_encoder.sequence_encoder
    assert (encoder.norm, encoder.activation, encoder.feedforward_units) == ("post", "gelu", 256)
    assert result.model.heads["next_item"].tied
    report = evaluate_model(result.model, config, prepared.statistics, prepared.examples.parts["test"],
                            result.catalogue.category[1:], exclude_seen=True, ks=(1, 10))["next_item"]
    # Popularity and chance find the next item in the top 1 about once in 31 unseen items.
    assert report["hit_rate@1"] > 0.5, report
    assert max(result.history["val_next_item_ndcg@10"]) > 0.5
