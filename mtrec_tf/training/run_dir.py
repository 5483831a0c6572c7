"""The run directory: where a training run keeps its configuration, vocabularies and weights.

    RUN/config.yaml        the resolved configuration
    RUN/vocab/             vocabularies, statistics and the catalogue arrays
    RUN/checkpoints/       step and epoch checkpoints, the backup for resuming, `final`
    RUN/logs/              TensorBoard
    RUN/history.json       per-epoch training and validation logs
    RUN/metrics.json       written by `mtrec evaluate`
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from mtrec_tf.config import Config, dump_config, load_config
from mtrec_tf.data.catalogue import Catalogue
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.io_utils import write_bytes_atomic, write_text_atomic


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """Paths inside a run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def vocab(self) -> Path:
        return self.root / "vocab"

    @property
    def catalogue(self) -> Path:
        return self.root / "vocab" / "catalogue.npz"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def final_weights(self) -> Path:
        return self.root / "checkpoints" / "final" / "weights"

    @property
    def backup(self) -> Path:
        return self.root / "checkpoints" / "backup"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def history(self) -> Path:
        return self.root / "history.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"


def save_run_inputs(paths: RunPaths, config: Config, statistics: DataStatistics, catalogue: Catalogue) -> None:
    """Writes the configuration, vocabularies and catalogue arrays of a run."""
    write_text_atomic(paths.config, dump_config(config))
    statistics.save(paths.vocab)
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **dataclasses.asdict(catalogue))
    write_bytes_atomic(paths.catalogue, buffer.getvalue())


def load_run_inputs(run_dir: str | os.PathLike) -> tuple[Config, DataStatistics, Catalogue]:
    """Reads back what `save_run_inputs` wrote; errors name the missing file."""
    paths = RunPaths(Path(run_dir))
    for required in (paths.config, paths.catalogue, paths.vocab / "statistics.json"):
        if not required.exists():
            raise FileNotFoundError(f"{run_dir} is not a training run: {required} is missing")
    config = load_config(paths.config)
    statistics = DataStatistics.load(paths.vocab)
    with np.load(paths.catalogue) as arrays:
        catalogue = Catalogue(**{name: arrays[name] for name in arrays.files})
    return config, statistics, catalogue
