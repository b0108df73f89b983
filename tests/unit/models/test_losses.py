"""Losses: WSL against hand values and a PyWavelets computation; CE, L_sr and L_sd definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pywt
import torch
import torch.nn.functional as F

from urur.classes import IGNORE_INDEX
from urur.models.losses import WaveletSmoothLoss, sd_loss, segmentation_loss, sr_loss
from urur.models.wavelets import WaveletSizeError


def test_wsl_of_constant_difference_by_hand() -> None:
    """A difference of 1 everywhere only lives in the LL-of-LL chain: haar LL doubles per level."""
    loss = WaveletSmoothLoss(levels=3, lambda_low=1.0, lambda_high=0.8)
    value = loss(torch.ones(2, 3, 8, 8), torch.zeros(2, 3, 8, 8))
    assert value.item() == pytest.approx(2.0**2 + 4.0**2 + 8.0**2)


def test_wsl_of_checkerboard_uses_the_l1_weight() -> None:
    """A +-1 checkerboard is a pure HH band of value 2 at level 1 (haar); deeper levels see only it."""
    board = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(4, 4)[None, None]
    one_level = WaveletSmoothLoss(levels=1, lambda_low=1.0, lambda_high=0.5)
    assert one_level(board, torch.zeros_like(board)).item() == pytest.approx(0.5 * 2.0)
    # Level 2 splits the HH parent (constant 2): its low child is 4, squared 16, weighted by lambda_low.
    two_levels = WaveletSmoothLoss(levels=2, lambda_low=1.0, lambda_high=0.5)
    assert two_levels(board, torch.zeros_like(board)).item() == pytest.approx(1.0 + 16.0)


def pywt_wsl(
    rec: np.ndarray, img: np.ndarray, levels: int, lam_low: float, lam_high: float, level_mean: bool = False
) -> float:
    """Independent WSL: repeated pywt.dwt2 on each parent subband, children looked up by name.

    ``level_mean``: each level's low MSEs and high MAEs averaged over its subbands, not summed.
    """
    parents_rec, parents_img, total = [rec], [img], 0.0
    for _ in range(levels):
        next_rec, next_img, lows, highs = [], [], [], []
        for parent_rec, parent_img in zip(parents_rec, parents_img, strict=True):
            a_r, highs_r = pywt.dwt2(parent_rec, "haar", mode="periodization", axes=(-2, -1))
            a_i, highs_i = pywt.dwt2(parent_img, "haar", mode="periodization", axes=(-2, -1))
            lows.append(np.mean((a_r - a_i) ** 2))
            highs += [np.mean(np.abs(r - i)) for r, i in zip(highs_r, highs_i, strict=True)]
            next_rec += [a_r, *highs_r]
            next_img += [a_i, *highs_i]
        reduce = np.mean if level_mean else np.sum
        total += lam_low * reduce(lows) + lam_high * reduce(highs)
        parents_rec, parents_img = next_rec, next_img
    return total


def test_wsl_matches_pywavelets() -> None:
    rng = np.random.default_rng(0)
    rec = rng.normal(size=(2, 3, 16, 24))
    img = rng.normal(size=(2, 3, 16, 24))
    expected = pywt_wsl(rec, img, levels=3, lam_low=1.0, lam_high=0.8)
    loss = WaveletSmoothLoss()(torch.from_numpy(rec).float(), torch.from_numpy(img).float())
    assert loss.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("wave", ["haar", "db1"])
def test_level_mean_normalisation_matches_pywavelets(wave: str) -> None:
    """Beyond the paper: each level averages its subbands' terms (both computation paths)."""
    rng = np.random.default_rng(1)
    rec, img = rng.normal(size=(2, 3, 16, 24)), rng.normal(size=(2, 3, 16, 24))
    expected = pywt_wsl(rec, img, levels=3, lam_low=1.0, lam_high=0.8, level_mean=True)
    loss = WaveletSmoothLoss(wave=wave, normalisation="level_mean")
    value = loss(torch.from_numpy(rec).float(), torch.from_numpy(img).float()).item()
    assert value == pytest.approx(expected, rel=1e-5)
    literal = WaveletSmoothLoss(wave=wave)(torch.from_numpy(rec).float(), torch.from_numpy(img).float())
    assert literal.item() > 5 * value  # level 3 alone sums 16 low and 48 high terms


def test_unknown_wsl_normalisation_names_the_valid_values() -> None:
    with pytest.raises(ValueError) as raised:
        WaveletSmoothLoss(normalisation="mean")
    assert str(raised.value) == "unknown wsl_normalisation 'mean'; valid values are sum, level_mean"


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_haar_one_product_path_equals_the_level_by_level_path(levels: int) -> None:
    """``"db1"`` is haar computed by pytorch_wavelets level by level: same loss and gradients."""
    generator = torch.Generator().manual_seed(levels)
    image = torch.randn(2, 3, 16, 32, generator=generator)
    values, gradients = [], []
    for wave in ("haar", "db1"):
        rec = torch.randn(2, 3, 16, 32, generator=torch.Generator().manual_seed(9)).requires_grad_(True)
        loss = WaveletSmoothLoss(levels=levels, lambda_low=1.0, lambda_high=0.8, wave=wave)(rec, image)
        loss.backward()
        values.append(loss.item())
        gradients.append(rec.grad)
    assert values[0] == pytest.approx(values[1], rel=1e-5)
    torch.testing.assert_close(gradients[0], gradients[1], rtol=1e-4, atol=1e-6)


def test_wsl_is_zero_for_identical_inputs_and_has_gradients() -> None:
    image = torch.rand(1, 3, 16, 16)
    rec = image.clone().requires_grad_(True)
    loss = WaveletSmoothLoss()(rec, image)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    (WaveletSmoothLoss()(rec + 0.1, image)).backward()
    assert rec.grad is not None and rec.grad.abs().sum() > 0


def test_wsl_rejects_indivisible_sides() -> None:
    with pytest.raises(WaveletSizeError, match=r"Wavelet Smooth Loss input of size 12x20 .* 2\*\*3 = 8"):
        WaveletSmoothLoss(levels=3)(torch.zeros(1, 3, 12, 20), torch.zeros(1, 3, 12, 20))


def test_wsl_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="same shape"):
        WaveletSmoothLoss()(torch.zeros(1, 3, 16, 16), torch.zeros(1, 1, 16, 16))


def test_segmentation_loss_resizes_logits_and_ignores_pixels() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 4, 6)
    target = torch.randint(0, 4, (2, 8, 12))
    target[0, :2] = IGNORE_INDEX
    upsampled = F.interpolate(logits, size=(8, 12), mode="bilinear", align_corners=False)
    log_probs = upsampled.log_softmax(1)
    keep = target != IGNORE_INDEX
    picked = log_probs.permute(0, 2, 3, 1)[keep].gather(1, target[keep][:, None])
    expected = -picked.mean()
    assert segmentation_loss(logits, target).item() == pytest.approx(expected.item(), rel=1e-5)


def test_segmentation_loss_rejects_one_hot_targets() -> None:
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        segmentation_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4))


def test_sr_loss_is_a_tenth_of_mse() -> None:
    pred, target = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 2.0)
    assert sr_loss(pred, target).item() == pytest.approx(0.1 * 4.0)


def numpy_sd_loss(deep: np.ndarray, sr: np.ndarray) -> float:
    """ISDNet's feature_affinity_loss in numpy, for an SR map ``f`` times the deep map's size (f even).

    Bilinear (align_corners=False) shrinking by an even factor ``f`` samples exactly between the
    pixels ``f i + f/2 - 1`` and ``f i + f/2`` of each axis, i.e. it is the mean of those 2x2
    pixels (for ``f = 2`` the 2x2 block mean), so the resize needs no interpolation code here.
    """
    h, w = deep.shape[-2:]
    f = sr.shape[-1] // w
    assert f % 2 == 0 and sr.shape[-2:] == (f * h, f * w)
    rows, cols = f * np.arange(h) + f // 2 - 1, f * np.arange(w) + f // 2 - 1
    sr = sum(sr[:, :, rows + dr][:, :, :, cols + dc] for dr in (0, 1) for dc in (0, 1)) / 4

    def similarity(feature: np.ndarray) -> np.ndarray:
        flat = feature.reshape(feature.shape[0], feature.shape[1], -1).astype(np.float64)
        flat = flat / (np.sqrt((flat**2).sum(axis=2, keepdims=True)) + 1e-6)  # per channel, over positions
        return np.einsum("ncp,ncq->npq", flat, flat)  # positions x positions

    return float(np.abs(similarity(deep) - similarity(sr)).mean())


def hand_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, padded_size: tuple[int, int] | None = None
) -> float:
    """Mean -log softmax of the target class over the pixels that are not 255, in float64.

    With ``padded_size``, ``logits`` belong to a zero-padded input (any scale of it): they are
    resized bilinearly to the padded size and cropped to the target's size from the top left.
    """
    x = logits.detach().double()
    if padded_size is not None:
        x = F.interpolate(x, size=padded_size, mode="bilinear", align_corners=False)
        x = x[..., : target.shape[-2], : target.shape[-1]]
    assert x.shape[-2:] == target.shape[-2:]
    log_probs = x - torch.logsumexp(x, dim=1, keepdim=True)
    keep = target != IGNORE_INDEX
    picked = log_probs.permute(0, 2, 3, 1)[keep].gather(1, target[keep].long()[:, None])
    return -picked.mean().item()


def test_sd_loss_matches_the_official_definition_in_numpy() -> None:
    generator = torch.Generator().manual_seed(0)
    # 20x20 deep positions: more than a 16x16 pooled grid would keep; channel counts differ.
    deep = torch.randn(2, 6, 20, 20, generator=generator).requires_grad_(True)
    sr = torch.randn(2, 4, 40, 40, generator=generator).requires_grad_(True)
    loss = sd_loss(deep, sr)
    assert loss.item() == pytest.approx(numpy_sd_loss(deep.detach().numpy(), sr.detach().numpy()), rel=1e-5)
    loss.backward()
    assert sr.grad is None  # the SR side is detached
    assert deep.grad is not None and deep.grad.abs().sum() > 0


def test_sd_loss_by_hand_normalises_channels_over_positions() -> None:
    # One channel [3, 4] over two positions -> [0.6, 0.8]; its matrix is [[.36, .48], [.48, .64]].
    # The other side [1, 0] -> [[1, 0], [0, 0]]. Mean |difference| = (.64 + .48 + .48 + .64) / 4.
    deep = torch.tensor([3.0, 4.0]).reshape(1, 1, 1, 2)
    sr = torch.tensor([1.0, 0.0]).reshape(1, 1, 1, 2)
    assert sd_loss(deep, sr).item() == pytest.approx(0.56, abs=1e-5)
    # Scaling a channel changes nothing: each is normalised on its own.
    assert sd_loss(torch.cat([deep, 5 * deep], 1), torch.cat([deep, deep], 1)).item() == pytest.approx(
        0.0, abs=1e-6
    )


def test_sd_loss_against_a_deep_map_sixteen_times_smaller() -> None:
    """ISDNet's case: the SR features are at 1/2 of the image, the deep map at 1/32."""
    generator = torch.Generator().manual_seed(4)
    deep = torch.randn(2, 5, 2, 3, generator=generator)
    sr = torch.randn(2, 3, 32, 48, generator=generator)
    assert sd_loss(deep, sr).item() == pytest.approx(numpy_sd_loss(deep.numpy(), sr.numpy()), rel=1e-5)


def test_hand_cross_entropy_by_hand() -> None:
    # Two pixels, two classes: logits (0, ln 3) -> p = (1/4, 3/4). Targets 1 and 0: -(ln 3/4 + ln 1/4) / 2.
    logits = torch.tensor([[[[0.0, 0.0]], [[math.log(3), math.log(3)]]]])
    target = torch.tensor([[[1, 0]]])
    expected = -(math.log(0.75) + math.log(0.25)) / 2
    assert hand_cross_entropy(logits, target) == pytest.approx(expected)
    assert segmentation_loss(logits, target).item() == pytest.approx(expected, rel=1e-6)
    target[0, 0, 1] = IGNORE_INDEX  # only the first pixel counts
    assert hand_cross_entropy(logits, target) == pytest.approx(-math.log(0.75))


def test_wsl_with_db2_matches_pywavelets_and_keeps_no_buffer() -> None:
    rng = np.random.default_rng(5)
    rec, img = rng.normal(size=(1, 2, 16, 16)), rng.normal(size=(1, 2, 16, 16))
    loss = WaveletSmoothLoss(levels=2, wave="db2")
    value = loss(torch.from_numpy(rec).float(), torch.from_numpy(img).float())
    # The same packet recursion as pywt_wsl, with db2 filters.
    parents, total = [rec - img], 0.0
    for _ in range(2):
        children = []
        for parent in parents:
            approx, highs = pywt.dwt2(parent, "db2", mode="periodization", axes=(-2, -1))
            total += 1.0 * np.mean(approx**2) + 0.8 * sum(np.mean(np.abs(h)) for h in highs)
            children += [approx, *highs]
        parents = children
    assert value.item() == pytest.approx(total, rel=1e-5)
    assert not [key for key in WaveletSmoothLoss().state_dict() if "haar" in key]


def test_haar_wsl_keeps_float64() -> None:
    rng = np.random.default_rng(6)
    rec, img = rng.normal(size=(2, 1, 8, 8)), rng.normal(size=(2, 1, 8, 8))
    value = WaveletSmoothLoss()(torch.from_numpy(rec), torch.from_numpy(img))
    assert value.dtype == torch.float64
    # The haar matrix is built in float32 (pytorch_wavelets' filters): float32 accuracy.
    assert value.item() == pytest.approx(pywt_wsl(rec, img, 3, 1.0, 0.8), rel=1e-6)
    with pytest.raises(
        ValueError, match=r"^reconstruction \(2, 1, 8, 8\) and image \(2, 1, 8, 4\) must have the same shape$"
    ):
        WaveletSmoothLoss()(torch.from_numpy(rec), torch.from_numpy(img[..., :4]))
