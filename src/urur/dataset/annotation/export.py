"""Annotation exports in the formats annotation tools import and export.

One writer for every producer of annotations: the simulated annotators (``urur.synthetic``)
and the pre-labelling drafts (``urur.prelabel.drafts``). :mod:`urur.dataset.annotation.formats` reads all
four back.

- ``index``: ``<out>/<image_id>/<patch_id>.png``, single-channel class values;
- ``rgb``: the same layout, URUR palette colours;
- ``cvat``: ``<out>/<image_id>.zip``, CVAT "Segmentation mask 1.1": ``labelmap.txt``,
  ``SegmentationClass/`` (class colours), ``SegmentationObject/`` (instance colours),
  ``ImageSets/Segmentation/default.txt``. As in CVAT, unlabelled pixels are ``background``
  (black), which in URUR is "others". Entries carry a fixed timestamp, so the same masks give
  the same zip bytes in every run.
- ``label_studio``: ``<out>/<image_id>.json``, a Label Studio JSON export: one task per patch,
  its ``annotations`` one brush region per class (:mod:`urur.dataset.annotation.label_studio`), 255 as
  ``ignore``.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from urur.classes import URUR_CLASSES, URUR_PALETTE, index_to_rgb
from urur.dataset.annotation.label_studio import patch_tasks, write_tasks
from urur.io.atomic import atomic_directory, atomic_path

ANNOTATION_FORMATS = ("index", "rgb", "cvat", "label_studio")
CVAT_LABELMAP_HEADER = "# label:color_rgb:parts:actions"
CVAT_BACKGROUND = "background"  # CVAT's name for unlabelled pixels; URUR's "others"
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest zip time: entries carry no run time
OTHERS = URUR_CLASSES.index("others")


def cvat_labelmap() -> str:
    """``labelmap.txt`` as CVAT writes it: header, ``background`` (URUR "others"), then the classes."""
    names = [CVAT_BACKGROUND if value == OTHERS else name for value, name in enumerate(URUR_CLASSES)]
    lines = [CVAT_LABELMAP_HEADER]
    lines += [
        f"{name}:{','.join(str(int(v)) for v in URUR_PALETTE[value])}::" for value, name in enumerate(names)
    ]
    return "\n".join(lines) + "\n"


def instance_colours(count: int) -> np.ndarray:
    """(count + 1, 3) uint8 colours, 0 black: the Pascal VOC colour map CVAT uses for instances."""
    ids = np.arange(count + 1, dtype=np.int64)
    colours = np.zeros((count + 1, 3), dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            colours[:, channel] |= ((ids >> (3 * bit + channel)) & 1) << (7 - bit)
    return colours.astype(np.uint8)


def instance_map(mask: np.ndarray) -> np.ndarray:
    """Instance ids (0 = background/others): 4-connected regions of each class, numbered in class order."""
    instances = np.zeros(mask.shape, dtype=np.int64)
    next_id = 0
    for value in range(len(URUR_CLASSES)):
        if value == OTHERS:
            continue
        objects, count = ndimage.label(mask == value)
        instances[objects > 0] = objects[objects > 0] + next_id
        next_id += count
    return instances


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """A zip entry with a fixed timestamp and mode: equal exports are equal bytes (DVC sees no change)."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def export_paths(out_dir: str | Path, image_id: str) -> tuple[Path, Path, Path]:
    """Where an image's export lies in each kind: PNG folder, CVAT zip, Label Studio JSON."""
    out_dir = Path(out_dir)
    return out_dir / image_id, out_dir / f"{image_id}.zip", out_dir / f"{image_id}.json"


def copy_exports(annotations_dir: str | Path, image_ids: list[str], out_dir: str | Path) -> None:
    """Copy these images' exports, whatever their kind, from ``annotations_dir`` into ``out_dir``."""
    for image_id in image_ids:
        for source in export_paths(annotations_dir, image_id):
            target = Path(out_dir) / source.name
            if source.is_file():
                shutil.copy2(source, target)
            elif source.is_dir():
                shutil.copytree(source, target)


def write_annotation_export(
    out_dir: str | Path, image_id: str, patches: dict[str, np.ndarray], format: str
) -> Path:
    """Write one image's annotated patches as ``format`` under ``out_dir``; returns the written path.

    The folder, zip or JSON file appears whole or not at all. It replaces this image's earlier
    export in any format (an image with two would be ambiguous to the merge); other entries of
    ``out_dir`` are left alone.
    """
    if format not in ANNOTATION_FORMATS:
        raise ValueError(f"format must be one of {ANNOTATION_FORMATS}, got {format!r}")
    for pid, mask in patches.items():
        if mask.ndim != 2 or mask.dtype != np.uint8 or (mask.size and mask.max() >= len(URUR_CLASSES)):
            raise ValueError(f"patch {pid} of {image_id} must be an (H, W) uint8 map of URUR class values")
    folder, archive_path, tasks_path = export_paths(out_dir, image_id)
    if format == "label_studio":
        written = write_tasks(tasks_path, patch_tasks(image_id, patches, URUR_CLASSES))
    elif format == "cvat":
        written = archive_path
        with atomic_path(archive_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            _write_entry(archive, "labelmap.txt", cvat_labelmap().encode())
            for pid, mask in patches.items():
                _write_entry(archive, f"SegmentationClass/{pid}.png", _png_bytes(index_to_rgb(mask)))
                instances = instance_map(mask)
                colours = instance_colours(int(instances.max()))
                _write_entry(archive, f"SegmentationObject/{pid}.png", _png_bytes(colours[instances]))
            listing = "".join(f"{pid}\n" for pid in patches)
            _write_entry(archive, "ImageSets/Segmentation/default.txt", listing.encode())
    else:
        written = folder
        with atomic_directory(folder) as staging:
            for pid, mask in patches.items():
                image = mask if format == "index" else index_to_rgb(mask)
                Image.fromarray(image).save(staging / f"{pid}.png")
    if written != folder and folder.is_dir():
        shutil.rmtree(folder)
    for other in (archive_path, tasks_path):
        if other != written:
            other.unlink(missing_ok=True)
    return written
