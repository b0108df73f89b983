"""What the drafts saved: the effort/quality table and the ranking's ROC AUC, against hand counts."""

from __future__ import annotations

import json
import math
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from urur.classes import URUR_CLASSES
from urur.dataset.annotation.export import write_annotation_export
from urur.dataset.tiling import patch_grid, patch_id
from urur.io.layout import mask_path
from urur.io.raster import write_raster
from urur.prelabel.drafts import DRAFTS_MANIFEST, PREDICTION_FOLDER, PrelabelError, write_drafts
from urur.prelabel.effort import count_changes, effort_summary, prediction_quality, roc_auc, truth_agreement


def test_roc_auc_against_hand_counts():
    # Positive scores 0.35, 0.8 vs negatives 0.1, 0.4: 3 of 4 pairs ordered right.
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert roc_auc(np.array([1.0, 1.0]), np.array([1, 0])) == 0.5
    assert math.isnan(roc_auc(np.array([1.0, 2.0]), np.array([1, 1])))


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


def test_roc_auc_is_undefined_without_negatives_too_and_says_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty group is NaN by rule, not by a 0/0 numpy warns about
        assert math.isnan(roc_auc(np.array([1.0, 2.0]), np.array([0, 0])))
        assert math.isnan(roc_auc(np.array([1.0, 2.0]), np.array([1, 1])))


SUMMARY_KEYS = [
    "patches",
    "patches_unchanged_share",
    "pixels_changed_share",
    "scratch_pixels_share",
    "effort_saved_pct",
    "ranking_roc_auc",
    "ranking_roc_auc_above_median",
    "ranking_spearman",
    "top_patches_correction_share",
    "prelabel_aAcc",
    "prelabel_mIoU",
    "prelabel_IoU_others",
    "prelabel_IoU_building",
]


def test_effort_summary_weighs_patches_by_their_own_size():
    # Shares 10/20 = 0.5, 1/100 = 0.01, 40/400 = 0.1 (counts alone would order them 40 > 10 > 1).
    changes = pd.DataFrame(
        {"patch_id": ["a", "b", "c"], "pixels": [20, 100, 400], "changed_pixels": [10, 1, 40]}
    )
    ranking = pd.DataFrame({"patch_id": ["c", "b", "a"], "score": [0.2, 0.2, 0.9]})  # two scores only
    summary = effort_summary(changes, ranking, {"aAcc": 0.75, "mIoU": 0.25, "IoU": [0.5, 0.0]}, top_share=0.5)
    assert list(summary) == SUMMARY_KEYS
    assert summary["patches"] == 3 and summary["scratch_pixels_share"] == 1.0
    assert summary["pixels_changed_share"] == pytest.approx(51 / 520)
    assert summary["ranking_roc_auc"] is None  # every patch changed, one pixel counts
    # Above the median share (0.1): a alone, scoring above both others.
    assert summary["ranking_roc_auc_above_median"] == 1.0
    # Ranks: scores 3 1.5 1.5, shares 3 1 2.
    assert summary["ranking_spearman"] == pytest.approx(np.corrcoef([3, 1.5, 1.5], [3, 1, 2])[0, 1])
    # Top 50 % of 3 patches = 2: a, then of the tied b and c the first listed in changes (b).
    assert summary["top_patches_correction_share"] == pytest.approx(11 / 51)
    assert (summary["prelabel_aAcc"], summary["prelabel_mIoU"]) == (0.75, 0.25)
    assert (summary["prelabel_IoU_others"], summary["prelabel_IoU_building"]) == (0.5, 0.0)


def test_effort_summary_breaks_score_ties_by_table_order():
    # 40 patches all scored alike: the top 20 % are the first 8 listed, whatever the sort.
    ids = [f"p{k:02d}" for k in range(40)]
    changed = [1] * 8 + [3] * 32
    changes = pd.DataFrame({"patch_id": ids, "pixels": 10, "changed_pixels": changed})
    ranking = pd.DataFrame({"patch_id": ids, "score": 0.5})
    summary = effort_summary(changes, ranking, {"aAcc": 1.0, "mIoU": 1.0, "IoU": [1.0]})
    assert summary["top_patches_correction_share"] == pytest.approx(8 / 104)
    assert summary["ranking_spearman"] is None
    # Distinct scores against two share values: ranks 1..40 against 4.5 (x8) and 24.5 (x32).
    ordered = effort_summary(
        changes, ranking.assign(score=np.arange(40.0)), {"aAcc": 1.0, "mIoU": 1.0, "IoU": [1.0]}
    )
    expected = np.corrcoef(np.arange(1, 41), [4.5] * 8 + [24.5] * 32)[0, 1]
    assert ordered["ranking_spearman"] == pytest.approx(expected)
    # Two score levels: the top 4 of 20 are the first four of the ten tied at 1 (p10-p13, 1 px each),
    # not any four of them (an unstable sort takes others: 3 px each).
    halves = pd.DataFrame({"patch_id": ids[:20], "score": [0.0] * 10 + [1.0] * 10})
    changed = [3] * 10 + [1] * 4 + [3] * 6
    two_levels = effort_summary(
        changes[:20].assign(changed_pixels=changed), halves, {"aAcc": 1.0, "mIoU": 1.0, "IoU": [1.0]}
    )
    assert two_levels["top_patches_correction_share"] == pytest.approx(4 / 52)


def test_effort_summary_of_untouched_drafts_and_constant_scores_is_null_without_warnings():
    changes = pd.DataFrame({"patch_id": ["a", "b"], "pixels": 4, "changed_pixels": 0})
    ranking = pd.DataFrame({"patch_id": ["a", "b"], "score": [0.3, 0.3]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # undefined by rule, not by a 0/0 or SciPy's constant-input warning
        summary = effort_summary(changes, ranking, {"aAcc": 1.0, "mIoU": 1.0, "IoU": [1.0]})
        assert summary["effort_saved_pct"] == 100.0 and summary["patches_unchanged_share"] == 1.0
        for key in ("ranking_roc_auc", "ranking_roc_auc_above_median", "ranking_spearman"):
            assert summary[key] is None
        assert summary["top_patches_correction_share"] is None
        # Varying scores but one changed share (all 0): still no correlation to report.
        varied = effort_summary(
            changes, ranking.assign(score=[0.1, 0.9]), {"aAcc": 1.0, "mIoU": 1.0, "IoU": [1.0]}
        )
        assert varied["ranking_spearman"] is None
        # One score but varying changed shares: no correlation either.
        flat = effort_summary(
            changes.assign(changed_pixels=[0, 2]), ranking, {"aAcc": 1.0, "mIoU": 1.0, "IoU": [1.0]}
        )
        assert flat["ranking_spearman"] is None and flat["top_patches_correction_share"] == 0.0


def test_effort_summary_refuses_unscored_duplicated_patches_and_unnamed_classes():
    ids = [f"p{k}" for k in range(8)]
    changes = pd.DataFrame({"patch_id": ids, "pixels": 4, "changed_pixels": 1})
    quality = {"aAcc": 1.0, "mIoU": 1.0, "IoU": [1.0]}
    # A left join: patches without a score are named (the first five), not silently dropped.
    with pytest.raises(PrelabelError, match=r"patches \['p1', 'p2', 'p3', 'p4', 'p5'\] have corrections"):
        effort_summary(changes, pd.DataFrame({"patch_id": ["p0", "p7"], "score": 0.5}), quality)
    doubled = pd.DataFrame({"patch_id": [*ids, "p0"], "score": 0.5})
    with pytest.raises(pd.errors.MergeError):  # a patch scored twice would count twice
        effort_summary(changes, doubled, quality)
    with pytest.raises(ValueError):  # more IoUs than URUR has classes: none dropped unnamed
        effort_summary(changes, pd.DataFrame({"patch_id": ids, "score": 0.5}), {**quality, "IoU": [1.0] * 9})


# A hand-made draft folder: image a_0 (4x8, two 4x4 patches) and b_0 (4x4, one patch), 3 classes.
A_DRAFT = np.array([[2, 0, 0, 0, 1, 1, 1, 1]] + [[0, 0, 0, 0, 1, 1, 1, 1]] * 3, np.uint8)
B_DRAFT = np.full((4, 4), 2, np.uint8)
B_DRAFT[0, 0] = 1
A_MASK = np.array([[0, 0, 0, 0, 1, 1, 1, 1]] * 3 + [[0, 0, 0, 0, 1, 1, 1, 255]], np.uint8)
B_MASK = np.full((4, 4), 2, np.uint8)


def _draft_folder(root: Path) -> Path:
    drafts = root / "drafts"
    for image_id, labels in (("a_0", A_DRAFT), ("b_0", B_DRAFT)):
        windows = patch_grid(*labels.shape, 4, 0)
        ranking = pd.DataFrame({"patch_id": [patch_id(image_id, w) for w in windows], "score": 0.5})
        write_drafts(labels, image_id, drafts, 4, 0, ranking=ranking, version="m/best", num_classes=3)
        write_raster(mask_path(drafts / PREDICTION_FOLDER, image_id), labels)
    listing = {"images": ["a_0", "b_0"], "patch_size": 4, "overlap": 0, "num_classes": 3, "checkpoint": "m"}
    (drafts / DRAFTS_MANIFEST).write_text(json.dumps(listing))
    return drafts


def _export(folder: Path, image_id: str, labels: np.ndarray, patch_size: int = 4) -> None:
    windows = patch_grid(*labels.shape, patch_size, 0)
    write_annotation_export(
        folder, image_id, {patch_id(image_id, w): labels[w.slices] for w in windows}, "index"
    )


def test_count_changes_reads_back_each_corrected_patch(tmp_path):
    drafts = _draft_folder(tmp_path)
    corrected = tmp_path / "corrected"
    a_fixed = A_DRAFT.copy()
    a_fixed[0, 0], a_fixed[1, 1], a_fixed[3, 3] = 0, 2, 1  # three pixels of the left patch
    b_fixed = B_DRAFT.copy()
    b_fixed[0, 0] = 2
    _export(corrected, "a_0", a_fixed)
    _export(corrected, "b_0", b_fixed)
    expected = pd.DataFrame(
        {
            "image_id": ["a_0", "a_0", "b_0"],
            "patch_id": ["a_0_r00000_c00000", "a_0_r00000_c00004", "b_0_r00000_c00000"],
            "pixels": [16, 16, 16],
            "changed_pixels": [3, 0, 1],
        }
    )
    pd.testing.assert_frame_equal(count_changes(drafts, corrected), expected)


def test_count_changes_refuses_corrections_off_the_drafts_grid(tmp_path):
    drafts = _draft_folder(tmp_path)
    other_grid = tmp_path / "other_grid"
    _export(other_grid, "a_0", A_DRAFT, patch_size=2)
    grid = re.escape("(4 px, overlap 0)")
    with pytest.raises(
        PrelabelError, match=f"corrected export of a_0 does not match its drafts' patch grid {grid}"
    ):
        count_changes(drafts, other_grid)
    extra = tmp_path / "extra"
    _export(extra, "a_0", A_DRAFT)
    _export(extra, "b_0", B_DRAFT)
    for row in range(4, 10):  # six patches off the drafts' grid: the first five are named
        shutil.copy(extra / "a_0" / "a_0_r00000_c00000.png", extra / "a_0" / f"a_0_r{row:05d}_c00000.png")
    named = ", ".join(f"'a_0_r{row:05d}_c00000'" for row in range(4, 9))
    with pytest.raises(PrelabelError, match=re.escape(f"holds patches [{named}]")) as error:
        count_changes(drafts, extra)
    assert "grid is 4 px with overlap 0" in str(error.value)
    assert str(error.value).endswith("(re-import them) instead of patches cut on another grid")
    # The drafts' class count bounds the corrections: class 5 of 3 is refused.
    bad_class = tmp_path / "bad_class"
    _export(bad_class, "a_0", np.where(A_DRAFT == 2, 5, A_DRAFT).astype(np.uint8))
    with pytest.raises(PrelabelError, match="a_0"):
        count_changes(drafts, bad_class)


def test_count_changes_of_a_draft_folder_without_images_is_an_empty_table(tmp_path):
    listing = {"images": [], "patch_size": 4, "overlap": 0, "num_classes": 3, "checkpoint": "m"}
    (tmp_path / DRAFTS_MANIFEST).write_text(json.dumps(listing))
    changes = count_changes(tmp_path, tmp_path / "corrected")
    assert changes.empty and changes.columns.tolist() == ["image_id", "patch_id", "pixels", "changed_pixels"]


def _masks(root: Path) -> Path:
    for image_id, mask in (("a_0", A_MASK), ("b_0", B_MASK)):
        write_raster(mask_path(root / "masks", image_id), mask)
    return root / "masks"


def test_prediction_quality_pools_every_image_into_one_confusion(tmp_path):
    drafts, masks = _draft_folder(tmp_path), _masks(tmp_path)
    # Rows mask, columns prediction: a adds 0->0 x15, 0->2, 1->1 x15 (one ignored); b adds 2->2 x15, 2->1.
    quality = prediction_quality(drafts, masks, num_classes=3)
    assert quality["aAcc"] == pytest.approx(45 / 47)
    assert quality["IoU"] == pytest.approx([15 / 16, 15 / 16, 15 / 17])
    assert quality["mIoU"] == pytest.approx((15 / 16 + 15 / 16 + 15 / 17) / 3)
    assert len(prediction_quality(drafts, masks)["IoU"]) == len(URUR_CLASSES)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_truth_agreement_reads_each_image_window_of_its_scene(tmp_path):
    masks = _masks(tmp_path)
    truth = tmp_path / "truth"
    scene = np.full((6, 10), 2, np.uint8)  # outside a_0's window every pixel would disagree
    scene[1:5, 2:10] = np.where(A_MASK == 255, 1, A_MASK)
    scene[1, 2] = 1  # one wrong pixel in the window
    write_raster(truth / "s1.tif", scene)
    b_truth = B_MASK.copy()
    b_truth[:2, :2] = 0  # four wrong pixels
    write_raster(truth / "s2.tif", b_truth)
    write_raster(truth / "s3.tif", B_MASK)  # c_0: b_0's mask, agreeing everywhere
    write_raster(mask_path(masks, "c_0"), B_MASK)
    manifest = pd.DataFrame(
        {
            "image_id": ["a_0", "b_0", "c_0"],
            "scene_id": ["s1", "s2", "s3"],
            "row_off": [1, 0, 0],
            "col_off": [2, 0, 0],
            "height": [4, 4, 4],
            "width": [8, 4, 4],
        }
    )
    rounds = pd.DataFrame({"image_id": ["c_0", "b_0", "a_0"], "round": [2, 2, 1]})
    table = truth_agreement(truth, manifest, masks, rounds, num_classes=3)
    assert table.columns.tolist() == ["group", "images", "aAcc", "mIoU"]
    assert table["group"].tolist() == ["from_scratch", "prelabelled"] and table["images"].tolist() == [1, 2]
    # a_0: 31 counted pixels (one ignored), one wrong: IoU 15/16 for both classes present.
    # b_0 and c_0 pooled: 32 pixels of class 2, four taken for 0: IoU(0) = 0, IoU(2) = 28/32.
    assert table["aAcc"].tolist() == pytest.approx([30 / 31, 28 / 32])
    assert table["mIoU"].tolist() == pytest.approx([15 / 16, 28 / 64])
    assert truth_agreement(truth, manifest, masks, rounds).equals(table)
