"""Segmentation heads: ASPP, DeepLabV3+ decoder, FCN auxiliary head, the ISDNet-style output head
and a super-resolution decoder.

Interpretations (mmseg conventions, which ISDNet and WSDNet were built on):

- :class:`ASPP`: image pooling branch (global average pool, 1x1 ConvBNReLU, upsampled) plus one
  branch per dilation (1x1 conv for dilation 1, dilated 3x3 otherwise), concatenated, then a
  3x3 ConvBNReLU bottleneck to ``channels``. Like every BatchNorm network, training needs more
  than one value per channel in the pooled branch, i.e. a batch of at least 2.
- :class:`DeepLabV3PlusHead`: ASPP on the high-level map, a 1x1 ConvBNReLU projection of the
  low-level map to ``low_level_out`` (48) channels, concatenation at the low-level resolution
  and two 3x3 ConvBNReLU (plain convs, not mmseg's depthwise-separable ones). ``forward``
  returns the fused features so that models (WSDNet) can post-process them;
  ``classify`` (Dropout + 1x1 conv) turns them into logits when ``num_classes`` is given.
- :class:`FCNHead`: ``num_convs`` 3x3 ConvBNReLU, Dropout, 1x1 conv (mmseg FCNHead with
  ``concat_input=False``, ISDNet's auxiliary head on layer3).
- :class:`SegHead`: Dropout, 3x3 ConvBNReLU, 1x1 conv to classes (ISDNet's output head).
- :class:`SuperResolutionHead`: ISDNet's SR decoder generalised to any power-of-two ``scale``:
  three (nearest upsample, 3x3 ConvBNReLU) stages whose factors multiply to ``scale``
  (8 -> 2,2,2; 16 -> 4,2,2 as in ISDNet), widths channels/2, channels/2, channels, then a
  3x3 ConvBNReLU to channels/2 and a 1x1 conv to ``out_channels``.
- :class:`WaveletSuperResolutionHead` (WSDNet's SR head): the same kind of decoder, but its last
  ``levels`` doublings are an inverse haar packet transform: (nearest x2, 3x3 ConvBNReLU) stages
  up to ``scale / 2**levels``, a 3x3 ConvBNReLU to channels/2, a 1x1 conv predicting the
  ``out_channels * 4**levels`` packet coefficients of each ``2**levels`` block, then
  :class:`~urur.models.wavelets.InverseWaveletPacket2D`. No convolution runs at full size
  (WSDNet's deep branch upsamples 1/32 -> 1/8 the same way).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from urur.models.common import ConvBNReLU, resize
from urur.models.wavelets import InverseWaveletPacket2D

ASPP_DILATIONS: tuple[int, ...] = (1, 12, 24, 36)  # DeepLabV3+'s rates at output stride 8


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling with image pooling and a 3x3 bottleneck to ``channels``."""

    def __init__(self, in_channels: int, channels: int, dilations: Sequence[int] = ASPP_DILATIONS) -> None:
        super().__init__()
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvBNReLU(in_channels, channels, 1))
        self.branches = nn.ModuleList(
            ConvBNReLU(in_channels, channels, 1 if d == 1 else 3, dilation=d) for d in dilations
        )
        self.bottleneck = ConvBNReLU((len(dilations) + 1) * channels, channels, 3)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.image_pool(x).expand(-1, -1, *x.shape[-2:])
        return self.bottleneck(torch.cat([pooled, *(branch(x) for branch in self.branches)], dim=1))


class DeepLabV3PlusHead(nn.Module):
    """DeepLabV3+ decoder: ``forward(high, low)`` -> features at ``low``'s resolution (``channels``)."""

    def __init__(
        self,
        in_channels: int,
        low_level_channels: int,
        channels: int,
        low_level_out: int = 48,
        dilations: Sequence[int] = ASPP_DILATIONS,
        num_classes: int | None = None,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.aspp = ASPP(in_channels, channels, dilations)
        self.low_level = ConvBNReLU(low_level_channels, low_level_out, 1)
        self.fuse = nn.Sequential(
            ConvBNReLU(channels + low_level_out, channels, 3), ConvBNReLU(channels, channels, 3)
        )
        self.out_channels = channels
        self.classifier: nn.Module | None = None
        if num_classes is not None:
            self.classifier = nn.Sequential(nn.Dropout2d(dropout), nn.Conv2d(channels, num_classes, 1))

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        context = resize(self.aspp(high), low.shape[-2:])
        return self.fuse(torch.cat([context, self.low_level(low)], dim=1))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from :meth:`forward`'s features (needs ``num_classes`` at construction)."""
        if self.classifier is None:
            raise RuntimeError("DeepLabV3PlusHead was built without num_classes, so it cannot classify")
        return self.classifier(features)


class FCNHead(nn.Sequential):
    """``num_convs`` 3x3 ConvBNReLU, Dropout, 1x1 conv to ``num_classes`` (auxiliary head)."""

    def __init__(
        self, in_channels: int, channels: int, num_classes: int, num_convs: int = 1, dropout: float = 0.1
    ) -> None:
        if num_convs < 1:
            raise ValueError(f"FCNHead needs num_convs >= 1, got {num_convs}")
        convs = [ConvBNReLU(in_channels if i == 0 else channels, channels, 3) for i in range(num_convs)]
        super().__init__(*convs, nn.Dropout2d(dropout), nn.Conv2d(channels, num_classes, 1))


class SegHead(nn.Sequential):
    """Dropout, 3x3 ConvBNReLU to ``channels``, 1x1 conv to ``num_classes`` (ISDNet's output head)."""

    def __init__(self, in_channels: int, channels: int, num_classes: int, dropout: float = 0.1) -> None:
        layers: list[nn.Module] = [nn.Dropout2d(dropout)] if dropout > 0 else []
        super().__init__(*layers, ConvBNReLU(in_channels, channels, 3), nn.Conv2d(channels, num_classes, 1))


def _upsampling_factors(scale: int) -> tuple[int, ...]:
    """Split a power-of-two ``scale`` into at most three factors, the first taking any excess."""
    if scale < 2 or scale & (scale - 1):
        raise ValueError(f"SuperResolutionHead scale must be a power of two >= 2, got {scale}")
    twos = scale.bit_length() - 1
    if twos <= 3:
        return (2,) * twos
    return (scale // 4, 2, 2)


class SuperResolutionHead(nn.Module):
    """Reconstructs an ``out_channels`` image ``scale`` times larger than its input feature map.

    ``forward(x)`` returns the image; ``forward(x, return_features=True)`` returns
    ``(features, image)`` where ``features`` is the last upsampled map (``channels`` wide), which
    ISDNet's structural-distillation loss compares with the deep features.
    """

    def __init__(
        self, in_channels: int, out_channels: int = 3, scale: int = 8, channels: int | None = None
    ) -> None:
        super().__init__()
        channels = in_channels if channels is None else channels
        half = max(1, channels // 2)
        factors = _upsampling_factors(scale)
        widths = [half] * (len(factors) - 1) + [channels]
        stages = []
        in_ch = in_channels
        for factor, out_ch in zip(factors, widths, strict=True):
            stages.append(
                nn.Sequential(nn.Upsample(scale_factor=factor, mode="nearest"), ConvBNReLU(in_ch, out_ch))
            )
            in_ch = out_ch
        self.stages = nn.Sequential(*stages)
        self.output = nn.Sequential(ConvBNReLU(channels, half, 3), nn.Conv2d(half, out_channels, 1))
        self.scale = scale

    def forward(
        self, x: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        features = self.stages(x)
        image = self.output(features)
        return (features, image) if return_features else image


class WaveletSuperResolutionHead(nn.Module):
    """Reconstructs an ``out_channels`` image ``scale`` times larger, the last ``levels`` doublings by IWT.

    Why: ISDNet's decoder runs its widest 3x3 convs at the output size, which made WSDNet's
    training-only SR head cost more than the rest of the model (docs/models.md, "Training cost").
    Predicting each ``2**levels`` block's haar packet coefficients at ``1 / 2**levels`` of the
    output size and inverting them is exact and keeps every convolution at 1/4 or below.
    ``forward(x, return_features=True)`` returns ``(features, image)``, ``features`` being the
    last upsampled map (``channels`` wide, at ``scale / 2**levels`` of the input size).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 3,
        scale: int = 8,
        channels: int | None = None,
        levels: int = 2,
        wave: str = "haar",
    ) -> None:
        super().__init__()
        if scale < 2 or scale & (scale - 1) or scale < 2**levels:
            raise ValueError(
                f"WaveletSuperResolutionHead scale must be a power of two >= 2**levels = {2**levels}, "
                f"got {scale}"
            )
        channels = in_channels if channels is None else channels
        half = max(1, channels // 2)
        doublings = (scale // 2**levels).bit_length() - 1
        stages: list[nn.Module] = [
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                ConvBNReLU(in_channels if i == 0 else channels, channels),
            )
            for i in range(doublings)
        ]
        if not stages:  # the whole scale is done by the inverse transform
            stages = [ConvBNReLU(in_channels, channels)]
        self.stages = nn.Sequential(*stages)
        self.output = nn.Sequential(
            ConvBNReLU(channels, half, 3), nn.Conv2d(half, out_channels * 4**levels, 1)
        )
        self.inverse = InverseWaveletPacket2D(levels, wave)
        self.scale = scale

    def forward(
        self, x: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        features = self.stages(x)
        image = self.inverse(self.output(features))
        return (features, image) if return_features else image
