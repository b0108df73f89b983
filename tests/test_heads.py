"""Heads: output shapes on odd sizes, the DeepLabV3+ features/classify split, the SR decoder's scale."""

from __future__ import annotations

import pytest
import torch

from urur.models.heads import (
    ASPP,
    DeepLabV3PlusHead,
    FCNHead,
    SegHead,
    SuperResolutionHead,
    WaveletSuperResolutionHead,
)
from urur.models.wavelets import WaveletPacket2D


@pytest.mark.parametrize("size", [(7, 9), (16, 16), (1, 3)])
def test_aspp_keeps_size_and_sets_channels(size: tuple[int, int]) -> None:
    aspp = ASPP(24, 16, dilations=(1, 2, 3)).eval()
    assert len(aspp.branches) == 3 and aspp.branches[0][0].kernel_size == (1, 1)
    assert tuple(aspp(torch.randn(2, 24, *size)).shape) == (2, 16, *size)


def test_aspp_image_pooling_sees_the_whole_map() -> None:
    """A change far outside every dilated kernel's reach still changes the output via image pooling."""
    aspp = ASPP(4, 8, dilations=(1,)).eval()
    x = torch.randn(1, 4, 12, 12)
    changed = x.clone()
    changed[..., 11, 11] += 10.0
    assert not torch.allclose(aspp(x)[..., 0, 0], aspp(changed)[..., 0, 0])


def test_deeplabv3plus_head_features_and_logits() -> None:
    head = DeepLabV3PlusHead(32, 8, 16, low_level_out=6, dilations=(1, 2), num_classes=5).eval()
    features = head(torch.randn(2, 32, 5, 7), torch.randn(2, 8, 19, 27))
    assert tuple(features.shape) == (2, 16, 19, 27)
    assert tuple(head.classify(features).shape) == (2, 5, 19, 27)


def test_deeplabv3plus_head_without_classes_cannot_classify() -> None:
    head = DeepLabV3PlusHead(32, 8, 16)
    with pytest.raises(RuntimeError, match="without num_classes"):
        head.classify(torch.randn(1, 16, 4, 4))


@pytest.mark.parametrize("head_cls", [FCNHead, SegHead])
def test_classification_heads_keep_size(head_cls: type) -> None:
    head = head_cls(16, 8, 3).eval()
    x = torch.randn(1, 16, 9, 13)
    out = head(x)
    assert tuple(out.shape) == (1, 3, 9, 13)
    assert torch.equal(out, head(x))  # dropout is off in eval mode


def test_fcn_head_conv_count_and_validation() -> None:
    assert sum(isinstance(m, torch.nn.Conv2d) for m in FCNHead(16, 8, 3, num_convs=2).modules()) == 3
    with pytest.raises(ValueError, match="num_convs"):
        FCNHead(16, 8, 3, num_convs=0)


@pytest.mark.parametrize(("scale", "factors"), [(2, [2]), (8, [2, 2, 2]), (16, [4, 2, 2]), (32, [8, 2, 2])])
def test_super_resolution_head_scale(scale: int, factors: list[int]) -> None:
    head = SuperResolutionHead(16, out_channels=6, scale=scale).eval()
    assert [stage[0].scale_factor for stage in head.stages] == factors
    features, image = head(torch.randn(1, 16, 3, 5), return_features=True)
    assert tuple(image.shape) == (1, 6, 3 * scale, 5 * scale)
    assert tuple(features.shape) == (1, 16, 3 * scale, 5 * scale)


def test_super_resolution_head_rejects_bad_scale() -> None:
    with pytest.raises(ValueError, match="power of two"):
        SuperResolutionHead(16, scale=12)


@pytest.mark.parametrize(("scale", "levels", "doublings"), [(8, 2, 1), (8, 3, 0), (16, 2, 2), (4, 1, 1)])
def test_wavelet_super_resolution_head_ends_in_an_inverse_packet_transform(
    scale: int, levels: int, doublings: int
) -> None:
    head = WaveletSuperResolutionHead(16, out_channels=3, scale=scale, channels=8, levels=levels).eval()
    upsamplings = [m for m in head.stages.modules() if isinstance(m, torch.nn.Upsample)]
    assert len(upsamplings) == doublings
    coefficients: list[torch.Tensor] = []
    head.output.register_forward_hook(lambda _m, _i, out: coefficients.append(out))
    features, image = head(torch.randn(2, 16, 3, 5), return_features=True)
    assert tuple(image.shape) == (2, 3, 3 * scale, 5 * scale)
    assert tuple(features.shape) == (2, 8, 3 * 2**doublings, 5 * 2**doublings)
    # The image is exactly the inverse packet transform of the predicted coefficients.
    assert coefficients[0].shape[1] == 3 * 4**levels
    torch.testing.assert_close(WaveletPacket2D(levels)(image), coefficients[0], atol=1e-5, rtol=1e-5)


def test_wavelet_super_resolution_head_rejects_bad_scale() -> None:
    with pytest.raises(ValueError, match=r"power of two >= 2\*\*levels = 8, got 4"):
        WaveletSuperResolutionHead(16, scale=4, levels=3)
