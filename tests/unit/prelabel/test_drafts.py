"""ISDNet-assisted pre-labelling: round choice, uncertainty, drafts, corrections, effort, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from tests.support.prelabel_world import OVERLAP, PATCH, SIZE, one_image_scenes
from urur.dataset.tiling import patch_grid, patch_id
from urur.prelabel.drafts import (
    PrelabelError,
    ReviewParams,
    choose_round_one,
    correct_patch,
    effort_summary,
    noticed_errors,
    patch_scores,
    roc_auc,
    simulate_corrections,
    uncertainty_maps,
)
from urur.synthetic.annotators import AnnotatorHabits


def test_round_one_takes_a_third_of_the_scenes_city_by_city_and_refuses_empty_or_all():
    manifest = one_image_scenes([(f"{c}{k}", c) for c in "ABC" for k in range(2)])
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
