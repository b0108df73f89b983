"""Leak checks: equal pixels under two scene ids are refused, all-fill cuts are not a leak."""

from __future__ import annotations

import pandas as pd
import pytest

from urur.dataset.leaks import check_duplicate_pixels
from urur.dataset.scene_table import IngestionError


def test_duplicate_pixel_check_skips_all_fill_cuts_and_names_the_source():
    manifest = pd.DataFrame(
        {
            "image_id": ["a_0", "b_0", "c_0", "d_0"],
            "scene_id": ["a", "b", "c", "d"],
            "checksum": ["empty", "empty", "same", "same"],
            "fill_pixels": [16, 16, 15, 0],
            "height": [4, 4, 4, 4],
            "width": [4, 4, 4, 4],
        }
    )
    # a and b are entirely fill (equal without being a leak); c has one valid pixel, so it counts.
    with pytest.raises(
        IngestionError,
        match=r"^the image manifest hold the same pixels under different scene ids: "
        r"c_0 \(scene c\) = d_0 \(scene d\)\. The same scene is listed twice \(under another name or as a "
        r"copy\): keep one row per scene\.$",
    ):
        check_duplicate_pixels(manifest)
    check_duplicate_pixels(manifest.iloc[:3])  # the two all-fill cuts alone are fine
    # Without a scene_id column every image is its own scene; groups are reported in checksum order.
    no_scenes = pd.DataFrame({"image_id": ["x", "y", "p", "q"], "checksum": ["9", "9", "1", "1"]})
    with pytest.raises(
        IngestionError, match=r"^the images hold .*: p \(scene p\) = q \(scene q\), x \(scene x\)"
    ):
        check_duplicate_pixels(no_scenes, source="the images")


@pytest.mark.parametrize("column", ["fill_pixels", "height", "width"])
def test_an_image_of_unknown_fill_or_size_is_never_left_out_of_the_check(column):
    # Only images known to be all fill may be skipped: a missing count must not hide a copied scene.
    manifest = pd.DataFrame(
        {
            "image_id": ["a_0", "b_0"],
            "scene_id": ["a", "b"],
            "checksum": ["same", "same"],
            "fill_pixels": [0, 0],
            "height": [4, 4],
            "width": [4, 4],
        }
    )
    manifest[column] = manifest[column].astype(float)
    manifest.loc[1, column] = float("nan")
    with pytest.raises(ValueError):
        check_duplicate_pixels(manifest)
