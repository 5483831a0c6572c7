"""How long one forward pass of a trained model takes, at the batch sizes a server sees."""

from __future__ import annotations

import statistics as stats_lib
import time
from collections.abc import Sequence

import pyarrow as pa

from mtrec_tf.backend import tf
from mtrec_tf.data.pipeline import make_dataset
from mtrec_tf.models import MultiTaskModel


def forward_latency(model: MultiTaskModel, table: pa.Table, history_length: int,
                    batch_sizes: Sequence[int] = (1, 256), repeats: int = 30) -> dict[str, float]:
    """Median milliseconds of one forward pass of the whole model at each batch size."""
    call = tf.function(lambda features: model(features, training=False), reduce_retracing=True)
    features, _, _ = next(iter(make_dataset(table, batch_size=max(batch_sizes), history_length=history_length)))
    result = {}
    for size in batch_sizes:
        batch = {name: value[:size] for name, value in features.items()}
        for _ in range(3):
            call(batch)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            tf.nest.map_structure(lambda t: t.numpy(), call(batch))
            times.append((time.perf_counter() - start) * 1000.0)
        result[f"latency_ms_b{size}"] = stats_lib.median(times)
    return result
