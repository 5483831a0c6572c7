"""Does a trained run recover the sample shop's planted structure?

    python bench/sample_quality.py RUN

For the searches of the test part, compares the run's `query_category` prediction with
the category the generator intended (`truth/query_intents`), rather than with the
category of the item clicked afterwards (which the generator makes agree with the intent
about nine times in ten). The run must have been trained on the built-in sample.
"""

from __future__ import annotations

import argparse

import numpy as np

import mtrec_tf  # noqa: F401
from mtrec_tf.backend import tf
from mtrec_tf.data.prepare import prepare_configured
from mtrec_tf.data.sample import generate_sample
from mtrec_tf.training.fit import load_trained_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    args = parser.parse_args()

    config, model, _, _ = load_trained_model(args.run)
    if config.data.events is not None:
        raise SystemExit(f"{args.run} was not trained on the built-in sample")
    world = generate_sample(config.data.sample_scale, config.data.sample_seed)
    prepared = prepare_configured(config)
    events = prepared.data.events
    test_searches = events[prepared.split.mask("test") & (events["event_type"] == "search")]
    truth = world.query_intents.set_index("session_id")["category"]
    intended = test_searches["session_id"].map(truth)
    known = intended.notna().to_numpy()
    queries = test_searches["query"].to_numpy()[known]
    intended = intended.to_numpy()[known]

    n, length = len(queries), config.data.history_length
    blank = tf.fill([n], "")
    features = {"user_id": blank, "timestamp": tf.zeros([n], tf.int64), "query": tf.constant(list(queries)),
                "item_id": blank, "position": tf.fill([n], tf.constant(-1, tf.int64)),
                "history_item_ids": tf.fill([n, length], ""), "history_event_types": tf.fill([n, length], ""),
                "history_time_gaps": tf.zeros([n, length])}
    probabilities = model(features, training=False)["query_category"].numpy()
    predicted = np.asarray(prepared.statistics.categories)[probabilities.argmax(axis=1)]
    accuracy = float((predicted == intended).mean())
    chance = 1.0 / len(prepared.statistics.categories)
    print(f"planted query intents recovered on {n:,} test searches: accuracy {accuracy:.4f} "
          f"(chance {chance:.4f})")


if __name__ == "__main__":
    main()
