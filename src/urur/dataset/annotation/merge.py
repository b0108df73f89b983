"""Annotated patches -> full-size masks, with a QA row per image.

Annotators label the overlapping patches cut by :func:`urur.dataset.tiling.tile_image`; their exports
(read by :mod:`urur.dataset.annotation.formats`) are merged back with
:func:`urur.dataset.tiling.merge_patches` (deepest-interior rule in overlaps). Pixels that are
fill (nodata) in the image become 255 whatever the annotators drew. Patches missing from the
export may come from a pre-label raster instead (``on_missing="prelabel"``, e.g. a model's
prediction or the pre-labelling round's ``prelabels/<image_id>.tif``).

Merged masks are single-band uint8 tiled GeoTIFFs at :func:`urur.io.layout.mask_path` with the
image's CRS and transform, the URUR colour table and nodata 255, so a GIS overlays them on
the images and training reads random windows of them.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from urur.classes import IGNORE_INDEX, URUR_CLASSES
from urur.dataset.annotation.formats import (
    AnnotationError,
    AnnotationFormat,
    InvalidPatch,
    LoadedPatch,
    check_values,
    load_patches,
    problem_report,
)
from urur.dataset.tiling import crop, merge_patches, patch_grid
from urur.io.label_raster import write_label_raster
from urur.io.layout import image_path, mask_path
from urur.io.raster import read_raster, read_valid
from urur.parallel import map_items

OnMissing = Literal["error", "prelabel"]


def _read_prelabel(path: Path, height: int, width: int, num_classes: int) -> np.ndarray:
    labels = read_raster(path)
    if labels.ndim != 2:
        raise AnnotationError(
            f"pre-label {path} has {labels.shape[2]} bands; a pre-label is one band of class values"
        )
    if labels.shape != (height, width):
        raise AnnotationError(
            f"pre-label {path} is {labels.shape[0]}x{labels.shape[1]} but its image is {height}x{width}; "
            "regenerate the pre-label for this image"
        )
    try:
        return check_values(labels, num_classes)
    except InvalidPatch as error:
        raise AnnotationError(f"pre-label {path} has {error}; regenerate it") from None


def _overlap_agreement(patches: list[LoadedPatch]) -> dict[str, object]:
    """Agreement of neighbouring annotated patches where their windows overlap."""
    same_total = overlap_total = 0
    worst = (np.inf, "", "")
    for k, a in enumerate(patches):
        for b in patches[k + 1 :]:
            top, left = max(a.window.row, b.window.row), max(a.window.col, b.window.col)
            bottom = min(a.window.row + a.window.height, b.window.row + b.window.height)
            right = min(a.window.col + a.window.width, b.window.col + b.window.width)
            if bottom <= top or right <= left:
                continue
            in_a = a.labels[
                top - a.window.row : bottom - a.window.row, left - a.window.col : right - a.window.col
            ]
            in_b = b.labels[
                top - b.window.row : bottom - b.window.row, left - b.window.col : right - b.window.col
            ]
            same = int(np.count_nonzero(in_a == in_b))
            same_total += same
            overlap_total += in_a.size
            if same / in_a.size < worst[0]:
                worst = (same / in_a.size, a.patch_id, b.patch_id)
    return {
        "overlap_pixels": overlap_total,
        "overlap_agreement": same_total / overlap_total if overlap_total else float("nan"),
        "min_pair_agreement": float(worst[0]) if overlap_total else float("nan"),
        "worst_pair_a": worst[1],
        "worst_pair_b": worst[2],
    }


def _fill_from_prelabel(
    image_id: str,
    bad: list[LoadedPatch],
    prelabel_path: str | os.PathLike | None,
    height: int,
    width: int,
    num_classes: int,
) -> None:
    """``on_missing="prelabel"``: the missing or invalid patches' windows cut from the pre-label."""
    prelabel_file = Path(prelabel_path) if prelabel_path is not None else None
    if prelabel_file is None or not prelabel_file.is_file():
        raise AnnotationError(
            problem_report(
                image_id,
                bad,
                f"on_missing=prelabel, but there is no pre-label for this image "
                f"({prelabel_file or 'no pre-label folder given: set annotation.prelabels'}); "
                "put one there (one band of class values, the image's size, e.g. a model's "
                "prediction) or annotate these patches.",
            )
        )
    prelabel = _read_prelabel(prelabel_file, height, width, num_classes)
    for patch in bad:
        patch.labels = crop(prelabel, patch.window)


def merge_image_annotations(
    image_id: str,
    height: int,
    width: int,
    annotations_dir: str | os.PathLike,
    *,
    patch_size: int = 1000,
    overlap: int = 120,
    prelabel_path: str | os.PathLike | None = None,
    on_missing: OnMissing = "error",
    num_classes: int = 8,
    format: AnnotationFormat | None = None,
    valid: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, object]]:
    """The ``(height, width)`` uint8 mask of one image from its annotated patches, and its QA row.

    A missing patch, or an invalid one (value outside ``0..num_classes-1`` and 255, colour
    outside the palette/labelmap, size different from its window, undecodable file) is an error
    naming every such file, unless ``on_missing="prelabel"``: then their windows come from the
    pre-label raster ``prelabel_path`` (which must exist and match the image size). Where
    ``valid`` (the image's validity, ``(height, width)`` boolean) is False the mask is 255.
    QA row: patches expected/found/missing/invalid/unexpected/from_prelabel, the agreement of
    the annotated patches in their overlaps (all overlap pixels, the worst neighbour pair and
    its ids), and the mask's ``fill_pixels`` (image nodata) and ``ignore_pixels`` (all 255).
    """
    if on_missing not in ("error", "prelabel"):
        raise ValueError(f"on_missing must be 'error' or 'prelabel', got {on_missing!r}")
    annotations_dir = Path(annotations_dir)
    windows = patch_grid(height, width, patch_size, overlap)
    patches, found, source_name = load_patches(annotations_dir, image_id, windows, format, num_classes)
    annotated = [p for p in patches if p.problem is None]
    bad = [p for p in patches if p.problem is not None]
    if bad and on_missing == "error":
        raise AnnotationError(
            problem_report(
                image_id,
                bad,
                "Annotate or re-export these patches, or fill them from pre-label masks: set "
                "annotation.on_missing: prelabel and annotation.prelabels: <folder> holding "
                "<image_id>.tif or <image_id>.png (one band of class values, the image's size).",
            )
        )
    if bad:
        _fill_from_prelabel(image_id, bad, prelabel_path, height, width, num_classes)
    mask = merge_patches([p.labels for p in patches], windows, height, width)
    fill_pixels = 0
    if valid is not None:
        if valid.shape != (height, width):
            raise ValueError(f"validity of image {image_id} is {valid.shape}, expected {(height, width)}")
        fill_pixels = int(valid.size - np.count_nonzero(valid))
        mask[~valid] = IGNORE_INDEX
    expected_ids = {p.patch_id for p in patches}
    qa_row = {
        "image_id": image_id,
        "source": Path(source_name).relative_to(annotations_dir).as_posix(),
        "patches_expected": len(patches),
        "patches_found": len(expected_ids & found),
        "patches_missing": sum(p.problem == "missing" for p in patches),
        "patches_invalid": sum(p.problem not in (None, "missing") for p in patches),
        "patches_unexpected": len(found - expected_ids),
        "patches_from_prelabel": len(bad),
        **_overlap_agreement(annotated),
        "fill_pixels": fill_pixels,
        "ignore_pixels": int(np.count_nonzero(mask == IGNORE_INDEX)),
    }
    return mask, qa_row


def _prelabel_file(prelabels_dir: Path | None, image_id: str) -> Path | None:
    """The image's pre-label: ``<image_id>.tif`` (the mask layout) or else ``<image_id>.png``."""
    if prelabels_dir is None:
        return None
    tif = mask_path(prelabels_dir, image_id)
    png = prelabels_dir / f"{image_id}.png"
    return png if png.is_file() and not tif.is_file() else tif


def _georeferencing(row: dict) -> tuple[str | None, tuple[float, ...] | None]:
    """CRS and transform of a manifest row (``transform`` a JSON list), ``None`` where absent."""
    crs, transform = row.get("crs"), row.get("transform")
    crs = crs if isinstance(crs, str) and crs else None
    transform = tuple(json.loads(transform)) if isinstance(transform, str) and transform else None
    return crs, transform


def _merge_manifest_row(
    row: dict,
    annotations_dir: Path,
    out_dir: Path,
    images_dir: Path | None,
    prelabels_dir: Path | None,
    options: dict,
) -> dict[str, object]:
    image_id = row["image_id"]
    valid = None
    if images_dir is not None:
        image_file = images_dir / row["path"] if row.get("path") else image_path(images_dir, image_id)
        valid = read_valid(image_file)
    mask, qa_row = merge_image_annotations(
        image_id,
        int(row["height"]),
        int(row["width"]),
        annotations_dir,
        prelabel_path=_prelabel_file(prelabels_dir, image_id),
        valid=valid,
        **options,
    )
    crs, transform = _georeferencing(row)
    write_label_raster(
        mask_path(out_dir, image_id),
        mask,
        class_names=URUR_CLASSES[: options["num_classes"]],
        crs=crs,
        transform=transform,
    )
    return qa_row


def merge_annotations(
    image_manifest: pd.DataFrame,
    annotations_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    patch_size: int = 1000,
    overlap: int = 120,
    prelabels_dir: str | os.PathLike | None = None,
    on_missing: OnMissing = "error",
    num_classes: int = 8,
    format: AnnotationFormat | None = None,
    images_dir: str | os.PathLike | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Merge every manifest image's patches into its mask at ``mask_path(out_dir, image_id)``.

    Masks are single-band uint8 tiled GeoTIFFs (atomic) with the manifest's ``crs`` and
    ``transform``, nodata 255 and the URUR colour table. ``image_manifest`` needs ``image_id``,
    ``height`` and ``width``; with ``images_dir`` (the raster store, ``path`` column or
    :func:`urur.io.layout.image_path`) each image's fill (its mask band) becomes 255 in its mask.
    Pre-labels, used only with ``on_missing="prelabel"``, are ``prelabels_dir/<image_id>.tif``
    or ``.png``. One image per worker. Returns the QA table, one row per image (see
    :func:`merge_image_annotations`).
    """
    missing = {"image_id", "height", "width"} - set(image_manifest.columns)
    if missing:
        raise ValueError(
            f"the image manifest lacks columns {sorted(missing)}; it must list image_id, height, width"
        )
    work = functools.partial(
        _merge_manifest_row,
        annotations_dir=Path(annotations_dir),
        out_dir=Path(out_dir),
        images_dir=Path(images_dir) if images_dir is not None else None,
        prelabels_dir=Path(prelabels_dir) if prelabels_dir is not None else None,
        options={
            "patch_size": patch_size,
            "overlap": overlap,
            "on_missing": on_missing,
            "num_classes": num_classes,
            "format": format,
        },
    )
    rows = map_items(work, image_manifest.to_dict("records"), workers=workers, desc="merging annotations")
    return pd.DataFrame(rows)
