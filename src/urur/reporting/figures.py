"""The report's figures, as matplotlib ``Figure`` objects (object API, no pyplot state): saved by
the catalog's matplotlib dataset, embedded by :mod:`urur.reporting.document`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from urur.classes import IGNORE_INDEX, URUR_PALETTE, index_to_rgb
from urur.io.layout import image_path, mask_path
from urur.io.raster import raster_info, read_raster
from urur.io.windows import Window

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


def smooth(values: pd.Series, span: int) -> pd.Series:
    """Exponential moving average with bias correction (pandas ``ewm(adjust=True)``, TensorBoard's
    smoothing): the first points are not pulled towards zero."""
    return values.ewm(span=span, adjust=True).mean()


def _loss_order(name: str) -> tuple[bool, str]:
    return name != "train/loss", name  # the total first, then its terms


def training_curves(series: Mapping[str, pd.DataFrame], best_iteration: int | None = None) -> Figure:
    """One panel per loss term (each on its own scale, smoothed with the raw trace faint), the
    learning rate on its own axis and the validation metrics, against the iteration; a dashed
    line marks the evaluated checkpoint's iteration. A loss spanning over a decade gets a log axis."""
    losses = sorted((n for n in series if n.startswith("train/loss")), key=_loss_order)
    validation = [n for n in series if n.startswith("val/")]
    panels = [*losses, *(["train/lr"] if "train/lr" in series else []), *(["val"] if validation else [])]
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(11, 3.2 * rows), dpi=DPI, layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for ax, panel in zip(axes, panels, strict=False):
        if panel == "val":
            for name in validation:
                ax.plot(series[name]["step"], series[name]["value"] * 100, marker="o", label=name)
            ax.set_ylabel("%")
            ax.set_title("Validation")
        else:
            table = series[panel]
            if panel == "train/lr":
                ax.plot(table["step"], table["value"], color="tab:green")
            else:
                span = max(2, round(len(table) / 20))
                ax.plot(table["step"], table["value"], color="tab:blue", alpha=0.25, lw=0.8, label="raw")
                ax.plot(
                    table["step"], smooth(table["value"], span), color="tab:blue", label=f"EMA, span {span}"
                )
                values = table["value"].to_numpy()
                if values.min() > 0 and values.max() > 10 * values.min():
                    ax.set_yscale("log")
            ax.set_title(panel.removeprefix("train/"))
        if best_iteration is not None:
            ax.axvline(
                best_iteration, color="grey", ls="--", lw=1, label=f"checkpoint (iter {best_iteration})"
            )
        ax.set_xlabel("iteration")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    figure.suptitle("Training: each loss term on its own scale, learning rate, validation")
    return figure


def comparison_curves(tables: Mapping[str, pd.DataFrame]) -> Figure | None:
    """One panel per comparison table: each row's validation mIoU against the iteration, the mean
    over its seeds with their range shaded, so "learns faster" and "ends higher" read apart. None
    where no table carries curves (tables written before the comparison recorded them)."""

    def with_curves(table: pd.DataFrame) -> pd.Series:  # the quoted-only rows hold None
        return table["val_steps"].map(lambda steps: steps is not None and len(steps) > 0)

    panels = {
        key: table[with_curves(table)]
        for key, table in tables.items()
        if "val_steps" in table and with_curves(table).any()
    }
    if not panels:
        return None
    figure = Figure(figsize=(4.2 * len(panels), 3.4), dpi=DPI, layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(panels), squeeze=False)).ravel()
    for ax, (key, table) in zip(axes, panels.items(), strict=True):
        for row in table.to_dict("records"):
            steps = np.asarray(row["val_steps"])
            line = ax.plot(steps, np.asarray(row["val_mIoU_mean"]) * 100, marker="o", ms=3, label=row["row"])
            low, high = np.asarray(row["val_mIoU_min"]) * 100, np.asarray(row["val_mIoU_max"]) * 100
            ax.fill_between(steps, low, high, color=line[0].get_color(), alpha=0.15, lw=0)
        ax.set_title(key.replace("table", "Table "))
        ax.set_xlabel("iteration")
        ax.set_ylabel("val mIoU (%)")
        ax.legend(fontsize=7)
    figure.suptitle("Comparison: validation mIoU while training (mean over seeds, their range shaded)")
    return figure


# Error maps: what the model got right, what it got wrong, and what the truth leaves out.
ERROR_CLASSES = ("correct", "wrong", "ignored")
ERROR_COLOURS = np.array(
    [[225, 225, 225], [215, 48, 39], [255, 255, 255]], dtype=np.uint8
)  # ignored: white, as in the truth


def error_codes(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Per pixel 0 = correct, 1 = wrong, 2 = ignored (the truth is ``IGNORE_INDEX``): the
    error map's classes, in :data:`ERROR_CLASSES` order."""
    codes = (truth != prediction).astype(np.uint8)
    codes[truth == IGNORE_INDEX] = 2
    return codes


def error_map(
    image: np.ndarray,
    truth: np.ndarray,
    prediction: np.ndarray,
    class_names: Sequence[str],
    title: str,
) -> Figure:
    """Image | ground truth / prediction | error map, two by two so each panel is half the page
    wide; class and error legends below."""
    palette = URUR_PALETTE[: len(class_names)]
    codes = error_codes(truth, prediction)
    figure = Figure(figsize=(11, 11.8), dpi=DPI, layout="constrained")
    axes = figure.subplots(2, 2).ravel()
    panels = (
        (image, "image", "antialiased"),
        (index_to_rgb(truth, palette), "ground truth (ignored: white)", "nearest"),
        (index_to_rgb(prediction, palette), "prediction", "nearest"),
        (ERROR_COLOURS[codes], "error map", "antialiased"),  # shrunk, a mixed area reads pink
    )
    for ax, (panel, name, interpolation) in zip(axes, panels, strict=True):
        ax.imshow(panel, interpolation=interpolation)
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])  # the frame stays: white (ignored) pixels reach the panel's edge
    valid = codes != 2
    wrong = float(np.count_nonzero(codes == 1) / max(np.count_nonzero(valid), 1))
    classes = [
        Patch(facecolor=np.asarray(c) / 255, edgecolor="black", label=n)
        for n, c in zip(class_names, palette, strict=True)
    ]
    errors = [
        Patch(facecolor=c / 255, edgecolor="black", label=n)
        for n, c in zip(ERROR_CLASSES, ERROR_COLOURS, strict=True)
    ]
    figure.legend(handles=classes, loc="outside lower left", ncols=4, fontsize=9, title="classes")
    figure.legend(handles=errors, loc="outside lower right", ncols=3, fontsize=9, title="error map")
    figure.suptitle(f"{title}: {100 * wrong:.1f} % of its annotated pixels wrong", fontsize=11)
    return figure


def error_map_sources(
    image_id: str, images_dir: str | Path, masks_dir: str | Path, predictions_dir: str | Path
) -> tuple[Path, Path, Path]:
    """The image, mask and prediction (``<id>.tif``, as evaluation writes it) of one test image."""
    return (
        image_path(images_dir, image_id),
        mask_path(masks_dir, image_id),
        Path(predictions_dir) / f"{image_id}.tif",
    )


def read_error_map(sources: tuple[Path, Path, Path], class_names: Sequence[str], title: str) -> Figure:
    """:func:`error_map` of one whole test image from its :func:`error_map_sources`."""
    image, mask, prediction = sources
    return error_map(
        read_raster(image, bands=[1, 2, 3]),
        read_raster(mask, bands=[1]),
        read_raster(prediction, bands=[1]),
        class_names,
        title,
    )


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
