"""The catalogue arrays: titles and images only where the catalogue has them, and their round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtrec_tf.data.catalogue import Catalogue, build_catalogue
from mtrec_tf.data.readers import load_data
from mtrec_tf.data.statistics import fit_statistics
from mtrec_tf.features.spec import DEFAULT_FEATURES

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
    titles = catalogue.texts["title"]
    assert catalogue.has_titles and titles.shape == (4, 4)
    assert titles[1, :2].tolist() != [0, 0] and not titles[2:].any()
    assert catalogue.has_images and catalogue.image.shape == (4, 8, 8, 3)
    assert catalogue.has_image.tolist() == [False, True, False, True]
    assert catalogue.image[3, 0, 0].tolist() == [0, 0, 255] and not catalogue.image[2].any()


@pytest.mark.parametrize("titles", ["empty", "missing"])
def test_without_titles_or_images_there_are_no_texts_and_no_image_array(titles: str) -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "category": ["Home", "Toys", "Home"]})
    if titles == "empty":
        items["title"] = ["", None, "  "]
    catalogue = _catalogue(items)
    assert not catalogue.has_titles and not catalogue.texts
    assert not catalogue.has_images and catalogue.image is None and not catalogue.has_image.any()
    assert catalogue.image_size == 8 and catalogue.size == 4
    # The default set's brand and price are raw values like any items feature's.
    assert set(catalogue.arrays()) == {"category", "has_image", "image_size", "feature_category", "feature_brand",
                                       "feature_price"}
    assert catalogue.features["brand"].tolist() == [""] * 4 and np.isnan(catalogue.features["price"]).all()


def test_a_configuration_without_the_image_or_title_feature_keeps_neither() -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": "cup", "category": "Home",
                          "image": [png_bytes(8), None, None]})
    features = tuple(f for f in DEFAULT_FEATURES if f.name not in ("image", "title", "brand"))
    catalogue = _catalogue(items, features=features)
    assert catalogue.image is None and not catalogue.texts and set(catalogue.features) == {"category", "price"}
    assert catalogue.has_image.tolist() == [False, True, False, False]


def test_images_false_builds_no_image_array_but_knows_which_items_have_one() -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": "cup", "category": "Home",
                          "image": [png_bytes(8), None, None]})
    catalogue = _catalogue(items, images=False)
    assert catalogue.image is None and catalogue.has_image.tolist() == [False, True, False, False]


def test_arrays_round_trip() -> None:
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["cup", "", ""], "category": "Home",
                          "brand": ["x", "", "y"], "price": [1.0, None, 3.0], "image": [png_bytes(8), None, None]})
    catalogue = _catalogue(items)
    again = Catalogue.from_arrays(catalogue.arrays())
    assert set(again.arrays()) == set(catalogue.arrays())
    for name, value in catalogue.arrays().items():
        np.testing.assert_array_equal(again.arrays()[name], value, err_msg=name)
