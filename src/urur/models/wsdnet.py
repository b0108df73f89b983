"""WSDNet: a wavelet-downsampled deep branch fused with a Laplacian shallow branch.

Ji et al., "Ultra-High Resolution Segmentation with Ultra-Rich Context: A Novel Benchmark",
CVPR 2023, section 4.

Reading order of :meth:`WSDNet.forward`:

1. pad the image so both sides are multiples of 32 (the output is cropped back at the end);
2. shallow branch (first, as its full-size intermediates are the largest): Laplacian residuals
   (6 channels, full size) -> STDC shallow net -> 1/8 and 1/16 maps, each projected to ``C``
   channels by a 1x1 ConvBNReLU, the 1/16 one upsampled and added; in eval mode on tall images
   everything up to 1/8 runs in exact horizontal strips to bound memory (ISDNet's code, shared:
   :func:`~urur.models.laplacian.laplacian_stdc`);
3. deep branch: 2-level wavelet-packet DWT (RGB -> 48 channels at 1/4, lossless), a CNN block,
   ResNet-18 with output stride 8 (strides (1,2,1,1), dilations (1,1,2,4) contracted as in v1c,
   ISDNet's deep network)
   -> 1/32 of the image, a DeepLabV3+ decoder at 1/32, a 1x1 conv expanding ``C`` to ``16 C``
   channels and a 2-level inverse packet transform -> ``C`` channels at 1/8;
4. fusion by addition (no RAF), segmentation head at 1/8, bilinear upsampling to the input size;
   the two C-channel 1/8 maps are the features :func:`~urur.models.common.zero_branch` zeroes
   for the branch-contribution diagnostic.

Training only (``model.train()`` and a target given): an auxiliary FCN head on the deep 1/8
feature (cross entropy x 0.1) and a super-resolution head after it that reconstructs the
(normalised, padded) input image, trained with the Wavelet Smooth Loss. The SR head upsamples
1/8 -> 1/4 with a conv stage and predicts each 4x4 block's haar packet coefficients, which a
2-level inverse packet transform turns into the image (no full-size convolution: it was 70 % of a
training step with ISDNet's decoder; docs/models.md, "Training cost"). In eval mode, or without
a target, neither head runs and ``forward`` returns the logits only.

Ablations (paper Tables 5 and 6): ``downsample`` picks the deep branch's 1/4 downsampling and its
matching 1/32 -> 1/8 upsampling; ``aux_loss`` picks the reconstruction loss. See docs/models.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from urur.models.backbones.resnet import ResNet
from urur.models.backbones.stdc import STDCShallow
from urur.models.common import (
    ConvBNReLU,
    LossDict,
    Outputs,
    ToInput,
    TwoBranchModel,
    init_heads,
    resize,
    scaled,
)
from urur.models.heads import ASPP_DILATIONS, DeepLabV3PlusHead, FCNHead, SegHead, WaveletSuperResolutionHead
from urur.models.laplacian import STRIP_ROWS, LaplacianPyramidInput, laplacian_stdc
from urur.models.losses import WaveletSmoothLoss, sd_loss, segmentation_loss, sr_loss
from urur.models.pretrained import split_sources
from urur.models.wavelets import InverseWaveletPacket2D, WaveletPacket2D

DOWNSAMPLE_MODES: tuple[str, ...] = ("dwt", "bilinear", "cnn", "adaptive")
AUX_LOSSES: tuple[str, ...] = ("wsl", "sr_sd", "none")
AUX_LOSS_WEIGHT = 0.1
DEEP_FACTOR = 4  # the deep branch sees the image at 1/4
SR_IWT_LEVELS = 2  # the SR head's last x4 is a 2-level inverse haar packet transform
UPSAMPLE_KERNELS: tuple[int, ...] = (1, 3)


class AdaptiveDownsample(nn.Module):
    """Deformable-style learned downsampling by ``factor`` built on ``F.grid_sample``.

    Every output cell samples the ``factor**2`` pixel centres of its ``factor`` x ``factor`` block,
    each moved by a learned offset (in input pixels) predicted from the average-pooled image;
    samples are stacked as channels (``C * factor**2``, the order of ``F.pixel_unshuffle``). The
    offset predictor's last conv starts at zero, so training starts from lossless space-to-depth.
    """

    def __init__(self, in_channels: int = 3, factor: int = DEEP_FACTOR, hidden: int = 16) -> None:
        super().__init__()
        self.factor = factor
        points = factor * factor
        self.offsets = nn.Sequential(
            ConvBNReLU(in_channels, hidden, 3), nn.Conv2d(hidden, 2 * points, 3, padding=1)
        )
        nn.init.zeros_(self.offsets[-1].weight)
        nn.init.zeros_(self.offsets[-1].bias)
        steps = torch.arange(factor, dtype=torch.float32) + 0.5  # pixel centres inside a block
        grid_y, grid_x = torch.meshgrid(steps, steps, indexing="ij")
        self.register_buffer(
            "block", torch.stack((grid_x, grid_y), dim=-1).reshape(points, 2), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, channels, height, width = x.shape
        f, points = self.factor, self.factor * self.factor
        h, w = height // f, width // f
        offsets = self.offsets(F.avg_pool2d(x, f)).reshape(n, points, 2, h, w).permute(0, 1, 3, 4, 2)
        rows = torch.arange(h, device=x.device, dtype=x.dtype) * f
        cols = torch.arange(w, device=x.device, dtype=x.dtype) * f
        origin = torch.stack(torch.meshgrid(cols, rows, indexing="xy"), dim=-1)  # (h, w, 2) as (x, y)
        position = origin + self.block.to(x.dtype)[:, None, None, :] + offsets  # (n, points, h, w, 2)
        scale = torch.tensor([2.0 / width, 2.0 / height], device=x.device, dtype=x.dtype)
        grid = (position * scale - 1.0).reshape(n, points * h, w, 2)
        sampled = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return sampled.reshape(n, channels * points, h, w)


def _sampling_pair(
    mode: str, channels: int, width: float, wave: str, upsample_kernel: int = 1
) -> tuple[nn.Module, int, nn.Module]:
    """(downsampler by 4, its output channels, matching upsampler by 4 of ``channels`` features).

    The ``dwt`` and ``adaptive`` upsamplers predict each 1/32 cell's 4x4 block of 1/8 features with
    an ``upsample_kernel`` conv: 1 (the paper's 1x1) sees one cell, so on imagery unlike the
    training data the blocks' seams can show as a 32-px lattice; 3 lets neighbours agree.
    """
    packed = 3 * DEEP_FACTOR**2  # 48: what a lossless 1/4 downsampling of RGB produces
    if upsample_kernel not in UPSAMPLE_KERNELS:
        raise ValueError(
            f"unknown deep_upsample_kernel {upsample_kernel!r}; valid values are "
            f"{', '.join(map(str, UPSAMPLE_KERNELS))}"
        )

    def expand() -> nn.Conv2d:
        return nn.Conv2d(channels, 16 * channels, upsample_kernel, padding=upsample_kernel // 2)

    if mode == "dwt":
        return WaveletPacket2D(2, wave), packed, nn.Sequential(expand(), InverseWaveletPacket2D(2, wave))
    if mode == "adaptive":
        up = nn.Sequential(expand(), nn.PixelShuffle(DEEP_FACTOR))
        return AdaptiveDownsample(3, DEEP_FACTOR, scaled(16, width)), packed, up
    if mode == "cnn":
        down = nn.Sequential(
            ConvBNReLU(3, scaled(16, width), 3, stride=2), ConvBNReLU(scaled(16, width), packed, 3, stride=2)
        )
        up = nn.Sequential(
            nn.ConvTranspose2d(channels, channels, 2, stride=2, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(channels, channels, 2, stride=2),
        )
        return down, packed, up
    if mode == "bilinear":
        return (
            nn.Upsample(scale_factor=1 / DEEP_FACTOR, mode="bilinear", align_corners=False),
            3,
            nn.Upsample(scale_factor=DEEP_FACTOR, mode="bilinear", align_corners=False),
        )
    raise ValueError(f"unknown downsample {mode!r}; valid values are {', '.join(DOWNSAMPLE_MODES)}")


class DeepBranch(nn.Module):
    """Image -> ``channels`` features at 1/8 through a 1/4 input and a 1/32 DeepLabV3+ decoder."""

    def __init__(
        self,
        channels: int,
        width: float,
        downsample: str,
        wave: str,
        aspp_dilations: Sequence[int] = ASPP_DILATIONS,
        upsample_kernel: int = 1,
    ) -> None:
        super().__init__()
        self.downsample, down_channels, self.upsample = _sampling_pair(
            downsample, channels, width, wave, upsample_kernel
        )
        # CNN block: a 1x1 ConvBNReLU over the 48 packet channels. Each 1/4 position's 48 channels
        # hold its whole 4x4x3 pixel block losslessly, so this is a learned 4x4 stride-4 patch
        # embedding at 1/16 of a dense 3x3 conv's cost; the ResNet stem adds the spatial 3x3s.
        stem_channels = scaled(32, width)
        self.cnn_block = ConvBNReLU(down_channels, stem_channels, 1)
        self.backbone = ResNet(
            depth=18,
            in_channels=stem_channels,
            stem="v1c",
            strides=(1, 2, 1, 1),
            dilations=(1, 1, 2, 4),
            width=width,
            contract_dilation=True,
        )
        _, layer2_channels, _, layer4_channels = self.backbone.out_channels
        self.decoder = DeepLabV3PlusHead(
            layer4_channels,
            layer2_channels,
            channels,
            low_level_out=scaled(48, width),
            dilations=aspp_dilations,
        )

    def embed(self, image: torch.Tensor) -> torch.Tensor:
        """Downsampling by 4 followed by the CNN block.

        With the haar DWT both the packet transform and the block's 1x1 conv are linear, so they
        run as one 4x4 stride-4 conv whose weights are their product: the same function (tested)
        and gradients, without materialising the 48-channel map, and ~3x faster on the CPU.
        """
        packet = getattr(self.downsample, "haar_packet", None)
        if packet is None:
            return self.cnn_block(self.downsample(image))
        conv, bn, relu = self.cnn_block
        bands, side = packet.shape[0], packet.shape[-1]
        weight = conv.weight.reshape(conv.out_channels, bands, -1)  # input channel = band * C + c
        folded = torch.einsum("okc,kij->ocij", weight, packet.to(weight.dtype))
        return relu(bn(F.conv2d(image, folded, stride=side)))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        _, layer2, _, layer4 = self.backbone(self.embed(image))
        return self.upsample(self.decoder(layer4, layer2))


class ShallowBranch(nn.Module):
    """Image -> ``channels`` features at 1/8 from the Laplacian residuals (1/16 upsampled and added).

    The Laplacian input and STDC net are ISDNet's shallow branch, run by
    :func:`~urur.models.laplacian.laplacian_stdc` as ISDNet runs them: in eval mode, images
    taller than ``strip_rows`` go through everything up to 1/8 in exact horizontal strips
    (``None``: never).
    """

    def __init__(self, channels: int, width: float, strip_rows: int | None = STRIP_ROWS) -> None:
        super().__init__()
        self.laplacian = LaplacianPyramidInput(levels=2)
        self.stdc = STDCShallow(in_channels=6, width=width)
        channels_8, channels_16 = self.stdc.out_channels
        self.project_8 = ConvBNReLU(channels_8, channels, 1)
        self.project_16 = ConvBNReLU(channels_16, channels, 1)
        self.strip_rows = strip_rows

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        feat_8, feat_16 = laplacian_stdc(self.laplacian, self.stdc, image, self.strip_rows)
        return self.project_8(feat_8) + resize(self.project_16(feat_16), feat_8.shape[-2:])


class WSDNet(TwoBranchModel):
    """WSDNet; ``forward(image, target=None)`` as :class:`~urur.models.common.SegmentationModel`."""

    def __init__(
        self,
        num_classes: int,
        width: float = 1.0,
        downsample: str = "dwt",
        aux_loss: str = "wsl",
        wave: str = "haar",
        pretrained_backbone: str | Path | Mapping[str, str | Path] | None = None,
        aspp_dilations: Sequence[int] = ASPP_DILATIONS,
        deep_upsample_kernel: int = 1,
        head_init: str = "pytorch",
        wsl_normalisation: str = "sum",
    ) -> None:
        super().__init__()
        if aux_loss not in AUX_LOSSES:
            raise ValueError(f"unknown aux_loss {aux_loss!r}; valid values are {', '.join(AUX_LOSSES)}")
        self.aux_loss = aux_loss
        channels = scaled(128, width)
        head_channels = scaled(64, width)
        self.deep = DeepBranch(channels, width, downsample, wave, aspp_dilations, deep_upsample_kernel)
        self.shallow = ShallowBranch(channels, width)
        self.head = SegHead(channels, head_channels, num_classes)
        # Training-only heads.
        self.aux_head = FCNHead(channels, head_channels, num_classes)
        self.sr_head = (
            None
            if aux_loss == "none"
            else WaveletSuperResolutionHead(
                channels, 3, scale=8, channels=head_channels, levels=SR_IWT_LEVELS
            )
        )
        self.wsl = WaveletSmoothLoss(
            levels=3, lambda_low=1.0, lambda_high=0.8, wave="haar", normalisation=wsl_normalisation
        )
        heads = [self.deep.decoder, self.head, self.aux_head]
        init_heads(
            head_init,
            heads=heads if self.sr_head is None else [*heads, self.sr_head],
            classifiers=[self.head[-1], self.aux_head[-1]],
        )
        self.load_pretrained(pretrained_backbone)

    def load_pretrained(self, pretrained: str | Path | Mapping[str, str | Path] | None) -> None:
        """ImageNet weights for the deep ResNet-18 (v1c) and/or the shallow STDC, from user files.

        The deep ResNet's first conv sees the CNN block's wavelet features, not RGB, so it keeps
        its initialisation (reported, with every other key, through logging); the STDC's first
        conv gets the file's RGB weights twice for the 6 Laplacian channels, as ISDNet's.
        """
        sources = split_sources(pretrained, "wsdnet")
        if "deep" in sources:
            reason = "sees the CNN block's wavelet-feature channels, not RGB: kept at its initialisation"
            self.deep.backbone.load_pretrained(sources["deep"], skip={"stem.0.weight": reason})
        if "shallow" in sources:
            self.shallow.stdc.load_pretrained(sources["shallow"])

    def forward_padded(self, image: torch.Tensor, with_training_outputs: bool) -> dict[str, torch.Tensor]:
        shallow = self.shallow(image)  # first: its full-size intermediates are the largest
        deep = self.deep(image)
        fused = self.at_fusion("deep", deep) + self.at_fusion("shallow", shallow)
        outputs = {"logits": self.head(fused)}
        if not with_training_outputs:
            return outputs
        outputs.update(image=image, deep=deep, aux_logits=self.aux_head(deep))
        if self.sr_head is not None:
            outputs["sr_features"], outputs["reconstruction"] = self.sr_head(deep, return_features=True)
        return outputs

    def compute_losses(self, logits: Tensor, outputs: Outputs, target: Tensor, to_input: ToInput) -> LossDict:
        losses = {
            "loss_seg": segmentation_loss(logits, target),
            "loss_aux": AUX_LOSS_WEIGHT * segmentation_loss(to_input(outputs["aux_logits"]), target),
        }
        # The reconstruction targets the padded input: its sides are multiples of 32, as WSL needs.
        if self.aux_loss == "wsl":
            losses["loss_wsl"] = self.wsl(outputs["reconstruction"], outputs["image"])
        elif self.aux_loss == "sr_sd":
            losses["loss_sr"] = sr_loss(outputs["reconstruction"], outputs["image"])
            losses["loss_sd"] = sd_loss(outputs["deep"], outputs["sr_features"])
        return losses
