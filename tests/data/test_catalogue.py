"""The catalogue arrays: titles and images only where the catalogue has them, and their round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtrec_tf.data.catalogue import Catalogue, build_catalogue
from mtrec_tf.data.readers import load_data
from mtrec_tf.data.statistics import fit_statistics

from image_files import png_bytes

EVENTS = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "timestamp": [1, 2, 3], "event_type": "click",
                       "item_id": ["a", "b", "c"]})


def _catalogue(items: pd.DataFrame, **kwargs: object) -> Catalogue:
    data = load_data(EVENTS, items)
    statistics = fit_statistics(data.events, data.items, _no_examples())
    return build_catalogue(data.items, statistics, max_title_tokens=4, image_size=8, **kwargs)


def _no_examples():
    import pyarrow as pa

    return pa.table({"history_time_gaps": pa.array([[]], pa.list_(pa.float32()))})


def test_titles_and_images_where_items_have_them() -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["red cup", "", None], "category": "Home",
                          "image": [png_bytes(8), None, png_bytes(8, (0, 0, 255))]})
    catalogue = _catalogue(items)
    assert catalogue.has_titles and catalogue.title_tokens.shape == (4, 4)
    assert catalogue.title_tokens[1, :2].tolist() != [0, 0] and not catalogue.title_tokens[2:].any()
    assert catalogue.has_images and catalogue.image.shape == (4, 8, 8, 3)
    assert catalogue.has_image.tolist() == [False, True, False, True]
    assert catalogue.image[3, 0, 0].tolist() == [0, 0, 255] and not catalogue.image[2].any()


@pytest.mark.parametrize("titles", ["empty", "missing"])
def test_without_titles_or_images_there_are_no_title_columns_and_no_image_array(titles: str) -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "category": ["Home", "Toys", "Home"]})
    if titles == "empty":
        items["title"] = ["", None, "  "]
    catalogue = _catalogue(items)
    assert not catalogue.has_titles and catalogue.title_tokens.shape == (4, 0)
    assert not catalogue.has_images and catalogue.image is None and not catalogue.has_image.any()
    assert catalogue.image_size == 8 and catalogue.size == 4
    assert set(catalogue.arrays()) == {"title_tokens", "category", "brand", "price", "has_image", "image_size"}


def test_images_false_builds_no_image_array_but_knows_which_items_have_one() -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": "cup", "category": "Home",
                          "image": [png_bytes(8), None, None]})
    catalogue = _catalogue(items, images=False)
    assert catalogue.image is None and catalogue.has_image.tolist() == [False, True, False, False]


def test_arrays_round_trip_and_old_arrays_drop_a_blank_image() -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["cup", "", ""], "category": "Home",
                          "image": [png_bytes(8), None, None]})
    catalogue = _catalogue(items)
    again = Catalogue.from_arrays(catalogue.arrays())
    for name, value in catalogue.arrays().items():
        np.testing.assert_array_equal(np.asarray(getattr(again, name)), value, err_msg=name)
    # Before the image array was optional, a run without images saved a blank one and no image_size.
    old = {**_catalogue(items.assign(image=None), images=False).arrays(), "image": np.zeros((4, 8, 8, 3), np.uint8)}
    del old["image_size"]
    loaded = Catalogue.from_arrays(old)
    assert loaded.image is None and loaded.image_size == 8
