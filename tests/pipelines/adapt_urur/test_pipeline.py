"""The ``adapt_urur`` pipeline: the URUR release in either of its layouts -> the chain's outputs."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.releases import OTHER_ORDER, SIDE, run_adapter, write_urur
from urur.dataset.releases import ReleaseLayoutError, UrurReleaseParams
from urur.io.layout import image_path, mask_path
from urur.io.raster import read_raster
from urur.io.stamp import check_stamp


@pytest.mark.parametrize("layout", ["split_first", "folder_first"])
def test_label_order_is_remapped_and_the_releases_split_kept(tmp_path, layout):
    expected = write_urur(tmp_path / "release", layout)
    catalog = run_adapter("urur", tmp_path / "release", UrurReleaseParams(label_order=OTHER_ORDER), tmp_path)
    masks, manifest = catalog.load("masks"), catalog.load("image_manifest")
    assert sorted(manifest["image_id"]) == sorted(expected)
    for image_id, labels in expected.items():
        np.testing.assert_array_equal(read_raster(mask_path(masks, image_id)), labels)
        assert read_raster(image_path(catalog.load("uhr_images"), image_id)).shape == (SIDE, SIDE, 3)
    check_stamp(masks, manifest, producer="adapt_urur")
    split = catalog.load("dataset_split")
    assert all(
        image_id.startswith(f"{s}_") for image_id, s in zip(split["image_id"], split["split"], strict=True)
    )
    source = catalog.load("dataset_source")
    assert source["environment"] == "urur" and source["files"] == 2 * len(expected)


def test_a_folder_in_no_known_layout_is_described(tmp_path):
    (tmp_path / "release" / "images").mkdir(parents=True)
    with pytest.raises(
        ReleaseLayoutError, match=r"no URUR release found: .* holds folders \['images/'\] and 0 files"
    ):
        run_adapter("urur", tmp_path / "release", UrurReleaseParams(), tmp_path)
    assert not (tmp_path / "masks").exists()
