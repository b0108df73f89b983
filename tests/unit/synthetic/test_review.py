"""The simulated reviewer: which wrong pixels of a draft round-two annotators notice and fix."""

from __future__ import annotations

import numpy as np

from urur.dataset.tiling import patch_grid, patch_id
from urur.synthetic.annotators import AnnotatorHabits
from urur.synthetic.review import ReviewParams, correct_patch, correct_patches, noticed_errors

SIZE, PATCH, OVERLAP = 96, 64, 8


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
    fixed = correct_patches(truth, "x", drafts, PATCH, OVERLAP, seed=0, habits=perfect)
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
