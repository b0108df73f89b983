"""The report's figures, as matplotlib ``Figure`` objects (object API, no pyplot state): saved by
the catalog's matplotlib dataset, embedded by :mod:`urur.reporting.document`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from urur.classes import URUR_PALETTE, index_to_rgb
from urur.io.layout import image_path, mask_path
from urur.io.raster import raster_info, read_raster
from urur.windows import Window

DPI = 100


def class_iou_chart(per_class: pd.DataFrame) -> Figure:
    """Horizontal bars of per-class IoU (``class_name``, ``IoU`` columns), bars in class colours."""
    figure = Figure(figsize=(6, 0.4 * len(per_class) + 1), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    colours = URUR_PALETTE[: len(per_class)] / 255 if len(per_class) <= len(URUR_PALETTE) else None
    ax.barh(per_class["class_name"], per_class["IoU"] * 100, color=colours, edgecolor="black")
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("IoU (%)")
    ax.set_title("Test IoU per class")
    return figure


def confusion_chart(confusion: pd.DataFrame) -> Figure:
    """The confusion matrix (rows = target, column ``target`` holds the names), each row normalised."""
    names = confusion["target"].astype(str).tolist()
    counts = confusion[names].to_numpy(dtype=float)
    normalised = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure = Figure(figsize=(7, 6), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("target")
    for (row, col), value in np.ndenumerate(normalised):
        ax.text(
            col,
            row,
            f"{value:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value > 0.5 else "black",
        )
    figure.colorbar(image, ax=ax, label="share of the target class's pixels")
    ax.set_title("Normalised confusion matrix (test)")
    return figure


def read_live_series(live_dir: str | Path) -> dict[str, pd.DataFrame]:
    """DVCLive's curves under ``<live_dir>/plots/metrics``: ``{"train/loss": DataFrame(step, value)}``."""
    root = Path(live_dir) / "plots" / "metrics"
    series = {}
    for path in sorted(root.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        name = path.relative_to(root).with_suffix("").as_posix()
        series[name] = table.rename(columns={table.columns[-1]: "value"})[["step", "value"]]
    return series


def training_curves(series: Mapping[str, pd.DataFrame]) -> Figure:
    """Training losses (left) and validation metrics (right) against the iteration."""
    figure = Figure(figsize=(11, 4), dpi=DPI, layout="constrained")
    losses, validation = figure.subplots(1, 2)
    for name, table in series.items():
        if name.startswith("train/loss"):
            losses.plot(table["step"], table["value"], label=name.removeprefix("train/"))
        elif name.startswith("val/"):
            validation.plot(table["step"], table["value"], marker="o", label=name.removeprefix("val/"))
    for ax, title in ((losses, "Training losses"), (validation, "Validation")):
        ax.set_xlabel("iteration")
        ax.set_title(title)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return figure


def centre_window(height: int, width: int, crop: int) -> Window:
    """The ``crop``-sided square at the centre of an image (the whole side where it is smaller)."""
    h, w = min(crop, height), min(crop, width)
    return Window((height - h) // 2, (width - w) // 2, h, w)


def prediction_panels(
    image_ids: Sequence[str],
    images_dir: str | Path,
    masks_dir: str | Path,
    predictions: Mapping[str, str | Path],
    class_names: Sequence[str],
    crop: int,
) -> Figure:
    """Figure 3 of the paper: per test image, a crop | the ground truth | each model's prediction
    (``predictions``: column title -> folder of ``<id>.tif`` label rasters), URUR palette (ignored
    pixels white), legend."""
    columns = ["image", "ground truth", *predictions]
    figure = Figure(figsize=(3 * len(columns), 3 * len(image_ids) + 0.8), dpi=DPI, layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(image_ids), len(columns), squeeze=False))
    palette = URUR_PALETTE[: len(class_names)]
    for row, image_id in zip(axes, image_ids, strict=True):
        info = raster_info(image_path(images_dir, image_id))
        window = centre_window(info.height, info.width, crop)
        labels = [read_raster(mask_path(masks_dir, image_id), window, bands=[1])]
        labels += [
            read_raster(Path(folder) / f"{image_id}.tif", window, bands=[1])
            for folder in predictions.values()
        ]
        panels = [read_raster(image_path(images_dir, image_id), window, bands=[1, 2, 3])]
        panels += [index_to_rgb(label, palette) for label in labels]
        for ax, panel, title in zip(row, panels, columns, strict=True):
            ax.imshow(panel)
            ax.set_title(title if ax is not row[0] else f"{image_id}\n{title}", fontsize=8)
            ax.set_axis_off()
    handles = [
        Patch(facecolor=np.asarray(c) / 255, edgecolor="black", label=n)
        for n, c in zip(class_names, palette, strict=True)
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 8), fontsize=8)
    return figure
