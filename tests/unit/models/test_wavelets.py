"""Wavelet-packet DWT/IWT and the Laplacian-pyramid input, checked against PyWavelets and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch
from scipy import ndimage

from urur.models.laplacian import LaplacianPyramidInput, apply_in_strips
from urur.models.wavelets import InverseWaveletPacket2D, WaveletPacket2D, WaveletSizeError


@pytest.mark.parametrize("wave", ["haar", "db2"])
@pytest.mark.parametrize("levels", [1, 2, 3])
def test_packet_inverse_is_exact(levels: int, wave: str) -> None:
    torch.manual_seed(levels)
    x = torch.randn(2, 3, 16, 24) * 3
    coeffs = WaveletPacket2D(levels, wave)(x)
    assert coeffs.shape == (2, 3 * 4**levels, 16 // 2**levels, 24 // 2**levels)
    restored = InverseWaveletPacket2D(levels, wave)(coeffs)
    assert restored.shape == x.shape
    assert (restored - x).abs().max().item() < 1e-5


def test_rgb_two_levels_is_48_channels_at_quarter_size() -> None:
    assert WaveletPacket2D(2)(torch.zeros(1, 3, 40, 64)).shape == (1, 48, 10, 16)


@pytest.mark.parametrize("wave", ["haar", "db2"])
def test_one_level_matches_pywt_dwt2(wave: str) -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(size=(2, 12, 10)).astype(np.float64)
    ours = WaveletPacket2D(1, wave)(torch.from_numpy(image)[None].float())[0].numpy()
    approx, (horizontal, vertical, diagonal) = pywt.dwt2(image, wave, mode="periodization", axes=(-2, -1))
    for band, expected in enumerate((approx, horizontal, vertical, diagonal)):
        np.testing.assert_allclose(ours[2 * band : 2 * band + 2], expected, atol=1e-5)


def test_two_level_channel_order_matches_pywt_packet_paths() -> None:
    """Channel b2 * 4C + b1 * C + c holds pywt packet node (b1 then b2) of channel c."""
    rng = np.random.default_rng(1)
    image = rng.normal(size=(3, 8, 12))
    ours = WaveletPacket2D(2)(torch.from_numpy(image)[None].float())[0].numpy()
    names = "ahvd"
    for c in range(3):
        packet = pywt.WaveletPacket2D(image[c], "haar", mode="periodization", maxlevel=2)
        for b1 in range(4):
            for b2 in range(4):
                expected = packet[names[b1] + names[b2]].data
                np.testing.assert_allclose(ours[b2 * 12 + b1 * 3 + c], expected, atol=1e-5)


def test_indivisible_sides_raise_a_clear_error() -> None:
    with pytest.raises(WaveletSizeError, match=r"10x12 .* multiples of 2\*\*3 = 8"):
        WaveletPacket2D(3)(torch.zeros(1, 3, 10, 12))


def test_inverse_rejects_wrong_channel_count() -> None:
    with pytest.raises(ValueError, match="multiple of 16 channels, got 12"):
        InverseWaveletPacket2D(2)(torch.zeros(1, 12, 4, 4))


def _scipy_residuals(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """Independent Laplacian pyramid of one (H, W) channel: mirror-padded binomial blur."""
    taps = np.array([1, 4, 6, 4, 1], dtype=np.float64) / 16
    kernel = np.outer(taps, taps)
    current, out = image, []
    for _ in range(levels):
        down = ndimage.convolve(current, kernel, mode="mirror")[::2, ::2]
        up = np.zeros((2 * down.shape[0], 2 * down.shape[1]))
        up[::2, ::2] = 4 * down
        up = ndimage.convolve(up, kernel, mode="mirror")[: current.shape[0], : current.shape[1]]
        out.append(current - up)
        current = down
    return out


@pytest.mark.parametrize(("height", "width"), [(32, 48), (33, 47)])
def test_laplacian_matches_scipy(height: int, width: int) -> None:
    rng = np.random.default_rng(2)
    image = rng.uniform(-1, 1, size=(3, height, width))
    pyramid = LaplacianPyramidInput(levels=2)
    residuals = pyramid.residuals(torch.from_numpy(image)[None].float())
    for c in range(3):
        for level, expected in enumerate(_scipy_residuals(image[c], 2)):
            np.testing.assert_allclose(residuals[level][0, c].numpy(), expected, atol=1e-5)


def test_laplacian_output_is_level0_then_level1_upsampled() -> None:
    image = torch.rand(1, 3, 65, 97)
    pyramid = LaplacianPyramidInput(levels=2)
    out = pyramid(image)
    assert out.shape == (1, 6, 65, 97)
    level0, level1 = pyramid.residuals(image)
    assert torch.equal(out[:, :3], level0)
    upsampled = torch.nn.functional.interpolate(level1, size=(65, 97), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out[:, 3:], upsampled)


def test_laplacian_of_constant_image_is_zero() -> None:
    out = LaplacianPyramidInput()(torch.full((1, 3, 24, 40), 0.7))
    assert out.abs().max().item() < 1e-5


@pytest.mark.parametrize("levels", [1, 2])
def test_haar_fast_path_equals_pytorch_wavelets(levels: int) -> None:
    """'db1' is haar through pytorch_wavelets' convolutions; 'haar' takes the einsum path."""
    x = torch.randn(2, 3, 16, 8)
    fast, general = WaveletPacket2D(levels, "haar"), WaveletPacket2D(levels, "db1")
    assert fast.haar_packet is not None and general.haar_packet is None
    torch.testing.assert_close(fast(x), general(x), atol=1e-6, rtol=0)
    coeffs = fast(x)
    torch.testing.assert_close(
        InverseWaveletPacket2D(levels, "haar")(coeffs),
        InverseWaveletPacket2D(levels, "db1")(coeffs),
        atol=1e-6,
        rtol=0,
    )


def test_apply_in_strips_equals_the_whole_computation() -> None:
    torch.manual_seed(0)
    pyramid = LaplacianPyramidInput()
    conv = torch.nn.Conv2d(6, 4, 3, stride=2, padding=1)

    def first_layer(image: torch.Tensor) -> torch.Tensor:
        return conv(pyramid(image))

    image = torch.randn(1, 3, 150, 40)  # 150 rows: the last strip is partial
    calls: list[int] = []
    with torch.no_grad():
        whole = first_layer(image)
        strips = apply_in_strips(
            lambda part: calls.append(part.shape[-2]) or first_layer(part), image, 2, rows=32
        )
    assert calls == [64, 96, 96, 86, 54]  # 32-row strips read with up to 32 rows of halo each side
    assert strips.shape == whole.shape == (1, 4, 75, 20)
    torch.testing.assert_close(strips, whole, atol=1e-6, rtol=0)


def test_apply_in_strips_rejects_misaligned_strips() -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        apply_in_strips(lambda x: x, torch.zeros(1, 1, 64, 8), 1, rows=48)


def test_defaults_are_one_haar_level_and_no_buffer_is_saved() -> None:
    forward, inverse = WaveletPacket2D(), InverseWaveletPacket2D()
    assert forward(torch.zeros(1, 3, 8, 8)).shape == (1, 12, 4, 4)
    assert inverse(torch.zeros(1, 12, 4, 4)).shape == (1, 3, 8, 8)
    assert forward.extra_repr() == "levels=1, wave='haar'"
    assert InverseWaveletPacket2D(2, "db2").extra_repr() == "levels=2, wave='db2'"
    # The haar matrices are rebuilt on construction: checkpoints do not carry them.
    for module in (WaveletPacket2D(2), InverseWaveletPacket2D(2)):
        assert not [key for key in module.state_dict() if key.startswith("haar")]


def test_float64_inputs_stay_float64_and_match_pywt() -> None:
    image = np.random.default_rng(3).normal(size=(1, 8, 8))
    ours = WaveletPacket2D(1)(torch.from_numpy(image)[None])
    assert ours.dtype == torch.float64
    approx, (horizontal, vertical, diagonal) = pywt.dwt2(image, "haar", mode="periodization", axes=(-2, -1))
    # The haar matrix is built in float32 (pytorch_wavelets' filters): float32 accuracy.
    np.testing.assert_allclose(
        ours[0].numpy(), np.concatenate([approx, horizontal, vertical, diagonal]), rtol=1e-6, atol=1e-6
    )
    back = InverseWaveletPacket2D(1)(ours)
    assert back.dtype == torch.float64
    np.testing.assert_allclose(back[0].numpy(), image, atol=1e-6)


def test_either_indivisible_side_and_zero_levels_are_refused() -> None:
    with pytest.raises(WaveletSizeError, match=r"^input of size 8x6 cannot go through 2 wavelet levels"):
        WaveletPacket2D(2)(torch.zeros(1, 1, 8, 6))
    with pytest.raises(WaveletSizeError, match=r"^input of size 6x8 cannot go through 2 wavelet levels"):
        next(WaveletPacket2D(2).iter_levels(torch.zeros(1, 1, 6, 8)))
    with pytest.raises(WaveletSizeError, match=r"^input of size 8x6 "):
        next(WaveletPacket2D(2).iter_levels(torch.zeros(1, 1, 8, 6)))
    with pytest.raises(ValueError, match=r"^levels must be >= 1, got 0$"):
        WaveletPacket2D(0)
