"""Annotation exports read back: one image's patches from whatever its annotators' tool wrote.

Annotators label the overlapping patches cut by :func:`urur.dataset.tiling.tile_image`;
:mod:`urur.dataset.annotation.merge` merges what is read here into masks. Every reader refuses
hostile or damaged files before it decodes them (sizes, compression ratios, header sizes).

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
  :mod:`urur.dataset.annotation.label_studio`) are painted in their order, later regions on top
  as Label Studio draws them, where their alpha is at least 128; labels are matched to classes by name
  (case-insensitive). Pixels no region covers are ignore (255): nobody labelled them. The file
  is read only up to :data:`MAX_LABEL_STUDIO_BYTES`, and each region only once its
  ``original_height`` x ``original_width`` and its RLE's value count match the patch's window.

Ignore (255, :data:`urur.classes.IGNORE_INDEX`): pixels the annotators could not or need not
label. Index PNGs hold the value 255; RGB PNGs the colour white (255, 255, 255,
:data:`urur.classes.IGNORE_COLOUR`); CVAT and Label Studio a label named ``ignore`` (any
colour).

An image with two exports (a folder, a zip, a JSON file) is ambiguous and an error.
"""

from __future__ import annotations

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
from urur.dataset.annotation.label_studio import LABEL_CONFIG, BrushRleError, decode_brush_rle
from urur.dataset.tiling import patch_id
from urur.errors import UrurError
from urur.io.windows import Window

AnnotationFormat = Literal["index", "rgb", "cvat", "label_studio"]
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


class AnnotationError(UrurError, ValueError):
    """Annotations that cannot be merged; the message names the file(s) and what to do."""


class InvalidPatch(Exception):
    """A patch file exists but cannot be used; the message says why."""


@dataclass
class LoadedPatch:
    """One window's patch as read from an export: its labels, or why there are none."""

    window: Window
    patch_id: str
    location: str
    labels: np.ndarray | None = None
    problem: str | None = None  # "missing" or why the file is invalid


def check_values(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``labels`` as uint8 once every value is a class (``0..num_classes-1``) or 255 (ignore)."""
    bad = np.unique(labels[((labels >= num_classes) | (labels < 0)) & (labels != IGNORE_INDEX)])
    if bad.size:
        raise InvalidPatch(
            f"values {bad[:10].tolist()} outside the class values 0..{num_classes - 1} "
            f"and {IGNORE_INDEX} (ignore)"
        )
    return labels.astype(np.uint8, copy=False)


def _opaque_rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        if (pixels[..., 3] != 255).any():
            raise InvalidPatch("has transparent pixels; export it without transparency")
        return pixels[..., :3]
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise InvalidPatch(f"has pixel shape {pixels.shape[2:]}, expected RGB")
    return pixels


def _decode_png(data: bytes | Path, window: Window, *, palette_to_rgb: bool = False) -> np.ndarray:
    """Pixels of a PNG; a palette PNG gives its indices unless ``palette_to_rgb`` asks for colours.

    The size in the header is checked against ``window`` before any pixel is decoded, so an
    oversized (bomb) PNG costs nothing.
    """
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            if image.size != (window.width, window.height):
                raise InvalidPatch(
                    f"is {image.height}x{image.width} pixels but its window is {window.height}x{window.width}"
                )
            if palette_to_rgb and image.mode == "P":
                # A palette with a transparent entry reads as RGBA, so its transparent pixels are
                # refused as an RGBA mask's are (not silently given the entry's colour).
                return np.asarray(image.convert("RGBA" if "transparency" in image.info else "RGB"))
            return np.asarray(image)
    except Image.DecompressionBombError as error:
        raise InvalidPatch(f"is a decompression bomb ({error}); re-export it") from error
    except UnidentifiedImageError as error:
        raise InvalidPatch("cannot be decoded as PNG (not an image file); re-export it") from error
    except (OSError, SyntaxError) as error:
        raise InvalidPatch(f"cannot be decoded as PNG ({error}); re-export it") from error


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
                raise InvalidPatch("is single-channel, expected an RGB mask in the URUR palette")
            return check_values(pixels, self.num_classes)
        if self.format == "index":
            raise InvalidPatch(f"has {pixels.shape[2]} channels, expected a single-channel class-value PNG")
        colours = np.vstack([URUR_PALETTE[: self.num_classes], IGNORE_COLOUR])
        values = np.append(np.arange(self.num_classes), IGNORE_INDEX).astype(np.uint8)
        try:
            return values[rgb_to_index(_opaque_rgb(pixels), colours)]
        except UnknownColourError as error:
            raise InvalidPatch(
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
            raise InvalidPatch(f"has colours that {CVAT_LABELMAP} does not list: {error}") from error


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
            raise InvalidPatch(f"has a brush region labelled {labels!r}; give each region one label")
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
                    raise InvalidPatch(
                        f"has a {kind} region; only brush regions ({LABEL_STUDIO_RESULT}) are read: "
                        "redraw it with the brush"
                    )
                continue
            size = (result.get("original_height"), result.get("original_width"))
            if size != (window.height, window.width):
                raise InvalidPatch(
                    f"has a brush region of {size[0]}x{size[1]} pixels but its window is "
                    f"{window.height}x{window.width}"
                )
            value = result.get("value") if isinstance(result.get("value"), dict) else {}
            class_value = self._class_value(value.get(LABEL_STUDIO_RESULT), pid)
            name = value[LABEL_STUDIO_RESULT][0]
            if value.get("format", "rle") != "rle" or not isinstance(value.get("rle"), list):
                raise InvalidPatch(f"has a {name!r} brush region without an RLE mask; {LABEL_STUDIO_FIX}")
            try:
                alpha = decode_brush_rle(value["rle"], window.height, window.width)
            except BrushRleError as error:
                raise InvalidPatch(
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


def load_patches(
    annotations_dir: Path,
    image_id: str,
    windows: list[Window],
    fmt: AnnotationFormat | None,
    num_classes: int,
) -> tuple[list[LoadedPatch], set[str], str]:
    """Every window's patch of one image's export, missing or invalid ones with their ``problem``;
    the patch ids the export holds; and the export's path."""
    with _patch_source(annotations_dir, image_id, fmt, num_classes) as source:
        patches = []
        for window in windows:
            pid = patch_id(image_id, window)
            patch = LoadedPatch(window, pid, source.location(pid))
            try:
                patch.labels = source.load(pid, window)
                if patch.labels is None:
                    patch.problem = "missing"
            except InvalidPatch as error:
                patch.problem = str(error)
            patches.append(patch)
        return patches, source.patch_ids(), source.source


def problem_report(image_id: str, bad: list[LoadedPatch], advice: str) -> str:
    """The unusable patches of an image, one line each (ten at most), then ``advice``."""
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
    patches, found, source = load_patches(Path(annotations_dir), image_id, windows, format, num_classes)
    bad = [patch for patch in patches if patch.problem is not None]
    if bad:
        raise AnnotationError(problem_report(image_id, bad, "Re-export these patches."))
    return {patch.patch_id: patch.labels for patch in patches}, found, source
