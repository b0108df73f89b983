"""Tiled prediction of a raster of any size: a trained checkpoint turns imagery into a label GeoTIFF.

The raster is cut into ``tile`` x ``tile`` windows overlapping by ``overlap`` pixels
(:func:`urur.dataset.tiling.patch_grid`, the last window flush with the border). Each window's logits are
weighted by a window that is 1 in the middle and falls to almost 0 at the window's edges along a
Hann (raised-cosine) ramp as wide as the overlap, summed, and divided by the summed weights, so
the blended logits are continuous across window borders (no seams) and equal to every window's
logits wherever those agree (the cosine/Hann blending of torchgeo's and nnU-Net's tiled
predictors; mmseg's slide mode averages with flat weights instead, REFERENCE.md "Tiling and
stitching").

Memory is bounded by one window, whatever the raster's size: windows run row by row, left to
right, and the blended logits are kept for the columns of the current window only (``classes x
tile x tile`` float32, 134 MB for 8 classes and 2048-pixel tiles). After each window, the columns
no later window of its row covers are final down to the next row's windows: their labels
(argmax), confidences and preview pixels are written as GeoTIFF windows
(:class:`urur.io.raster.RasterBlockWriter`), and their overlap rows go to an unlinked scratch
file beside the output, from which the next row of windows starts. The sums are the same
float32 operations, in the same order per pixel, as blending the whole raster at once, so the
labels are too. GeoTIFF input is read window by window; PNG and JPEG, which decode from the top,
one row of windows at a time (3 bytes per pixel of the raster's width).

Input is read the way ingestion reads raw scenes (:mod:`urur.dataset.ingestion`): GeoTIFF, PNG or JPEG,
8- or 16-bit (16-bit stretched per band between the 2nd and 98th percentiles of the whole
raster's valid pixels, so tiles share one stretch), 3 or 4 bands (``rgb_bands`` picks R, G, B),
fill from the file's nodata tag or mask band, a ``nodata`` value or ``zero_is_fill``. Fill pixels
are labelled 255 (:data:`urur.classes.IGNORE_INDEX`), tagged as nodata.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch._inductor.config as inductor_config
from torch import nn
from tqdm.auto import tqdm

from urur.classes import IGNORE_INDEX, palette_for
from urur.dataset.ingestion import validate_raw_scene
from urur.dataset.scene_table import IngestionError
from urur.dataset.tiling import patch_grid
from urur.defaults import DEFAULT_OVERLAP, DEFAULT_TILE
from urur.errors import UrurError
from urur.io.atomic import clean_temporaries
from urur.io.imagery import read_uint8, stretch_limits, stretch_sample
from urur.io.label_raster import label_raster_writer, write_label_preview
from urur.io.raster import (
    DRIVERS_BY_SUFFIX,
    GEOTIFF_BLOCK_SIZE,
    RasterBlockWriter,
    RasterInfo,
    RasterReadError,
    raster_block_writer,
)
from urur.io.vectorize import DEFAULT_SIMPLIFY, vectorize_labels
from urur.io.windows import Window
from urur.models.checkpoint import run_checkpoint
from urur.preprocessing import normalize

logger = logging.getLogger(__name__)

PREVIEW_SIDE = 2048  # longer side of the colour preview, in pixels
CONFIDENCE_NODATA = 0.0  # a softmax maximum is at least 1 / classes, so 0 never is a confidence
TRAINING_SUMMARY = Path("data") / "06_models" / "training_summary.json"
TRAIN_COMMAND = "`make run` (or `kedro run --pipeline=train_urur`)"


class PredictionError(UrurError, ValueError):
    """Prediction cannot run as asked: bad input, output or checkpoint; the message says the fix."""


@dataclass(frozen=True)
class PredictionResult:
    """What :func:`predict_raster` wrote and how fast."""

    output: Path
    confidence: Path | None
    preview: Path | None
    vector: Path | None
    height: int
    width: int
    tiles: int
    seconds: float

    @property
    def megapixels_per_second(self) -> float:
        return self.height * self.width / 1e6 / self.seconds


def default_checkpoint(project_dir: str | os.PathLike = ".") -> Path:
    """The project's best trained checkpoint (``best_checkpoint`` of the training summary, else its
    last one); relative paths in the summary are relative to ``project_dir``."""
    project_dir = Path(project_dir)
    summary_path = project_dir / TRAINING_SUMMARY
    if not summary_path.is_file():
        raise PredictionError(
            f"no trained model: {summary_path} does not exist. Train one with {TRAIN_COMMAND} in the "
            "project folder, or pass a checkpoint (--checkpoint PATH)"
        )
    try:
        summary = json.loads(summary_path.read_text())
        checkpoint = run_checkpoint(summary)
    except (ValueError, KeyError, AttributeError) as error:
        raise PredictionError(
            f"cannot read the checkpoint from {summary_path}: {error!r}. Re-run training "
            f"({TRAIN_COMMAND}) or pass a checkpoint (--checkpoint PATH)"
        ) from error
    return project_dir / checkpoint


def hann_ramp(length: int, overlap: int) -> np.ndarray:
    """1-D weights of a window: a raised-cosine rise over its first ``overlap`` pixels, 1 in the
    middle, the mirror fall at the end; positive everywhere (pixel centres, never exactly 0), so
    a pixel at the raster border covered by one window alone is still defined."""
    weights = np.ones(length, dtype=np.float64)
    ramp = min(overlap, length // 2)
    if ramp:
        rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
        weights[:ramp] = rise
        weights[length - ramp :] = rise[::-1]
    return weights


def blend_weights(height: int, width: int, overlap: int) -> torch.Tensor:
    """(height, width) float32 weights of one window: the outer product of two :func:`hann_ramp`."""
    weights = np.outer(hann_ramp(height, overlap), hann_ramp(width, overlap))
    return torch.from_numpy(weights.astype(np.float32))


def check_outputs(outputs: Sequence[Path], inputs: Sequence[Path], overwrite: bool) -> None:
    """Refuse, before any work, outputs that exist (unless ``overwrite``), that are an input or
    another output (after following links), or whose folder cannot be created or written."""
    resolved_inputs = {path.resolve() for path in inputs}
    seen: dict[Path, Path] = {}
    for path in outputs:
        resolved = path.resolve()
        if resolved in resolved_inputs:
            raise PredictionError(f"output {path} is the input; choose another output path")
        if resolved in seen:
            raise PredictionError(
                f"outputs {seen[resolved]} and {path} are the same file ({resolved}): one would "
                "overwrite the other; give each output its own path"
            )
        seen[resolved] = path
        if path.exists() and not overwrite:
            raise PredictionError(f"output {path} exists; pass --overwrite to replace it, or choose another")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PredictionError(
                f"cannot create the output folder {path.parent} for {path}: {error.strerror}; "
                "choose a folder you can write to"
            ) from error
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise PredictionError(
                f"cannot write {path}: its folder {path.parent} is not writable; choose a writable folder"
            )


def _input_info(path: Path, rgb_bands: Sequence[int]) -> RasterInfo:
    try:
        info = validate_raw_scene(path, split_factor=1, check_pixels=False)
    except (IngestionError, RasterReadError, FileNotFoundError) as error:
        raise PredictionError(f"cannot predict on {path}: {error}") from error
    if len(rgb_bands) != 3 or not all(1 <= band <= info.bands for band in rgb_bands):
        raise PredictionError(
            f"rgb bands {tuple(rgb_bands)} must be three band numbers within 1..{info.bands} of {path}; "
            "fix --rgb-bands"
        )
    return info


def _stretch(path: Path, info: RasterInfo, bands: Sequence[int], nodata: float | None) -> np.ndarray | None:
    """Ingestion's raster-wide 16-bit stretch limits (``None`` for 8-bit input)."""
    if info.dtype == "uint8":
        return None
    sample, valid = stretch_sample(path, bands, nodata=nodata)
    if valid is not None and not valid.any():
        raise PredictionError(f"{path} is all fill (nodata) in the sampled pixels; check its nodata value")
    return stretch_limits(sample, valid=valid)


def _batches(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _CarryFile:
    """The sums one row of windows hands to the next (the rows both cover): channels x ``rows``
    per raster column, column-major in an unlinked temporary ``file`` beside the output, so a
    column range is one read or write and no array as wide as the raster is ever in memory (the
    page cache, not the process, holds it; a killed run leaves nothing behind)."""

    def __init__(self, file: BinaryIO, channels: int, folder: Path) -> None:
        self._file, self._channels, self._folder = file, channels, folder
        self.rows = 0

    def _column_bytes(self) -> int:
        return self._channels * self.rows * 4

    def write(self, col: int, sums: torch.Tensor) -> None:
        """Store ``sums`` (channels, rows, w) as columns ``col`` .. ``col + w``."""
        data = sums.permute(2, 0, 1).contiguous().numpy()
        if os.pwrite(self._file.fileno(), data, col * self._column_bytes()) != data.nbytes:
            raise OSError(f"cannot write the prediction's scratch file in {self._folder}: is the disk full?")

    def read(self, col: int, width: int) -> torch.Tensor:
        """Columns ``col`` .. ``col + width`` as (channels, rows, width)."""
        data = np.empty((width, self._channels, self.rows), np.float32)
        if os.preadv(self._file.fileno(), [data], col * self._column_bytes()) != data.nbytes:
            raise OSError(f"the prediction's scratch file in {self._folder} was cut short")
        return torch.from_numpy(data).permute(1, 2, 0)


@dataclass(frozen=True)
class _OutputPaths:
    """Where one prediction writes: the label GeoTIFF and, if asked, the confidence GeoTIFF, the
    colour preview and the vector regions."""

    labels: Path
    confidence: Path | None
    preview: Path | None
    vector: Path | None

    @classmethod
    def of(cls, labels: str | os.PathLike, *extras: str | os.PathLike | None) -> _OutputPaths:
        return cls(Path(labels), *(None if path is None else Path(path) for path in extras))

    @property
    def all(self) -> list[Path]:
        """The labels' path, then those of the outputs asked for."""
        return [
            self.labels,
            *(path for path in (self.confidence, self.preview, self.vector) if path is not None),
        ]


def _check_request(
    model: nn.Module,
    source: Path,
    outputs: _OutputPaths,
    *,
    tile: int,
    overlap: int,
    batch_size: int,
    simplify: float,
    overwrite: bool,
) -> None:
    """Refuse, before any work, options, output paths or a model that cannot work; then remove
    the temporaries killed predictions left beside the outputs."""
    if tile < 32 or not 0 <= overlap <= tile // 2 or batch_size < 1:
        raise PredictionError(
            f"need tile >= 32, 0 <= overlap <= tile / 2 and batch >= 1, got tile={tile}, "
            f"overlap={overlap}, batch={batch_size}"
        )
    for path in (outputs.labels, outputs.confidence or outputs.labels):
        if path.suffix.lower() not in (".tif", ".tiff"):
            raise PredictionError(f"label and confidence outputs are GeoTIFFs: give a .tif path, not {path}")
    if outputs.preview is not None and outputs.preview.suffix.lower() != ".png":
        raise PredictionError(f"the preview is a PNG: give a .png path, got {outputs.preview}")
    if outputs.vector is not None and outputs.vector.suffix.lower() != ".gpkg":
        raise PredictionError(f"the vector output is a GeoPackage: give a .gpkg path, got {outputs.vector}")
    if simplify < 0:
        raise PredictionError(f"--simplify is a tolerance in pixels, >= 0 (0: pixel edges), got {simplify}")
    if model.training:
        raise PredictionError("prediction needs the model in eval mode: call model.eval() first")
    check_outputs(outputs.all, [source], overwrite)
    for path in outputs.all:
        for stale in clean_temporaries(path.parent, glob.escape(path.name)):
            logger.warning("removed %s, the temporary output of an interrupted prediction", stale)


@dataclass(frozen=True)
class _Scene:
    """The input raster and how its pixels become the model's 8-bit RGB: which bands, the
    raster-wide 16-bit stretch (``None`` for 8-bit input) and the fill value."""

    path: Path
    info: RasterInfo
    rgb_bands: Sequence[int]
    limits: np.ndarray | None
    fill_value: float | None


def _open_scene(path: Path, rgb_bands: Sequence[int], nodata: float | None, zero_is_fill: bool) -> _Scene:
    info = _input_info(path, rgb_bands)
    fill_value = nodata if nodata is not None else (0.0 if zero_is_fill else None)
    return _Scene(path, info, rgb_bands, _stretch(path, info, rgb_bands, fill_value), fill_value)


def _band_tiles(
    scene: _Scene, first: Window, cols: Sequence[int]
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Pixels and validity of the windows of one tile row (``first`` at each of ``cols``): read
    window by window from a GeoTIFF (random access to its tiles); PNG and JPEG decode from the
    top, so their tile row is read once and cut (3 bytes per pixel of its width in memory)."""
    bands, limits, fill_value = scene.rgb_bands, scene.limits, scene.fill_value
    if DRIVERS_BY_SUFFIX[scene.path.suffix.lower()] == "GTiff":
        for col in cols:
            window = Window(first.row, col, first.height, first.width)
            yield read_uint8(scene.path, scene.info, window, bands, limits, fill_value)
        return
    band = Window(first.row, 0, first.height, scene.info.width)
    pixels, valid = read_uint8(scene.path, scene.info, band, bands, limits, fill_value)
    for col in cols:
        cut = slice(col, col + first.width)
        yield pixels[:, cut], None if valid is None else valid[:, cut]


@dataclass(frozen=True)
class _TileGrid:
    """The overlapping windows over the raster (:func:`urur.dataset.tiling.patch_grid`): their
    rows of windows top to bottom, each left to right, all windows of one size."""

    windows: list[Window]
    band_rows: list[int]
    cols: list[int]
    tile_height: int
    tile_width: int

    @classmethod
    def over(cls, info: RasterInfo, tile: int, overlap: int) -> _TileGrid:
        windows = patch_grid(info.height, info.width, patch_size=tile, overlap=overlap)
        band_rows, cols = sorted({w.row for w in windows}), sorted({w.col for w in windows})
        return cls(windows, band_rows, cols, windows[0].height, windows[0].width)


@dataclass(frozen=True)
class _Blend:
    """The summed weighted logits and summed weights of the columns not yet final: one window's
    worth, whatever the raster's size (the memory bound); ``weight``: one window's weights."""

    weight: torch.Tensor
    summed: torch.Tensor
    summed_weight: torch.Tensor

    @classmethod
    def zeros(cls, classes: int, grid: _TileGrid, overlap: int) -> _Blend:
        height, width = grid.tile_height, grid.tile_width
        weight = blend_weights(height, width, overlap)
        return cls(weight, torch.zeros(classes, height, width), torch.zeros(height, width))

    def add(self, logits: torch.Tensor) -> None:
        """Add one window's logits, weighted, and its weights."""
        self.summed.addcmul_(logits, self.weight)
        self.summed_weight.add_(self.weight)

    def shift_columns(self, by: int) -> None:
        """Drop the first ``by`` (final) columns of the window's sums; the rest move to the front."""
        keep = self.summed.shape[2] - by
        if by >= keep:  # source and destination apart: copy in place
            self.summed[:, :, :keep] = self.summed[:, :, by:]
            self.summed_weight[:, :keep] = self.summed_weight[:, by:]
            return
        for start in range(0, self.summed.shape[1], GEOTIFF_BLOCK_SIZE):  # bounded temporaries
            rows = slice(start, start + GEOTIFF_BLOCK_SIZE)
            self.summed[:, rows, :keep] = self.summed[:, rows, by:].clone()
            self.summed_weight[rows, :keep] = self.summed_weight[rows, by:].clone()

    def start_columns(self, at: int, col: int, carry: _CarryFile | None) -> None:
        """Columns ``at``.. of the window's sums (raster columns ``col``..) start from what the row of
        windows above handed down (its ``carry``) and from zero below that."""
        self.summed[:, :, at:] = 0
        self.summed_weight[:, at:] = 0
        if carry is not None:
            handed = carry.read(col, self.summed.shape[2] - at)
            self.summed[:, : carry.rows, at:] = handed[:-1]
            self.summed_weight[: carry.rows, at:] = handed[-1]


@dataclass(frozen=True)
class _Preview:
    """The labels of every ``step``-th row and column of the raster (counted from 0), its longer
    side at most :data:`PREVIEW_SIDE`."""

    labels: np.ndarray
    step: int

    @classmethod
    def blank(cls, height: int, width: int) -> _Preview:
        step = max(1, math.ceil(max(height, width) / PREVIEW_SIDE))
        return cls(np.zeros((-(-height // step), -(-width // step)), np.uint8), step)

    def sample(self, window: Window, labels: np.ndarray) -> None:
        """The pixels of the final ``labels`` of ``window`` that the preview shows."""
        first_row, first_col = -window.row % self.step, -window.col % self.step
        sampled = labels[first_row :: self.step, first_col :: self.step]
        top, left = (window.row + first_row) // self.step, (window.col + first_col) // self.step
        self.labels[top : top + sampled.shape[0], left : left + sampled.shape[1]] = sampled


@dataclass(frozen=True)
class _Network:
    """The model as the tile loop runs it: channels-last (oneDNN's native layout), compiled if
    asked, under bfloat16 autocast if asked; ``meta``: its checkpoint's, for normalisation."""

    module: nn.Module
    meta: Mapping[str, object]
    num_classes: int
    device: torch.device
    autocast: AbstractContextManager[object]

    @classmethod
    def prepare(
        cls,
        model: nn.Module,
        meta: Mapping[str, object],
        num_classes: int,
        device: torch.device,
        *,
        bf16: bool,
        compile: bool,
    ) -> _Network:
        autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
        module = model.to(memory_format=torch.channels_last)
        if compile:
            module = torch.compile(module)
        return cls(module, meta, num_classes, device, autocast)

    def logits(self, tiles: Sequence[np.ndarray]) -> torch.Tensor:
        """Float32 logits (B, classes, H, W) on the CPU of a batch of (H, W, 3) uint8 tiles."""
        # (B, H, W, 3) uint8 is the channels-last layout: the element-wise conversion and
        # normalisation keep it, so no copy rearranges the batch for the model.
        pixels = torch.from_numpy(np.stack(tiles))
        crops = normalize(
            pixels.to(self.device).permute(0, 3, 1, 2).float(), self.meta["mean"], self.meta["std"]
        )
        with torch.inference_mode(), self.autocast, inductor_config.patch(freezing=True):
            logits = self.module(crops.contiguous(memory_format=torch.channels_last))
        if logits.shape[1] != self.num_classes:
            raise PredictionError(
                f"the model returned {logits.shape[1]} classes but its checkpoint says {self.num_classes}"
            )
        return logits.float().cpu()


@dataclass(frozen=True)
class _Tiling:
    """What the steps of one prediction share: the input, the tile grid, the model, the blended
    sums, the preview (if asked) and the batch size."""

    scene: _Scene
    grid: _TileGrid
    network: _Network
    blend: _Blend
    preview: _Preview | None
    batch_size: int


@dataclass(frozen=True)
class _BandRow:
    """One row of windows: its first raster row, how many of its rows are final once it is done
    (``done``: those above the next row of windows), the carry it starts from and the one it
    hands the rest of its rows down in."""

    row: int
    done: int
    carry_in: _CarryFile | None
    carry_out: _CarryFile | None


def _finish_rows(
    logits: torch.Tensor, weights: torch.Tensor, valid: np.ndarray | None, with_confidence: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels (uint8, fill = 255) and optionally the softmax maximum (float32) of summed
    ``logits`` (K, h, W) and summed ``weights`` (h, W); argmax needs no division (weights > 0)."""
    # max's indices are argmax's (the first maximum), ~8x faster on these strided views.
    labels = logits.max(dim=0).indices.to(torch.uint8).numpy()
    confidence = None
    if with_confidence:
        blended = logits / weights
        # max softmax = 1 / sum(exp(l - max l))
        top = blended.max(dim=0, keepdim=True).values
        confidence = (1.0 / (blended - top).exp_().sum(dim=0)).numpy()
    if valid is not None:
        labels[~valid] = IGNORE_INDEX
        if confidence is not None:
            confidence[~valid] = CONFIDENCE_NODATA
    return labels, confidence


@dataclass(frozen=True)
class _Writers:
    """Where final pixels go: the label raster, the confidence raster and the preview (each if asked)."""

    labels: RasterBlockWriter
    confidence: RasterBlockWriter | None
    preview: _Preview | None

    def write_final(
        self, blend: _Blend, band: _BandRow, col: int, final: int, valid: np.ndarray | None
    ) -> None:
        """The first ``final`` columns of the sums (raster columns ``col``..), their ``band.done``
        final rows, in blocks of rows (bounded temporaries)."""
        for start in range(0, band.done, GEOTIFF_BLOCK_SIZE):
            rows = slice(start, min(band.done, start + GEOTIFF_BLOCK_SIZE))
            labels, conf = _finish_rows(
                blend.summed[:, rows, :final],
                blend.summed_weight[rows, :final],
                None if valid is None else valid[rows, :final],
                self.confidence is not None,
            )
            finished = Window(band.row + start, col, labels.shape[0], final)
            self.labels.write(finished, labels)
            if self.confidence is not None:
                self.confidence.write(finished, conf)
            if self.preview is not None:
                self.preview.sample(finished, labels)


@contextmanager
def _kept_if_exists() -> Iterator[None]:
    """An output that another run published while this one predicted is kept: say so."""
    try:
        yield
    except FileExistsError as error:
        raise PredictionError(
            f"output {error.filename} appeared while this run was predicting (another run wrote it?); "
            "it is kept: pass --overwrite to replace it, or choose another output"
        ) from error


def _predict_into(
    tiling: _Tiling,
    outputs: _OutputPaths,
    class_names: Sequence[str],
    palette: np.ndarray,
    *,
    overwrite: bool,
    progress: bool,
) -> None:
    """Predict every window into the outputs, each published (renamed into place) once complete."""
    info = tiling.scene.info
    # Without overwrite an output is published only if no other run did meanwhile.
    georef = {"crs": info.crs, "transform": info.transform, "replace": overwrite}
    with _kept_if_exists(), ExitStack() as stack:
        labels_out = stack.enter_context(
            label_raster_writer(
                outputs.labels, info.height, info.width, class_names=class_names, palette=palette, **georef
            )
        )
        confidence_out = (
            stack.enter_context(
                raster_block_writer(
                    outputs.confidence,
                    info.height,
                    info.width,
                    dtype="float32",
                    **georef,
                    nodata=CONFIDENCE_NODATA,
                    half_float=True,
                )
            )
            if outputs.confidence is not None
            else None
        )
        folder = outputs.labels.parent
        channels = tiling.network.num_classes + 1  # the summed logits and the summed weight
        carries = [
            _CarryFile(stack.enter_context(tempfile.TemporaryFile(dir=folder)), channels, folder)
            for _ in tiling.grid.band_rows[:2]
        ]
        bar = stack.enter_context(
            tqdm(
                total=len(tiling.grid.windows),
                desc=f"predict {tiling.scene.path.name}",
                unit="tile",
                disable=not progress,
            )
        )
        _predict_windows(tiling, _Writers(labels_out, confidence_out, tiling.preview), carries, bar)
        if tiling.preview is not None:
            write_label_preview(
                outputs.preview,
                tiling.preview.labels,
                class_names=class_names,
                palette=palette,
                replace=overwrite,
            )


def _predict_windows(tiling: _Tiling, writers: _Writers, carries: list[_CarryFile], bar: tqdm) -> None:
    """Every row of windows, top to bottom; each hands the sums of the rows the next one also
    covers down in one of two alternating ``carries``."""
    band_rows, tile_height = tiling.grid.band_rows, tiling.grid.tile_height
    for index, row in enumerate(band_rows):
        last_band = index + 1 == len(band_rows)
        done = (row + tile_height if last_band else band_rows[index + 1]) - row
        carry_in = carries[(index - 1) % 2] if index else None
        carry_out = None if last_band else carries[index % 2]
        if carry_out is not None:
            carry_out.rows = tile_height - done
        _predict_band_row(tiling, writers, _BandRow(row, done, carry_in, carry_out), bar)


def _predict_band_row(tiling: _Tiling, writers: _Writers, band: _BandRow, bar: tqdm) -> None:
    """The windows of one row, left to right, ``batch_size`` at a time through the model."""
    grid = tiling.grid
    tiling.blend.start_columns(0, 0, band.carry_in)
    tiles = _band_tiles(tiling.scene, Window(band.row, 0, grid.tile_height, grid.tile_width), grid.cols)
    for group in _batches(range(len(grid.cols)), tiling.batch_size):
        read = [next(tiles) for _ in group]
        logits = tiling.network.logits([tile_pixels for tile_pixels, _ in read])
        for position, tile_logits, (_, valid) in zip(group, logits, read, strict=True):
            _blend_window(tiling, writers, band, position, tile_logits, valid)
        bar.update(len(group))


def _blend_window(
    tiling: _Tiling,
    writers: _Writers,
    band: _BandRow,
    position: int,
    logits: torch.Tensor,
    valid: np.ndarray | None,
) -> None:
    """Add the logits of the window at ``position`` in its row; write the columns now final, hand
    their rows below ``band.done`` down, and make room for the next window's columns."""
    cols, tile_width, blend = tiling.grid.cols, tiling.grid.tile_width, tiling.blend
    col = cols[position]
    blend.add(logits)
    # Columns no later window of this row covers: final above the next row's windows.
    final = (cols[position + 1] if position + 1 < len(cols) else tiling.scene.info.width) - col
    writers.write_final(blend, band, col, final, valid)
    if band.carry_out is not None:
        done = band.done
        band.carry_out.write(
            col, torch.cat([blend.summed[:, done:, :final], blend.summed_weight[None, done:, :final]])
        )
    if position + 1 < len(cols):
        blend.shift_columns(final)
        blend.start_columns(tile_width - final, col + tile_width, band.carry_in)


def _write_vector(
    outputs: _OutputPaths, class_names: Sequence[str], simplify: float, overwrite: bool
) -> None:
    """The published label raster's regions as polygons, read back strip by strip."""
    started = time.perf_counter()
    with _kept_if_exists():
        features = vectorize_labels(
            outputs.labels, outputs.vector, class_names=class_names, simplify=simplify, replace=overwrite
        )
    logger.info("wrote %d polygons to %s in %.1f s", features, outputs.vector, time.perf_counter() - started)


def predict_raster(
    model: nn.Module,
    meta: Mapping[str, object],
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    batch_size: int = 1,
    device: str | torch.device = "cpu",
    bf16: bool = False,
    compile: bool = False,
    confidence: str | os.PathLike | None = None,
    preview: str | os.PathLike | None = None,
    vector: str | os.PathLike | None = None,
    simplify: float = DEFAULT_SIMPLIFY,
    overwrite: bool = False,
    rgb_bands: Sequence[int] = (1, 2, 3),
    nodata: float | None = None,
    zero_is_fill: bool = False,
    progress: bool = True,
) -> PredictionResult:
    """Predict ``source`` with ``model`` (eval mode; ``meta``: the checkpoint's, for classes and
    normalisation) into the label GeoTIFF ``output``; see the module docstring.

    ``confidence``: a half-float GeoTIFF of each pixel's blended softmax maximum (0 = fill);
    ``preview``: a PNG coloured with the class palette, its longer side at most
    :data:`PREVIEW_SIDE`, with a legend; ``vector``: a GeoPackage of the label raster's regions
    as polygons, simplified by ``simplify`` pixels (:func:`urur.io.vectorize.vectorize_labels`,
    read back from ``output`` strip by strip once it is written). ``bf16``: autocast the model to
    bfloat16 (blending stays float32).
    The model runs in the channels-last layout (oneDNN's native one: no layout conversion around
    every convolution; the same logits up to float rounding). ``compile``: ``torch.compile`` with
    inductor's freezing (batch norms folded, weights pre-packed, element-wise work fused): about
    1.4x faster on the CPU, after a compilation of a minute or two, worth it for large rasters.
    Every output is written under a temporary name and renamed when complete; without
    ``overwrite``, one that appeared meanwhile (another run's) is kept and this run fails.
    Temporaries that killed predictions left beside the outputs are removed first.
    """
    source, outputs = Path(source), _OutputPaths.of(output, confidence, preview, vector)
    _check_request(
        model,
        source,
        outputs,
        tile=tile,
        overlap=overlap,
        batch_size=batch_size,
        simplify=simplify,
        overwrite=overwrite,
    )
    scene = _open_scene(source, rgb_bands, nodata, zero_is_fill)
    num_classes = int(meta["num_classes"])
    class_names = list(meta["class_names"])
    palette = palette_for(class_names)
    height, width = scene.info.height, scene.info.width
    grid = _TileGrid.over(scene.info, tile, overlap)
    blend = _Blend.zeros(num_classes, grid, overlap)
    preview_pixels = _Preview.blank(height, width) if outputs.preview is not None else None
    network = _Network.prepare(model, meta, num_classes, torch.device(device), bf16=bf16, compile=compile)
    tiling = _Tiling(scene, grid, network, blend, preview_pixels, batch_size)
    started = time.perf_counter()
    _predict_into(tiling, outputs, class_names, palette, overwrite=overwrite, progress=progress)
    seconds = time.perf_counter() - started
    tiles = len(grid.windows)
    logger.info(
        "predicted %s (%dx%d, %d tiles) -> %s in %.1f s",
        source,
        height,
        width,
        tiles,
        outputs.labels,
        seconds,
    )
    if outputs.vector is not None:  # from the published label raster, strip by strip
        _write_vector(outputs, class_names, simplify, overwrite)
    return PredictionResult(
        outputs.labels, outputs.confidence, outputs.preview, outputs.vector, height, width, tiles, seconds
    )


def predict_folder(
    model: nn.Module,
    meta: Mapping[str, object],
    input_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    confidence: bool = False,
    preview: bool = False,
    **options: object,
) -> list[PredictionResult]:
    """:func:`predict_raster` of every GeoTIFF, PNG and JPEG in ``input_dir`` (sorted) into
    ``out_dir/<stem>.tif`` (and ``<stem>_confidence.tif``, ``<stem>_preview.png``)."""
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    sources = sorted(p for p in input_dir.iterdir() if p.is_file() and p.suffix.lower() in DRIVERS_BY_SUFFIX)
    if not sources:
        raise PredictionError(
            f"no images to predict in {input_dir}; put GeoTIFF, PNG or JPEG files "
            f"({', '.join(sorted(DRIVERS_BY_SUFFIX))}) there"
        )
    stems = [p.stem for p in sources]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise PredictionError(
            f"{input_dir} holds several images named {', '.join(clashes)} (other suffixes): their "
            "predictions would share a name; rename them"
        )
    return [
        predict_raster(
            model,
            meta,
            source,
            out_dir / f"{source.stem}.tif",
            confidence=out_dir / f"{source.stem}_confidence.tif" if confidence else None,
            preview=out_dir / f"{source.stem}_preview.png" if preview else None,
            **options,
        )
        for source in sources
    ]
