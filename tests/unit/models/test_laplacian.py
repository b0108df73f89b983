"""The Laplacian + STDC shallow branch ISDNet and WSDNet share runs in exact strips in eval mode."""

from __future__ import annotations

import pytest
import torch

from urur.models.isdnet import ISDNet
from urur.models.laplacian import LaplacianPyramidInput, laplacian_stdc
from urur.models.wsdnet import WSDNet

NUM_CLASSES = 5
WIDTH = 0.125


def tiny(name: str) -> tuple[torch.nn.Module, object]:
    """(model, the object whose ``strip_rows`` and ``stdc`` the model's shallow branch uses)."""
    torch.manual_seed(0)
    if name == "isdnet":
        model = ISDNet(NUM_CLASSES, width=WIDTH)
        return model, model
    model = WSDNet(NUM_CLASSES, width=WIDTH)
    return model, model.shallow


def stdc_of(name: str, model: torch.nn.Module) -> torch.nn.Module:
    return model.shallow if name == "isdnet" else model.shallow.stdc


def count_stem_calls(name: str, model: torch.nn.Module) -> list[int]:
    calls = [0]
    stdc_of(name, model).stem.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("name", ["isdnet", "wsdnet"])
def test_eval_logits_in_strips_equal_the_whole_image(name: str) -> None:
    """300 rows (padded to 320) in 64-row strips: 5 strips, the same logits as no strips."""
    model, owner = tiny(name)
    model.eval()
    calls = count_stem_calls(name, model)
    image = torch.randn(1, 3, 300, 40, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        owner.strip_rows = None
        whole = model(image)
        assert calls[0] == 1
        owner.strip_rows = 64
        strips = model(image)
    assert calls[0] == 1 + 5  # the stem ran once per strip: the strips were used
    assert strips.shape == (1, NUM_CLASSES, 300, 40)
    torch.testing.assert_close(strips, whole, atol=1e-6, rtol=0)  # a 0-row halo is off by 1e-4


@pytest.mark.parametrize("name", ["isdnet", "wsdnet"])
def test_default_strip_height_and_training_never_uses_strips(name: str) -> None:
    model, owner = tiny(name)
    assert owner.strip_rows == 2560
    owner.strip_rows = 64
    calls = count_stem_calls(name, model)
    model.train()(torch.randn(2, 3, 256, 32))
    assert calls[0] == 1


def test_laplacian_stdc_equals_stdc_of_the_laplacian_input() -> None:
    """The shared function is the STDC net on the Laplacian input, whole or in strips."""
    model, _ = tiny("isdnet")
    stdc = model.shallow.eval()
    laplacian = LaplacianPyramidInput(levels=2)
    image = torch.randn(1, 3, 192, 64, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected = stdc(laplacian(image))
        for strip_rows in (None, 64, 96):
            got = laplacian_stdc(laplacian, stdc, image, strip_rows)
            for g, e in zip(got, expected, strict=True):
                torch.testing.assert_close(g, e, atol=1e-5, rtol=0)
