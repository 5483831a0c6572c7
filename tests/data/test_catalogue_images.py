"""The catalogue's images decoded into a file hold what the in-memory image array holds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mtrec_tf.data.catalogue import build_catalogue, decode_image, decode_images
from mtrec_tf.data.catalogue_images import is_image_file, write_catalogue_images
from mtrec_tf.data.readers import load_data
from mtrec_tf.data.statistics import fit_statistics
from mtrec_tf.errors import DataValidationError

from image_files import png_bytes

EVENTS = pd.DataFrame({"user_id": "u1", "timestamp": [1, 2, 3, 4], "event_type": "click",
                       "item_id": ["a", "b", "c", "d"]})
NO_EXAMPLES = pa.table({"history_time_gaps": pa.array([[]], pa.list_(pa.float32()))})


def _items(count: int = 4) -> pd.DataFrame:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 99, 199)]
    return pd.DataFrame({"item_id": ["d", "c", "b", "a", "z"][:count], "category": "Home",
                         "image": [png_bytes(16, colours[0]), None, png_bytes(8, colours[2]),
                                   png_bytes(8, colours[3]), png_bytes(8)][:count]})


def test_the_file_holds_the_image_array_row_for_row_read_in_pieces(tmp_path, monkeypatch):
    import mtrec_tf.data.readers as readers

    monkeypatch.setattr(readers, "_ITEMS_PER_PIECE", 2)
    items = _items(5)  # "z" has no event: outside the vocabulary, left out
    items.to_parquet(tmp_path / "items.parquet")
    data = load_data(EVENTS, items.head(4))
    statistics = fit_statistics(data.events, data.items, NO_EXAMPLES)
    held = build_catalogue(data.items, statistics, max_title_tokens=4, image_size=8).image

    from_file = write_catalogue_images(tmp_path / "items.parquet", statistics, 8, tmp_path / "images.npy")
    assert is_image_file(from_file) and not is_image_file(held)
    assert from_file.shape == held.shape == (5, 8, 8, 3)
    np.testing.assert_array_equal(from_file, held)
    assert not from_file[0].any() and not from_file[statistics.items.index("c") + 1].any()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["images.npy", "items.parquet"]


def test_rows_read_in_any_order_are_the_files_rows(tmp_path):
    data = load_data(EVENTS, _items())
    statistics = fit_statistics(data.events, data.items, NO_EXAMPLES)
    images = write_catalogue_images(data.items, statistics, 8, tmp_path / "images.npy")
    whole = np.load(tmp_path / "images.npy", mmap_mode="r")
    for rows in ([3, 0, 4, 1], [[4, 2], [2, 4]], 3, []):
        np.testing.assert_array_equal(images[rows], whole[np.asarray(rows, dtype=np.int64)])
    assert images[[4, 1]].shape == (2, 8, 8, 3) and len(images) == 5
    with pytest.raises(IndexError, match="rows outside 0..4"):
        images[[5]]


def test_an_image_that_does_not_decode_names_its_item_and_leaves_no_file(tmp_path):
    items = _items()
    data = load_data(EVENTS, items)
    statistics = fit_statistics(data.events, data.items, NO_EXAMPLES)
    broken = data.items.assign(image=[b"\x89PNG\r\n\x1a\n broken", None, None, None])
    with pytest.raises(DataValidationError, match="item_id 'd'"):
        write_catalogue_images(broken, statistics, 8, tmp_path / "images.npy")
    assert list(tmp_path.iterdir()) == []


def test_images_decoded_together_are_those_decoded_one_by_one():
    pictures = [png_bytes(8, (1, 2, 3)), png_bytes(64), png_bytes(100, (9, 90, 200))]
    together = decode_images(["a", "b", "c"], pictures, 64)
    np.testing.assert_array_equal(together, np.stack([decode_image(picture, 64) for picture in pictures]))
    assert decode_images([], [], 64).shape == (0, 64, 64, 3)
