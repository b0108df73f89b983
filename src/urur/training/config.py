"""Validated training parameters: every knob of the crop sampler, augmentation and trainer.

Mirrors the ``training`` section of ``conf/base/parameters_training.yml``. Unknown keys are
errors so a typo never falls back to a default; ranges are checked here so a bad value fails
before any image is read or any model is built. Defaults are the CPU demo (WSDNet at half width,
512² crops, batch 4); the paper's full-size settings live in a Kedro environment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from urur.classes import URUR_CLASSES
from urur.config import Section
from urur.preprocessing import IMAGENET_MEAN, IMAGENET_STD


class AugmentationParams(Section):
    """Each transform with its probability; ``p = 0`` switches a transform off.

    Defaults follow ISDNet's public configs (mmseg pipeline): flip 0.5, the 90..270° rotation
    with p 0.5 (image border 0, label border 255), photometric distortion.
    """

    hflip_p: float = Field(0.5, ge=0.0, le=1.0)
    vflip_p: float = Field(0.0, ge=0.0, le=1.0)
    rotate90_p: float = Field(0.0, ge=0.0, le=1.0)
    rotate_p: float = Field(0.5, ge=0.0, le=1.0)
    rotate_degrees: tuple[float, float] = (90.0, 270.0)
    photometric_p: float = Field(0.5, ge=0.0, le=1.0)
    brightness: float = Field(0.125, ge=0.0, le=1.0)
    contrast: float = Field(0.5, ge=0.0, le=1.0)
    saturation: float = Field(0.5, ge=0.0, le=1.0)
    hue: float = Field(0.05, ge=0.0, le=0.5)

    @model_validator(mode="after")
    def _ordered_degrees(self) -> AugmentationParams:
        low, high = self.rotate_degrees
        if low > high:
            raise ValueError(
                f"rotate_degrees must be (low, high) with low <= high, got {self.rotate_degrees}"
            )
        return self


class TrainingParams(Section):
    """Model, optimisation schedule, data sampling, checkpointing and devices of one training run."""

    model: str = "wsdnet"
    model_options: dict[str, object] = Field(default_factory=lambda: {"width": 0.5})
    class_names: tuple[str, ...] | None = None  # None: the URUR classes
    crop_size: int = Field(512, ge=32)
    scale_range: tuple[float, float] = (0.5, 2.0)
    crops_per_epoch: int = Field(1000, ge=1)
    cat_max_ratio: float = Field(0.75, gt=0.0, le=1.0)
    max_redraws: int = Field(10, ge=0)
    augmentation: AugmentationParams = Field(default_factory=AugmentationParams)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    batch_size: int = Field(4, ge=1)  # per device
    accumulation: int = Field(1, ge=1)
    iterations: int = Field(400, ge=1)  # optimizer steps
    lr: float = Field(0.01, gt=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(5e-4, ge=0.0)
    poly_power: float = Field(0.9, ge=0.0)
    min_lr: float = Field(1e-4, ge=0.0)
    workers: int = Field(2, ge=0)
    val_interval: int = Field(100, ge=1)
    checkpoint_interval: int = Field(100, ge=1)
    keep_last: int = Field(2, ge=1)
    monitor: str = "val/mIoU"
    monitor_mode: Literal["max", "min"] = "max"
    log_interval: int = Field(10, ge=1)
    resume: bool = True
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    devices: int = Field(1, ge=1)  # processes (one per GPU); >1 runs DistributedDataParallel
    sync_bn: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> TrainingParams:
        low, high = self.scale_range
        if not 0 < low <= high:
            raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, got {self.scale_range}")
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive per channel, got {self.std}")
        return self

    @property
    def classes(self) -> tuple[str, ...]:
        """The run's class names: the configured ones, else URUR's (the one place that default lives)."""
        return self.class_names or URUR_CLASSES


class TrainingRunParams(Section):
    """Where a training run keeps its checkpoints (resumed from by the next run) and its curves.

    ``checkpoint_dir`` is a store that only grows: every configuration's checkpoints, never
    deleted (not a DVC-cached output, so no ``dvc checkout`` removes a model of another
    configuration). ``model_dir`` (None: none) holds the latest run's best and last checkpoints,
    the model DVC versions, pushes and checks out. ``live_dir`` holds the curves of the latest run
    (dvc.yaml's training metrics and plots).
    With ``runs_live_dir`` set, each configuration logs into ``<runs_live_dir>/<configuration>``
    and ``live_dir`` gets a copy: training a variant (``dvc exp run -S training.lr=...``) never
    overwrites another configuration's curves, as it never overwrites its checkpoints.
    """

    checkpoint_dir: str = "data/06_models/training"
    live_dir: str = "data/08_reporting/training"
    runs_live_dir: str | None = None
    model_dir: str | None = None


# Parameters that do not change what a run computes: a checkpoint written under other values of
# these still resumes (more workers, other checkpoint cadence, resume itself).
RESUME_NEUTRAL_FIELDS: frozenset[str] = frozenset(
    {"workers", "checkpoint_interval", "keep_last", "log_interval", "resume", "val_interval"}
)
