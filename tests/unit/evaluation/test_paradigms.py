"""Sliding-window and whole-image inference."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from urur.dataset.tiling import patch_grid
from urur.evaluation.paradigms import slide_inference, whole_inference


class CallCounter(nn.Module):
    """Outputs, for every pixel of its k-th input crop, the value k (1-based) in each class."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        values = torch.arange(self.calls + 1, self.calls + n + 1, dtype=x.dtype)
        self.calls += n
        return values[:, None, None, None].expand(n, self.num_classes, h, w).clone()


def test_overlaps_average_the_window_logits() -> None:
    model = CallCounter(num_classes=2).eval()
    out = slide_inference(model, torch.zeros(1, 3, 50, 70), num_classes=2, window=32, overlap=8)
    windows = patch_grid(50, 70, patch_size=32, overlap=8)
    total, count = torch.zeros(50, 70), torch.zeros(50, 70)
    for k, win in enumerate(windows, start=1):
        total[win.slices] += k
        count[win.slices] += 1
    assert model.calls == len(windows)
    torch.testing.assert_close(out[0, 0], total / count)
    torch.testing.assert_close(out[0, 1], total / count)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_pointwise_model_gives_the_same_result_as_whole_inference(batch_size: int) -> None:
    torch.manual_seed(0)
    model = nn.Conv2d(3, 4, 1).eval()
    image = torch.randn(2, 3, 45, 61)
    slid = slide_inference(model, image, num_classes=4, window=20, overlap=6, batch_size=batch_size)
    torch.testing.assert_close(slid, whole_inference(model, image))


def test_image_smaller_than_the_window_is_one_crop() -> None:
    model = CallCounter(num_classes=1).eval()
    out = slide_inference(model, torch.zeros(1, 3, 10, 12), num_classes=1, window=1000)
    assert model.calls == 1 and out.shape == (1, 1, 10, 12)


def test_whole_inference_downsamples_then_restores_the_size() -> None:
    seen: list[tuple[int, int]] = []
    model = nn.Conv2d(3, 2, 1).eval()
    model.register_forward_hook(lambda _m, inputs, _o: seen.append(tuple(inputs[0].shape[-2:])))
    out = whole_inference(model, torch.randn(1, 3, 64, 90), downsample=4)
    assert seen == [(16, 22)]
    assert out.shape == (1, 2, 64, 90)


def test_training_mode_and_wrong_class_count_are_rejected() -> None:
    image = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ValueError, match=r"eval mode: call model.eval\(\)"):
        slide_inference(nn.Conv2d(3, 2, 1), image, num_classes=2, window=4, overlap=0)
    with pytest.raises(ValueError, match="returned 2 classes, expected num_classes=5"):
        slide_inference(nn.Conv2d(3, 2, 1).eval(), image, num_classes=5, window=4, overlap=0)
    with pytest.raises(ValueError, match="downsample must be >= 1"):
        whole_inference(nn.Conv2d(3, 2, 1).eval(), image, downsample=0.5)
