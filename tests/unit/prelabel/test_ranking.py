"""Uncertainty of the drafts' logits and the patch ranking it gives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from urur.prelabel.ranking import RANKING_COLUMNS, patch_scores, uncertainty_maps


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


def test_uncertainty_of_a_hand_made_two_pixel_three_class_softmax():
    # Pixel 0: probabilities 1/2, 1/4, 1/4 (exact in float32), margin exactly 0.25.
    # Pixel 1: 1/11, 9/11, 1/11, margin 8/11.
    logits = torch.tensor([[math.log(0.5), 0.0], [math.log(0.25), math.log(9)], [math.log(0.25), 0.0]])
    labels, entropy, low_margin = uncertainty_maps(logits.reshape(1, 3, 1, 2), margin=0.25)
    assert labels.dtype == np.uint8 and labels.tolist() == [[0, 1]]
    first = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)) / math.log(3)
    second = -(2 / 11 * math.log(1 / 11) + 9 / 11 * math.log(9 / 11)) / math.log(3)
    assert entropy.shape == (1, 2) and entropy[0].tolist() == pytest.approx([first, second], abs=1e-6)
    assert low_margin.tolist() == [[False, False]]  # a margin equal to the threshold is not below it
    _, _, wider = uncertainty_maps(logits.reshape(1, 3, 1, 2), margin=0.3)
    assert wider.tolist() == [[True, False]]


def test_patch_scores_of_a_hand_made_map_rank_ties_in_grid_order():
    # A 2x6 map cut into three 2x2 patches; entropy means 0.25, 0.5, 0.5; small-margin shares 0, 1, 0.5.
    entropy = np.array([[0.0, 0.5, 0.5, 0.5, 0.5, 0.5], [0.5, 0.0, 0.5, 0.5, 0.5, 0.5]])
    low_margin = np.array([[False, False, True, True, True, False], [False, False, True, True, True, False]])
    by_entropy = patch_scores("x", entropy, low_margin, patch_size=2, overlap=0, score="entropy")
    assert by_entropy.columns.tolist() == list(RANKING_COLUMNS)
    assert by_entropy["col"].tolist() == [2, 4, 0] and by_entropy["rank"].tolist() == [1, 2, 3]
    assert by_entropy["rank"].dtype.kind == "i"  # written to the ranking CSV as 1, 2, 3
    assert by_entropy.index.tolist() == [0, 1, 2]
    assert by_entropy["entropy"].tolist() == by_entropy["score"].tolist() == [0.5, 0.5, 0.25]
    by_margin = patch_scores("x", entropy, low_margin, patch_size=2, overlap=0, score="low_margin")
    assert by_margin["col"].tolist() == [2, 4, 0] and by_margin["score"].tolist() == [1.0, 0.5, 0.0]
    assert by_margin[["row", "height", "width"]].values.tolist() == [[0, 2, 2]] * 3
