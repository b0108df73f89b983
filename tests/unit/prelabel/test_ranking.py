"""Uncertainty of the drafts' logits and the patch ranking it gives."""

from __future__ import annotations

import math

import pytest
import torch

from urur.prelabel.ranking import patch_scores, uncertainty_maps


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
