"""The ``adapt_inria`` pipeline: Inria's georeferenced tiles -> 0/1 building masks, split by number."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from tests.support.releases import run_adapter, write_inria
from urur.dataset.releases import InriaParams, ReleaseLayoutError
from urur.io.layout import image_path, mask_path
from urur.io.raster import read_raster


def test_masks_are_binary_georeferenced_and_split_by_image_number(tmp_path):
    expected = write_inria(tmp_path / "release")
    catalog = run_adapter(
        "inria", tmp_path / "release", InriaParams(val_numbers=(1,), test_numbers=(6,)), tmp_path
    )
    masks, images = catalog.load("masks"), catalog.load("uhr_images")
    for image_id, (buildings, transform) in expected.items():
        np.testing.assert_array_equal(read_raster(mask_path(masks, image_id)), buildings)
        with rasterio.open(image_path(images, image_id)) as dataset:
            assert tuple(dataset.transform)[:6] == transform and dataset.crs.to_string() == "EPSG:32614"
    split = catalog.load("dataset_split").set_index("image_id")["split"].to_dict()
    assert split == {
        f"{city}{n}": s for city in ("austin", "vienna") for n, s in ((1, "val"), (6, "test"), (11, "train"))
    }


def test_a_folder_without_train_images_and_gt_is_named(tmp_path):
    (tmp_path / "release" / "train" / "images").mkdir(parents=True)
    with pytest.raises(
        ReleaseLayoutError, match=r"no Inria release found: expected train/images/ and train/gt/"
    ):
        run_adapter("inria", tmp_path / "release", InriaParams(), tmp_path)
