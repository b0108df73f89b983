"""Annotated patches -> full-size masks, with a QA row per image.

Annotators label the overlapping patches cut by :func:`urur.dataset.tiling.tile_image`; their exports
are merged back with :func:`urur.dataset.tiling.merge_patches` (deepest-interior rule in overlaps).

Layout of ``annotations_dir`` (one entry per image, format detected per image):

- ``<image_id>/<patch_id>.png``: a folder of PNGs. A single-channel PNG (modes ``L``, ``P``,
  ``I``...) holds class values; an RGB PNG holds URUR palette colours
  (:data:`urur.classes.URUR_PALETTE`). Pass ``format="index"`` or ``"rgb"`` to insist on one.
- ``<image_id>.zip``: a CVAT "Segmentation mask 1.1" export. Colours are mapped to classes by
  the label NAMES of its ``labelmap.txt`` (case-insensitive, CVAT's ``background`` is
  ``others``), never by assuming CVAT kept our palette; masks are
  ``SegmentationClass/<patch_id>.png``. Members are read in memory, never extracted, and
  only after their declared sizes and compression ratios pass :data:`MAX_ENTRY_BYTES` and
  :data:`MAX_ENTRY_RATIO`; a PNG is decoded only once its header says it has its window's size.
- ``<image_id>.json``: a Label Studio JSON export (project Export -> JSON) of the image's patch
  tasks, one task per patch, found by its ``data.patch_id`` or else by the stem of its
  ``data.image`` (a local-files ``?d=`` path or a URL; the 8-hex prefix Label Studio gives an
  uploaded file is dropped). Of a task's annotations the last one not cancelled is read;
  a task without one is a missing patch. Its ``brushlabels`` results (brush RLE, decoded by
  :mod:`urur.dataset.label_studio`) are painted in their order, later regions on top as Label Studio
  draws them, where their alpha is at least 128; labels are matched to classes by name
  (case-insensitive). Pixels no region covers are ignore (255): nobody labelled them. The file
  is read only up to :data:`MAX_LABEL_STUDIO_BYTES`, and each region only once its
  ``original_height`` x ``original_width`` and its RLE's value count match the patch's window.

Ignore (255, :data:`urur.classes.IGNORE_INDEX`): pixels the annotators could not or need not
label. Index PNGs hold the value 255; RGB PNGs the colour white (255, 255, 255,
:data:`urur.classes.IGNORE_COLOUR`); CVAT and Label Studio a label named ``ignore`` (any
colour). Pixels that are fill (nodata) in the image become 255 whatever the annotators drew.

Merged masks are single-band uint8 tiled GeoTIFFs at :func:`urur.io.layout.mask_path` with the
image's CRS and transform, the URUR colour table and nodata 255, so a GIS overlays them on
the images and training reads random windows of them.

An image with two exports (a folder, a zip, a JSON file) is ambiguous and an error.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import urllib.parse
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from urur.classes import (
    IGNORE_COLOUR,
    IGNORE_INDEX,
    IGNORE_NAME,
    URUR_CLASSES,
    URUR_PALETTE,
    UnknownColourError,
    rgb_to_index,
)
from urur.dataset.label_studio import LABEL_CONFIG, BrushRleError, decode_brush_rle
from urur.dataset.tiling import Window, crop, merge_patches, patch_grid, patch_id
from urur.io.label_raster import write_label_raster
from urur.io.layout import image_path, mask_path
from urur.io.raster import read_raster, read_valid
from urur.parallel import map_items

AnnotationFormat = Literal["index", "rgb", "cvat", "label_studio"]
OnMissing = Literal["error", "prelabel"]
CVAT_MASK_FOLDER = "SegmentationClass"
CVAT_LABELMAP = "labelmap.txt"
CVAT_CLASS_ALIASES = {"background": "others"}
MAX_LISTED_PROBLEMS = 10
# A 1000² RGBA patch PNG is at most 4 MB even uncompressed: 64 MiB leaves room for any real
# patch (and for big single-patch images) while a 3 GiB bomb is refused before it is read.
MAX_ENTRY_BYTES = 64 * 2**20
# PNGs are already compressed, so zip deflate gains little on them; a ratio this high means
# a crafted entry. Entries smaller than MAX_RATIO_FREE_BYTES may have any ratio (labelmap.txt).
MAX_ENTRY_RATIO = 200
MAX_RATIO_FREE_BYTES = 2**20
# A Label Studio export's brush RLE lists take 2-4 JSON characters per byte: the demo's drafts
# hold 0.35 MiB per 1000² patch (5-8 regions), so this admits about 1500 patches of one image.
# JSON of this size parses into a few GB of Python lists; a larger file is refused unread.
MAX_LABEL_STUDIO_BYTES = 512 * 2**20
LABEL_STUDIO_RESULT = "brushlabels"
_LABEL_STUDIO_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(?P<name>.+_r\d{5}_c\d{5})$")
LABEL_STUDIO_FIX = "export the project again from Label Studio as JSON"


class AnnotationError(ValueError):
    """Annotations that cannot be merged; the message names the file(s) and what to do."""


class _InvalidPatch(Exception):
    """A patch file exists but cannot be used; the message says why."""


@dataclass
class _LoadedPatch:
    window: Window
    patch_id: str
    location: str
    labels: np.ndarray | None = None
    problem: str | None = None  # "missing" or why the file is invalid


def _check_values(labels: np.ndarray, num_classes: int) -> np.ndarray:
    bad = np.unique(labels[((labels >= num_classes) | (labels < 0)) & (labels != IGNORE_INDEX)])
    if bad.size:
        raise _InvalidPatch(
            f"values {bad[:10].tolist()} outside the class values 0..{num_classes - 1} "
            f"and {IGNORE_INDEX} (ignore)"
        )
    return labels.astype(np.uint8, copy=False)


def _opaque_rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        if (pixels[..., 3] != 255).any():
            raise _InvalidPatch("has transparent pixels; export it without transparency")
        return pixels[..., :3]
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise _InvalidPatch(f"has pixel shape {pixels.shape[2:]}, expected RGB")
    return pixels


def _decode_png(data: bytes | Path, window: Window, *, palette_to_rgb: bool = False) -> np.ndarray:
    """Pixels of a PNG; a palette PNG gives its indices unless ``palette_to_rgb`` asks for colours.

    The size in the header is checked against ``window`` before any pixel is decoded, so an
    oversized (bomb) PNG costs nothing.
    """
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            if image.size != (window.width, window.height):
                raise _InvalidPatch(
                    f"is {image.height}x{image.width} pixels but its window is {window.height}x{window.width}"
                )
            if palette_to_rgb and image.mode == "P":
                return np.asarray(image.convert("RGB"))
            return np.asarray(image)
    except Image.DecompressionBombError as error:
        raise _InvalidPatch(f"is a decompression bomb ({error}); re-export it") from error
    except UnidentifiedImageError as error:
        raise _InvalidPatch("cannot be decoded as PNG (not an image file); re-export it") from error
    except (OSError, SyntaxError) as error:
        raise _InvalidPatch(f"cannot be decoded as PNG ({error}); re-export it") from error


class _PngFolder:
    """``<annotations_dir>/<image_id>/<patch_id>.png``: index or URUR-palette RGB masks."""

    def __init__(self, folder: Path, fmt: AnnotationFormat | None, num_classes: int) -> None:
        self.folder, self.format, self.num_classes = folder, fmt, num_classes
        self.source = str(folder)

    def location(self, pid: str) -> str:
        return str(self.folder / f"{pid}.png")

    def patch_ids(self) -> set[str]:
        return {path.stem for path in self.folder.glob("*.png")} if self.folder.is_dir() else set()

    def load(self, pid: str, window: Window) -> np.ndarray | None:
        path = self.folder / f"{pid}.png"
        if not path.is_file():
            return None
        pixels = _decode_png(path, window)
        if pixels.ndim == 2:
            if self.format == "rgb":
                raise _InvalidPatch("is single-channel, expected an RGB mask in the URUR palette")
            return _check_values(pixels, self.num_classes)
        if self.format == "index":
            raise _InvalidPatch(f"has {pixels.shape[2]} channels, expected a single-channel class-value PNG")
        colours = np.vstack([URUR_PALETTE[: self.num_classes], IGNORE_COLOUR])
        values = np.append(np.arange(self.num_classes), IGNORE_INDEX).astype(np.uint8)
        try:
            return values[rgb_to_index(_opaque_rgb(pixels), colours)]
        except UnknownColourError as error:
            raise _InvalidPatch(
                f"has colours outside the URUR palette and the ignore colour {IGNORE_COLOUR}: {error}"
            ) from error


def _unsafe_member(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or bool(re.match(r"^[A-Za-z]:", name))


def _check_entry(info: zipfile.ZipInfo, zip_path: Path) -> None:
    """Refuse an entry by its header alone: outside the archive, too large, or too compressed."""
    name = info.filename
    if _unsafe_member(name):
        raise AnnotationError(
            f"{zip_path}: entry {name!r} points outside the archive's folder; the zip is unsafe, "
            "do not extract it. Re-export the task from CVAT."
        )
    if info.file_size > MAX_ENTRY_BYTES:
        raise AnnotationError(
            f"{zip_path}: entry {name!r} declares {info.file_size} bytes uncompressed, more than "
            f"{MAX_ENTRY_BYTES} bytes for one patch mask; the zip is damaged or hostile. "
            "Re-export the task from CVAT."
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > MAX_RATIO_FREE_BYTES and ratio > MAX_ENTRY_RATIO:
        raise AnnotationError(
            f"{zip_path}: entry {name!r} is compressed {ratio:.0f}:1 ({info.compress_size} -> "
            f"{info.file_size} bytes), more than {MAX_ENTRY_RATIO}:1 for a PNG mask; the zip is "
            "hostile (a zip bomb). Re-export the task from CVAT."
        )


def _parse_labelmap(text: str, zip_path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Colours (K, 3) and the class value of each, from CVAT's ``name:r,g,b:parts:actions`` lines.

    A label named ``ignore`` maps to ``IGNORE_INDEX``.
    """
    names = [name.lower() for name in URUR_CLASSES[:num_classes]]
    value_of = {name: value for value, name in enumerate(names)} | {IGNORE_NAME: IGNORE_INDEX}
    colours, values, seen = [], [], {}
    for line_number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        try:
            rgb = tuple(int(v) for v in fields[1].split(","))
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise ValueError
        except (IndexError, ValueError):
            raise AnnotationError(
                f"{zip_path}: {CVAT_LABELMAP} line {line_number} {line!r} is not 'name:r,g,b::'; "
                "re-export from CVAT"
            ) from None
        label = fields[0].strip().lower()
        label = CVAT_CLASS_ALIASES.get(label, label)
        if label not in value_of:
            raise AnnotationError(
                f"{zip_path}: {CVAT_LABELMAP} has label {fields[0]!r}, which is not a URUR class "
                f"({', '.join(names)}; 'background' means others) nor '{IGNORE_NAME}'. "
                "Rename the label in the CVAT task and re-export."
            )
        if seen.get(rgb, value_of[label]) != value_of[label]:
            raise AnnotationError(
                f"{zip_path}: {CVAT_LABELMAP} gives colour {rgb} to two classes; "
                "give each label its own colour"
            )
        seen[rgb] = value_of[label]
        colours.append(rgb)
        values.append(value_of[label])
    if not colours:
        raise AnnotationError(f"{zip_path}: {CVAT_LABELMAP} lists no labels; re-export from CVAT")
    return np.array(colours, dtype=np.uint8), np.array(values, dtype=np.uint8)


class _CvatZip:
    """``<annotations_dir>/<image_id>.zip``: CVAT "Segmentation mask 1.1", read in memory."""

    def __init__(self, archive: zipfile.ZipFile, zip_path: Path, num_classes: int) -> None:
        self.archive, self.zip_path = archive, zip_path
        self.source = str(zip_path)
        for info in archive.infolist():
            _check_entry(info, zip_path)
        self.members = set(archive.namelist())
        if CVAT_LABELMAP not in self.members:
            raise AnnotationError(
                f"{zip_path}: no {CVAT_LABELMAP}; export the task as 'Segmentation mask 1.1' from CVAT"
            )
        labelmap = self._read(CVAT_LABELMAP).decode("utf-8", errors="replace")
        self.colours, self.values = _parse_labelmap(labelmap, zip_path, num_classes)

    def _read(self, member: str) -> bytes:
        """The entry's bytes, never more than its declared (and checked) size."""
        with self.archive.open(member) as entry:
            data = entry.read(MAX_ENTRY_BYTES + 1)
        if len(data) > MAX_ENTRY_BYTES:
            raise AnnotationError(
                f"{self.zip_path}: entry {member!r} holds more than {MAX_ENTRY_BYTES} bytes; "
                "the zip is damaged or hostile. Re-export the task from CVAT."
            )
        return data

    def location(self, pid: str) -> str:
        return f"{self.zip_path}:{CVAT_MASK_FOLDER}/{pid}.png"

    def patch_ids(self) -> set[str]:
        prefix = f"{CVAT_MASK_FOLDER}/"
        return {
            PurePosixPath(name).stem
            for name in self.members
            if name.startswith(prefix) and name.endswith(".png") and "/" not in name[len(prefix) :]
        }

    def load(self, pid: str, window: Window) -> np.ndarray | None:
        member = f"{CVAT_MASK_FOLDER}/{pid}.png"
        if member not in self.members:
            return None
        pixels = _decode_png(self._read(member), window, palette_to_rgb=True)
        try:
            return self.values[rgb_to_index(_opaque_rgb(pixels), self.colours)]
        except UnknownColourError as error:
            raise _InvalidPatch(f"has colours that {CVAT_LABELMAP} does not list: {error}") from error


def _label_studio_patch_id(data: object) -> str | None:
    """The patch a task holds: ``data.patch_id``, else the stem of ``data.image``'s file."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("patch_id"), str):
        return data["patch_id"]
    image = data.get("image")
    if not isinstance(image, str) or not image:
        return None
    url = urllib.parse.urlsplit(image)
    local = urllib.parse.parse_qs(url.query).get("d")
    stem = PurePosixPath(urllib.parse.unquote(local[0] if local else url.path)).stem
    upload = _LABEL_STUDIO_UPLOAD_PREFIX.match(stem)
    return upload["name"] if upload else stem


class _LabelStudioJson:
    """``<annotations_dir>/<image_id>.json``: a Label Studio JSON export, one task per patch."""

    def __init__(self, path: Path, num_classes: int) -> None:
        self.path, self.source = path, str(path)
        names = [name.lower() for name in URUR_CLASSES[:num_classes]]
        self.names = names
        self.value_of = {name: value for value, name in enumerate(names)} | {IGNORE_NAME: IGNORE_INDEX}
        size = path.stat().st_size
        if size > MAX_LABEL_STUDIO_BYTES:
            raise AnnotationError(
                f"{path} is {size} bytes, more than {MAX_LABEL_STUDIO_BYTES} for one image's Label Studio "
                "export; the file is damaged or hostile, or holds more than one image: export each "
                "image's tasks as <image_id>.json"
            )
        try:
            tasks = json.loads(path.read_bytes())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise AnnotationError(f"{path} is not JSON ({error}); {LABEL_STUDIO_FIX}") from None
        if not isinstance(tasks, list):
            raise AnnotationError(
                f"{path} holds a JSON {type(tasks).__name__}, not the list of tasks of a Label Studio "
                f"JSON export; {LABEL_STUDIO_FIX} (JSON, not JSON-MIN)"
            )
        self.tasks: dict[str, dict] = {}
        for number, task in enumerate(tasks, 1):
            pid = _label_studio_patch_id(task.get("data") if isinstance(task, dict) else None)
            if pid is None:
                raise AnnotationError(
                    f"{path}: task {number} has no data.patch_id nor data.image naming its patch; "
                    f"{LABEL_STUDIO_FIX}"
                )
            if pid in self.tasks:
                raise AnnotationError(
                    f"{path}: two tasks hold patch {pid}; delete the duplicate task in Label Studio and "
                    "export again"
                )
            self.tasks[pid] = task

    def location(self, pid: str) -> str:
        task_id = self.tasks.get(pid, {}).get("id")
        return f"{self.path}:{pid}" + (f" (task {task_id})" if task_id is not None else "")

    def patch_ids(self) -> set[str]:
        return set(self.tasks)

    def _class_value(self, labels: object, pid: str) -> int:
        if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
            raise _InvalidPatch(f"has a brush region labelled {labels!r}; give each region one label")
        value = self.value_of.get(labels[0].strip().lower())
        if value is None:
            raise AnnotationError(
                f"{self.location(pid)}: brush label {labels[0]!r} is not a URUR class "
                f"({', '.join(self.names)}) nor '{IGNORE_NAME}'. Rename the label in the project's "
                f"labeling config (the drafts' {LABEL_CONFIG} lists the names) and export again."
            )
        return value

    def load(self, pid: str, window: Window) -> np.ndarray | None:
        task = self.tasks.get(pid)
        if task is None:
            return None
        annotations = [
            a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")
        ]
        if not annotations:
            return None
        labels = np.full((window.height, window.width), IGNORE_INDEX, dtype=np.uint8)
        for result in annotations[-1].get("result") or []:
            kind = result.get("type") if isinstance(result, dict) else None
            if kind != LABEL_STUDIO_RESULT:
                if isinstance(kind, str) and kind.endswith("labels"):
                    raise _InvalidPatch(
                        f"has a {kind} region; only brush regions ({LABEL_STUDIO_RESULT}) are read: "
                        "redraw it with the brush"
                    )
                continue
            size = (result.get("original_height"), result.get("original_width"))
            if size != (window.height, window.width):
                raise _InvalidPatch(
                    f"has a brush region of {size[0]}x{size[1]} pixels but its window is "
                    f"{window.height}x{window.width}"
                )
            value = result.get("value") if isinstance(result.get("value"), dict) else {}
            class_value = self._class_value(value.get(LABEL_STUDIO_RESULT), pid)
            name = value[LABEL_STUDIO_RESULT][0]
            if value.get("format", "rle") != "rle" or not isinstance(value.get("rle"), list):
                raise _InvalidPatch(f"has a {name!r} brush region without an RLE mask; {LABEL_STUDIO_FIX}")
            try:
                alpha = decode_brush_rle(value["rle"], window.height, window.width)
            except BrushRleError as error:
                raise _InvalidPatch(
                    f"has a {name!r} brush region whose RLE {error}; {LABEL_STUDIO_FIX}"
                ) from None
            labels[alpha >= 128] = class_value
        return labels


@contextmanager
def _patch_source(
    annotations_dir: Path, image_id: str, fmt: AnnotationFormat | None, num_classes: int
) -> Iterator[_PngFolder | _CvatZip]:
    folder, zip_path = annotations_dir / image_id, annotations_dir / f"{image_id}.zip"
    json_path = annotations_dir / f"{image_id}.json"
    if fmt not in (None, "index", "rgb", "cvat", "label_studio"):
        raise ValueError(
            f"unknown annotation format {fmt!r}; use index, rgb, cvat, label_studio or None (detect)"
        )
    exports = [str(p) for p in (folder, zip_path, json_path) if p.is_dir() or p.is_file()]
    if fmt is None and len(exports) > 1:
        raise AnnotationError(
            f"image {image_id} has {' and '.join(exports)}; keep only the annotators' final export"
        )
    if fmt == "label_studio" or (fmt is None and json_path.is_file()):
        if not json_path.is_file():
            raise AnnotationError(
                f"no Label Studio export {json_path} for image {image_id}; export its tasks there as JSON"
            )
        yield _LabelStudioJson(json_path, num_classes)
    elif fmt == "cvat" or (fmt is None and zip_path.is_file()):
        if not zip_path.is_file():
            raise AnnotationError(f"no CVAT export {zip_path} for image {image_id}; export the task there")
        try:
            with zipfile.ZipFile(zip_path) as archive:
                yield _CvatZip(archive, zip_path, num_classes)
        except zipfile.BadZipFile as error:
            raise AnnotationError(
                f"{zip_path} is not a readable zip ({error}); re-export it from CVAT"
            ) from error
    else:
        yield _PngFolder(folder, fmt, num_classes)


def read_export(
    annotations_dir: str | os.PathLike,
    image_id: str,
    windows: list[Window],
    *,
    num_classes: int = 8,
    format: AnnotationFormat | None = None,
) -> tuple[dict[str, np.ndarray], set[str], str]:
    """One image's exported patches on ``windows``: ``(labels by patch id, patch ids found, source)``.

    For callers that compare exports patch by patch (pre-label corrections) rather than merge
    them. A missing or invalid patch is an :class:`AnnotationError` naming every such file.
    """
    with _patch_source(Path(annotations_dir), image_id, format, num_classes) as source:
        patches, bad = {}, []
        for window in windows:
            pid = patch_id(image_id, window)
            patch = _LoadedPatch(window, pid, source.location(pid))
            try:
                patch.labels = source.load(pid, window)
                patch.problem = "missing" if patch.labels is None else None
            except _InvalidPatch as error:
                patch.problem = str(error)
            if patch.problem is None:
                patches[pid] = patch.labels
            else:
                bad.append(patch)
        found, source_name = source.patch_ids(), source.source
    if bad:
        raise AnnotationError(_problem_report(image_id, bad, "Re-export these patches."))
    return patches, found, source_name


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
        return _check_values(labels, num_classes)
    except _InvalidPatch as error:
        raise AnnotationError(f"pre-label {path} has {error}; regenerate it") from None


def _overlap_agreement(patches: list[_LoadedPatch]) -> dict[str, object]:
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


def _problem_report(image_id: str, bad: list[_LoadedPatch], advice: str) -> str:
    lines = [
        f"  {p.location}: " + ("missing (expected at this path)" if p.problem == "missing" else p.problem)
        for p in bad[:MAX_LISTED_PROBLEMS]
    ]
    if len(bad) > MAX_LISTED_PROBLEMS:
        lines.append(f"  ... and {len(bad) - MAX_LISTED_PROBLEMS} more")
    return (
        f"image {image_id}: {len(bad)} annotation patch(es) cannot be used:\n"
        + "\n".join(lines)
        + "\n"
        + advice
    )


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
    with _patch_source(annotations_dir, image_id, format, num_classes) as source:
        patches = []
        for window in windows:
            pid = patch_id(image_id, window)
            patch = _LoadedPatch(window, pid, source.location(pid))
            try:
                patch.labels = source.load(pid, window)
                if patch.labels is None:
                    patch.problem = "missing"
            except _InvalidPatch as error:
                patch.labels, patch.problem = None, str(error)
            patches.append(patch)
        found = source.patch_ids()
        source_name = source.source
    annotated = [p for p in patches if p.problem is None]
    bad = [p for p in patches if p.problem is not None]
    if bad and on_missing == "error":
        raise AnnotationError(
            _problem_report(
                image_id,
                bad,
                "Annotate or re-export these patches, or fill them from pre-label masks: set "
                "annotation.on_missing: prelabel and annotation.prelabels: <folder> holding "
                "<image_id>.tif or <image_id>.png (one band of class values, the image's size).",
            )
        )
    if bad:
        prelabel_file = Path(prelabel_path) if prelabel_path is not None else None
        if prelabel_file is None or not prelabel_file.is_file():
            raise AnnotationError(
                _problem_report(
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
