"""One tf.data pipeline for the examples of every task.

Each element is `(features, labels, masks)`: three dicts of batched tensors, the masks
keyed by task name and meant as Keras per-output sample weights, so an example without a
task's label adds nothing to that task's loss. Histories are padded with "" (item ids,
event types) and 0 (time gaps) to `history_length`, most recent event last.

Examples are stored as sharded TFRecord (`tf.train.Example`) or Parquet files, in a folder or
under a URL (`gs://`), and streamed, so they need not fit in memory; an in-memory Arrow table
works too.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mtrec_tf.backend import tf
from mtrec_tf.data.examples import EXAMPLE_SCHEMA, EXAMPLE_TYPES, HISTORY_FEATURES, SCALAR_FEATURES
from mtrec_tf.errors import check_choice
from mtrec_tf.io_utils import rename
from mtrec_tf.url_path import AnyPath, path_of, readable

FORMATS = ("tfrecord", "parquet")
_TF_DTYPES = {pa.string(): tf.string, pa.int64(): tf.int64, pa.float32(): tf.float32}
_PAD = {pa.string(): "", pa.float32(): 0.0, pa.int64(): 0}


def write_shards(
    table: pa.Table, out_dir: str | os.PathLike, fmt: str = "parquet", examples_per_shard: int = 100_000,
    name: str = "part",
) -> list[AnyPath]:
    """Writes examples as `<name>-00000-of-00004.<fmt>` shards in a folder or under a URL;
    returns their paths.

    Each shard is written under a temporary name and renamed into place.
    """
    check_choice("fmt", fmt, FORMATS)
    if examples_per_shard < 1:
        raise ValueError(f"examples_per_shard must be at least 1; got {examples_per_shard}")
    folder = path_of(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    count = max(1, -(-table.num_rows // examples_per_shard))
    paths = []
    for index in range(count):
        shard = table.slice(index * examples_per_shard, examples_per_shard)
        path = folder / f"{name}-{index:05d}-of-{count:05d}.{fmt}"
        tmp = folder / f".{path.name}.tmp"
        if fmt == "parquet":
            _write_parquet(shard, tmp)
        else:
            _write_tfrecord(shard, tmp)
        rename(tmp, path, overwrite=True)
        paths.append(path)
    return paths


def _write_parquet(table: pa.Table, path: AnyPath) -> None:
    if isinstance(path, Path):
        pq.write_table(table, path)
        return
    buffer = io.BytesIO()  # one shard; object stores take a file whole
    pq.write_table(table, buffer)
    with path.open("wb") as out:
        out.write(buffer.getvalue())


def _write_tfrecord(table: pa.Table, path: AnyPath) -> None:
    columns = table.to_pydict()
    fields = []
    for field in table.schema:
        kind = _value_type(field.type)
        fields.append((field.name, pa.types.is_list(field.type), kind))
    with tf.io.TFRecordWriter(str(path)) as writer:
        for row in range(table.num_rows):
            example = tf.train.Example()
            feature = example.features.feature
            for name, is_list, kind in fields:
                value = columns[name][row]
                values = value if is_list else [value]
                if kind == pa.string():
                    feature[name].bytes_list.value.extend([v.encode("utf-8") for v in values])
                elif kind == pa.int64():
                    feature[name].int64_list.value.extend(values)
                else:
                    feature[name].float_list.value.extend(values)
            writer.write(example.SerializeToString())


def _value_type(dtype: pa.DataType) -> pa.DataType:
    return dtype.value_type if pa.types.is_list(dtype) else dtype


def output_signature(history_length: int, schema: pa.Schema = EXAMPLE_SCHEMA) -> tuple[dict, dict, dict]:
    """The `tf.TensorSpec`s of one batch of examples of `schema`: features, labels and masks."""
    features = {n: tf.TensorSpec([None], _TF_DTYPES[t]) for n, t in SCALAR_FEATURES.items()}
    features.update(
        {n: tf.TensorSpec([None, history_length], _TF_DTYPES[t]) for n, t in HISTORY_FEATURES.items()}
    )
    # The configuration's own features: one value per example.
    features.update({field.name: tf.TensorSpec([None], _TF_DTYPES[field.type]) for field in schema
                     if _is_feature(field.name) and field.name not in features})
    labels = {name: tf.TensorSpec([None], _TF_DTYPES[schema.field(f"label_{name}").type])
              for name in label_names(schema)}
    masks = {name: tf.TensorSpec([None], tf.float32) for name in label_names(schema)}
    return features, labels, masks


def label_names(schema: pa.Schema) -> list[str]:
    """The labels of examples of `schema` (each has a `label_<name>` and a `mask_<name>` column)."""
    return [name[len("label_"):] for name in schema.names if name.startswith("label_")]


def make_dataset(
    source: pa.Table | Sequence[str | os.PathLike],
    *,
    batch_size: int,
    history_length: int,
    shuffle_buffer: int = 0,
    seed: int | None = None,
    repeat: bool = False,
    drop_remainder: bool = False,
    length_sorted_batches: int = 0,
    example_type_batches: int = 0,
) -> tf.data.Dataset:
    """A batched dataset of `(features, labels, masks)` from a table or shard files.

    Args:
        source: an Arrow table of examples (`examples.example_schema`), or `.tfrecord` / `.parquet`
            shards.
        batch_size: examples per batch.
        history_length: histories are truncated to their last `history_length` events and
            padded at the end to that length.
        shuffle_buffer: 0 keeps the stored order; otherwise examples are shuffled through a
            buffer of this size (and shard order by `seed`).
        seed: seed of the shuffles.
        repeat: repeat forever.
        drop_remainder: drop the last, smaller batch.
        length_sorted_batches: for a table, every this many batches' worth of (shuffled)
            examples is sorted by history length and cut into batches, whose order is then
            shuffled, so each batch holds histories of about one length and the encoders,
            which skip the steps that no history of a batch fills, do less work; 0 (the
            default) keeps uniform batches. Shard files are refused.
        example_type_batches: for a table, every this many batches' worth of (shuffled)
            examples is grouped by example type and cut into batches, whose order is then
            shuffled, so each batch but those at a group's edge holds one type of example
            (a retrieval task's in-batch softmax then sees a whole batch of candidates);
            with `length_sorted_batches`, sorted by length within each type, over the
            larger of the two windows. 0 (the default) mixes the types. Shard files are refused.

    Returns:
        A `tf.data.Dataset` whose elements match `output_signature(history_length, schema)`,
        the schema being the table's or the shards'.
    """
    if isinstance(source, pa.Table):
        return _table_dataset(source, batch_size, history_length, shuffle_buffer, seed, repeat, drop_remainder,
                              length_sorted_batches, example_type_batches)
    elif length_sorted_batches or example_type_batches:
        raise ValueError("make_dataset: length_sorted_batches and example_type_batches sort an in-memory table "
                         "of examples, not shard files")
    else:
        files = [path_of(f) for f in source]
        if not files:
            raise ValueError("make_dataset: no shard files given")
        suffixes = {f.suffix for f in files}
        if len(suffixes) != 1 or suffixes.pop() not in (".tfrecord", ".parquet"):
            raise ValueError(
                f"make_dataset: shards must all be .tfrecord or all .parquet; got {sorted(map(str, files))}")
        file_set = tf.data.Dataset.from_tensor_slices([str(f) for f in files])
        if shuffle_buffer:
            file_set = file_set.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        dataset = None
    if files and files[0].suffix == ".tfrecord":
        records = file_set.interleave(
            tf.data.TFRecordDataset, cycle_length=min(4, len(files)),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle_buffer,
        )
        if shuffle_buffer:
            records = records.shuffle(shuffle_buffer, seed=seed)
        if repeat:
            records = records.repeat()
        dataset = records.batch(batch_size, drop_remainder=drop_remainder).map(
            _parser(history_length, _tfrecord_schema(files[0])), num_parallel_calls=tf.data.AUTOTUNE
        )
    else:
        dataset = _parquet_dataset(files, batch_size, history_length, shuffle_buffer, seed, repeat, drop_remainder)
    return dataset.map(_split_outputs, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _tfrecord_schema(path: AnyPath) -> pa.Schema:
    """The columns of TFRecord examples, read from the first record of a shard."""
    first = next(iter(tf.data.TFRecordDataset(str(path)).take(1)), None)
    if first is None:
        return EXAMPLE_SCHEMA
    kinds = {"bytes_list": pa.string(), "int64_list": pa.int64(), "float_list": pa.float32()}
    fields = []
    for name, feature in tf.train.Example.FromString(first.numpy()).features.feature.items():
        if name in HISTORY_FEATURES:
            fields.append(pa.field(name, pa.list_(HISTORY_FEATURES[name])))
        else:
            fields.append(pa.field(name, kinds[feature.WhichOneof("kind")]))
    order = {name: i for i, name in enumerate(EXAMPLE_SCHEMA.names)}
    return pa.schema(sorted(fields, key=lambda f: (order.get(f.name, len(order)), f.name)))


def _parser(history_length: int, schema: pa.Schema) -> Callable[[tf.Tensor], dict[str, tf.Tensor]]:
    spec = {}
    for field in schema:
        dtype = _TF_DTYPES[_value_type(field.type)]
        if pa.types.is_list(field.type):
            spec[field.name] = tf.io.RaggedFeature(dtype)
        else:
            spec[field.name] = tf.io.FixedLenFeature([], dtype)

    def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(serialized, spec)
        for name, dtype in HISTORY_FEATURES.items():
            ragged = parsed[name][:, -history_length:]
            parsed[name] = ragged.to_tensor(default_value=_PAD[dtype], shape=[None, history_length])
        return parsed

    return parse


def _is_feature(name: str) -> bool:
    return not name.startswith(("label_", "mask_"))


def _split_outputs(batch: dict[str, tf.Tensor]) -> tuple[dict, dict, dict]:
    features = {name: value for name, value in batch.items() if _is_feature(name)}
    labels = {name[len("label_"):]: value for name, value in batch.items() if name.startswith("label_")}
    masks = {name[len("mask_"):]: value for name, value in batch.items() if name.startswith("mask_")}
    return features, labels, masks


def _flat_signature(history_length: int, schema: pa.Schema) -> dict[str, tf.TensorSpec]:
    spec = {}
    for field in schema:
        dtype = _TF_DTYPES[_value_type(field.type)]
        shape = [None, history_length] if pa.types.is_list(field.type) else [None]
        spec[field.name] = tf.TensorSpec(shape, dtype)
    return spec


def table_to_arrays(table: pa.Table, history_length: int) -> dict[str, np.ndarray]:
    """Numpy columns of an example table, histories padded to `(rows, history_length)`."""
    arrays = {}
    for field in table.schema:
        column = table.column(field.name).combine_chunks()
        if pa.types.is_list(field.type):
            arrays[field.name] = _pad_lists(column, history_length, _PAD[field.type.value_type])
        else:
            arrays[field.name] = _to_numpy(column)
    return arrays


def _to_numpy(column: pa.Array) -> np.ndarray:
    if pa.types.is_string(column.type):
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
    return column.to_numpy(zero_copy_only=False)


def _pad_lists(lists: pa.ListArray, length: int, pad: object) -> np.ndarray:
    """Right-padded `(rows, length)` array of each list's last `length` values."""
    offsets = lists.offsets.to_numpy()
    values = _to_numpy(lists.values)
    ends = offsets[1:]
    starts = np.maximum(offsets[:-1], ends - length)
    sizes = ends - starts
    out = np.full((len(lists), length), pad, dtype=values.dtype if values.dtype != object else object)
    rows = np.repeat(np.arange(len(lists)), sizes)
    cols = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    out[rows, cols] = values[np.repeat(starts, sizes) + cols]
    return out


def _table_dataset(table: pa.Table, batch_size: int, history_length: int, shuffle_buffer: int,
                   seed: int | None, repeat: bool, drop_remainder: bool,
                   length_sorted_batches: int = 0, example_type_batches: int = 0) -> tf.data.Dataset:
    """Batches gathered from an in-memory table by row index.

    Columns are held as tensors once (strings dictionary-encoded, histories ragged), and
    each batch is one vectorised gather; shuffling permutes row indices, so any
    `shuffle_buffer` shuffles the whole table uniformly.
    """
    gathers = {field.name: _column_gather(table.column(field.name).combine_chunks(), field.type, history_length)
               for field in table.schema}
    rows = tf.data.Dataset.range(table.num_rows)
    if shuffle_buffer:
        rows = rows.shuffle(max(table.num_rows, 1), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        rows = rows.repeat()
    window = max(length_sorted_batches, example_type_batches)
    if window:
        keys = _sort_keys(table, history_length, by_length=length_sorted_batches > 0,
                          by_type=example_type_batches > 0)
        rows = _sorted_batches(rows, keys, batch_size, window, seed, drop_remainder)
        if not repeat:  # as many batches as uniform batching gives; flat_map hides the count from Keras
            batches = table.num_rows // batch_size if drop_remainder else -(-table.num_rows // batch_size)
            rows = rows.apply(tf.data.experimental.assert_cardinality(batches))
    else:
        rows = rows.batch(batch_size, drop_remainder=drop_remainder)

    def gather(index: tf.Tensor) -> dict[str, tf.Tensor]:
        return {name: take(index) for name, take in gathers.items()}

    dataset = rows.map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.map(_split_outputs, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _sort_keys(table: pa.Table, history_length: int, by_length: bool, by_type: bool) -> tf.Tensor:
    """(rows,) int64 keys that sort rows by example type (in `EXAMPLE_TYPES` order), then by
    the steps of their history that a batch holds, each where asked."""
    keys = np.zeros(table.num_rows, np.int64)
    if by_type:
        types = pc.index_in(table.column("example_type"), value_set=pa.array(EXAMPLE_TYPES))
        keys += types.fill_null(len(EXAMPLE_TYPES)).to_numpy().astype(np.int64) * (history_length + 1)
    if by_length:
        lengths = pc.list_value_length(table.column("history_item_ids")).fill_null(0)
        keys += np.minimum(lengths.to_numpy(), history_length).astype(np.int64)
    return tf.constant(keys)


def _sorted_batches(rows: tf.data.Dataset, keys: tf.Tensor, batch_size: int, window: int, seed: int | None,
                    drop_remainder: bool) -> tf.data.Dataset:
    """Batches of row indices of about one key: each `window` batches' worth of rows sorted by
    key (ties in their shuffled order) and cut into batches, in shuffled order."""

    def sorted_batches(index: tf.Tensor) -> tf.data.Dataset:
        order = tf.argsort(tf.gather(keys, index), stable=True)
        return tf.data.Dataset.from_tensor_slices(tf.gather(index, order)).batch(batch_size,
                                                                                 drop_remainder=drop_remainder)

    batches = rows.batch(batch_size * window).flat_map(sorted_batches)
    return batches.shuffle(window, seed=seed, reshuffle_each_iteration=True)


def _column_gather(column: pa.Array, dtype: pa.DataType,
                   history_length: int) -> Callable[[tf.Tensor], tf.Tensor]:
    """A function from row indices (batch,) to the column's batch tensor."""
    if pa.types.is_list(dtype):
        offsets = tf.constant(column.offsets.to_numpy().astype(np.int64))
        values, decode = _encoded_values(column.flatten(), dtype.value_type)
        ragged = tf.RaggedTensor.from_row_splits(values, offsets, validate=False)
        pad = -1 if decode is not None else _PAD[dtype.value_type]

        def take_lists(index: tf.Tensor) -> tf.Tensor:
            lists = tf.gather(ragged, index)[:, -history_length:]
            dense = lists.to_tensor(default_value=pad, shape=[None, history_length])
            return decode(dense) if decode is not None else dense

        return take_lists
    values, decode = _encoded_values(column, dtype)

    def take(index: tf.Tensor) -> tf.Tensor:
        picked = tf.gather(values, index)
        return decode(picked) if decode is not None else picked

    return take


def _encoded_values(array: pa.Array,
                    dtype: pa.DataType) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor] | None]:
    """Values as a tensor; strings as int32 codes with a function decoding codes (-1: "")."""
    if dtype != pa.string():
        return tf.constant(_to_numpy(array).astype(_TF_DTYPES[dtype].as_numpy_dtype)), None
    encoded = array.dictionary_encode()
    codes = tf.constant(encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32))
    dictionary = tf.constant([""] + encoded.dictionary.to_pylist(), dtype=tf.string)
    return codes, lambda picked: tf.gather(dictionary, picked + 1)


def _parquet_dataset(files: list[AnyPath], batch_size: int, history_length: int, shuffle_buffer: int,
                     seed: int | None, repeat: bool, drop_remainder: bool) -> tf.data.Dataset:
    """Batches streamed from Parquet shards, one shard in memory at a time.

    With shuffling, shard order and the rows within each shard are permuted every epoch.
    """
    with readable(files[0]) as first:
        signature = _flat_signature(history_length, pq.read_schema(first))

    def batches() -> Iterator[dict[str, np.ndarray]]:
        rng = np.random.default_rng(seed)
        while True:
            order = rng.permutation(len(files)) if shuffle_buffer else range(len(files))
            carry: pa.Table | None = None
            for index in order:
                with readable(files[index]) as shard:
                    table = pq.read_table(shard)
                if shuffle_buffer:
                    table = table.take(pa.array(rng.permutation(table.num_rows)))
                if carry is not None:
                    table = pa.concat_tables([carry, table])
                full = table.num_rows - table.num_rows % batch_size
                for start in range(0, full, batch_size):
                    yield table_to_arrays(table.slice(start, batch_size), history_length)
                carry = table.slice(full)
            if carry is not None and carry.num_rows and not drop_remainder:
                yield table_to_arrays(carry, history_length)
            if not repeat:
                return

    return tf.data.Dataset.from_generator(batches, output_signature=signature)
