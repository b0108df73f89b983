"""Dataset statistics of the paper's Table 1 and the scene context richness R of eq. (1).

Instances are 4-connected components of one class (diagonal contact does not join two
fields), smaller ones than ``min_instance_pixels`` are ignored ("instances that are too small
are not considered", Table 1). Pixels whose value is not a class (255: image fill or what
annotators marked ignore) are not labelled: they count in the image size (``total_pixels``)
but in no class, so ``annotation_density`` is labelled / total, class fractions (pixel
fractions and the regions' p_c) are shares of the labelled pixels, and a region with no
labelled pixel carries no context and is left out of p_c, O_c and the per-region averages.

Regions are squares sampled uniformly inside each mask; their positions depend only on
``seed`` and the image id, so the statistics do not change with the number of workers or the
order of the manifest.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from urur.classes import URUR_CLASSES
from urur.io.layout import mask_path
from urur.io.raster import read_raster
from urur.parallel import map_items

FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)


def count_instances(labels: np.ndarray, num_classes: int, min_instance_pixels: int = 1) -> np.ndarray:
    """Number of 4-connected components of each class with at least ``min_instance_pixels`` pixels."""
    if labels.ndim != 2:
        raise ValueError(f"expected a 2-D label array, got shape {labels.shape}")
    counts = np.zeros(num_classes, dtype=np.int64)
    pixels = np.bincount(labels.ravel(), minlength=num_classes)[:num_classes]
    for value in np.flatnonzero(pixels >= max(min_instance_pixels, 1)):
        components, found = ndimage.label(labels == value, structure=FOUR_CONNECTED)
        if min_instance_pixels <= 1:
            counts[value] = found
        else:
            sizes = np.bincount(components.ravel(), minlength=found + 1)[1:]
            counts[value] = int(np.count_nonzero(sizes >= min_instance_pixels))
    return counts


def sample_regions(
    mask: np.ndarray, region_size: int, num_regions: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """``num_regions`` square windows (views) of side ``region_size`` at uniform random positions.

    A mask side shorter than ``region_size`` gives regions of that side's length.
    """
    if region_size < 1 or num_regions < 0:
        raise ValueError(f"need region_size >= 1 and num_regions >= 0, got {region_size}, {num_regions}")
    height, width = mask.shape[:2]
    size_r, size_c = min(region_size, height), min(region_size, width)
    rows = rng.integers(0, height - size_r + 1, num_regions)
    cols = rng.integers(0, width - size_c + 1, num_regions)
    return [mask[r : r + size_r, c : c + size_c] for r, c in zip(rows, cols, strict=True)]


def _class_fractions(region: np.ndarray, num_classes: int) -> np.ndarray:
    """Fraction of the region's labelled pixels in each class (all zero without labelled pixels)."""
    counts = np.bincount(region.ravel(), minlength=num_classes)[:num_classes]
    return counts / max(int(counts.sum()), 1)


def _richness(p: np.ndarray, objects: np.ndarray, q: float) -> float:
    """Eq. (1): R = -sum_c O_c^(1/q) p_c ln p_c, a class with p_c = 0 contributing 0."""
    present = p > 0
    return float(-np.sum(objects[present] ** (1.0 / q) * p[present] * np.log(p[present])))


def context_richness(
    regions: Iterable[np.ndarray], num_classes: int, q: float = 2.0, min_instance_pixels: int = 1
) -> float:
    """Scene context richness R of eq. (1) over sampled label ``regions``.

    p_c: mean over regions of the fraction of labelled pixels of class c; O_c: mean over regions
    of the number of 4-connected instances of class c (at least ``min_instance_pixels`` pixels).
    Regions without a labelled pixel are left out. Natural logarithm.
    """
    fractions, instances = [], []
    for region in regions:
        if _class_fractions(region, num_classes).any():
            fractions.append(_class_fractions(region, num_classes))
            instances.append(count_instances(region, num_classes, min_instance_pixels))
    if not fractions:
        raise ValueError("context richness needs at least one region with labelled pixels")
    return _richness(np.mean(fractions, axis=0), np.mean(instances, axis=0), q)


def _image_statistics(
    row: dict,
    masks_dir: Path,
    num_classes: int,
    region_size: int,
    regions_per_image: int,
    min_instance_pixels: int,
    seed: int,
) -> dict[str, object]:
    image_id = str(row["image_id"])
    path = mask_path(masks_dir, image_id)
    mask = read_raster(path)
    if mask.ndim != 2:
        raise ValueError(f"mask {path} has {mask.shape[2]} bands; masks are one band of class values")
    if "height" in row and mask.shape != (int(row["height"]), int(row["width"])):
        raise ValueError(
            f"mask {path} is {mask.shape[0]}x{mask.shape[1]} but its image is "
            f"{row['height']}x{row['width']}; re-run the annotation merge for this image"
        )
    rng = np.random.default_rng([seed, zlib.crc32(image_id.encode())])
    regions = sample_regions(mask, region_size, regions_per_image, rng)
    fractions = [_class_fractions(r, num_classes) for r in regions]
    labelled = [k for k, f in enumerate(fractions) if f.any()]
    return {
        "shape": mask.shape,
        "class_pixels": np.bincount(mask.ravel(), minlength=num_classes)[:num_classes],
        "instances": count_instances(mask, num_classes, min_instance_pixels),
        "region_fractions": np.array([fractions[k] for k in labelled]).reshape(-1, num_classes),
        "region_instances": np.array(
            [count_instances(regions[k], num_classes, min_instance_pixels) for k in labelled]
        ).reshape(-1, num_classes),
    }


def _check_arguments(
    image_manifest: pd.DataFrame, num_classes: int, regions_per_image: int, class_names: Sequence[str] | None
) -> list[str]:
    """Refuse an empty manifest, no regions or a wrong number of class names; return the names."""
    if "image_id" not in image_manifest.columns or image_manifest.empty:
        raise ValueError("the image manifest must list at least one image in an image_id column")
    if regions_per_image < 1:
        raise ValueError(
            f"regions_per_image must be at least 1 (R is computed over regions), got {regions_per_image}"
        )
    names = list(class_names) if class_names is not None else list(URUR_CLASSES[:num_classes])
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names for {num_classes} classes; give one name per class")
    return names


def _per_class_table(
    names: list[str], class_pixels: np.ndarray, instances: np.ndarray, p: np.ndarray, objects: np.ndarray
) -> pd.DataFrame:
    """One row per class: pixels and their share of the labelled ones, instances, images with it,
    and the p_c and O_c that enter R."""
    annotated = int(class_pixels.sum())
    return pd.DataFrame(
        {
            "class_value": np.arange(len(names)),
            "class_name": names,
            "pixels": class_pixels.sum(axis=0),
            "pixel_fraction": class_pixels.sum(axis=0) / max(annotated, 1),
            "instances": instances.sum(axis=0),
            "images_with_class": np.count_nonzero(class_pixels, axis=0),
            "region_p": p,
            "region_instances": objects,
        }
    )


def dataset_statistics(
    masks_dir: str | os.PathLike,
    image_manifest: pd.DataFrame,
    *,
    num_classes: int = 8,
    region_size: int = 1000,
    regions_per_image: int = 4,
    min_instance_pixels: int = 1,
    seed: int = 0,
    q: float = 2.0,
    class_names: Sequence[str] | None = None,
    workers: int | None = None,
) -> tuple[dict[str, int | float], pd.DataFrame]:
    """The dataset's Table 1 row from the masks (:func:`urur.io.layout.mask_path` in ``masks_dir``),
    and a per-class table; 255 is unlabelled (see the module docstring).

    The first value is flat and numeric (DVC metrics): images, image size (``resolution_height``
    x ``resolution_width``, the most common one, and ``distinct_resolutions``), total and
    labelled pixels (``pixels``, also in millions), annotation density (labelled / total), classes
    present, instances, average classes and instances per image and per region, regions with
    labelled pixels (``regions``) among those sampled (``regions_sampled``), cities (when the manifest
    has a ``city`` column) and ``context_richness`` (eq. (1) over the sampled regions). The
    second has one row per class: pixels, pixel fraction, instances, images containing it, and
    the p_c and O_c that enter R. A mask whose size differs from the manifest's ``height`` x
    ``width`` is an error naming the file.
    """
    names = _check_arguments(image_manifest, num_classes, regions_per_image, class_names)
    work = functools.partial(
        _image_statistics,
        masks_dir=Path(masks_dir),
        num_classes=num_classes,
        region_size=region_size,
        regions_per_image=regions_per_image,
        min_instance_pixels=min_instance_pixels,
        seed=seed,
    )
    images = map_items(work, image_manifest.to_dict("records"), workers=workers, desc="dataset statistics")

    class_pixels = np.array([image["class_pixels"] for image in images])
    instances = np.array([image["instances"] for image in images])
    region_fractions = np.concatenate([image["region_fractions"] for image in images])
    region_instances = np.concatenate([image["region_instances"] for image in images])
    shapes = pd.Series([image["shape"] for image in images]).value_counts()
    total_pixels = int(sum(height * width for height, width in (image["shape"] for image in images)))
    annotated = int(class_pixels.sum())
    if not len(region_fractions):
        raise ValueError(
            f"no sampled region of the {len(images)} masks in {masks_dir} has a labelled pixel (all 255); "
            "check the annotations and the images' nodata"
        )
    p, objects = region_fractions.mean(axis=0), region_instances.mean(axis=0)

    summary: dict[str, int | float] = {
        "images": len(images),
        "resolution_height": int(shapes.index[0][0]),
        "resolution_width": int(shapes.index[0][1]),
        "distinct_resolutions": len(shapes),
        "total_pixels": total_pixels,
        "pixels": annotated,
        "pixels_millions": annotated / 1e6,
        "annotation_density": annotated / total_pixels,
        "classes": int(np.count_nonzero(class_pixels.sum(axis=0))),
        "instances": int(instances.sum()),
        "avg_classes_per_image": float(np.count_nonzero(class_pixels, axis=1).mean()),
        "avg_instances_per_image": float(instances.sum(axis=1).mean()),
        "regions": len(region_fractions),
        "regions_sampled": len(images) * regions_per_image,
        "avg_classes_per_region": float(np.count_nonzero(region_fractions, axis=1).mean()),
        "avg_instances_per_region": float(region_instances.sum(axis=1).mean()),
        "context_richness": _richness(p, objects, q),
    }
    if "city" in image_manifest.columns:
        summary["cities"] = int(image_manifest["city"].nunique())
    return summary, _per_class_table(names, class_pixels, instances, p, objects)
