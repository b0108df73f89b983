"""Which draft patches to check first: per-pixel uncertainty of the model's logits, per-patch scores.

A pixel's uncertainty is its softmax entropy (normalised to 0..1) and whether its top-2 margin is
small; a patch's scores are their means over its window, and patches rank by the chosen one,
most uncertain first, so annotators correct the likely-wrong drafts before the rest.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

from urur.dataset.tiling import crop, patch_grid, patch_id

RANKING_COLUMNS = (
    "image_id",
    "patch_id",
    "row",
    "col",
    "height",
    "width",
    "entropy",
    "low_margin",
    "score",
    "rank",
)


def uncertainty_maps(logits: torch.Tensor, margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (uint8), entropy / log K (0 = sure, 1 = uniform) and small-margin flags of (1, K, H, W) logits.

    A pixel's margin is its top softmax probability minus the second; below ``margin`` it is unsure.
    """
    probabilities = torch.softmax(logits[0].float(), dim=0)
    top2 = probabilities.topk(2, dim=0)
    entropy = -(probabilities * probabilities.clamp_min(1e-12).log()).sum(dim=0) / math.log(logits.shape[1])
    low_margin = (top2.values[0] - top2.values[1]) < margin
    labels = top2.indices[0].to(torch.uint8)
    return labels.numpy(), entropy.numpy(), low_margin.numpy()


def patch_scores(
    image_id: str, entropy: np.ndarray, low_margin: np.ndarray, patch_size: int, overlap: int, score: str
) -> pd.DataFrame:
    """One ranking row per patch: mean entropy, share of small-margin pixels, ``score``, rank (1 = first)."""
    rows = []
    for window in patch_grid(*entropy.shape, patch_size, overlap):
        rows.append(
            {
                "image_id": image_id,
                "patch_id": patch_id(image_id, window),
                "row": window.row,
                "col": window.col,
                "height": window.height,
                "width": window.width,
                "entropy": float(crop(entropy, window).mean()),
                "low_margin": float(crop(low_margin, window).mean()),
            }
        )
    table = pd.DataFrame(rows)
    table["score"] = table[score]
    table["rank"] = rankdata(-table["score"].to_numpy(), method="ordinal").astype(int)
    return table.sort_values("rank").reset_index(drop=True)[list(RANKING_COLUMNS)]
