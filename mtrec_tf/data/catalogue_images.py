"""The catalogue's images on disk, decoded once and memory-mapped, for catalogues too large to
hold: a million items at 64 x 64 pixels are 12 GB.

The items table is read a piece at a time; each piece's images are decoded (by the
preprocessing that serving runs too) into their rows of a `.npy` file, row 0 and items
without an image left black. The item encoder then gathers the rows of each batch's items
from the mapped file (`Catalogue.image` is the mapped array), so the process holds only the
pages it reads.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from typing import TypeGuard

import numpy as np
import pandas as pd

from mtrec_tf.data.catalogue import decode_images
from mtrec_tf.data.readers import TableSource, table_files, validated_chunks
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.data.validation import ExtraColumn

IMAGES_FILE = "catalogue_images.npy"
_ITEMS_PER_PIECE = 2_000


def write_catalogue_images(items: TableSource, statistics: DataStatistics, image_size: int, path: str | os.PathLike,
                           *, bad_rows: str = "error",
                           extra_columns: Mapping[str, str | ExtraColumn] | None = None) -> np.ndarray:
    """Decodes the images of the items table `items` into the `.npy` file `path` (local), rows
    in the order of `statistics.items` shifted by one; returns the file mapped read-only.
    Items outside the vocabulary are left out; the file appears whole or not at all."""
    rows = len(statistics.items) + 1
    index = pd.Index(statistics.items)
    tmp = f"{os.fspath(path)}.{uuid.uuid4().hex}.tmp"
    image = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(rows, image_size, image_size, 3))
    try:
        for frame in _pieces(items, bad_rows, extra_columns):
            rows = index.get_indexer(frame["item_id"]) + 1
            wanted = (rows > 0) & frame["image"].map(lambda data: isinstance(data, (bytes, bytearray)) and bool(data))
            wanted = wanted.to_numpy(dtype=bool)
            image[rows[wanted]] = decode_images(frame["item_id"][wanted].tolist(), frame["image"][wanted].tolist(),
                                                image_size)
        image.flush()
        del image
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return open_catalogue_images(path)


def _pieces(items: TableSource, bad_rows: str, extra_columns: Mapping[str, str | ExtraColumn] | None
            ) -> Iterator[pd.DataFrame]:
    """The normalised items table, a piece at a time (a frame given whole)."""
    if isinstance(items, pd.DataFrame):
        yield items
        return
    for file in table_files(items):
        for frame, _ in validated_chunks(file, "items", bad_rows=bad_rows, extra_columns=extra_columns,
                                         rows_per_chunk=_ITEMS_PER_PIECE):
            yield frame


def open_catalogue_images(path: str | os.PathLike) -> np.ndarray:
    """A file `write_catalogue_images` wrote, mapped read-only."""
    return np.load(path, mmap_mode="r")


def is_mapped(image: np.ndarray | None) -> TypeGuard[np.memmap]:
    """Whether a catalogue's image array is a file mapped into memory rather than held."""
    return isinstance(image, np.memmap)
