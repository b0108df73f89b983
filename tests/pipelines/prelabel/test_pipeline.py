"""The ``prelabel`` pipeline: round one, the drafting model, its drafts in every format, the
simulated corrections and the effort report, run in two slices around the final merge."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from tests.support.kedro_project import TINY_TRAINING
from tests.support.prelabel_world import OVERLAP, PATCH, SIZE, one_image_scenes
from urur.classes import URUR_PALETTE
from urur.config import RuntimeParams, TilingParams
from urur.dataset.annotation.formats import read_export
from urur.dataset.annotation.merge import merge_annotations, merge_image_annotations
from urur.dataset.tiling import patch_grid, patch_id
from urur.io.layout import mask_path
from urur.io.raster import read_raster, write_raster
from urur.models.checkpoint import CheckpointError
from urur.pipelines.prelabel import create_pipeline
from urur.prelabel.drafts import PrelabelError, check_drafts, draft_images
from urur.prelabel.effort import count_changes
from urur.synthetic import annotate_images


class _Kept(MemoryDataset):
    """Keeps its data after the run, so a second slice can read the first one's outputs."""

    def _release(self) -> None:
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Four one-image scenes in two cities: images coloured by their truth, CVAT exports of all."""
    root = tmp_path_factory.mktemp("prelabel")
    manifest = one_image_scenes([("a1", "A"), ("a2", "A"), ("b1", "B"), ("b2", "B")])
    rng = np.random.default_rng(0)
    for k, record in enumerate(manifest.to_dict("records")):
        truth = np.zeros((SIZE, SIZE), np.uint8)
        truth[:, SIZE // 2 :] = 2
        truth[10 + 5 * k : 40 + 5 * k, 20:50] = 1
        truth[60:, : 30 + 10 * k] = 6
        write_raster(root / "truth" / f"{record['scene_id']}.tif", truth)
        pixels = URUR_PALETTE[truth].astype(np.int16) + rng.integers(-20, 20, (SIZE, SIZE, 3))
        write_raster(root / "images" / record["path"], np.clip(pixels, 0, 255).astype(np.uint8))
    annotate_images(
        root / "truth", manifest, root / "exports", patch_size=PATCH, overlap=OVERLAP, format="cvat", seed=1
    )
    return root, manifest


@pytest.fixture(scope="module")
def chain(world, tmp_path_factory):
    """The prelabel pipeline in two slices around the final merge, as the chain runs it."""
    root, manifest = world
    work = tmp_path_factory.mktemp("chain")
    params = {
        "round_one": {"images": manifest["image_id"][:2].tolist()},
        "training": {**TINY_TRAINING, "device": "cpu"},
        "checkpoint_dir": str(work / "model"),
    }
    catalog = DataCatalog(
        {
            "image_manifest": MemoryDataset(manifest),
            "uhr_images": MemoryDataset(root / "images"),
            "annotator_exports": MemoryDataset(root / "exports"),
            "synthetic_truth": MemoryDataset(root / "truth"),
            "params:prelabel": MemoryDataset(params),
            "params:tiling": MemoryDataset(TilingParams(patch_size=PATCH, overlap=OVERLAP)),
            "params:runtime": MemoryDataset(RuntimeParams(workers=1)),
            **{
                name: _Kept()
                for name in ("prelabel_rounds", "prelabel_drafts", "prelabel_ranking", "prelabel_model")
            },
        }
    )
    pipeline = create_pipeline()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("URUR_STAGING_DIR", str(work / "staging"))
        SequentialRunner().run(pipeline.only_nodes_with_tags("prelabel_drafts"), catalog)
        corrected = catalog.load("synthetic_corrected_annotations")
        merge_annotations(manifest, corrected, work / "masks", patch_size=PATCH, overlap=OVERLAP)
        catalog["masks"] = MemoryDataset(work / "masks")
        catalog["corrected_exports"] = MemoryDataset(corrected)
        SequentialRunner().run(pipeline.only_nodes_with_tags("prelabel_report"), catalog)
    return catalog


def test_pipeline_drafts_corrects_and_reports(world, chain):
    _, manifest = world
    corrected = chain.load("synthetic_corrected_annotations")
    corrections = chain.load("prelabel_corrections")
    # Round one's exports carried along, round two's corrected: every image once for the merge.
    assert sorted(p.name for p in corrected.iterdir()) == [f"{i}.zip" for i in manifest["image_id"]]
    effort = chain.load("prelabel_effort")
    # Read back from the exports, the changes equal those counted while correcting.
    expected = 100 * (1 - corrections["changed_pixels"].sum() / corrections["pixels"].sum())
    assert effort["effort_saved_pct"] == pytest.approx(expected)
    assert effort["patches"] == len(corrections) == 8
    agreement = chain.load("prelabel_truth_agreement")
    assert agreement["group"].tolist() == ["from_scratch", "prelabelled"]
    assert agreement["images"].tolist() == [2, 2]


def test_drafts_reimport_to_the_prediction_in_every_format(world, chain):
    _, manifest = world
    drafts = chain.load("prelabel_drafts")
    ranking = chain.load("prelabel_ranking")
    ids = manifest["image_id"][2:].tolist()
    assert len(ranking) == 4 * len(ids) and set(ranking["rank"]) == {1, 2, 3, 4}
    windows = patch_grid(SIZE, SIZE, PATCH, OVERLAP)
    for image_id in ids:
        prediction = read_raster(mask_path(drafts / "prelabels", image_id))
        for fmt in ("index", "rgb", "cvat"):
            patches, found, _ = read_export(drafts / fmt, image_id, windows, format=fmt)
            assert found == {patch_id(image_id, w) for w in windows}
            for w in windows:
                assert np.array_equal(patches[patch_id(image_id, w)], prediction[w.slices])
        merged, _ = merge_image_annotations(
            image_id, SIZE, SIZE, drafts / "cvat", patch_size=PATCH, overlap=OVERLAP
        )
        assert np.array_equal(merged, prediction)


def test_label_studio_drafts_are_scored_predictions_that_read_back_as_an_export(world, chain, tmp_path):
    _, manifest = world
    drafts = chain.load("prelabel_drafts")
    ranking = chain.load("prelabel_ranking").set_index("patch_id")["score"]
    checkpoint = Path(chain.load("prelabel_model")["checkpoint"])
    config = ET.fromstring((drafts / "label_studio" / "label_config.xml").read_text())
    brush = config.find("BrushLabels")
    windows = patch_grid(SIZE, SIZE, PATCH, OVERLAP)
    for image_id in manifest["image_id"][2:]:
        tasks = json.loads((drafts / "label_studio" / f"{image_id}.json").read_text())
        assert [t["data"]["patch_id"] for t in tasks] == [patch_id(image_id, w) for w in windows]
        for task in tasks:
            pid = task["data"]["patch_id"]
            assert task["data"]["image"] == f"/data/local-files/?d=patches/{image_id}/{pid}.png"
            [prediction] = task["predictions"]
            assert prediction["model_version"] == f"{checkpoint.parent.name}/{checkpoint.stem}"
            assert prediction["score"] == pytest.approx(ranking[pid])
            for region in prediction["result"]:
                assert (region["from_name"], region["to_name"]) == (brush.get("name"), brush.get("toName"))
                assert region["value"]["brushlabels"][0] in {label.get("value") for label in brush}
            # An annotator who accepts the draft unchanged: Label Studio exports it as the annotation.
            task["annotations"] = [{"id": 1, "was_cancelled": False, "result": prediction["result"]}]
        (tmp_path / f"{image_id}.json").write_text(json.dumps(tasks))
        patches, found, _ = read_export(tmp_path, image_id, windows, format="label_studio")
        drafted, _, _ = read_export(drafts / "index", image_id, windows, format="index")
        assert found == set(drafted)
        for pid, labels in drafted.items():
            np.testing.assert_array_equal(patches[pid], labels)


def test_bad_inputs_name_the_file(world, chain, tmp_path):
    root, manifest = world
    ids = manifest["image_id"][2:].tolist()
    checkpoint = chain.load("prelabel_model")["checkpoint"]
    with pytest.raises(CheckpointError, match=checkpoint):
        draft_images(checkpoint, ids, root / "images", tmp_path / "five", num_classes=5)
    drafts = tmp_path / "drafts"
    shutil.copytree(chain.load("prelabel_drafts"), drafts)
    other_grid = tmp_path / "other_grid"
    annotate_images(root / "truth", manifest[2:], other_grid, patch_size=48, overlap=8, format="cvat")
    with pytest.raises(PrelabelError, match=f"{other_grid / ids[0]}.zip"):
        count_changes(drafts, other_grid)
    (drafts / "cvat" / f"{ids[1]}.zip").unlink()
    with pytest.raises(PrelabelError, match=f"{drafts}.*lacks.*{ids[1]}.zip"):
        check_drafts(drafts)
    shutil.copytree(chain.load("prelabel_drafts"), drafts, dirs_exist_ok=True)
    (drafts / "label_studio" / f"{ids[0]}.json").unlink()
    with pytest.raises(PrelabelError, match=f"{drafts}.*lacks.*label_studio/{ids[0]}.json"):
        check_drafts(drafts)
    (drafts / "drafts.json").unlink()
    with pytest.raises(PrelabelError, match=f"{drafts} has no drafts.json"):
        check_drafts(drafts)
