"""Where each stage keeps one image's files: the one place that names them.

Stages, training, evaluation and notebooks find an image's raster and mask through these
functions instead of formatting paths themselves.
"""

from __future__ import annotations

from pathlib import Path

IMAGE_SUFFIX = ".tif"
MASK_SUFFIX = ".tif"


def image_path(images_dir: str | Path, image_id: str) -> Path:
    """The tiled GeoTIFF of ``image_id`` in the raster store (``data/02_intermediate/images``)."""
    return Path(images_dir) / f"{image_id}{IMAGE_SUFFIX}"


def mask_path(masks_dir: str | Path, image_id: str) -> Path:
    """The merged mask of ``image_id``: a single-band uint8 tiled GeoTIFF, 255 = ignore."""
    return Path(masks_dir) / f"{image_id}{MASK_SUFFIX}"


def find_mask(masks_dir: str | Path, image_id: str) -> Path:
    """:func:`mask_path`, checked to exist: a missing mask names the file and the stage to run."""
    path = mask_path(masks_dir, image_id)
    if not path.is_file():
        raise FileNotFoundError(
            f"no mask for image {image_id!r}: {path} does not exist; build the masks "
            "(`kedro run --pipelines annotation`) or remove the image from the split"
        )
    return path
