"""The ``adapt_deepglobe`` pipeline: DeepGlobe land-cover pairs -> class-value masks and a split."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.releases import run_adapter, write_deepglobe
from urur.dataset.releases import DeepGlobeParams, ReleaseLayoutError
from urur.dataset.split import SPLITS
from urur.io.layout import mask_path
from urur.io.raster import read_raster


def test_palette_masks_become_class_values_split_by_the_ratios(tmp_path):
    expected = write_deepglobe(tmp_path / "release")
    params = DeepGlobeParams(ratios=(0.5, 0.25, 0.25), seed=1)
    catalog = run_adapter("deepglobe", tmp_path / "release", params, tmp_path)
    masks, manifest = catalog.load("masks"), catalog.load("image_manifest")
    for image_id, labels in expected.items():
        np.testing.assert_array_equal(read_raster(mask_path(masks, image_id)), labels)
    assert (manifest["off_palette_pixels"] == 0).all()  # colours a few levels off are still their class
    split = catalog.load("dataset_split")
    assert sorted(split["image_id"]) == sorted(expected) and set(split["split"]) == set(SPLITS)
    assert catalog.load("dataset_source")["environment"] == "deepglobe"


def test_a_folder_without_pairs_is_named(tmp_path):
    (tmp_path / "release").mkdir()
    (tmp_path / "release" / "100_sat.jpg").write_bytes(b"")
    with pytest.raises(
        ReleaseLayoutError, match=r"no DeepGlobe land-cover pairs .* holds folders none and 1 files"
    ):
        run_adapter("deepglobe", tmp_path / "release", DeepGlobeParams(), tmp_path)
