"""What the drafts saved: the effort/quality table and the ranking's ROC AUC, against hand counts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from urur.prelabel.effort import effort_summary, roc_auc


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
