"""The model registry: every name builds a working model; bad names and options say what is valid."""

from __future__ import annotations

import pytest
import torch

from urur.models import MODEL_NAMES, UnknownModelError, build_model, model_options
from urur.models.baselines import DeepLabV3Plus, STDCSeg
from urur.models.isdnet import ISDNet
from urur.models.wsdnet import WSDNet


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


def test_options_are_passed_through() -> None:
    model = build_model("wsdnet", num_classes=2, width=0.125, downsample="bilinear", aux_loss="none")
    assert model.sr_head is None


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
