"""Heads: output shapes on odd sizes, the DeepLabV3+ features/classify split, the SR decoder's scale."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch
import torch.nn.functional as F
from torch import nn

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


# Value checks: each head against a functional re-statement of its documented layout (F.conv2d
# with the padding and dilation the design names, BatchNorm in eval written out), in eval mode
# with BatchNorm statistics that are not the identity.


def randomize_batchnorm(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm running statistics and an affine map far from the identity; eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in (m for m in module.modules() if isinstance(m, nn.BatchNorm2d)):
            n = bn.num_features
            bn.running_mean.copy_(0.3 * torch.randn(n, generator=generator))
            bn.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            bn.weight.copy_(0.5 + torch.rand(n, generator=generator))
            bn.bias.copy_(0.3 * torch.randn(n, generator=generator))
    return module.eval()


def batchnorm(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """Eval-mode BatchNorm by its formula."""
    shape = (-1, 1, 1)
    scale = bn.weight.view(shape) / torch.sqrt(bn.running_var.view(shape) + bn.eps)
    return (x - bn.running_mean.view(shape)) * scale + bn.bias.view(shape)


def conv_bn_relu(
    x: torch.Tensor, block: nn.Module, padding: int = 0, dilation: int = 1, stride: int = 1
) -> torch.Tensor:
    """Conv (block[0]'s weights; padding, dilation and stride given here) -> BN -> ReLU."""
    return torch.relu(batchnorm(F.conv2d(x, block[0].weight, None, stride, padding, dilation), block[1]))


def nearest_up(x: torch.Tensor, factor: int) -> torch.Tensor:
    return x.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


def aspp_reference(aspp: ASPP, x: torch.Tensor, dilations: tuple[int, ...]) -> torch.Tensor:
    """Image pooling (mean, 1x1 CBR, broadcast), a 1x1 CBR for dilation 1 and dilated 3x3 CBRs
    (padding = dilation) for the others, concatenated in that order, then a 3x3 CBR."""
    pooled = conv_bn_relu(x.mean(dim=(2, 3), keepdim=True), aspp.image_pool[1]).expand(-1, -1, *x.shape[-2:])
    branches = [
        conv_bn_relu(x, branch) if d == 1 else conv_bn_relu(x, branch, padding=d, dilation=d)
        for branch, d in zip(aspp.branches, dilations, strict=True)
    ]
    return conv_bn_relu(torch.cat([pooled, *branches], dim=1), aspp.bottleneck, padding=1)


def test_aspp_by_value() -> None:
    torch.manual_seed(1)
    aspp = randomize_batchnorm(ASPP(6, 8, dilations=(1, 2, 3)))
    x = torch.randn(2, 6, 9, 11)
    with torch.no_grad():
        torch.testing.assert_close(aspp(x), aspp_reference(aspp, x, (1, 2, 3)), atol=1e-5, rtol=1e-5)


def test_deeplabv3plus_head_by_value() -> None:
    """ASPP on the high map, bilinearly resized to the low map; low map through a 1x1 CBR;
    concatenated (context first), two 3x3 CBRs; classify = 1x1 conv with bias."""
    torch.manual_seed(2)
    head = randomize_batchnorm(DeepLabV3PlusHead(6, 4, 8, low_level_out=5, dilations=(1, 2), num_classes=3))
    high, low = torch.randn(2, 6, 4, 5), torch.randn(2, 4, 13, 17)
    with torch.no_grad():
        context = F.interpolate(
            aspp_reference(head.aspp, high, (1, 2)), size=(13, 17), mode="bilinear", align_corners=False
        )
        fused = torch.cat([context, conv_bn_relu(low, head.low_level)], dim=1)
        expected = conv_bn_relu(conv_bn_relu(fused, head.fuse[0], padding=1), head.fuse[1], padding=1)
        features = head(high, low)
        torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-5)
        classifier = head.classifier[-1]
        logits = F.conv2d(expected, classifier.weight, classifier.bias)
        torch.testing.assert_close(head.classify(features), logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("num_convs", [1, 2])
def test_fcn_and_seg_heads_by_value(num_convs: int) -> None:
    torch.manual_seed(3)
    fcn = randomize_batchnorm(FCNHead(6, 4, 3, num_convs=num_convs))
    seg = randomize_batchnorm(SegHead(6, 4, 3, dropout=0.1), seed=1)
    x = torch.randn(2, 6, 7, 9)
    with torch.no_grad():
        hidden = x
        for k in range(num_convs):
            hidden = conv_bn_relu(hidden, fcn[k], padding=1)
        torch.testing.assert_close(
            fcn(x), F.conv2d(hidden, fcn[-1].weight, fcn[-1].bias), atol=1e-5, rtol=1e-5
        )
        hidden = conv_bn_relu(x, seg[-2], padding=1)
        torch.testing.assert_close(
            seg(x), F.conv2d(hidden, seg[-1].weight, seg[-1].bias), atol=1e-5, rtol=1e-5
        )


def test_super_resolution_head_by_value() -> None:
    """Scale 16: nearest x4, x2, x2, each followed by a 3x3 CBR (widths half, half, channels); then
    a 3x3 CBR to half and a 1x1 conv with bias."""
    torch.manual_seed(4)
    head = randomize_batchnorm(SuperResolutionHead(8, out_channels=3, scale=16, channels=6))
    x = torch.randn(2, 8, 2, 3)
    with torch.no_grad():
        features = x
        for stage, factor in zip(head.stages, (4, 2, 2), strict=True):
            features = conv_bn_relu(nearest_up(features, factor), stage[1], padding=1)
        assert features.shape == (2, 6, 32, 48)
        out = conv_bn_relu(features, head.output[0], padding=1)
        image = F.conv2d(out, head.output[1].weight, head.output[1].bias)
        got_features, got_image = head(x, return_features=True)
        torch.testing.assert_close(got_features, features, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got_image, image, atol=1e-5, rtol=1e-5)


def test_wavelet_super_resolution_head_by_value() -> None:
    """Scale 8, 2 IWT levels: one (nearest x2, 3x3 CBR) stage, a 3x3 CBR to half, a 1x1 conv to
    3 x 16 haar packet coefficients, whose 2-level inverse is checked against PyWavelets' forward
    transform of the output (each 4x4 block's coefficients)."""
    torch.manual_seed(5)
    head = randomize_batchnorm(WaveletSuperResolutionHead(8, out_channels=3, scale=8, channels=6, levels=2))
    x = torch.randn(1, 8, 2, 3)
    with torch.no_grad():
        features = conv_bn_relu(nearest_up(x, 2), head.stages[0][1], padding=1)
        hidden = conv_bn_relu(features, head.output[0], padding=1)
        coefficients = F.conv2d(hidden, head.output[1].weight, head.output[1].bias)
        got_features, image = head(x, return_features=True)
    torch.testing.assert_close(got_features, features, atol=1e-5, rtol=1e-5)
    assert image.shape == (1, 3, 16, 24) and coefficients.shape == (1, 48, 4, 6)
    # The image's 2-level haar packet transform by PyWavelets gives back the coefficients, in the
    # channel layout of urur.models.wavelets: channel b2 * 4C + b1 * C + c is node (b1, b2) of c.
    names = "ahvd"
    for c in range(3):
        packet = pywt.WaveletPacket2D(image[0, c].double().numpy(), "haar", mode="periodization", maxlevel=2)
        for b1 in range(4):
            for b2 in range(4):
                expected = packet[names[b1] + names[b2]].data
                np.testing.assert_allclose(coefficients[0, b2 * 12 + b1 * 3 + c].numpy(), expected, atol=1e-4)
