"""MovieLens 100K under the TensorFlow Recommenders multitask tutorial's protocol.

    python bench/movielens.py [--epochs 3] [--out runs/bench-movielens]

Random 80/20 split of the ratings (seeded), retrieval and rating trained jointly
(`configs/movielens.yaml`), then on the test ratings:
- top-100 accuracy: the share of test ratings whose movie is among the user's 100 best
  scored movies of the whole catalogue (nothing excluded), as TFRS's FactorizedTopK
  reports it; over all test ratings, and over those >= 4 (the positives we train on);
- rating RMSE.
The tutorial's joint model reaches top-100 accuracy about 0.24 and RMSE about 1.09 (its
rating-only model about 1.11).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import mtrec_tf  # noqa: F401
from mtrec_tf import metrics
from mtrec_tf.config import load_config
from mtrec_tf.data.pipeline import table_to_arrays
from mtrec_tf.data.prepare import prepare_data
from mtrec_tf.data.public import load_movielens_100k
from mtrec_tf.data.readers import load_data
from mtrec_tf.training.fit import train
from mtrec_tf.training.scoring import item_vectors, predict

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "runs" / "bench-movielens"))
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()

    config = load_config(REPO / "configs" / "movielens.yaml", [f"training.epochs={args.epochs}", *args.set])
    events, items = load_movielens_100k()
    data = load_data(events, items.drop(columns=["genres"], errors="ignore"))
    prepared = prepare_data(data, config.data, seed=config.seed)
    test = prepared.examples.parts["test"]
    print(f"{len(events):,} events; examples per part: {prepared.examples.report.counts}")

    start = time.perf_counter()
    result = train(config, args.out, prepared=prepared, verbose=2)
    print(f"trained in {time.perf_counter() - start:.0f} s ({result.examples_per_second:,.0f} examples/s)")

    outputs = predict(result.model, test, config.data.history_length)
    arrays = table_to_arrays(test, config.data.history_length)
    rated = np.flatnonzero(arrays["mask_rating"] > 0)
    rmse = metrics.rmse(arrays["label_rating"][rated], outputs["rating"][rated])

    vectors = item_vectors(result.model, "next_item", len(prepared.statistics.items))
    users = outputs["next_item"][rated]
    top = metrics.top_k_items_chunked(lambda index: users[index] @ vectors.T, len(rated), 100)
    position = {item: i for i, item in enumerate(prepared.statistics.items)}
    target = np.asarray([position.get(i, -1) for i in arrays["item_id"][rated]])
    hit = (top == target[:, None]).any(axis=1)
    liked = arrays["label_rating"][rated] >= 4

    print(f"\nMovieLens 100K, random 80/20 split, {len(rated):,} test ratings, {args.epochs} epochs")
    print(f"{'':34}{'mtrec-tf':>10}{'TFRS tutorial':>15}")
    print(f"{'top-100 accuracy (all ratings)':34}{hit.mean():10.3f}{'~0.24':>15}")
    print(f"{'top-100 accuracy (ratings >= 4)':34}{hit[liked].mean():10.3f}{'':>15}")
    print(f"{'rating RMSE':34}{rmse:10.3f}{'~1.09':>15}")


if __name__ == "__main__":
    main()
