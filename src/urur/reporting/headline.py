"""What the report's first screen says, computed from the run's tables: the test and validation
figures, how many images, scenes and cities they rest on, the checkpoint they come from, the
weakest classes and the largest confusions. A figure without what it rests on misleads: four
images of one scene are a first look, not a measurement, and the report has to say so."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch


@dataclass(frozen=True)
class Coverage:
    """The images of one split and the scenes and cities they come from (sorted names)."""

    images: int
    scenes: tuple[str, ...]
    cities: tuple[str, ...]


def split_coverage(split: pd.DataFrame, name: str) -> Coverage:
    """The images, scenes and cities of split ``name`` in ``split.csv`` (a table without a
    ``city`` column, user data say, counts no city)."""
    rows = split[split["split"] == name]
    scenes = rows["scene_id"] if "scene_id" in rows else rows["group"]
    cities = rows["city"] if "city" in rows else pd.Series(dtype=str)
    return Coverage(
        images=len(rows),
        scenes=tuple(sorted(scenes.astype(str).unique())),
        cities=tuple(sorted(cities.astype(str).unique())),
    )


@dataclass(frozen=True)
class CheckpointRecord:
    """Where the evaluated checkpoint stands in its run, and its validation metrics."""

    iteration: int
    monitor_score: float | None
    validation: dict[str, float]  # {"mIoU": ..., "mF1": ..., "aAcc": ...}


def checkpoint_record(path: str | Path) -> CheckpointRecord:
    """The iteration and validation metrics a checkpoint saved with its weights (``best`` and the
    last ``history`` record, :mod:`urur.models.checkpoint`). Memory-mapped: the weights are
    not read, so a large model costs nothing here."""
    state: dict[str, Any] = torch.load(Path(path), map_location="cpu", weights_only=True, mmap=True)
    iteration = int(state["iteration"])
    record = next((r for r in reversed(state.get("history", [])) if int(r["iteration"]) == iteration), {})
    validation = {k.removeprefix("val/"): float(v) for k, v in record.items() if k.startswith("val/")}
    return CheckpointRecord(iteration, state.get("best", {}).get("score"), validation)


def weakest_classes(per_class: pd.DataFrame, count: int = 3) -> list[tuple[str, float]]:
    """The ``count`` classes of lowest IoU (``class_name``, ``IoU`` columns), lowest first; classes
    absent from the test split (NaN IoU) are not ranked."""
    ranked = per_class.dropna(subset=["IoU"]).sort_values("IoU", kind="stable").head(count)
    return list(zip(ranked["class_name"].astype(str), ranked["IoU"].astype(float), strict=True))


def largest_leaks(confusion: pd.DataFrame, count: int = 3) -> list[tuple[str, str, float]]:
    """The ``count`` largest off-diagonal cells of the row-normalised confusion matrix (rows =
    target, the ``target`` column names them): ``(target, predicted, share of the target's pixels)``,
    largest first."""
    names = confusion["target"].astype(str).tolist()
    counts = confusion[names].to_numpy(dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    np.fill_diagonal(shares, 0)
    order = np.argsort(-shares, axis=None, kind="stable")[:count]
    rows, cols = np.unravel_index(order, shares.shape)
    return [
        (names[r], names[c], float(shares[r, c])) for r, c in zip(rows, cols, strict=True) if shares[r, c] > 0
    ]


def percent(value: float) -> str:
    """A share as the report prints it: ``0.6312`` -> ``63.1 %``."""
    return f"{100 * value:.1f} %"


def failure_images(image_metrics: pd.DataFrame, count: int) -> list[tuple[str, str]]:
    """``("worst", image_id)`` for the ``count`` test images of lowest mIoU (lowest first), then
    ``("best", image_id)`` for the ``count`` highest (highest first), no image twice."""
    ranked = image_metrics.sort_values(["mIoU", "image_id"], kind="stable")["image_id"].astype(str).tolist()
    worst = ranked[:count]
    best = [i for i in reversed(ranked) if i not in worst][:count]
    return [("worst", i) for i in worst] + [("best", i) for i in best]
