"""Validated parameters of every pipeline, checked before the first node runs.

Each model mirrors one ``conf/base/parameters_<pipeline>.yml`` section; unknown keys are errors
so a typo never silently falls back to a default. Nodes type their ``params:`` arguments with
these models and Kedro validates them when the run starts (``kedro.validation``); each model's
title names its file, so the error says what to edit. Run-invariant settings (``workers``) live
in :class:`RuntimeParams`, apart from the sections DVC stages list as ``params``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from urur.errors import UrurError


class Section(BaseModel):
    """A block of parameters: unknown keys are errors, values frozen (the base of every params model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def section_config(name: str, file: str | None = None) -> ConfigDict:
    """Model config whose title (shown in every validation error) names the file to edit."""
    return ConfigDict(
        extra="forbid", frozen=True, title=f"{name} ({file or f'conf/<env>/parameters_{name}.yml'})"
    )


class RuntimeParams(Section):
    """How a run runs, never what it produces: no DVC stage lists it, so changing it reruns nothing."""

    model_config = section_config("runtime")
    workers: int | None = Field(None, ge=1)  # processes per stage; None = every core
    scheduler: str | None = None  # Dask scheduler address (tcp://host:8786): per-image stages run there


class SyntheticParams(Section):
    model_config = section_config("synthetic")
    num_cities: int = Field(4, ge=1)
    scenes_per_city: int = Field(2, ge=1)
    scene_size: int = Field(2048, ge=64)
    seed: int = 0
    image_format: Literal["tif", "png", "jpg"] = "tif"
    bit_depth: Literal[8, 16] = 8
    bands: Literal[3, 4] = 3


class SyntheticAnnotatorsParams(Section):
    model_config = section_config("synthetic_annotators")
    format: Literal["index", "rgb", "cvat", "label_studio"] = "cvat"
    seed: int = 1
    missing_fraction: float = Field(0.0, ge=0.0, le=1.0)


class IngestionParams(Section):
    model_config = section_config("ingestion")
    scene_table: str = "scenes.csv"
    split_factor: int = Field(2, ge=1)
    rgb_bands: tuple[int, int, int] = (1, 2, 3)  # default of the scene table's rgb_bands column
    zero_is_fill: bool = False  # pixels 0 in all three bands are fill (nodata) in every scene


class TilingParams(Section):
    model_config = section_config("tiling")
    patch_size: int = Field(1000, ge=16)
    overlap: int = Field(120, ge=0)

    @model_validator(mode="after")
    def _overlap_below_patch(self) -> TilingParams:
        if self.overlap >= self.patch_size:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than patch_size ({self.patch_size})")
        return self


class AnnotationParams(Section):
    model_config = section_config("annotation")
    on_missing: Literal["error", "prelabel"] = "error"
    prelabels: str | None = None  # folder of <image_id>.tif/.png pre-label masks for on_missing=prelabel


class SplitParams(Section):
    model_config = section_config("split")
    ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)
    seed: int = 0

    @field_validator("ratios")
    @classmethod
    def _ratios_sum_to_one(cls, ratios: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
            raise ValueError(f"train/val/test ratios must be non-negative and sum to 1, got {list(ratios)}")
        return ratios


class DatasetStatsParams(Section):
    model_config = section_config("dataset_stats")
    region_size: int = Field(1000, ge=8)
    regions_per_image: int = Field(4, ge=1)
    min_instance_pixels: int = Field(1, ge=1)
    q: float = Field(2.0, gt=0)
    seed: int = 0


class PredictParams(Section):
    """Tiled prediction of a folder of rasters (``urur.predict.raster``; the ``urur predict`` options)."""

    model_config = section_config("predict")
    checkpoint: str | None = None  # None: best_checkpoint of the training summary
    tile: int = Field(2048, ge=32)
    overlap: int = Field(256, ge=0)
    batch_size: int = Field(1, ge=1)
    device: str = "auto"
    bf16: bool = False
    confidence: bool = False
    preview: bool = True
    rgb_bands: tuple[int, int, int] = (1, 2, 3)
    nodata: float | None = None
    zero_is_fill: bool = False

    @model_validator(mode="after")
    def _overlap_fits(self) -> PredictParams:
        if self.overlap > self.tile // 2:
            raise ValueError(f"overlap ({self.overlap}) must be at most half the tile ({self.tile})")
        return self


class ConfigError(UrurError, ValueError):
    """Parameters that do not fit together; the message names the files to edit."""


def check_split_divides_scene(scene_size: int, split_factor: int) -> None:
    """Synthetic scenes are cut into split_factor² equal images: refuse a mismatch before any work."""
    if scene_size % split_factor:
        raise ConfigError(
            f"ingestion.split_factor ({split_factor}) does not divide synthetic.scene_size ({scene_size}): "
            f"each scene is cut into split_factor² equal images. Set scene_size to a multiple of "
            f"{split_factor} (conf/<env>/parameters_synthetic.yml) or change split_factor "
            "(conf/<env>/parameters_ingestion.yml)."
        )
