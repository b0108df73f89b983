"""Segmentation models and the one place that builds them by name.

``build_model("wsdnet", num_classes=8, width=0.25)`` returns an ``nn.Module``. Every model takes
``num_classes`` and ``width`` (channel multiplier, 1.0 = the paper's size) and pads inputs of any
size internally, returning logits of the input's size. Model classes are imported on demand so
that importing this package stays cheap.
"""

from __future__ import annotations

import importlib
import inspect

from torch import nn

from urur.errors import UrurError

_REGISTRY: dict[str, tuple[str, str]] = {
    "wsdnet": ("urur.models.wsdnet", "WSDNet"),
    "isdnet": ("urur.models.isdnet", "ISDNet"),
    "deeplabv3plus": ("urur.models.baselines", "DeepLabV3Plus"),
    "stdc": ("urur.models.baselines", "STDCSeg"),
}
MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)


class UnknownModelError(UrurError, ValueError):
    """A model name or option that :func:`build_model` does not know."""


def model_class(name: str) -> type[nn.Module]:
    """The class registered under ``name``."""
    if name not in _REGISTRY:
        raise UnknownModelError(f"unknown model {name!r}; valid names are {', '.join(MODEL_NAMES)}")
    module_name, class_name = _REGISTRY[name]
    return getattr(importlib.import_module(module_name), class_name)


def model_options(name: str) -> tuple[str, ...]:
    """Keyword options that ``build_model(name, ...)`` accepts besides ``num_classes``."""
    parameters = inspect.signature(model_class(name)).parameters
    return tuple(p for p in parameters if p not in ("self", "num_classes"))


def build_model(name: str, num_classes: int, **options: object) -> nn.Module:
    """Build model ``name`` (one of :data:`MODEL_NAMES`) for ``num_classes`` classes.

    Options are checked against the model's constructor so a typo in a configuration file fails
    with the list of valid options instead of a bare ``TypeError``.
    """
    cls = model_class(name)
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    valid = model_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise UnknownModelError(
            f"unknown option(s) {', '.join(unknown)} for model {name!r}; valid options are {', '.join(valid)}"
        )
    return cls(num_classes=num_classes, **options)


__all__ = ["MODEL_NAMES", "UnknownModelError", "build_model", "model_class", "model_options"]
