"""STDC (Fan et al., CVPR 2021, "Rethinking BiSeNet") blocks and networks, in plain PyTorch.

- :class:`ConvX` and :class:`CatBottleneck` follow the STDC paper/code: a CatBottleneck runs
  ``block_num`` ConvX in series with halving widths (out/2, out/4, ..., the last repeating the
  previous width) and concatenates all their outputs, so the concatenation has ``out_ch``
  channels. With stride 2, a depthwise 3x3/2 conv + BN (no ReLU) sits after the first ConvX and
  the first ConvX's output reaches the concatenation through a 3x3/2 average pool.
- :class:`STDCNet` is STDC1 ("STDC813"): ConvX(in->32,/2), ConvX(32->64,/2), then stages of two
  CatBottlenecks (the first with stride 2) to 256 (1/8), 512 (1/16) and 1024 (1/32) channels.
  It returns only the 1/8, 1/16 and 1/32 maps, so the large 1/2 and 1/4 maps are freed as soon
  as possible (what matters on 5120x5120 input). The ImageNet classifier tail is left out.
- :class:`STDCShallow` is ISDNet's shallow branch: the same network stopped after the 1/16
  stage, on the 6-channel Laplacian input; it returns (1/8 map, 1/16 map) with 256 and 512
  channels at width 1.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from urur.models.common import ConvBNReLU, scaled
from urur.models.pretrained import duplicate_input_channels, from_official_stdc, load_backbone

# Parts of an ImageNet STDC checkpoint that a segmentation backbone does not have.
_CLASSIFIER_TAIL = ("conv_last.", "fc.", "bn.", "linear.")


class ConvX(ConvBNReLU):
    """STDC's basic unit: conv (kernel ``kernel_size``, padding kernel_size // 2) -> BN -> ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(in_ch, out_ch, kernel_size=kernel_size, stride=stride)


class CatBottleneck(nn.Module):
    """STDC module: ``block_num`` ConvX in series, outputs concatenated to ``out_ch`` channels."""

    def __init__(self, in_ch: int, out_ch: int, block_num: int = 4, stride: int = 1) -> None:
        super().__init__()
        if block_num < 2:
            raise ValueError(f"CatBottleneck needs block_num >= 2, got {block_num}")
        if stride not in (1, 2):
            raise ValueError(f"CatBottleneck stride must be 1 or 2, got {stride}")
        if out_ch % 2 ** (block_num - 1):
            raise ValueError(
                f"CatBottleneck out_ch={out_ch} must be divisible by 2**(block_num-1)={2 ** (block_num - 1)}"
            )
        # Widths out/2, out/4, ..., out/2**(n-1), out/2**(n-1): they sum to out_ch.
        widths = [out_ch // 2 ** min(i + 1, block_num - 1) for i in range(block_num)]
        self.stride = stride
        self.convs = nn.ModuleList([ConvX(in_ch, widths[0], kernel_size=1)])
        for previous, current in itertools.pairwise(widths):
            self.convs.append(ConvX(previous, current))
        if stride == 2:
            half = widths[0]
            self.downsample = nn.Sequential(
                nn.Conv2d(half, half, 3, 2, 1, groups=half, bias=False), nn.BatchNorm2d(half)
            )
            self.skip = nn.AvgPool2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.convs[0](x)
        out = self.downsample(first) if self.stride == 2 else first
        outputs = [self.skip(first) if self.stride == 2 else first]
        for conv in self.convs[1:]:
            out = conv(out)
            outputs.append(out)
        return torch.cat(outputs, dim=1)


class STDCNet(nn.Module):
    """STDC1 backbone; ``forward`` returns the maps at 1/8, 1/16, ... (one per ``stage_channels`` entry)."""

    def __init__(
        self,
        in_channels: int = 3,
        width: float = 1.0,
        stage_channels: Sequence[int] = (256, 512, 1024),
        block_num: int = 4,
    ) -> None:
        super().__init__()
        stem = [scaled(32, width), scaled(64, width)]
        self.stem = nn.Sequential(ConvX(in_channels, stem[0], stride=2), ConvX(stem[0], stem[1], stride=2))
        stages = []
        in_ch = stem[1]
        for channels in stage_channels:
            out_ch = scaled(channels, width)
            stages.append(
                nn.Sequential(
                    CatBottleneck(in_ch, out_ch, block_num, stride=2),
                    CatBottleneck(out_ch, out_ch, block_num, stride=1),
                )
            )
            in_ch = out_ch
        self.stages = nn.ModuleList(stages)
        self.out_channels: tuple[int, ...] = tuple(scaled(c, width) for c in stage_channels)

    def load_pretrained(
        self, path_or_state_dict: str | Path | Mapping[str, torch.Tensor], strict: bool = True
    ) -> dict[str, list[str]]:
        """Load STDC weights (official ``features.<i>`` names or this layout; classifier tail ignored).

        When this net has more input channels than the file's first conv (ISDNet's 6 Laplacian
        channels vs RGB), the file's weights are concatenated along the input channels, as the
        official ISDNet code does. Stages this net stops before (the 1/32 stage of ISDNet's
        shallow branch) are ignored. Rules and logging: :func:`urur.models.pretrained.load_backbone`.
        """
        first = "stem.0.0.weight"
        in_channels = self.stem[0][0].in_channels
        kept = len(self.stages)

        def repeat(weight: torch.Tensor) -> torch.Tensor:
            if weight.shape[1] == in_channels or in_channels % weight.shape[1]:
                return weight  # nothing to adapt, or a misfit the shape check reports
            return duplicate_input_channels(in_channels // weight.shape[1])(weight)

        def ignore(key: str) -> bool:
            parts = key.split(".")
            beyond = parts[0] == "stages" and parts[1].isdigit() and int(parts[1]) >= kept
            return key.startswith(_CLASSIFIER_TAIL) or beyond

        return load_backbone(
            self,
            path_or_state_dict,
            what=f"{type(self).__name__} (in_channels={in_channels}, out_channels={self.out_channels})",
            adapt={first: (repeat, f"file weights repeated along the input channels to {in_channels}")}
            if in_channels != 3
            else None,
            ignore=ignore,
            rename=from_official_stdc,
            strict=strict,
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class STDCShallow(STDCNet):
    """ISDNet's shallow branch: STDC1 up to 1/16 on the Laplacian input; returns (feat_1_8, feat_1_16)."""

    def __init__(self, in_channels: int = 6, width: float = 1.0) -> None:
        super().__init__(in_channels=in_channels, width=width, stage_channels=(256, 512))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        feat_1_8, feat_1_16 = super().forward(x)
        return feat_1_8, feat_1_16
