"""The model registry: every name builds a working model; bad names and options say what is valid."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from urur.models import MODEL_NAMES, UnknownModelError, build_model, model_options
from urur.models.baselines import DeepLabV3Plus, STDCSeg
from urur.models.isdnet import ISDNet
from urur.models.wavelets import InverseWaveletPacket2D, WaveletPacket2D
from urur.models.wsdnet import AdaptiveDownsample, WSDNet


def test_registered_names_and_classes() -> None:
    assert set(MODEL_NAMES) == {"wsdnet", "isdnet", "deeplabv3plus", "stdc"}
    expected = {"wsdnet": WSDNet, "isdnet": ISDNet, "deeplabv3plus": DeepLabV3Plus, "stdc": STDCSeg}
    for name, cls in expected.items():
        assert type(build_model(name, num_classes=3, width=0.125)) is cls


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_predicts_logits_of_the_input_size(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=4, width=0.125).eval()
    with torch.inference_mode():
        logits = model(torch.randn(1, 3, 65, 97))
    assert logits.shape == (1, 4, 65, 97)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_odd_input_logits_are_the_padded_input_logits_cropped_top_left(name: str) -> None:
    """crop_to_input by value: padding inside the model = padding outside, then cropping."""
    torch.manual_seed(0)
    model = build_model(name, num_classes=3, width=0.125).eval()
    image = torch.randn(1, 3, 45, 70)
    padded = F.pad(image, (0, 96 - 70, 0, 64 - 45))  # zeros at the bottom/right up to 64 x 96
    with torch.inference_mode():
        odd = model(image)
        reference = model(padded)[..., :45, :70]
    torch.testing.assert_close(odd, reference, rtol=0, atol=0)


# What each downsample option must build: (deep branch downsampler type, upsampler's last module type).
_DOWNSAMPLE_PARTS = {
    "dwt": (WaveletPacket2D, InverseWaveletPacket2D),
    "bilinear": (nn.Upsample, nn.Upsample),
    "cnn": (nn.Sequential, nn.ConvTranspose2d),
    "adaptive": (AdaptiveDownsample, nn.PixelShuffle),
}


@pytest.mark.parametrize("downsample", list(_DOWNSAMPLE_PARTS))
def test_downsample_option_takes_effect(downsample: str) -> None:
    model = build_model("wsdnet", num_classes=2, width=0.125, downsample=downsample, aux_loss="none")
    down, up = _DOWNSAMPLE_PARTS[downsample]
    assert type(model.deep.downsample) is down
    last_up = (
        model.deep.upsample[-1] if isinstance(model.deep.upsample, nn.Sequential) else model.deep.upsample
    )
    assert type(last_up) is up
    if downsample == "bilinear":
        assert model.deep.downsample.scale_factor == 0.25 and model.deep.upsample.scale_factor == 4
    assert model.sr_head is None  # the second option took effect too
    with torch.inference_mode():
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 2, 64, 64)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UnknownModelError, match="unknown model 'unet'; valid names are wsdnet, isdnet"):
        build_model("unet", num_classes=3)


def test_unknown_option_lists_valid_options() -> None:
    with pytest.raises(UnknownModelError, match=r"unknown option\(s\) depth for model 'wsdnet'.*downsample"):
        build_model("wsdnet", num_classes=3, depth=50)
    assert {"width", "downsample", "aux_loss", "wave"} <= set(model_options("wsdnet"))
    assert "num_classes" not in model_options("isdnet")


@pytest.mark.parametrize("num_classes", [0, -1, 2.5])
def test_num_classes_must_be_a_positive_integer(num_classes: object) -> None:
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        build_model("stdc", num_classes=num_classes)  # type: ignore[arg-type]
