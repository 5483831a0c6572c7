"""A `mtrec data examples` output read back, to train and evaluate from its shards.

The folder holds `<part>/` shards, `vocab/` (the training statistics), `examples.json` (the
split, the counts, the shards) and `config.yaml` (the configuration that built them). The
data settings of a run that trains from it are those it was built with (`use_examples`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from mtrec_tf.config import Config, ConfigError, load_config
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.errors import DataValidationError
from mtrec_tf.io_utils import exists, join, read_json
from mtrec_tf.url_path import path_of, readable

SUMMARY = "examples.json"


@dataclasses.dataclass(frozen=True)
class ExamplesDir:
    """An examples folder: its summary (`examples.json`) and the configuration that built it."""

    root: str
    summary: dict
    config: Config

    @classmethod
    def open(cls, root: str | os.PathLike) -> ExamplesDir:
        root = str(root)
        for name in (SUMMARY, "config.yaml", join("vocab", "statistics.json")):
            if not exists(join(root, name)):
                raise FileNotFoundError(f"{root} is not a `mtrec data examples` output: {join(root, name)} is missing")
        summary = read_json(join(root, SUMMARY))
        found = cls(root, summary, load_config(join(root, "config.yaml")))
        for part in summary["shards"]:
            if any(not name.endswith(".parquet") for name in summary["shards"][part]):
                raise ConfigError(f"{root}: training reads Parquet shards; write them with "
                                  "`mtrec data examples --format parquet`")
        return found

    def files(self, part: str) -> list[str]:
        """The shard files of a part, in the order they were written."""
        return [join(self.root, part, name) for name in self.summary["shards"][part]]

    def count(self, part: str) -> int:
        """Examples in a part."""
        return sum(self.summary["examples"][part].values())

    def labels(self, part: str) -> dict[str, int]:
        """Examples of a part that carry each label."""
        return dict(self.summary["labels"][part])

    def statistics(self) -> DataStatistics:
        return DataStatistics.load(join(self.root, "vocab"))

    def batches(self, part: str, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        """A part's examples (their `columns`, default all), batch by batch, shard after shard;
        a shard that cannot be read is an error naming it."""
        for path in self.files(part):
            try:
                with readable(path_of(path)) as shard:
                    yield from pq.ParquetFile(shard).iter_batches(columns=columns)
            except (pa.ArrowException, OSError) as error:
                raise DataValidationError(f"{path}: cannot read this examples shard ({error})") from error

    def table(self, part: str, limit: int | None = None, columns: Sequence[str] | None = None) -> pa.Table:
        """A part's examples in memory (its first `limit` ones, when given; their `columns`)."""
        batches, rows = [], 0
        for batch in self.batches(part, columns):
            if limit is not None and rows >= limit:
                break
            batches.append(batch if limit is None else batch.slice(0, limit - rows))
            rows += batches[-1].num_rows
        if not batches:
            empty = _schema(self.files(part)[0]).empty_table() if self.files(part) else _empty_examples(self)
            return empty if columns is None else empty.select(list(columns))
        return pa.Table.from_batches(batches)

    def column_names(self) -> list[str]:
        """The examples' columns."""
        return _empty_examples(self).column_names


def _empty_examples(found: ExamplesDir) -> pa.Table:
    """An empty table with the schema of the examples (of the first part that has a shard)."""
    for other in found.summary["shards"]:
        if found.files(other):
            return _schema(found.files(other)[0]).empty_table()
    raise DataValidationError(f"{found.root}: no part has any example")


def _schema(path: str) -> pa.Schema:
    with readable(path_of(path)) as shard:
        return pq.read_schema(shard)


def use_examples(config: Config, root: str | os.PathLike) -> Config:
    """`config` training from the examples in `root`: its data settings become those the
    examples were built with, and its features must be theirs."""
    built = ExamplesDir.open(root).config
    if built.features != config.features:
        ours = {f.name: f for f in config.features}
        theirs = {f.name: f for f in built.features}
        differ = sorted(name for name in ours.keys() | theirs.keys() if ours.get(name) != theirs.get(name))
        raise ConfigError(f"the examples in {root} were built with other features ({', '.join(differ)} differ): "
                          "train with the features they were built with, or build them again")
    return dataclasses.replace(config, data=dataclasses.replace(built.data, examples=str(root)))
