"""Small building blocks shared by every model: conv-BN-ReLU, channel scaling, padding and resizing.

`width` multiplies every channel count so that tests can build tiny versions of the paper-size
models; `scaled` keeps counts at multiples of 8 (friendly to vectorised kernels) once they are at
least 8, and never lets a count fall to 0.

:class:`SegmentationModel` is the calling protocol shared by WSDNet, ISDNet and the baselines
(any input size through zero padding to a multiple of 32 and cropping back; eval -> logits;
train + target -> (logits, weighted losses); training-only heads run only when losses are wanted).
:class:`TwoBranchModel` adds the branch-contribution diagnostic of WSDNet and ISDNet: inside
``with zero_branch(model, "deep"):`` one branch's feature enters the fusion as zeros.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ConvBNReLU(nn.Sequential):
    """Conv (no bias, BN follows) -> BatchNorm -> ReLU, with 'same' padding for odd kernels.

    Children are named 0 (conv), 1 (bn), 2 (relu), the usual nn.Sequential layout. In eval mode
    the BatchNorm is folded into the convolution's weights on the fly (same result up to float
    rounding): on UHR inputs this skips one full-size pass and one full-size temporary per layer.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, dilation, groups, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, bn = self[0], self[1]
        if self.training or not bn.track_running_stats:
            return super().forward(x)
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        bias = bn.bias - bn.running_mean * scale
        weight = conv.weight * scale.view(-1, 1, 1, 1)
        return F.relu_(F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups))


HEAD_INITS: tuple[str, ...] = ("pytorch", "mmseg")


def init_heads(scheme: str, heads: Sequence[nn.Module], classifiers: Sequence[nn.Conv2d]) -> None:
    """Initialise decoder ``heads`` and their final ``classifiers`` by ``scheme``.

    ``pytorch`` keeps the layers' own defaults (kaiming-uniform with a = sqrt(5)). ``mmseg`` is
    what ISDNet's official code gets from mmcv/mmseg: every conv kaiming-normal (fan_out, relu)
    with zero bias, every BatchNorm weight 1 and bias 0, and each decode head's ``conv_seg``
    normal(0, 0.01) with zero bias, so the first logits are near uniform.
    """
    if scheme not in HEAD_INITS:
        raise ValueError(f"unknown head_init {scheme!r}; valid values are {', '.join(HEAD_INITS)}")
    if scheme == "pytorch":
        return
    for head in heads:
        for module in head.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
    for classifier in classifiers:
        nn.init.normal_(classifier.weight, std=0.01)
        if classifier.bias is not None:
            nn.init.zeros_(classifier.bias)


def scaled(channels: int, width: float) -> int:
    """Channel count `channels * width`, rounded to a multiple of 8 when that keeps it >= 8, at least 1."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    value = channels * width
    if value >= 8:
        return int(round(value / 8) * 8)
    return max(1, round(value))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad the bottom and right of an (N, C, H, W) tensor so H and W are multiples of `multiple`.

    Returns the padded tensor (the input itself when no padding is needed, so no copy is made)
    and the original (H, W), so the caller crops its output back with `[..., :h, :w]`.
    """
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    height, width = x.shape[-2:]
    pad_h = -height % multiple
    pad_w = -width % multiple
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x, (height, width)


def resize(x: torch.Tensor, size: tuple[int, int] | torch.Size, mode: str = "bilinear") -> torch.Tensor:
    """Resize the last two dimensions to `size` (align_corners=False); a no-op when already that size.

    The sizes are used as given, not through ``int()``: under ``torch.export`` they are symbolic
    and ``int()`` would fix them to the traced input's (an ONNX export for one tile size only).
    """
    size = (size[0], size[1])
    if tuple(x.shape[-2:]) == size:
        return x
    if mode in ("bilinear", "bicubic"):
        return F.interpolate(x, size=size, mode=mode, align_corners=False)
    return F.interpolate(x, size=size, mode=mode)


def crop_to_input(logits: torch.Tensor, padded_size: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """Bring logits computed on a padded input back to the input: resize to the padded size, then crop."""
    return resize(logits, padded_size)[..., : size[0], : size[1]]


LossDict = dict[str, torch.Tensor]
Outputs = dict[str, torch.Tensor]
# Maps a map aligned with the padded input onto the target's grid (crop, then resize).
ToInput = Callable[[torch.Tensor], torch.Tensor]


class SegmentationModel(nn.Module, ABC):
    """The calling protocol every segmentation model here shares (WSDNet's, too).

    ``forward(image, target=None)``: in eval mode, or without a target, returns logits
    (N, classes, H, W) for an input of any size; in training mode with a (N, H, W) target it
    returns ``(logits, losses)`` with already-weighted loss terms. The input is zero-padded at the
    bottom/right to a multiple of ``pad_multiple`` and the logits are cropped back, so odd sizes
    work. Subclasses implement :meth:`forward_padded` (which computes training-only outputs only
    when asked, so inference skips them) and :meth:`compute_losses`.
    """

    pad_multiple = 32

    def forward(
        self, image: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, LossDict]:
        if image.ndim != 4:
            raise ValueError(f"image must be (N, C, H, W), got shape {tuple(image.shape)}")
        with_losses = self.training and target is not None
        if with_losses and (
            target.ndim != 3 or target.shape[0] != image.shape[0] or target.shape[-2:] != image.shape[-2:]
        ):
            raise ValueError(
                f"target must be (N, H, W) class values matching image {tuple(image.shape)}, "
                f"got {tuple(target.shape)}"
            )
        padded, size = pad_to_multiple(image, self.pad_multiple)
        padded_size = (padded.shape[-2], padded.shape[-1])
        outputs = self.forward_padded(padded, with_training_outputs=with_losses)
        logits = crop_to_input(outputs.pop("logits"), padded_size, size)
        if not with_losses:
            return logits

        def to_input(t: torch.Tensor) -> torch.Tensor:
            return crop_to_input(t, padded_size, size)

        return logits, self.compute_losses(logits, outputs, target, to_input)

    @abstractmethod
    def forward_padded(self, image: torch.Tensor, with_training_outputs: bool) -> dict[str, torch.Tensor]:
        """Outputs for an input whose sides are multiples of ``pad_multiple``; key "logits" is required."""

    @abstractmethod
    def compute_losses(self, logits: Tensor, outputs: Outputs, target: Tensor, to_input: ToInput) -> LossDict:
        """Weighted loss terms; ``to_input`` maps a padded-input-aligned map onto the target's grid."""


BRANCHES: tuple[str, ...] = ("deep", "shallow")


class TwoBranchModel(SegmentationModel):
    """A model whose deep and shallow branches meet in a fusion (WSDNet, ISDNet).

    Each branch's feature passes :meth:`at_fusion` on its way into the fusion, so that
    :func:`zero_branch` can replace it by zeros there: the test mIoU without one branch shows
    what that branch contributes (a model that ignores its deep branch loses nothing without it).
    """

    zeroed_branch: str | None = None  # set only by zero_branch; None runs the model as trained

    def at_fusion(self, branch: str, feature: Tensor) -> Tensor:
        """``branch``'s ``feature`` as the fusion receives it: zeros while that branch is zeroed."""
        return torch.zeros_like(feature) if branch == self.zeroed_branch else feature


@contextmanager
def zero_branch(model: nn.Module, branch: str) -> Iterator[TwoBranchModel]:
    """Run ``model`` with ``branch``'s (one of :data:`BRANCHES`) feature zeroed where it enters the
    fusion, inside the ``with`` block only (restored on errors too)."""
    if not isinstance(model, TwoBranchModel):
        raise TypeError(f"{type(model).__name__} has no deep and shallow branches to zero")
    if branch not in BRANCHES:
        raise ValueError(f"unknown branch {branch!r}; valid branches are {', '.join(BRANCHES)}")
    previous, model.zeroed_branch = model.zeroed_branch, branch
    try:
        yield model
    finally:
        model.zeroed_branch = previous
