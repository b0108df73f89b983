"""Validated evaluation parameters (``conf/base/parameters_evaluation.yml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from urur.config import Section


class SpeedParams(Section):
    """FPS and peak memory of the trained model on one random image of the test images' size."""

    enabled: bool = True
    warmup: int = Field(1, ge=0)
    runs: int = Field(2, ge=1)


class EvaluationParams(Section):
    """How the test split is evaluated: the paradigm, which checkpoint, where predictions go.

    ``mode``: ``whole`` (the full-resolution image in one pass: WSDNet, ISDNet, the paper's
    protocol), ``slide`` (``window`` windows overlapping by ``overlap``: local paradigm) or
    ``global`` (the image shrunk ``downsample`` times: global paradigm). ``branch_ablation``:
    for two-branch models (WSDNet, ISDNet), the test split twice more, once with each branch's
    feature zeroed at the fusion, so a model that does not use its deep branch shows it
    (skipped, with a log line, for single-branch models).
    """

    checkpoint: Literal["best", "last"] = "best"
    mode: Literal["whole", "slide", "global"] = "whole"
    window: int = Field(1000, ge=32)
    overlap: int = Field(120, ge=0)
    downsample: float = Field(4.0, ge=1.0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    write_predictions: bool = True
    excluded_classes: tuple[str, ...] = ()  # trained, reported per class, left out of mIoU and mF1
    branch_ablation: bool = True
    speed: SpeedParams = Field(default_factory=SpeedParams)
