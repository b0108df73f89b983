"""ISDNet (Guo et al., CVPR 2022): the baseline WSDNet improves on, after its official mmseg code.

Top to bottom (channel counts at ``width=1``; every count scales with ``width``):

- Deep branch: the image is downsampled x4 by nearest neighbour (keeping every fourth pixel),
  then a ResNet-18 with the v1c stem, strides (1, 2, 1, 1) and dilations (1, 1, 2, 4),
  contracted as mmseg's ResNetV1c does (layer3's blocks at dilation 1 then 2, layer4's at 2
  then 4), gives 512 channels at 1/8 of its input = 1/32 of the image; an ASPP head (dilations 1, 12, 24, 36,
  image pooling, 3x3 bottleneck) reduces them to C = 128.
- Shallow branch: :class:`~urur.models.laplacian.LaplacianPyramidInput` (2 levels -> 6 channels
  at full size) into :class:`~urur.models.backbones.stdc.STDCShallow` (256 ch at 1/8, 512 at 1/16),
  run by :func:`~urur.models.laplacian.laplacian_stdc` as WSDNet runs it: in eval mode, images
  taller than ``strip_rows`` (2560) go through everything up to 1/8 in exact horizontal strips
  (``strip_rows=None``: never), which bounds the memory of the full-size intermediates.
- Relation-aware fusion (:class:`RelationAwareFusion`) at 1/16 (shallow 1/16 map with the deep
  map) and then at 1/8 (shallow 1/8 map with the 1/16 fusion result); output head
  (Dropout 0.1, 3x3 ConvBNReLU C -> C/2, 1x1 to classes) at 1/8, bilinearly resized to the input.
  The deep ASPP map (into the 1/16 fusion) and the shallow 1/16 and 1/8 maps (into both fusions)
  are the features :func:`~urur.models.common.zero_branch` zeroes for the branch diagnostic.
- Training only (skipped in eval mode and without a target):
  ``loss_seg`` CE of the output; ``loss_deep`` CE of the ASPP features' own classifier
  (Dropout + 1x1; the cascade's first head has its own loss in mmseg, weight 1);
  ``loss_aux`` 0.4 x CE of an FCN head on layer3 (256 -> 64);
  ``loss_fuse`` CE of two 3x3->1x1 heads on the context features of the two fusions (weight 1
  each, as in ISDHead); ``loss_sr`` = :func:`urur.models.losses.sr_loss` (0.1 x MSE) between a
  super-resolution decoder (x16 from the deep 1/32 features, 3 channels) and the sum of the two
  Laplacian levels (ISDHead's target); ``loss_sd`` = :func:`urur.models.losses.sd_loss` between the deep
  features and the SR decoder's last feature map (SR side detached).

Pretrained weights (none by default; nothing is downloaded): ``pretrained_backbone`` is a path to
a ResNet-18-v1c state_dict for the deep branch, or ``{"deep": path, "shallow": path}`` where the
shallow file holds STDC813 weights (official ``features.<i>`` names or this project's layout); its
first conv's 3-channel weights are concatenated twice for the 6 Laplacian channels, as the official
code does (see :mod:`urur.models.pretrained`). The input is zero-padded to a multiple of 32 and the
output cropped back, so any size works.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from urur.models.backbones.resnet import ResNet
from urur.models.backbones.stdc import STDCShallow
from urur.models.common import ConvBNReLU, LossDict, Outputs, ToInput, TwoBranchModel, resize, scaled
from urur.models.heads import ASPP, FCNHead, SegHead, SuperResolutionHead
from urur.models.laplacian import STRIP_ROWS, LaplacianPyramidInput, laplacian_stdc
from urur.models.losses import sd_loss, segmentation_loss, sr_loss
from urur.models.pretrained import split_sources

DEEP_DOWNSAMPLE = 4
DEEP_STRIDES = (1, 2, 1, 1)
DEEP_DILATIONS = (1, 1, 2, 4)


class ChannelAttention(nn.Module):
    """3x3 ConvBNReLU to ``channels``, and a channel descriptor: spatial mean -> 1x1 conv -> BN (no act)."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_channels, channels, 3)
        self.descriptor = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.conv(x)
        return feature, self.descriptor(feature.mean(dim=(2, 3), keepdim=True))


class RelationAwareFusion(nn.Module):
    """ISDNet's RAF: fuse a high-resolution shallow map with a low-resolution context map.

    Each side gets a channel descriptor a (C values). Both are split into ``groups`` x (C/groups)
    matrices whose ``groups`` x ``groups`` product is the cross-branch channel affinity; two MLPs
    (groups^2 -> C -> C) turn it into corrections of each descriptor, scaled by gates that start
    at 0 (so training starts from plain squeeze-excitation). The context map, reweighted by
    sigmoid(a_c + g_c * mlp_c), is upsampled to the shallow size and convolved, added to the
    reweighted shallow map, and smoothed by a 3x3 conv + BN. ``groups`` is 16 (16x8 at C = 128),
    or the largest divisor of C that divides 16 for narrow test models.
    """

    def __init__(self, shallow_channels: int, channels: int, groups: int = 16) -> None:
        super().__init__()
        self.groups = math.gcd(groups, channels)
        affinity = self.groups * self.groups
        self.shallow_attention = ChannelAttention(shallow_channels, channels)
        self.context_attention = ChannelAttention(channels, channels)
        self.shallow_mlp = nn.Sequential(
            nn.Linear(affinity, channels), nn.ReLU(), nn.Linear(channels, channels)
        )
        self.context_mlp = nn.Sequential(
            nn.Linear(affinity, channels), nn.ReLU(), nn.Linear(channels, channels)
        )
        self.shallow_gate = nn.Parameter(torch.zeros(1))
        self.context_gate = nn.Parameter(torch.zeros(1))
        self.context_head = ConvBNReLU(channels, channels, 3)
        self.smooth = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )

    def forward(self, shallow: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (context features at the shallow size, fused features)."""
        shallow, shallow_att = self.shallow_attention(shallow)
        context, context_att = self.context_attention(context)
        n, c = shallow_att.shape[:2]
        s_split = shallow_att.view(n, self.groups, c // self.groups)
        c_split = context_att.view(n, self.groups, c // self.groups)
        affinity = torch.bmm(s_split, c_split.transpose(1, 2)).flatten(1)
        shallow_correction = torch.relu(self.shallow_mlp(affinity))[..., None, None]
        context_correction = torch.relu(self.context_mlp(affinity))[..., None, None]
        shallow = shallow * torch.sigmoid(shallow_att + self.shallow_gate * shallow_correction)
        # Reweight at the context's (low) resolution, before upsampling: cheaper, same result.
        context = context * torch.sigmoid(context_att + self.context_gate * context_correction)
        context = self.context_head(resize(context, shallow.shape[-2:]))
        return context, self.smooth(shallow + context)


class ISDNet(TwoBranchModel):
    """ISDNet; see the module docstring. ``forward(image, target=None)`` as :class:`SegmentationModel`."""

    def __init__(
        self,
        num_classes: int,
        width: float = 1.0,
        in_channels: int = 3,
        aux_weight: float = 0.4,
        deep_weight: float = 1.0,
        fuse_weight: float = 1.0,
        pretrained_backbone: str | Path | Mapping[str, str | Path] | None = None,
        strip_rows: int | None = STRIP_ROWS,
    ) -> None:
        super().__init__()
        channels = scaled(128, width)
        self.strip_rows = strip_rows
        self.aux_weight = aux_weight
        self.deep_weight = deep_weight
        self.fuse_weight = fuse_weight

        self.backbone = ResNet(
            18,
            in_channels,
            stem="v1c",
            strides=DEEP_STRIDES,
            dilations=DEEP_DILATIONS,
            width=width,
            contract_dilation=True,
        )
        sources = split_sources(pretrained_backbone, "isdnet")
        _, _, layer3_channels, layer4_channels = self.backbone.out_channels
        self.aspp = ASPP(layer4_channels, channels)

        self.laplacian = LaplacianPyramidInput(levels=2)
        self.shallow = STDCShallow(in_channels=2 * in_channels, width=width)
        if "deep" in sources:
            self.backbone.load_pretrained(sources["deep"])
        if "shallow" in sources:
            self.shallow.load_pretrained(sources["shallow"])
        shallow8_channels, shallow16_channels = self.shallow.out_channels
        self.fuse16 = RelationAwareFusion(shallow16_channels, channels)
        self.fuse8 = RelationAwareFusion(shallow8_channels, channels)
        self.head = SegHead(channels, channels // 2, num_classes, dropout=0.1)

        # Training-only parts.
        self.deep_classifier = nn.Sequential(nn.Dropout2d(0.1), nn.Conv2d(channels, num_classes, 1))
        self.aux_head = FCNHead(layer3_channels, scaled(64, width), num_classes)
        self.fuse16_head = SegHead(channels, channels // 2, num_classes, dropout=0.0)
        self.fuse8_head = SegHead(channels, channels // 2, num_classes, dropout=0.0)
        self.sr_head = SuperResolutionHead(channels, out_channels=in_channels, scale=16)

    def forward_padded(self, image: torch.Tensor, with_training_outputs: bool) -> dict[str, torch.Tensor]:
        # Nearest x4 downsampling is a strided view: no copy of the full-size image.
        stages = self.backbone(image[:, :, ::DEEP_DOWNSAMPLE, ::DEEP_DOWNSAMPLE])
        deep = self.aspp(stages[3])

        outputs: dict[str, torch.Tensor] = {}
        if with_training_outputs:  # whole image (training never uses strips); the SR target needs it
            laplacian = self.laplacian(image)
            shallow8, shallow16 = self.shallow(laplacian)
            outputs["sr_target"] = laplacian[:, : image.shape[1]] + laplacian[:, image.shape[1] :]
            del laplacian
        else:
            shallow8, shallow16 = laplacian_stdc(self.laplacian, self.shallow, image, self.strip_rows)

        context16, fused16 = self.fuse16(self.at_fusion("shallow", shallow16), self.at_fusion("deep", deep))
        context8, fused8 = self.fuse8(self.at_fusion("shallow", shallow8), fused16)
        outputs["logits"] = self.head(fused8)
        if with_training_outputs:
            sr_features, sr_image = self.sr_head(deep, return_features=True)
            outputs.update(
                deep=deep,
                deep_logits=self.deep_classifier(deep),
                aux_logits=self.aux_head(stages[2]),
                fuse16_logits=self.fuse16_head(context16),
                fuse8_logits=self.fuse8_head(context8),
                sr_image=sr_image,
                sr_features=sr_features,
            )
        return outputs

    def compute_losses(self, logits: Tensor, outputs: Outputs, target: Tensor, to_input: ToInput) -> LossDict:
        def ce(name: str) -> torch.Tensor:
            return segmentation_loss(to_input(outputs[name]), target)

        return {
            "loss_seg": segmentation_loss(logits, target),
            "loss_deep": self.deep_weight * ce("deep_logits"),
            "loss_aux": self.aux_weight * ce("aux_logits"),
            "loss_fuse": self.fuse_weight * (ce("fuse16_logits") + ce("fuse8_logits")),
            "loss_sr": sr_loss(outputs["sr_image"], outputs["sr_target"]),
            "loss_sd": sd_loss(outputs["deep"], outputs["sr_features"]),
        }
