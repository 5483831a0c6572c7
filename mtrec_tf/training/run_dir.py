"""The run directory: where a training run keeps its configuration, vocabularies and weights.

    RUN/config.yaml        the resolved configuration
    RUN/vocab/             vocabularies, statistics and the catalogue arrays (`catalogue.npz`:
                           no image array when no item has an image, no task encodes items or
                           the features have no image; no tokens of a text feature no item has),
                           and for a large catalogue its images apart (`catalogue_images.npy`)
    RUN/checkpoints/       step and epoch checkpoints, the backup for resuming, `final`
    RUN/logs/              TensorBoard
    RUN/history.json       per-epoch training and validation logs (every epoch, across resumes)
    RUN/data_report.json   what reading the tables did: rows read, kept, dropped and repaired
    RUN/metrics.json       written by `mtrec evaluate`
"""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from mtrec_tf.config import Config, ConfigError, dump_config, from_dict
from mtrec_tf.data.catalogue import Catalogue
from mtrec_tf.data.catalogue_images import IMAGES_FILE, ImageFile, is_image_file
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.io_utils import (
    copy_file,
    exists,
    is_url,
    join,
    read_bytes,
    read_text,
    write_bytes_atomic,
    write_text_atomic,
)


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """Paths inside a run directory, as strings (local paths or URLs such as `gs://...`).

    Args:
        root: the run directory.
        checkpoint_dir: where epoch checkpoints and the backup for resuming go
            (default: `root/checkpoints`; Vertex AI: `$AIP_CHECKPOINT_DIR`).
        log_dir: TensorBoard logs (default: `root/logs`; Vertex AI: `$AIP_TENSORBOARD_LOG_DIR`).
    """

    root: str
    checkpoint_dir: str | None = None
    log_dir: str | None = None

    if TYPE_CHECKING:  # the generated __init__ takes paths too: `__post_init__` makes them strings
        def __init__(self, root: str | os.PathLike, checkpoint_dir: str | os.PathLike | None = None,
                     log_dir: str | os.PathLike | None = None) -> None: ...

    def __post_init__(self) -> None:
        for name in ("root", "checkpoint_dir", "log_dir"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, os.fspath(value))

    @property
    def config(self) -> str:
        return join(self.root, "config.yaml")

    @property
    def vocab(self) -> str:
        return join(self.root, "vocab")

    @property
    def catalogue(self) -> str:
        return join(self.root, "vocab", "catalogue.npz")

    @property
    def catalogue_images(self) -> str:
        return join(self.root, "vocab", IMAGES_FILE)

    @property
    def checkpoints(self) -> str:
        return self.checkpoint_dir or join(self.root, "checkpoints")

    @property
    def final_weights(self) -> str:
        return join(self.root, "checkpoints", "final", "weights")

    @property
    def backup(self) -> str:
        return join(self.checkpoints, "backup")

    @property
    def logs(self) -> str:
        return self.log_dir or join(self.root, "logs")

    @property
    def history(self) -> str:
        return join(self.root, "history.json")

    @property
    def metrics(self) -> str:
        return join(self.root, "metrics.json")

    @property
    def data_report(self) -> str:
        return join(self.root, "data_report.json")


def save_run_inputs(paths: RunPaths, config: Config, statistics: DataStatistics, catalogue: Catalogue) -> None:
    """Writes the configuration, vocabularies and catalogue arrays of a run."""
    write_text_atomic(paths.config, dump_config(config))
    statistics.save(paths.vocab)
    buffer = io.BytesIO()
    arrays: dict[str, Any] = catalogue.arrays()  # `np.savez` types its keyword arguments as its options
    np.savez_compressed(buffer, **arrays)
    write_bytes_atomic(paths.catalogue, buffer.getvalue())
    if is_image_file(catalogue.image):
        source, saved = str(catalogue.image.filename), paths.catalogue_images
        if is_url(saved) or not os.path.exists(saved) or not os.path.samefile(source, saved):
            copy_file(source, saved)


def load_run_inputs(run_dir: str | os.PathLike) -> tuple[Config, DataStatistics, Catalogue]:
    """Reads back what `save_run_inputs` wrote; errors name the missing file."""
    paths = RunPaths(run_dir)
    for required in (paths.config, paths.catalogue, join(paths.vocab, "statistics.json")):
        if not exists(required):
            raise FileNotFoundError(f"{run_dir} is not a training run: {required} is missing")
    config = config_from_yaml(read_text(paths.config), paths.config)
    statistics = DataStatistics.load(paths.vocab)
    with np.load(io.BytesIO(read_bytes(paths.catalogue))) as arrays:
        catalogue = Catalogue.from_arrays({name: arrays[name] for name in arrays.files})
    if exists(paths.catalogue_images):
        catalogue = dataclasses.replace(catalogue, image=ImageFile(_local_copy(paths.catalogue_images)))
    return config, statistics, catalogue


def _local_copy(path: str) -> str:
    """`path` itself when local, else a copy of it on this machine's disk (`ImageFile` reads local files)."""
    if not is_url(path):
        return path
    local = os.path.join(tempfile.mkdtemp(prefix="mtrec-run-"), os.path.basename(path))
    copy_file(path, local)
    return local


def config_from_yaml(text: str, source: str) -> Config:
    """The configuration that `dump_config` wrote as `text` (read from `source`)."""
    values = yaml.safe_load(text) or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    return from_dict(Config, values)
