"""The ``synthetic_annotators`` pipeline: simulated annotators export every synthetic image's patches."""

from __future__ import annotations

import filecmp

import numpy as np
import pandas as pd

from tests.support.kedro_runs import run_pipeline
from tests.support.tiny_dataset import GRID, IMAGE_SIZE, RUNTIME, truth_of
from urur.config import SyntheticAnnotatorsParams
from urur.dataset.annotation.formats import read_export
from urur.dataset.tiling import patch_grid, patch_id
from urur.io.datasets import DirectoryDataset
from urur.pipelines.synthetic_annotators import create_pipeline
from urur.synthetic import annotate_images

PARAMS = SyntheticAnnotatorsParams(format="index", seed=4, missing_fraction=0.0)


def test_synthetic_images_are_annotated_nearly_right_and_users_images_skipped(raw, ingested, tmp_path):
    _, truth_dir = raw
    _, manifest, _ = ingested
    users = manifest.iloc[[0]].assign(image_id="mine_0", scene_id="mine")  # a scene without truth
    catalog = run_pipeline(
        create_pipeline(),
        {
            "synthetic_truth": DirectoryDataset(str(truth_dir), read_only=True),
            "image_manifest": pd.concat([manifest, users], ignore_index=True),
            "params:tiling": GRID,
            "params:synthetic_annotators": PARAMS,
            "params:runtime": RUNTIME,
            "synthetic_annotations": DirectoryDataset(str(tmp_path / "annotations")),
        },
        tmp_path / "staging",
    )
    out = catalog.load("synthetic_annotations")
    assert sorted(p.name for p in out.iterdir()) == sorted(manifest["image_id"])
    windows = patch_grid(IMAGE_SIZE, IMAGE_SIZE, GRID.patch_size, GRID.overlap)
    wrong = total = 0
    for image in manifest.to_dict("records"):
        patches, found, _ = read_export(out, image["image_id"], windows, format="index")
        assert len(found) == len(windows)
        truth = truth_of(truth_dir, image)
        for window in windows:
            wrong += np.count_nonzero(patches[patch_id(image["image_id"], window)] != truth[window.slices])
            total += GRID.patch_size**2
    # Careless annotators: some pixels wrong, never many (a 1 px shift weighs more on 32² patches).
    assert 0 < wrong < 0.1 * total
    # Every parameter reached the library: its own call writes the same files.
    annotate_images(
        truth_dir, manifest, tmp_path / "lib", patch_size=GRID.patch_size, overlap=GRID.overlap,
        format=PARAMS.format, seed=PARAMS.seed, missing_fraction=PARAMS.missing_fraction, workers=1,
    )  # fmt: skip
    comparison = filecmp.dircmp(out, tmp_path / "lib")
    assert not comparison.left_only and not comparison.right_only
    for image_id in manifest["image_id"]:
        names = [p.name for p in (out / image_id).iterdir()]
        _, mismatch, errors = filecmp.cmpfiles(
            out / image_id, tmp_path / "lib" / image_id, names, shallow=False
        )
        assert mismatch == errors == []
