"""Checkpoints of tiny untrained models, saved the way training saves them."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from urur.classes import URUR_CLASSES
from urur.models import build_model
from urur.training.checkpoint import build_meta, save_checkpoint
from urur.training.config import TrainingParams

TINY_WIDTH = 0.125


def tiny_model(name: str = "wsdnet") -> nn.Module:
    """A fresh model of width 0.125 for the 8 URUR classes, the same weights every call."""
    torch.manual_seed(0)
    return build_model(name, len(URUR_CLASSES), width=TINY_WIDTH)


def tiny_meta(name: str = "wsdnet", **changes: object) -> dict:
    """The meta training records for ``tiny_model(name)`` trained on image "a", with ``changes``."""
    params = TrainingParams(model=name, model_options={"width": TINY_WIDTH})
    return {**build_meta(params, URUR_CLASSES, ["a"]), **changes}


def write_checkpoint(path: Path, model: nn.Module, meta: dict) -> Path:
    """``model`` saved at iteration 0 with no validation yet, as the first checkpoint of a run."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    return save_checkpoint(
        path,
        model=model,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0),
        iteration=0,
        meta=meta,
        best={"score": None, "iteration": 0},
        history=[],
        data_state={},
    )
