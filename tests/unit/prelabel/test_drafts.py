"""ISDNet-assisted pre-labelling: round choice, uncertainty, drafts, corrections, effort, bad inputs."""

from __future__ import annotations

import json
import math
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from urur.classes import URUR_PALETTE
from urur.config import RuntimeParams, TilingParams
from urur.dataset.annotation import merge_annotations, merge_image_annotations, read_export
from urur.dataset.tiling import patch_grid, patch_id
from urur.io.layout import mask_path
from urur.io.raster import read_raster, write_raster
from urur.models.checkpoint import CheckpointError
from urur.pipelines.prelabel import create_pipeline
from urur.prelabel.drafts import (
    PrelabelError,
    ReviewParams,
    check_drafts,
    choose_round_one,
    correct_patch,
    count_changes,
    draft_images,
    effort_summary,
    noticed_errors,
    patch_scores,
    roc_auc,
    simulate_corrections,
    uncertainty_maps,
)
from urur.synthetic import annotate_images
from urur.synthetic.annotators import AnnotatorHabits

SIZE, PATCH, OVERLAP = 96, 64, 8
TINY_TRAINING = {
    "model": "isdnet",
    "model_options": {"width": 0.125},
    "crop_size": 64,
    "scale_range": [1.0, 1.0],
    "batch_size": 2,
    "iterations": 2,
    "workers": 0,
    "device": "cpu",
}


class _Kept(MemoryDataset):
    """Keeps its data after the run, so a second slice can read the first one's outputs."""

    def _release(self) -> None:
        pass


def _manifest(scenes: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "image_id": f"{scene}_0",
                "scene_id": scene,
                "city": city,
                "row_off": 0,
                "col_off": 0,
                "height": SIZE,
                "width": SIZE,
                "path": f"{scene}_0.tif",
            }
            for scene, city in scenes
        ]
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Four one-image scenes in two cities: images coloured by their truth, CVAT exports of all."""
    root = tmp_path_factory.mktemp("prelabel")
    manifest = _manifest([("a1", "A"), ("a2", "A"), ("b1", "B"), ("b2", "B")])
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


def test_round_one_takes_a_third_of_the_scenes_city_by_city_and_refuses_empty_or_all():
    manifest = _manifest([(f"{c}{k}", c) for c in "ABC" for k in range(2)])
    rounds = choose_round_one(manifest, 1 / 3, seed=0)
    first = rounds[rounds["round"] == 1]
    assert len(first) == 2 and first["city"].nunique() == 2
    assert rounds.equals(choose_round_one(manifest, 1 / 3, seed=0))
    with pytest.raises(PrelabelError, match=r"no image.*parameters_prelabel\.yml"):
        choose_round_one(manifest, images=[])
    with pytest.raises(PrelabelError, match="all 6 images"):
        choose_round_one(manifest, 1.0)


def test_uncertainty_of_a_hand_made_case():
    # Left 2x2 patch: both classes equally likely; right patch: 0.9 / 0.1.
    logits = torch.zeros(1, 2, 2, 4)
    logits[0, 0, :, 2:] = math.log(9)
    labels, entropy, low_margin = uncertainty_maps(logits, margin=0.2)
    table = patch_scores("img", entropy, low_margin, patch_size=2, overlap=0, score="entropy")
    sure = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)) / math.log(2)
    assert table["patch_id"].tolist() == ["img_r00000_c00000", "img_r00000_c00002"]
    assert table["entropy"].tolist() == pytest.approx([1.0, sure], abs=1e-6)
    assert table["low_margin"].tolist() == [1.0, 0.0]
    assert table["rank"].tolist() == [1, 2]
    assert (labels[:, 2:] == 0).all()


def test_roc_auc_against_hand_counts():
    # Positive scores 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 pairs ordered right.
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert roc_auc(np.array([1.0, 1.0]), np.array([1, 0])) == 0.5
    assert math.isnan(roc_auc(np.array([1.0, 2.0]), np.array([1, 1])))


def test_correction_changes_exactly_the_wrong_pixels_the_annotator_fixes():
    draft = np.array([[0, 1, 2], [3, 3, 3]], np.uint8)
    truth = np.array([[0, 2, 2], [3, 1, 1]], np.uint8)
    annotated = np.array([[5, 2, 2], [3, 1, 3]], np.uint8)  # the annotator errs at (0,0) and (1,2)
    corrected = correct_patch(draft, truth, annotated)
    # Agreeing pixels keep the draft even where the annotator would err; (1,2) stays wrong.
    assert corrected.tolist() == [[0, 2, 2], [3, 1, 3]]
    assert np.count_nonzero(corrected != draft) == 2
    perfect = AnnotatorHabits(shift_probability=0, dilate_probability=0, mislabel_probability=0)
    truth = np.random.default_rng(1).integers(0, 8, (SIZE, SIZE)).astype(np.uint8)
    drafts = {
        patch_id("x", w): np.zeros((w.height, w.width), np.uint8)
        for w in patch_grid(SIZE, SIZE, PATCH, OVERLAP)
    }
    fixed = simulate_corrections(truth, "x", drafts, PATCH, OVERLAP, seed=0, habits=perfect)
    for w in patch_grid(SIZE, SIZE, PATCH, OVERLAP):
        assert np.array_equal(fixed[patch_id("x", w)], truth[w.slices])


def test_reviewers_fix_thick_large_errors_and_overlook_slivers_and_specks():
    wrong = np.zeros((12, 12), bool)
    wrong[0, :] = True  # a boundary drawn 1 px off: 12 px long, 1 px thick
    wrong[5:9, 5:9] = True  # a 4x4 wrong region, 16 px
    wrong[6, 9:12] = True  # a 1 px tail leaving it
    wrong[2:5, 0:3] = True  # a 3x3 speck, 9 px
    fixed = noticed_errors(wrong, min_width=3, min_area=10)
    expected = np.zeros_like(wrong)
    expected[5:9, 5:9] = True
    expected[6, 9] = True  # the tail's pixel on the region's rim goes with it, the rest stays
    assert np.array_equal(fixed, expected)
    # Without the width rule the 12 px sliver is large enough; the 9 px speck never is.
    by_area = noticed_errors(wrong, min_width=1, min_area=10)
    assert by_area[0].all() and by_area[5:9, 5:9].all() and not by_area[2:5, 0:3].any()
    assert np.array_equal(noticed_errors(wrong), wrong)


def test_a_draft_off_by_a_boundary_pixel_is_accepted_unchanged():
    truth = np.zeros((40, 40), np.uint8)
    truth[:, 20:] = 3
    draft = truth.copy()
    draft[:, 20] = 0  # the boundary one pixel off
    draft[30:36, 2:8] = 5  # a 6x6 wrong region: 36 px
    annotated = truth.copy()
    review = ReviewParams(min_error_width=3, min_error_area=30)
    corrected = correct_patch(draft, truth, annotated, review)
    assert np.count_nonzero(corrected != draft) == 36
    assert (corrected[:, 20] == 0).all()  # the sliver stays as drafted
    draft[30:36, 2:8] = 0
    assert np.array_equal(correct_patch(draft, truth, annotated, review), draft)
    # Fixing every wrong pixel (the strictest reviewer) changes the 40 px column.
    assert np.count_nonzero(correct_patch(draft, truth, annotated) != draft) == 40


@pytest.fixture(scope="module")
def chain(world, tmp_path_factory):
    """The prelabel pipeline in two slices around the final merge, as the chain runs it."""
    root, manifest = world
    work = tmp_path_factory.mktemp("chain")
    params = {
        "round_one": {"images": manifest["image_id"][:2].tolist()},
        "training": TINY_TRAINING,
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


def test_effort_summary_of_a_hand_made_table():
    ids = [f"p{k}" for k in range(5)]
    changes = pd.DataFrame({"patch_id": ids, "pixels": 100, "changed_pixels": [0, 10, 0, 50, 40]})
    ranking = pd.DataFrame({"patch_id": ids, "score": [0.1, 0.5, 0.2, 0.9, 0.3]})
    summary = effort_summary(changes, ranking, {"aAcc": 0.9, "mIoU": 0.5, "IoU": [0.5, float("nan")]})
    assert summary["patches_unchanged_share"] == 0.4
    assert summary["pixels_changed_share"] == 0.2 and summary["effort_saved_pct"] == pytest.approx(80.0)
    assert summary["ranking_roc_auc"] == 1.0  # every changed patch scores above every unchanged one
    # Above the median share (0.1): p3 and p4. p3 (0.9) outscores all three others, p4 (0.3) two of them.
    assert summary["ranking_roc_auc_above_median"] == pytest.approx(5 / 6)
    # Spearman = Pearson of the ranks: scores rank 1 4 2 5 3, changed shares 1.5 3 1.5 5 4 (ties averaged).
    ranks_correlation = np.corrcoef([1, 4, 2, 5, 3], [1.5, 3, 1.5, 5, 4])[0, 1]
    assert summary["ranking_spearman"] == pytest.approx(ranks_correlation)
    assert summary["top_patches_correction_share"] == 0.5  # top 20 % = p3 alone, 50 of 100 changed pixels
    assert summary["prelabel_IoU_others"] == 0.5 and summary["prelabel_IoU_building"] is None
