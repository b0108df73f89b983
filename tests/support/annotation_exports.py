"""Annotation exports built in the tests (index/RGB PNG folders, CVAT zips) on a small patch grid."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from urur.classes import index_to_rgb
from urur.dataset.annotation.merge import merge_image_annotations
from urur.dataset.tiling import crop, patch_grid, patch_id

H, W, SIZE, OVERLAP = 30, 25, 12, 4
WINDOWS = patch_grid(H, W, SIZE, OVERLAP)
# CVAT keeps whatever colours the task used: deliberately not the URUR palette.
CVAT_COLOURS = {
    "Background": (1, 2, 3),
    "BUILDING": (10, 20, 30),
    "farmland": (40, 50, 60),
    "greenhouse": (70, 80, 90),
    "woodland": (100, 110, 120),
    "bareland": (130, 140, 150),
    "water": (160, 170, 180),
    "road": (190, 200, 210),
}


def example_labels(seed: int = 0) -> np.ndarray:
    """Seeded class values 0..7 on the whole H x W image."""
    return np.random.default_rng(seed).integers(0, 8, (H, W), dtype=np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    """``pixels`` encoded as a PNG file's bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png_patches(folder: Path, image_id: str, labels: np.ndarray, rgb: bool = False) -> None:
    """Every window of ``labels`` as a patch PNG under ``folder/image_id`` (class values or palette RGB)."""
    (folder / image_id).mkdir(parents=True)
    for window in WINDOWS:
        patch = crop(labels, window)
        (folder / image_id / f"{patch_id(image_id, window)}.png").write_bytes(
            png_bytes(index_to_rgb(patch) if rgb else patch)
        )


def write_cvat_zip(path: Path, image_id: str, labels: np.ndarray, labelmap=None, extra=()) -> None:
    """A CVAT "Segmentation mask 1.1" zip of ``labels`` in :data:`CVAT_COLOURS`, plus ``extra`` entries."""
    labelmap = labelmap or CVAT_COLOURS
    colours = np.array(list(CVAT_COLOURS.values()), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "labelmap.txt",
            "# label:color_rgb:parts:actions\n"
            + "".join(f"{name}:{r},{g},{b}::\n" for name, (r, g, b) in labelmap.items()),
        )
        for window in WINDOWS:
            archive.writestr(
                f"SegmentationClass/{patch_id(image_id, window)}.png",
                png_bytes(colours[crop(labels, window)]),
            )
        for name in extra:
            archive.writestr(name, b"x")


def merge_export(folder: Path, image_id: str = "img", **kwargs):
    """The merge of one H x W image's export in ``folder`` on the test grid."""
    return merge_image_annotations(image_id, H, W, folder, patch_size=SIZE, overlap=OVERLAP, **kwargs)


def example_labels_with_ignore(seed: int = 4) -> np.ndarray:
    """:func:`example_labels` with a band of 255 (ignore)."""
    labels = example_labels(seed)
    labels[3:9, 2:20] = 255
    return labels
