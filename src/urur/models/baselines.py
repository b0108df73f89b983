"""Generic segmentation baselines of the paper's tables: DeepLabV3+ (ResNet-18) and STDC.

Both follow the :class:`~urur.models.common.SegmentationModel` protocol (any input size, padded
to a multiple of 32 inside; eval -> logits; train + target -> (logits, weighted losses)).

- :class:`DeepLabV3Plus`: ResNet-18 (torchvision stem by default, so ImageNet weights load with
  ``pretrained_backbone``) with its output stride set by dilation (8: strides (1,2,1,1),
  dilations (1,1,2,4); 16: (1,2,2,1), (1,1,1,2); 32: plain), a
  :class:`~urur.models.heads.DeepLabV3PlusHead` (ASPP 128 channels, layer1 projected to 48,
  mmseg's R-18 DeepLabV3+ sizes), logits at 1/4 resized to the input. Training adds
  ``loss_aux`` = 0.4 x CE of an FCN head (256 -> 64) on layer3, as in mmseg's configs.
- :class:`STDCSeg`: STDC1 (:class:`~urur.models.backbones.stdc.STDCNet`) with STDC's
  BiSeNet-style decoder: a global-context vector and attention refinement modules on the 1/32 and
  1/16 maps (128 channels), upsampled step by step to 1/8, a feature fusion module with the 1/8
  spatial map (256 channels) and an output head (3x3 ConvBNReLU 256 -> 256, 1x1). Training adds
  ``loss_aux`` = CE of heads on the 1/16 and 1/8 context maps (weight 1 each, as in STDC).
  ``pretrained_backbone`` loads STDC1 ImageNet weights (official ``features.<i>`` names or this
  layout; the classifier tail is ignored). Simplifications: STDC's detail-guidance loss
  (Laplacian boundary targets on the 1/8 map) is left out; upsampling is bilinear throughout.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from urur.models.backbones.resnet import ResNet
from urur.models.backbones.stdc import STDCNet
from urur.models.common import ConvBNReLU, LossDict, Outputs, SegmentationModel, ToInput, resize, scaled
from urur.models.heads import DeepLabV3PlusHead, FCNHead, SegHead
from urur.models.losses import segmentation_loss

_RESNET_LAYOUT_BY_OUTPUT_STRIDE = {
    8: ((1, 2, 1, 1), (1, 1, 2, 4)),
    16: ((1, 2, 2, 1), (1, 1, 1, 2)),
    32: ((1, 2, 2, 2), (1, 1, 1, 1)),
}


class DeepLabV3Plus(SegmentationModel):
    """ResNet-18 + DeepLabV3+ decoder; see the module docstring."""

    def __init__(
        self,
        num_classes: int,
        width: float = 1.0,
        backbone_stem: str = "torchvision",
        output_stride: int = 8,
        in_channels: int = 3,
        aux_weight: float = 0.4,
        pretrained_backbone: str | Path | None = None,
    ) -> None:
        super().__init__()
        if output_stride not in _RESNET_LAYOUT_BY_OUTPUT_STRIDE:
            raise ValueError(
                f"output_stride must be one of {sorted(_RESNET_LAYOUT_BY_OUTPUT_STRIDE)}, got {output_stride}"
            )
        strides, dilations = _RESNET_LAYOUT_BY_OUTPUT_STRIDE[output_stride]
        # mmseg's v1c ResNets contract the dilation; torchvision's do not.
        self.backbone = ResNet(
            18,
            in_channels,
            backbone_stem,
            strides,
            dilations,
            width,
            contract_dilation=backbone_stem == "v1c",
        )
        if pretrained_backbone is not None:
            self.backbone.load_pretrained(pretrained_backbone)
        low, _, mid, high = self.backbone.out_channels
        self.decoder = DeepLabV3PlusHead(
            high, low, scaled(128, width), low_level_out=scaled(48, width), num_classes=num_classes
        )
        self.aux_head = FCNHead(mid, scaled(64, width), num_classes)
        self.aux_weight = aux_weight

    def forward_padded(self, image: torch.Tensor, with_training_outputs: bool) -> dict[str, torch.Tensor]:
        layer1, _, layer3, layer4 = self.backbone(image)
        outputs = {"logits": self.decoder.classify(self.decoder(layer4, layer1))}
        if with_training_outputs:
            outputs["aux_logits"] = self.aux_head(layer3)
        return outputs

    def compute_losses(self, logits: Tensor, outputs: Outputs, target: Tensor, to_input: ToInput) -> LossDict:
        return {
            "loss_seg": segmentation_loss(logits, target),
            "loss_aux": self.aux_weight * segmentation_loss(to_input(outputs["aux_logits"]), target),
        }


class AttentionRefinement(nn.Module):
    """BiSeNet/STDC ARM: 3x3 ConvBNReLU, reweighted by sigmoid(BN(1x1 conv(global mean)))."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_channels, channels, 3)
        self.attention = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feature = self.conv(x)
        return feature * self.attention(feature.mean(dim=(2, 3), keepdim=True))


class FeatureFusion(nn.Module):
    """BiSeNet/STDC FFM: concat -> 1x1 ConvBNReLU, plus itself reweighted by a squeeze-excitation."""

    def __init__(self, in_channels: int, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.conv = ConvBNReLU(in_channels, channels, 1)
        self.attention = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        feature = self.conv(torch.cat([spatial, context], dim=1))
        return feature + feature * self.attention(feature.mean(dim=(2, 3), keepdim=True))


class STDCSeg(SegmentationModel):
    """STDC1 segmenter with STDC's context path and fusion; see the module docstring."""

    def __init__(
        self,
        num_classes: int,
        width: float = 1.0,
        in_channels: int = 3,
        aux_weight: float = 1.0,
        pretrained_backbone: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.backbone = STDCNet(in_channels, width)
        if pretrained_backbone is not None:
            self.backbone.load_pretrained(pretrained_backbone)
        spatial_channels, channels16, channels32 = self.backbone.out_channels
        context = scaled(128, width)
        self.global_context = ConvBNReLU(channels32, context, 1)
        self.refine32 = AttentionRefinement(channels32, context)
        self.refine16 = AttentionRefinement(channels16, context)
        self.head32 = ConvBNReLU(context, context, 3)
        self.head16 = ConvBNReLU(context, context, 3)
        self.fusion = FeatureFusion(spatial_channels + context, spatial_channels)
        self.head = SegHead(spatial_channels, spatial_channels, num_classes, dropout=0.0)
        self.aux16_head = SegHead(context, scaled(64, width), num_classes, dropout=0.0)
        self.aux8_head = SegHead(context, scaled(64, width), num_classes, dropout=0.0)
        self.aux_weight = aux_weight

    def forward_padded(self, image: torch.Tensor, with_training_outputs: bool) -> dict[str, torch.Tensor]:
        feat8, feat16, feat32 = self.backbone(image)
        global_context = self.global_context(feat32.mean(dim=(2, 3), keepdim=True))
        context16 = self.head32(resize(self.refine32(feat32) + global_context, feat16.shape[-2:]))
        context8 = self.head16(resize(self.refine16(feat16) + context16, feat8.shape[-2:]))
        outputs = {"logits": self.head(self.fusion(feat8, context8))}
        if with_training_outputs:
            outputs["aux16_logits"] = self.aux16_head(context16)
            outputs["aux8_logits"] = self.aux8_head(context8)
        return outputs

    def compute_losses(self, logits: Tensor, outputs: Outputs, target: Tensor, to_input: ToInput) -> LossDict:
        aux = sum(segmentation_loss(to_input(outputs[k]), target) for k in ("aux16_logits", "aux8_logits"))
        return {"loss_seg": segmentation_loss(logits, target), "loss_aux": self.aux_weight * aux}
