"""ResNet-18/34 in plain PyTorch, with torchvision's parameter names, and dilated variants.

Why plain PyTorch: torchvision does not install beside this project's torch build, yet users
elsewhere want ImageNet weights, so the parameter layout matches torchvision's ``resnet18``
state_dict key for key (``conv1``, ``bn1``, ``layer1.0.conv1`` ... ``layer4.1.bn2``, ``fc``) and
:meth:`ResNet.load_pretrained` loads such a file directly.

Options and interpretations:

- ``stem="torchvision"``: 7x7/2 conv + BN + ReLU (``conv1``, ``bn1``) then 3x3/2 max-pool.
  ``stem="v1c"``: mmseg's ResNetV1c deep stem, three 3x3 convs 3->32(/2)->32->64, each followed by
  BN and ReLU, stored as one flat ``nn.Sequential`` named ``stem`` (``stem.0``/``stem.1`` conv/BN,
  ``stem.3``/``stem.4``, ``stem.6``/``stem.7``), the layout of mmseg's ``resnet18_v1c`` checkpoints;
  then the same max-pool. ISDNet's deep branch uses v1c.
- ``strides``/``dilations`` per stage (layer1..layer4) set the output stride; as in mmseg's
  BasicBlock, a stage's dilation applies to the first 3x3 conv of each of its blocks (the second
  keeps dilation 1). ``contract_dilation=True`` (mmseg's ResNetV1c default, so v1c weights mean
  the same thing here) gives the first block of a dilated stage half the stage's dilation:
  dilations (1, 1, 2, 4) become layer3 = 1 then 2, layer4 = 2 then 4.
  ISDNet/WSDNet: strides (1, 2, 1, 1), dilations (1, 1, 2, 4) -> output stride 8 (attribute
  ``output_stride``; ``out_channels`` gives the four stages' widths).
- ``width`` scales every channel count (see :func:`urur.models.common.scaled`).
- ``num_classes`` adds torchvision's global-average-pool + ``fc`` classifier (used by
  :meth:`ResNet.classify`); :meth:`ResNet.forward` always returns the four stage outputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from urur.models.common import scaled
from urur.models.pretrained import load_backbone

_BLOCKS_PER_STAGE = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
_STAGE_CHANNELS = (64, 128, 256, 512)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection (torchvision names: conv1, bn1, conv2, bn2, downsample)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet with BasicBlocks; ``forward`` returns [layer1, layer2, layer3, layer4] outputs."""

    def __init__(
        self,
        depth: int = 18,
        in_channels: int = 3,
        stem: str = "torchvision",
        strides: Sequence[int] = (1, 2, 2, 2),
        dilations: Sequence[int] = (1, 1, 1, 1),
        width: float = 1.0,
        num_classes: int | None = None,
        contract_dilation: bool = False,
    ) -> None:
        super().__init__()
        if depth not in _BLOCKS_PER_STAGE:
            raise ValueError(f"ResNet depth must be one of {sorted(_BLOCKS_PER_STAGE)}, got {depth}")
        if len(strides) != 4 or len(dilations) != 4:
            raise ValueError(f"strides and dilations need 4 entries each, got {strides} and {dilations}")
        base = scaled(64, width)
        self.stem_type = stem
        if stem == "torchvision":
            self.conv1 = nn.Conv2d(in_channels, base, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(base)
            self.relu = nn.ReLU(inplace=True)
        elif stem == "v1c":
            half = scaled(32, width)
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, half, 3, 2, 1, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(inplace=True),
                nn.Conv2d(half, half, 3, 1, 1, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(inplace=True),
                nn.Conv2d(half, base, 3, 1, 1, bias=False),
                nn.BatchNorm2d(base),
                nn.ReLU(inplace=True),
            )
        else:
            raise ValueError(f"stem must be 'torchvision' or 'v1c', got {stem!r}")
        self.maxpool = nn.MaxPool2d(3, 2, 1)

        channels = [scaled(c, width) for c in _STAGE_CHANNELS]
        in_ch = base
        for index, (blocks, out_ch, stride, dilation) in enumerate(
            zip(_BLOCKS_PER_STAGE[depth], channels, strides, dilations, strict=True), start=1
        ):
            first_dilation = dilation // 2 if contract_dilation and dilation > 1 else dilation
            stage = [BasicBlock(in_ch, out_ch, stride, first_dilation)]
            stage += [BasicBlock(out_ch, out_ch, 1, dilation) for _ in range(blocks - 1)]
            self.add_module(f"layer{index}", nn.Sequential(*stage))
            in_ch = out_ch
        self.out_channels: tuple[int, ...] = tuple(channels)
        self.output_stride = 4 * math.prod(strides)

        self.fc: nn.Linear | None = None
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(channels[-1], num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's initialisation, so an untrained model behaves like torchvision's."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x))) if self.stem_type == "torchvision" else self.stem(x)
        x = self.maxpool(x)
        features = []
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            features.append(x)
        return features

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Image-level logits (N, num_classes) through global average pooling and ``fc``."""
        if self.fc is None:
            raise RuntimeError("this ResNet was built without num_classes, so it has no classifier")
        return self.fc(torch.flatten(self.avgpool(self(x)[-1]), 1))

    def load_pretrained(
        self,
        path_or_state_dict: str | Path | Mapping[str, torch.Tensor],
        strict: bool = True,
        skip: Mapping[str, str] | None = None,
    ) -> dict[str, list[str]]:
        """Load a torchvision/mmseg-layout state_dict (a mapping, or a file written by ``torch.save``).

        ``fc.*`` entries are ignored when this model has no classifier (the usual case for a
        segmentation backbone); ``skip`` names keys kept at their initialisation, with the reason.
        Rules, logging and the report: :func:`urur.models.pretrained.load_backbone`.
        """
        return load_backbone(
            self,
            path_or_state_dict,
            what=f"ResNet (stem={self.stem_type!r}, out_channels={self.out_channels})",
            skip=skip,
            ignore=lambda key: self.fc is None and key.startswith("fc."),
            strict=strict,
        )


def resnet18(**kwargs: object) -> ResNet:
    """ResNet-18 (torchvision layout by default); keyword arguments go to :class:`ResNet`."""
    return ResNet(depth=18, **kwargs)  # type: ignore[arg-type]
