"""The ``annotation`` pipeline: the annotators' exports -> one stamped mask per image and a QA table."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.support.kedro_runs import run_pipeline
from tests.support.tiny_dataset import GRID, RUNTIME, truth_of
from urur.config import AnnotationParams
from urur.dataset.annotation.formats import AnnotationError
from urur.io.datasets import DirectoryDataset
from urur.io.layout import mask_path
from urur.io.raster import read_raster
from urur.io.stamp import check_stamp
from urur.pipelines.annotation import create_pipeline


def test_faultless_exports_merge_back_to_the_truth(raw, ingested, annotated):
    _, manifest, _ = ingested
    masks_dir, qa = annotated
    for image in manifest.to_dict("records"):
        np.testing.assert_array_equal(
            read_raster(mask_path(masks_dir, image["image_id"])), truth_of(raw[1], image)
        )
    check_stamp(masks_dir, manifest, producer="annotation")
    assert qa["image_id"].tolist() == manifest["image_id"].tolist()
    assert (qa["patches_found"] == 9).all() and (qa["patches_missing"] == 0).all()
    assert (qa["overlap_agreement"] == 1.0).all() and (qa["fill_pixels"] == 0).all()


def test_an_image_without_an_export_is_named_and_no_masks_are_published(ingested, exports, tmp_path):
    images_dir, manifest, _ = ingested
    partial = tmp_path / "annotations"
    shutil.copytree(exports, partial)
    victim = manifest["image_id"][3]
    (partial / f"{victim}.zip").unlink()
    with pytest.raises(AnnotationError, match=victim):
        run_pipeline(
            create_pipeline(),
            {
                "corrected_exports": DirectoryDataset(str(partial), read_only=True),
                "image_manifest": manifest,
                "uhr_images": DirectoryDataset(str(images_dir)),
                "params:tiling": GRID,
                "params:annotation": AnnotationParams(on_missing="error"),
                "params:runtime": RUNTIME,
                "masks": DirectoryDataset(str(tmp_path / "masks")),
            },
            tmp_path / "staging",
        )
    assert not (tmp_path / "masks").exists() and list((tmp_path / "staging").iterdir()) == []
