"""Loading pretrained backbone weights that the user provides (nothing is downloaded).

Every model takes ``pretrained_backbone``: a path to a file written by ``torch.save`` holding a
state_dict (or ``{"state_dict": ...}`` / ``{"model": ...}``, as mmseg and STDC checkpoints do).
Models with two backbones (ISDNet, WSDNet) also take a mapping ``{"deep": path, "shallow": path}``
(a plain path means the deep ResNet). The rules, in :func:`load_backbone`:

- a key the model has and the file lacks, a key the file has and the model lacks (outside the
  classifier tails listed per backbone), or a shape that differs is a
  :class:`PretrainedWeightsError` naming the file, the keys and the fix: never a silent partial load;
- ``adapt`` rewrites a file tensor before loading (ISDNet's STDC on the 6-channel Laplacian input:
  the first conv's 3-channel weights concatenated twice along the input channels, as the official
  ISDNet code does);
- ``skip`` names model keys that cannot come from an RGB backbone and keep their initialisation
  (WSDNet's deep ResNet: its first conv sees the CNN block's wavelet-coefficient features);
- every key's fate is logged (``urur.models.pretrained``): loaded keys at DEBUG, adapted, skipped
  and ignored keys at INFO, one line each, and a summary line.

Official STDC checkpoints name their layers ``features.<i>`` (``conv``/``bn`` inside ConvX,
``conv_list``/``avd_layer`` inside CatBottleneck, ``x2`` ... ``x32`` aliases of the same modules);
:func:`from_official_stdc` renames them to :class:`~urur.models.backbones.stdc.STDCNet`'s layout.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from urur.errors import UrurError

logger = logging.getLogger(__name__)

StateDict = Mapping[str, torch.Tensor]
Adapter = Callable[[torch.Tensor], torch.Tensor]
# Official STDCNet: features[0], features[1] = stem ConvX; then two CatBottlenecks per stage.
_STDC_STEM_LAYERS = 2
_STDC_BLOCKS_PER_STAGE = 2
_STDC_RENAMES = {"conv_list": "convs", "avd_layer": "downsample", "conv": "0", "bn": "1"}
_STDC_ALIASES = re.compile(r"^x(2|4|8|16|32)\.")  # official STDCNet registers its stages twice


class PretrainedWeightsError(UrurError, ValueError):
    """A pretrained file that cannot be read or does not fit: names the file, the keys and the fix."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict in ``path`` (unwrapping ``state_dict``/``model`` and a DDP ``module.`` prefix)."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(f"pretrained weights file {path} does not exist; check the path")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, KeyError, ValueError, pickle.UnpicklingError) as error:
        raise PretrainedWeightsError(
            f"cannot read pretrained weights from {path}: {error}. "
            "Pass a file written by torch.save(model.state_dict(), path)."
        ) from error
    for wrapper in ("state_dict", "model"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(wrapper), Mapping):
            loaded = loaded[wrapper]
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise PretrainedWeightsError(
            f"{path} does not hold a state_dict of tensors (got {type(loaded).__name__}); "
            "save one with torch.save(model.state_dict(), path)"
        )
    return {key.removeprefix("module."): value for key, value in loaded.items()}


def from_official_stdc(state: StateDict) -> dict[str, torch.Tensor]:
    """Rename an official STDC checkpoint's ``features.<i>`` keys to STDCNet's; others pass unchanged.

    ``features.0``/``features.1`` -> ``stem.0``/``stem.1``; ``features.<2 + 2s + b>`` ->
    ``stages.<s>.<b>``; inside, ``conv_list`` -> ``convs``, ``avd_layer`` -> ``downsample``,
    ConvX's ``conv``/``bn`` -> ``0``/``1``. The ``x2`` ... ``x32`` aliases are dropped (they are the
    same tensors as ``features``).
    """
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if _STDC_ALIASES.match(key):
            continue
        parts = key.split(".")
        if parts[0] != "features" or len(parts) < 3:
            renamed[key] = value
            continue
        index = int(parts[1])
        if index < _STDC_STEM_LAYERS:
            prefix = ["stem", str(index)]
        else:
            stage, block = divmod(index - _STDC_STEM_LAYERS, _STDC_BLOCKS_PER_STAGE)
            prefix = ["stages", str(stage), str(block)]
        renamed[".".join(prefix + [_STDC_RENAMES.get(p, p) for p in parts[2:]])] = value
    return renamed


def duplicate_input_channels(times: int) -> Adapter:
    """Concatenate a conv weight ``times`` along its input channels (ISDNet: RGB -> 6 Laplacian channels)."""
    return lambda weight: torch.cat([weight] * times, dim=1)


def load_backbone(
    module: nn.Module,
    source: str | Path | StateDict,
    *,
    what: str,
    adapt: Mapping[str, tuple[Adapter, str]] | None = None,
    skip: Mapping[str, str] | None = None,
    ignore: Callable[[str], bool] = lambda key: False,
    rename: Callable[[StateDict], StateDict] | None = None,
    strict: bool = True,
) -> dict[str, list[str]]:
    """Load ``source`` into ``module`` by the rules of the module docstring; returns the key report.

    ``adapt`` maps a model key to (function, description) applied to the file's tensor; ``skip``
    maps a model key to the reason it is not loaded; ``ignore`` says which file keys belong to parts
    the backbone does not have (classifier tails); ``rename`` translates the file's key layout.
    With ``strict=False`` misfits are reported instead of raised and the fitting keys are loaded.
    """
    name = str(source) if isinstance(source, str | Path) else "the given state_dict"
    state = read_state_dict(source) if isinstance(source, str | Path) else dict(source)
    if rename is not None:
        state = dict(rename(state))
    adapt, skip = adapt or {}, skip or {}
    own = module.state_dict()
    report: dict[str, list[str]] = {
        key: []
        for key in ("loaded", "adapted", "skipped", "ignored", "missing", "unexpected", "shape_mismatch")
    }
    fitting: dict[str, torch.Tensor] = {}
    for key, current in own.items():
        if key in skip:
            report["skipped"].append(f"{key} ({skip[key]})")
            continue
        if key not in state:
            report["missing"].append(key)
            continue
        value = state[key]
        if key in adapt:
            function, description = adapt[key]
            value = function(value)
            report["adapted"].append(f"{key} ({description})")
        if tuple(value.shape) != tuple(current.shape):
            report["shape_mismatch"].append(
                f"{key}: file {tuple(value.shape)} vs model {tuple(current.shape)}"
            )
            continue
        fitting[key] = value
        report["loaded"].append(key)
    for key in state:
        if key not in own:
            report["ignored" if ignore(key) else "unexpected"].append(key)
    misfits = {k: report[k] for k in ("missing", "unexpected", "shape_mismatch") if report[k]}
    if strict and misfits:
        details = "; ".join(f"{kind}: {', '.join(keys)}" for kind, keys in misfits.items())
        raise PretrainedWeightsError(
            f"pretrained weights from {name} do not fit {what}: {details}. Use a checkpoint of the same "
            "architecture, width and layout (see docs/models.md, 'Pretrained weights'), or leave "
            "pretrained_backbone unset."
        )
    module.load_state_dict(fitting, strict=False)
    for key in report["loaded"]:
        logger.debug("%s: loaded %s from %s", what, key, name)
    for kind in ("adapted", "skipped", "ignored", "missing", "unexpected", "shape_mismatch"):
        for entry in report[kind]:
            logger.info("%s: %s %s (%s)", what, kind.replace("_", " "), entry, name)
    logger.info(
        "%s: loaded %d of %d tensors from %s (%d adapted, %d skipped, %d file keys ignored)",
        what,
        len(report["loaded"]),
        len(own),
        name,
        len(report["adapted"]),
        len(report["skipped"]),
        len(report["ignored"]),
    )
    return report


def split_sources(
    pretrained: str | Path | Mapping[str, str | Path] | None, model: str
) -> dict[str, str | Path]:
    """``{"deep": ..., "shallow": ...}`` from a two-backbone model's ``pretrained_backbone`` option."""
    if pretrained is None:
        return {}
    if isinstance(pretrained, str | Path):
        return {"deep": pretrained}
    unknown = sorted(set(pretrained) - {"deep", "shallow"})
    if unknown:
        raise ValueError(
            f"{model} pretrained_backbone keys must be 'deep' (ResNet-18 v1c file) and/or 'shallow' "
            f"(STDC file), got {', '.join(map(repr, unknown))}"
        )
    return {key: value for key, value in pretrained.items() if value is not None}
