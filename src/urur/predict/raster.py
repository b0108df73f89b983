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
from contextlib import ExitStack, contextmanager, nullcontext
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
from urur.devices import resolve_device
from urur.errors import UrurError
from urur.io.atomic import clean_temporaries
from urur.io.imagery import read_uint8, stretch_limits, stretch_sample
from urur.io.label_raster import label_raster_writer, write_label_preview
from urur.io.raster import (
    DRIVERS_BY_SUFFIX,
    GEOTIFF_BLOCK_SIZE,
    RasterInfo,
    RasterReadError,
    raster_block_writer,
)
from urur.io.vectorize import DEFAULT_SIMPLIFY, vectorize_labels
from urur.io.windows import Window
from urur.preprocessing import normalize
from urur.training.checkpoint import build_model_from_checkpoint

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
        checkpoint = summary.get("best_checkpoint") or summary["last_checkpoint"]
    except (ValueError, KeyError, AttributeError) as error:
        raise PredictionError(
            f"cannot read the checkpoint from {summary_path}: {error!r}. Re-run training "
            f"({TRAIN_COMMAND}) or pass a checkpoint (--checkpoint PATH)"
        ) from error
    return project_dir / checkpoint


def load_predictor(
    checkpoint: str | os.PathLike,
    device: str | torch.device = "cpu",
    *,
    model: str | None = None,
    num_classes: int | None = None,
) -> tuple[nn.Module, dict]:
    """The checkpoint's model in eval mode on ``device`` and its ``meta``; ``model`` and
    ``num_classes`` are optional expectations (a checkpoint of another model is refused)."""
    return build_model_from_checkpoint(checkpoint, device, model=model, num_classes=num_classes)


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


def _band_tiles(
    source: Path,
    info: RasterInfo,
    first: Window,
    cols: Sequence[int],
    rgb_bands: Sequence[int],
    limits: np.ndarray | None,
    fill_value: float | None,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Pixels and validity of the windows of one tile row (``first`` at each of ``cols``): read
    window by window from a GeoTIFF (random access to its tiles); PNG and JPEG decode from the
    top, so their tile row is read once and cut (3 bytes per pixel of its width in memory)."""
    if DRIVERS_BY_SUFFIX[source.suffix.lower()] == "GTiff":
        for col in cols:
            window = Window(first.row, col, first.height, first.width)
            yield read_uint8(source, info, window, rgb_bands, limits, fill_value)
        return
    band = Window(first.row, 0, first.height, info.width)
    pixels, valid = read_uint8(source, info, band, rgb_bands, limits, fill_value)
    for col in cols:
        cut = slice(col, col + first.width)
        yield pixels[:, cut], None if valid is None else valid[:, cut]


def _shift_columns(summed: torch.Tensor, summed_weight: torch.Tensor, by: int) -> None:
    """Drop the first ``by`` (final) columns of the window's sums; the rest move to the front."""
    keep = summed.shape[2] - by
    if by >= keep:  # source and destination apart: copy in place
        summed[:, :, :keep] = summed[:, :, by:]
        summed_weight[:, :keep] = summed_weight[:, by:]
        return
    for start in range(0, summed.shape[1], GEOTIFF_BLOCK_SIZE):  # bounded temporaries
        rows = slice(start, start + GEOTIFF_BLOCK_SIZE)
        summed[:, rows, :keep] = summed[:, rows, by:].clone()
        summed_weight[rows, :keep] = summed_weight[rows, by:].clone()


def _start_columns(
    summed: torch.Tensor, summed_weight: torch.Tensor, at: int, col: int, carry: _CarryFile | None
) -> None:
    """Columns ``at``.. of the window's sums (raster columns ``col``..) start from what the row of
    windows above handed down (its ``carry``) and from zero below that."""
    summed[:, :, at:] = 0
    summed_weight[:, at:] = 0
    if carry is not None:
        handed = carry.read(col, summed.shape[2] - at)
        summed[:, : carry.rows, at:] = handed[:-1]
        summed_weight[: carry.rows, at:] = handed[-1]


def _sample_preview(preview: np.ndarray, window: Window, labels: np.ndarray, step: int) -> None:
    """Every ``step``-th row and column of the raster (counted from 0) into the preview."""
    first_row, first_col = -window.row % step, -window.col % step
    sampled = labels[first_row::step, first_col::step]
    top, left = (window.row + first_row) // step, (window.col + first_col) // step
    preview[top : top + sampled.shape[0], left : left + sampled.shape[1]] = sampled


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
    source, output = Path(source), Path(output)
    extra = {"confidence": confidence, "preview": preview, "vector": vector}
    extra = {key: Path(path) for key, path in extra.items() if path is not None}
    if tile < 32 or not 0 <= overlap <= tile // 2 or batch_size < 1:
        raise PredictionError(
            f"need tile >= 32, 0 <= overlap <= tile / 2 and batch >= 1, got tile={tile}, "
            f"overlap={overlap}, batch={batch_size}"
        )
    for path in (output, extra.get("confidence", output)):
        if path.suffix.lower() not in (".tif", ".tiff"):
            raise PredictionError(f"label and confidence outputs are GeoTIFFs: give a .tif path, not {path}")
    if "preview" in extra and extra["preview"].suffix.lower() != ".png":
        raise PredictionError(f"the preview is a PNG: give a .png path, got {extra['preview']}")
    if "vector" in extra and extra["vector"].suffix.lower() != ".gpkg":
        raise PredictionError(f"the vector output is a GeoPackage: give a .gpkg path, got {extra['vector']}")
    if simplify < 0:
        raise PredictionError(f"--simplify is a tolerance in pixels, >= 0 (0: pixel edges), got {simplify}")
    if model.training:
        raise PredictionError("prediction needs the model in eval mode: call model.eval() first")
    check_outputs([output, *extra.values()], [source], overwrite)
    for path in (output, *extra.values()):
        for stale in clean_temporaries(path.parent, glob.escape(path.name)):
            logger.warning("removed %s, the temporary output of an interrupted prediction", stale)
    info = _input_info(source, rgb_bands)
    fill_value = nodata if nodata is not None else (0.0 if zero_is_fill else None)
    limits = _stretch(source, info, rgb_bands, fill_value)
    num_classes = int(meta["num_classes"])
    class_names = list(meta["class_names"])
    palette = palette_for(class_names)
    device = torch.device(device)
    height, width = info.height, info.width
    windows = patch_grid(height, width, patch_size=tile, overlap=overlap)
    band_rows, cols = sorted({w.row for w in windows}), sorted({w.col for w in windows})
    tile_height, tile_width = windows[0].height, windows[0].width
    weight = blend_weights(tile_height, tile_width, overlap)
    # The summed logits and weights of the columns not yet final: one window's worth.
    summed = torch.zeros(num_classes, tile_height, tile_width)
    summed_weight = torch.zeros(tile_height, tile_width)
    step = max(1, math.ceil(max(height, width) / PREVIEW_SIDE))
    preview = np.zeros((-(-height // step), -(-width // step)), np.uint8) if "preview" in extra else None
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    network = model.to(memory_format=torch.channels_last)
    if compile:
        network = torch.compile(network)
    started = time.perf_counter()
    # Without overwrite an output is published only if no other run did meanwhile.
    georef = {"crs": info.crs, "transform": info.transform, "replace": overwrite}
    with _kept_if_exists(), ExitStack() as stack:
        labels_out = stack.enter_context(
            label_raster_writer(output, height, width, class_names=class_names, palette=palette, **georef)
        )
        confidence_out = (
            stack.enter_context(
                raster_block_writer(
                    extra["confidence"],
                    height,
                    width,
                    dtype="float32",
                    **georef,
                    nodata=CONFIDENCE_NODATA,
                    half_float=True,
                )
            )
            if "confidence" in extra
            else None
        )
        carries = [
            _CarryFile(
                stack.enter_context(tempfile.TemporaryFile(dir=output.parent)), num_classes + 1, output.parent
            )
            for _ in band_rows[:2]
        ]
        bar = stack.enter_context(
            tqdm(total=len(windows), desc=f"predict {source.name}", unit="tile", disable=not progress)
        )
        for index, row in enumerate(band_rows):
            last_band = index + 1 == len(band_rows)
            done = (row + tile_height if last_band else band_rows[index + 1]) - row
            carry_in = carries[(index - 1) % 2] if index else None
            carry_out = None if last_band else carries[index % 2]
            if carry_out is not None:
                carry_out.rows = tile_height - done
            _start_columns(summed, summed_weight, 0, 0, carry_in)
            tiles = _band_tiles(
                source, info, Window(row, 0, tile_height, tile_width), cols, rgb_bands, limits, fill_value
            )
            for group in _batches(range(len(cols)), batch_size):
                read = [next(tiles) for _ in group]
                # (B, H, W, 3) uint8 is the channels-last layout: the element-wise conversion and
                # normalisation keep it, so no copy rearranges the batch for the model.
                pixels = torch.from_numpy(np.stack([tile_pixels for tile_pixels, _ in read]))
                crops = normalize(pixels.to(device).permute(0, 3, 1, 2).float(), meta["mean"], meta["std"])
                with torch.inference_mode(), autocast, inductor_config.patch(freezing=True):
                    logits = network(crops.contiguous(memory_format=torch.channels_last))
                if logits.shape[1] != num_classes:
                    raise PredictionError(
                        f"the model returned {logits.shape[1]} classes but its checkpoint says {num_classes}"
                    )
                for position, tile_logits, (_, valid) in zip(group, logits.float().cpu(), read, strict=True):
                    col = cols[position]
                    summed.addcmul_(tile_logits, weight)
                    summed_weight += weight
                    # Columns no later window of this row covers: final above the next row's windows.
                    final = (cols[position + 1] if position + 1 < len(cols) else width) - col
                    for start in range(0, done, GEOTIFF_BLOCK_SIZE):  # bounded temporaries
                        rows = slice(start, min(done, start + GEOTIFF_BLOCK_SIZE))
                        labels, conf = _finish_rows(
                            summed[:, rows, :final],
                            summed_weight[rows, :final],
                            None if valid is None else valid[rows, :final],
                            confidence_out is not None,
                        )
                        finished = Window(row + start, col, labels.shape[0], final)
                        labels_out.write(finished, labels)
                        if confidence_out is not None:
                            confidence_out.write(finished, conf)
                        if preview is not None:
                            _sample_preview(preview, finished, labels, step)
                    if carry_out is not None:
                        carry_out.write(
                            col, torch.cat([summed[:, done:, :final], summed_weight[None, done:, :final]])
                        )
                    if position + 1 < len(cols):
                        _shift_columns(summed, summed_weight, final)
                        _start_columns(summed, summed_weight, tile_width - final, col + tile_width, carry_in)
                bar.update(len(group))
        if preview is not None:
            write_label_preview(
                extra["preview"], preview, class_names=class_names, palette=palette, replace=overwrite
            )
    seconds = time.perf_counter() - started
    logger.info(
        "predicted %s (%dx%d, %d tiles) -> %s in %.1f s", source, height, width, len(windows), output, seconds
    )
    if "vector" in extra:  # from the published label raster, strip by strip
        started = time.perf_counter()
        with _kept_if_exists():
            features = vectorize_labels(
                output, extra["vector"], class_names=class_names, simplify=simplify, replace=overwrite
            )
        logger.info(
            "wrote %d polygons to %s in %.1f s", features, extra["vector"], time.perf_counter() - started
        )
    return PredictionResult(
        output,
        extra.get("confidence"),
        extra.get("preview"),
        extra.get("vector"),
        height,
        width,
        len(windows),
        seconds,
    )


def predict_file(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    checkpoint: str | os.PathLike | None = None,
    onnx: str | os.PathLike | None = None,
    device: str = "auto",
    **options: object,
) -> PredictionResult:
    """:func:`predict_raster` with the model of ``checkpoint`` (default: :func:`default_checkpoint`),
    or with the graph ``urur export-onnx`` wrote at ``onnx``, run by onnxruntime on the CPU."""
    if onnx is not None:
        given = {"checkpoint": checkpoint, "device": device not in ("auto", "cpu"), **options}
        torch_only = [f"--{name}" for name in ("checkpoint", "device", "bf16", "compile") if given.get(name)]
        if torch_only:
            raise PredictionError(
                f"--onnx runs the exported graph with onnxruntime on the CPU: drop {', '.join(torch_only)} "
                "(for the torch model only)"
            )
        from urur.predict.onnx import load_onnx_predictor  # onnxruntime only where it is used

        model, meta = load_onnx_predictor(onnx)
        return predict_raster(model, meta, source, output, **options)
    resolved = resolve_device(device, "--device")
    model, meta = load_predictor(checkpoint if checkpoint is not None else default_checkpoint(), resolved)
    return predict_raster(model, meta, source, output, device=resolved, **options)


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
