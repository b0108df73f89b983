"""Validated parameters of every pipeline, checked before the first node runs.

Each model mirrors one ``conf/base/parameters_<pipeline>.yml`` section; unknown keys are errors
so a typo never silently falls back to a default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticParams(_Section):
    num_cities: int = Field(4, ge=1)
    scenes_per_city: int = Field(2, ge=1)
    scene_size: int = Field(2048, ge=64)
    seed: int = 0
    image_format: Literal["tif", "png", "jpg"] = "tif"
    bit_depth: Literal[8, 16] = 8
    bands: Literal[3, 4] = 3
    workers: int | None = Field(None, ge=1)


class SyntheticAnnotatorsParams(_Section):
    format: Literal["index", "rgb", "cvat"] = "cvat"
    seed: int = 1
    missing_fraction: float = Field(0.0, ge=0.0, le=1.0)
    workers: int | None = Field(None, ge=1)


class IngestionParams(_Section):
    scene_table: str = "scenes.csv"
    split_factor: int = Field(2, ge=1)
    rgb_bands: tuple[int, int, int] = (1, 2, 3)  # default of the scene table's rgb_bands column
    zero_is_fill: bool = False  # pixels 0 in all three bands are fill (nodata) in every scene
    workers: int | None = Field(None, ge=1)


class TilingParams(_Section):
    patch_size: int = Field(1000, ge=16)
    overlap: int = Field(120, ge=0)
    workers: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _overlap_below_patch(self) -> TilingParams:
        if self.overlap >= self.patch_size:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than patch_size ({self.patch_size})")
        return self


class AnnotationParams(_Section):
    on_missing: Literal["error", "prelabel"] = "error"
    prelabels: str | None = None  # folder of <image_id>.png pre-label masks for on_missing=prelabel
    workers: int | None = Field(None, ge=1)


class SplitParams(_Section):
    ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)
    seed: int = 0

    @field_validator("ratios")
    @classmethod
    def _ratios_sum_to_one(cls, ratios: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
            raise ValueError(f"train/val/test ratios must be non-negative and sum to 1, got {list(ratios)}")
        return ratios


class DatasetStatsParams(_Section):
    region_size: int = Field(1000, ge=8)
    regions_per_image: int = Field(4, ge=1)
    min_instance_pixels: int = Field(1, ge=1)
    q: float = Field(2.0, gt=0)
    seed: int = 0
    workers: int | None = Field(None, ge=1)


SECTIONS: dict[str, type[_Section]] = {
    "synthetic": SyntheticParams,
    "synthetic_annotators": SyntheticAnnotatorsParams,
    "ingestion": IngestionParams,
    "tiling": TilingParams,
    "annotation": AnnotationParams,
    "split": SplitParams,
    "dataset_stats": DatasetStatsParams,
}


class ConfigError(ValueError):
    """Parameters that do not validate; the message names the file to edit."""


def validate_parameters(params: dict) -> dict[str, _Section]:
    """Validate every known section present in ``params``; collect all problems into one error."""
    validated, problems = {}, []
    for name, model in SECTIONS.items():
        if name not in params:
            continue
        try:
            validated[name] = model.model_validate(params[name] or {})
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in (name, *err["loc"]))
                problems.append(f"  {where}: {err['msg']} (conf/<env>/parameters_{name}.yml)")
    if problems:
        raise ConfigError("Invalid parameters:\n" + "\n".join(problems))
    return validated
