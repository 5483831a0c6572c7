"""The catalogue's images in a file on disk, decoded once, for catalogues too large to hold: a
million items at 64 x 64 pixels are 12 GB.

The items table is read a piece at a time; each piece's images are decoded (by the
preprocessing that serving runs too) and written at their rows of a `.npy` file, row 0 and
items without an image left black. The item encoder then reads the rows of each batch's items
from the file (`ImageFile`, which `Catalogue.image` holds in place of an array): the process
holds only those rows, and the operating system's page cache the rest, as memory allows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from typing import Any, TypeGuard

import numpy as np
import pandas as pd

from mtrec_tf.data.catalogue import decode_images
from mtrec_tf.data.readers import TableSource, read_table
from mtrec_tf.data.statistics import DataStatistics
from mtrec_tf.data.validation import ExtraColumn

IMAGES_FILE = "catalogue_images.npy"


class ImageFile:
    """The rows of a uint8 (items + 1, size, size, 3) `.npy` file, read on demand.

    `image_file[rows]` reads those rows (an int or an array of ints); `np.asarray(image_file)`
    reads them all. The file is an ordinary `.npy` file: `np.load(path, mmap_mode="r")` opens it too.
    """

    def __init__(self, path: str | os.PathLike):
        self.filename = os.fspath(path)
        with open(self.filename, "rb") as file:
            version = np.lib.format.read_magic(file)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(file)
            self.offset = file.tell()
        if fortran or dtype != np.uint8 or len(shape) != 4:
            raise ValueError(f"{self.filename}: not a catalogue image file (uint8 rows of pixels)")
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype = np.dtype(np.uint8)
        self._row_bytes = int(np.prod(shape[1:]))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: Any) -> np.ndarray:
        index = np.asarray(rows, dtype=np.int64)
        flat = index.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= self.shape[0]):
            raise IndexError(f"{self.filename}: rows outside 0..{self.shape[0] - 1}")
        out = np.empty((flat.size, self._row_bytes), dtype=np.uint8)
        descriptor = os.open(self.filename, os.O_RDONLY)
        try:
            for position in np.argsort(flat, kind="stable"):  # in file order
                out[position] = np.frombuffer(
                    os.pread(descriptor, self._row_bytes, self.offset + int(flat[position]) * self._row_bytes),
                    dtype=np.uint8)
        finally:
            os.close(descriptor)
        return out.reshape(*index.shape, *self.shape[1:])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self[np.arange(self.shape[0])]
        return values if dtype is None else values.astype(dtype)


class ImageFileWriter:
    """Writes the `.npy` file of a catalogue's images piece by piece (`add`), rows in the order
    of `statistics.items` shifted by one, row 0 and items without an image black; as a context
    manager, the file appears at `path` (local) whole when the block ends, or not at all."""

    def __init__(self, path: str | os.PathLike, statistics: DataStatistics, image_size: int):
        self.path = os.fspath(path)
        self.image_size = image_size
        self._index = pd.Index(statistics.items)
        self._tmp = f"{self.path}.{uuid.uuid4().hex}.tmp"
        # The header, and a file of the full size whose rows are holes (black) until written.
        header = np.lib.format.open_memmap(self._tmp, mode="w+", dtype=np.uint8,
                                           shape=(len(statistics.items) + 1, image_size, image_size, 3))
        self._offset, self._row_bytes = header.offset, image_size * image_size * 3
        del header
        self._file = open(self._tmp, "r+b")  # noqa: SIM115 (closed by __exit__)

    def add(self, items: pd.DataFrame) -> None:
        """Decodes and writes the images of a piece of the normalised items table (items outside
        the vocabulary are left out)."""
        rows = self._index.get_indexer(items["item_id"]) + 1
        pictures = items["image"].to_numpy(dtype=object)
        wanted = (rows > 0) & np.array([isinstance(p, (bytes, bytearray)) and bool(p) for p in pictures], dtype=bool)
        pixels = decode_images(items["item_id"].to_numpy(dtype=object)[wanted].tolist(), pictures[wanted].tolist(),
                               self.image_size)
        for row, values in zip(rows[wanted], pixels):
            os.pwrite(self._file.fileno(), values.tobytes(), self._offset + int(row) * self._row_bytes)

    def __enter__(self) -> ImageFileWriter:
        return self

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        self._file.close()
        if error_type is None:
            os.replace(self._tmp, self.path)
        elif os.path.exists(self._tmp):
            os.remove(self._tmp)


def write_catalogue_images(items: TableSource, statistics: DataStatistics, image_size: int, path: str | os.PathLike,
                           *, bad_rows: str = "error",
                           extra_columns: Mapping[str, str | ExtraColumn] | None = None) -> ImageFile:
    """Decodes the images of the items table `items` (files read a piece at a time, or a
    normalised frame) into the `.npy` file `path` (`ImageFileWriter`); returns it opened."""
    with ImageFileWriter(path, statistics, image_size) as writer:
        if isinstance(items, pd.DataFrame):
            writer.add(items)
        else:
            read_table(items, "items", bad_rows=bad_rows, extra_columns=extra_columns, image_bytes=False,
                       images=writer.add)
    return ImageFile(path)


def is_image_file(image: object) -> TypeGuard[ImageFile]:
    """Whether a catalogue's images are read from a file rather than held."""
    return isinstance(image, ImageFile)
