"""Public releases (URUR, DeepGlobe land cover, Inria aerial) -> the project's dataset layout.

A release is already cut and labelled, so its adapter writes directly what the chain would
have built: the raster store (:func:`urur.io.layout.image_path`), the masks
(:func:`urur.io.layout.mask_path`: single-band uint8 GeoTIFFs, 255 = ignore), the image manifest
(:data:`urur.dataset.ingestion.MANIFEST_COLUMNS`) and the release's own split (the manifest plus the
``group`` and ``split`` columns :func:`urur.dataset.split.split_images` writes). Each image is its own
scene (``group`` = ``scene_id`` = ``image_id``), except that Inria names its city.

Layouts (``../shared/REFERENCE.md``):

- URUR: ``{train,val,test}/{image,label}/`` or ``imgs/{split}/`` + ``labels/{split}/``; PNG
  images and single-channel PNG label maps of the same stem. Label values follow the release
  README (:data:`urur.classes.URUR_CLASSES`); ``label_order`` names the classes of another
  order, value by value, and is remapped to the README's.
- DeepGlobe land cover: ``<id>_sat.jpg`` and RGB ``<id>_mask.png`` anywhere under the folder.
  Mask channels are thresholded at 128 before the palette lookup, as the official loaders do
  (the released PNGs carry a few off-palette values). A pixel whose thresholded colour is still
  no class (red: JPEG artefacts at class borders) is ``unknown``, the class the release gives
  what it cannot label and that its mIoU leaves out; each mask's count of them is logged and
  recorded in the manifest (``off_palette_pixels``), and a mask with more than
  ``max_off_palette_share`` of them is refused (it is not a land-cover mask, or damaged).
  Images without a mask are left out: those of folders holding no masks (the release's
  ``valid/`` and ``test/``) quietly, those beside masks or named in a split list (a train
  image whose mask is missing) with a warning naming them. The split is the release's lists
  ``train.txt``, ``val.txt``/``crossvali.txt`` and ``test.txt`` (one id or file name per line)
  where they exist, else :func:`urur.dataset.split.split_images` with the given ratios.
- Inria: ``train/images/<city><n>.tif`` and ``train/gt/<city><n>.tif`` (0 = background,
  255 = building -> 0/1); georeferencing kept. Images ``val_numbers`` of each city form val,
  ``test_numbers`` test (the release's test labels are withheld), the rest train.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from urur.classes import (
    DEEPGLOBE_CLASSES,
    DEEPGLOBE_PALETTE,
    IGNORE_INDEX,
    URUR_CLASSES,
    example_colours,
    rgb_to_index_or,
)
from urur.config import Section, section_config
from urur.dataset.ingestion import MANIFEST_COLUMNS
from urur.dataset.leaks import pixel_checksum
from urur.dataset.scene_table import SCENE_ID_PATTERN
from urur.dataset.split import SPLITS, split_images
from urur.errors import UrurError
from urur.io.atomic import staging_directories
from urur.io.layout import image_path, mask_path
from urur.io.raster import raster_info, read_raster, write_raster
from urur.io.stamp import write_stamp
from urur.parallel import map_items

logger = logging.getLogger(__name__)

URUR_LAYOUTS = ("{split}/image + {split}/label", "imgs/{split} + labels/{split}")
DEEPGLOBE_SPLIT_LISTS = {"train": ("train.txt",), "val": ("val.txt", "crossvali.txt"), "test": ("test.txt",)}
INRIA_NAME = re.compile(r"([A-Za-z-]+?)(\d+)")
DEEPGLOBE_THRESHOLD = 128
OFF_PALETTE_COLUMN = "off_palette_pixels"
# A label reader: a label file -> its class values and per-file counts (manifest columns).
LabelReader = Callable[[Path], tuple[np.ndarray, dict[str, int]]]


class UrurReleaseParams(Section):
    """``label_order``: the class names of the release's label values 0, 1, ... (None: README order)."""

    model_config = section_config("urur_release")
    label_order: tuple[str, ...] | None = None


class DeepGlobeParams(Section):
    """Split ratios and seed where the download has no split lists (455/207/142 of 804 images);
    the share of a mask's pixels that may be of no class colour (labelled unknown) before the
    mask is refused."""

    model_config = section_config("deepglobe")
    ratios: tuple[float, float, float] = (0.566, 0.258, 0.176)
    seed: int = 0
    max_off_palette_share: float = Field(0.01, ge=0, le=1)


class InriaParams(Section):
    """Image numbers (of each city) that form the val and test splits."""

    model_config = section_config("inria")
    val_numbers: tuple[int, ...] = (1, 2, 3, 4, 5)
    test_numbers: tuple[int, ...] = (6, 7, 8, 9, 10)


class ReleaseLayoutError(UrurError, ValueError):
    """A download folder does not hold a release in a layout the adapter knows."""


@dataclass(frozen=True)
class ReleaseItem:
    """One image of a release and how to read its label map."""

    image_id: str
    image: Path
    label: Path
    split: str | None  # None: decided after listing (DeepGlobe without split lists)
    city: str = ""


def _listing(root: Path) -> str:
    """What a folder holds, two levels deep, for error messages."""
    if not root.is_dir():
        return f"{root} does not exist"
    found = sorted(str(p.relative_to(root)) + "/" for p in root.glob("*/") if p.is_dir())
    found += sorted(str(p.relative_to(root)) + "/" for p in root.glob("*/*/") if p.is_dir())
    files = sum(1 for p in root.iterdir() if p.is_file())
    return f"{root} holds folders {found or 'none'} and {files} files at the top"


def _paired(
    images: Path, labels: Path, split: str, image_suffix: str, label_suffix: str
) -> list[ReleaseItem]:
    """Images of one split folder with their label maps (same stem); a missing label is an error."""
    items = []
    for image in sorted(images.glob(f"*{image_suffix}")):
        label = labels / f"{image.stem}{label_suffix}"
        if not label.is_file():
            raise ReleaseLayoutError(f"{image} has no label map {label}; the download is incomplete")
        items.append(ReleaseItem(image.stem, image, label, split))
    return items


def list_urur(root: str | Path) -> list[ReleaseItem]:
    """Every image of a URUR release folder in either public layout, with its split."""
    root = Path(root)
    candidates = {
        URUR_LAYOUTS[0]: {s: (root / s / "image", root / s / "label") for s in SPLITS},
        URUR_LAYOUTS[1]: {s: (root / "imgs" / s, root / "labels" / s) for s in SPLITS},
    }
    for folders in candidates.values():
        if all(images.is_dir() and labels.is_dir() for images, labels in folders.values()):
            items = [i for s, (im, lb) in folders.items() for i in _paired(im, lb, s, ".png", ".png")]
            if items:
                return items
    raise ReleaseLayoutError(
        f"no URUR release found: expected PNG images and label maps in one of the layouts "
        f"{' or '.join(URUR_LAYOUTS)} for split in {'/'.join(SPLITS)}, but {_listing(root)}. "
        "Unpack the release there or move its folders into one of those layouts."
    )


def list_deepglobe(root: str | Path) -> list[ReleaseItem]:
    """Every ``<id>_sat.jpg`` with its ``<id>_mask.png``; the split from the release's lists.

    An image without its mask is left out; a warning names those that should have one (beside
    other masks, or in a split list), not the release's mask-less ``valid/`` and ``test/``.
    """
    root = Path(root)
    items, unpaired = [], []
    for image in sorted(root.rglob("*_sat.jpg")):
        image_id = image.name[: -len("_sat.jpg")]
        label = image.with_name(f"{image_id}_mask.png")
        if label.is_file():
            items.append(ReleaseItem(image_id, image, label, None))
        else:
            unpaired.append(image)
    if not items:
        raise ReleaseLayoutError(
            f"no DeepGlobe land-cover pairs <id>_sat.jpg + <id>_mask.png found: {_listing(root)}. "
            "Unpack the land-cover train folder there."
        )
    split_of = {}
    for split, names in DEEPGLOBE_SPLIT_LISTS.items():
        for name in names:
            if (root / name).is_file():
                for line in (root / name).read_text().split():
                    split_of[Path(line).name.split("_")[0].split(".")[0]] = split
    mask_folders = {item.label.parent for item in items}
    missing = [
        image
        for image in unpaired
        if image.parent in mask_folders or image.name[: -len("_sat.jpg")] in split_of
    ]
    if missing:
        names = ", ".join(str(image.relative_to(root)) for image in missing[:20])
        logger.warning(
            "%d images under %s have no <id>_mask.png and are left out of the dataset: %s%s. "
            "Restore their masks from the release to use them.",
            len(missing),
            root,
            names,
            f" and {len(missing) - 20} more" if len(missing) > 20 else "",
        )
    return [ReleaseItem(i.image_id, i.image, i.label, split_of.get(i.image_id)) for i in items]


def list_inria(
    root: str | Path, val_numbers: Sequence[int], test_numbers: Sequence[int]
) -> list[ReleaseItem]:
    """Every ``train/images/<city><n>.tif`` with its ``train/gt`` mask; split by image number."""
    root = Path(root)
    images, labels = root / "train" / "images", root / "train" / "gt"
    if not images.is_dir() or not labels.is_dir():
        raise ReleaseLayoutError(
            f"no Inria release found: expected train/images/ and train/gt/, but {_listing(root)}. "
            "Point the adapter at the AerialImageDataset folder of the unpacked release."
        )
    items = []
    for item in _paired(images, labels, "", ".tif", ".tif"):
        match = INRIA_NAME.fullmatch(item.image_id)
        if match is None:
            raise ReleaseLayoutError(f"{item.image}: expected a name <city><number>.tif, e.g. austin1.tif")
        city, number = match.group(1), int(match.group(2))
        split = "val" if number in val_numbers else "test" if number in test_numbers else "train"
        items.append(ReleaseItem(item.image_id, item.image, item.label, split, city))
    if not items:
        raise ReleaseLayoutError(f"no GeoTIFFs in {images}; unpack the release's train folder there")
    return items


def urur_label_lut(label_order: Sequence[str] | None) -> np.ndarray:
    """uint8 table: a label value of the release (class ``label_order[v]``) -> its README value."""
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    order = list(label_order or URUR_CLASSES)
    unknown = sorted(set(order) - set(URUR_CLASSES))
    if unknown or len(order) != len(set(order)):
        raise ReleaseLayoutError(
            f"label_order {order} must name each of {list(URUR_CLASSES)} at most once (unknown: {unknown})"
        )
    for value, name in enumerate(order):
        lut[value] = URUR_CLASSES.index(name)
    return lut


def urur_labels(path: Path, lut: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """A URUR label map in the README's values; values outside the table are an error."""
    raw = read_raster(path, bands=[1])
    outside = (lut[raw] == IGNORE_INDEX) & (raw != IGNORE_INDEX)
    if outside.any():
        raise ReleaseLayoutError(
            f"{path} holds label values {np.unique(raw[outside])[:10].tolist()} outside the class table "
            f"(0..{int((lut != IGNORE_INDEX).sum()) - 1}, 255 = ignore); "
            "set urur_release.label_order to the release's order"
        )
    return lut[raw], {}


def deepglobe_labels(path: Path, max_off_palette_share: float = 0.01) -> tuple[np.ndarray, dict[str, int]]:
    """A DeepGlobe RGB mask as class values (0 = unknown), channels thresholded at 128, and its
    count of pixels of no class colour (labelled unknown); more than ``max_off_palette_share``
    of them is an error."""
    raw = read_raster(path, bands=[1, 2, 3])
    rgb = np.where(raw >= DEEPGLOBE_THRESHOLD, 255, 0).astype(np.uint8)
    labels, outside = rgb_to_index_or(rgb, DEEPGLOBE_PALETTE, DEEPGLOBE_CLASSES.index("unknown"))
    count = int(outside.sum())
    if count > max_off_palette_share * outside.size:
        raise ReleaseLayoutError(
            f"{path}: {count / outside.size:.1%} of its pixels ({count}) have colours of no class "
            f"even after thresholding at {DEEPGLOBE_THRESHOLD}, e.g. {example_colours(raw, outside)}; "
            f"that is above deepglobe.max_off_palette_share = {max_off_palette_share} "
            "(conf/base/parameters_deepglobe.yml). The file is damaged or not a land-cover mask: "
            "replace it, or raise the share to label those pixels unknown."
        )
    return labels, {OFF_PALETTE_COLUMN: count}


def inria_labels(path: Path) -> tuple[np.ndarray, dict[str, int]]:
    """An Inria 0/255 building mask as 0/1."""
    raw = read_raster(path, bands=[1])
    bad = (raw != 0) & (raw != 255)
    if bad.any():
        raise ReleaseLayoutError(
            f"{path} holds values {np.unique(raw[bad])[:10].tolist()}; Inria masks are 0 and 255 only: "
            "re-download the file"
        )
    return (raw // 255).astype(np.uint8), {}


def _adapt_item(
    item: ReleaseItem, images_dir: Path, masks_dir: Path, source: str, labels_of: LabelReader
) -> dict:
    """Write one image and its mask; return its manifest row (ingestion's columns, then the
    label reader's counts)."""
    if not SCENE_ID_PATTERN.fullmatch(item.image_id):
        raise ReleaseLayoutError(f"{item.image}: its name is not a safe image id; rename it")
    info = raster_info(item.image)
    pixels = read_raster(item.image, bands=[1, 2, 3])
    labels, counts = labels_of(item.label)
    if labels.shape != pixels.shape[:2]:
        raise ReleaseLayoutError(
            f"label map {item.label} is {labels.shape[0]}x{labels.shape[1]} but image {item.image} is "
            f"{pixels.shape[0]}x{pixels.shape[1]}; the pair does not belong together"
        )
    write_raster(image_path(images_dir, item.image_id), pixels, crs=info.crs, transform=info.transform)
    write_raster(mask_path(masks_dir, item.image_id), labels, crs=info.crs, transform=info.transform)
    return {
        "image_id": item.image_id,
        "scene_id": item.image_id,
        "city": item.city,
        "source": source,
        "capture_date": "",
        "path": image_path(".", item.image_id).as_posix(),
        "row_off": 0,
        "col_off": 0,
        "height": info.height,
        "width": info.width,
        "bands_in": info.bands,
        "dtype_in": info.dtype,
        "rgb_bands": "1 2 3",
        "fill_pixels": 0,
        "checksum": pixel_checksum(pixels),
        "crs": info.crs,
        "transform": json.dumps(list(info.transform)) if info.transform is not None else None,
        "split": item.split,
        **counts,
    }


def adapt_release(
    items: Sequence[ReleaseItem],
    images_dir: str | Path,
    masks_dir: str | Path,
    *,
    source: str,
    labels_of: LabelReader,
    ratios: Sequence[float] = (0.7, 0.1, 0.2),
    seed: int = 0,
    workers: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write every item's image and mask; return the image manifest and the split table.

    ``labels_of(path)`` reads one label file as class values and per-file counts, which become
    manifest columns after ingestion's. Items without a split (DeepGlobe without its lists) are
    split by :func:`urur.dataset.split.split_images` with ``ratios`` and ``seed``.
    """
    adapt_one = functools.partial(
        _adapt_item,
        images_dir=Path(images_dir),
        masks_dir=Path(masks_dir),
        source=source,
        labels_of=labels_of,
    )
    rows = pd.DataFrame(map_items(adapt_one, list(items), workers=workers, desc=f"adapting {source}"))
    rows = rows.sort_values("image_id", ignore_index=True)
    counts = [c for c in rows.columns if c not in MANIFEST_COLUMNS and c != "split"]
    manifest = rows[[*MANIFEST_COLUMNS, *counts]]
    if rows["split"].isna().all():
        table = split_images(manifest, ratios=ratios, seed=seed)
    elif rows["split"].isna().any():
        missing = rows.loc[rows["split"].isna(), "image_id"].tolist()
        raise ReleaseLayoutError(f"the split lists of the {source} release do not name images {missing[:10]}")
    else:
        table = manifest.assign(group=manifest["scene_id"], split=rows["split"])
    return manifest, table


def stage_release(items: Sequence[ReleaseItem], **kwargs) -> tuple[Path, Path, pd.DataFrame, pd.DataFrame]:
    """:func:`adapt_release` into fresh staging folders, both stamped with the manifest."""
    with staging_directories("images", "masks") as (images_dir, masks_dir):
        manifest, table = adapt_release(items, images_dir, masks_dir, **kwargs)
        write_stamp(images_dir, manifest)
        write_stamp(masks_dir, manifest)
    return images_dir, masks_dir, manifest, table


def stage_deepglobe(
    root: str | Path, params: DeepGlobeParams, workers: int | None = None
) -> tuple[Path, Path, pd.DataFrame, pd.DataFrame]:
    """:func:`stage_release` of the DeepGlobe release in ``root``; logs each mask's pixels of no
    class colour (labelled unknown)."""
    items = list_deepglobe(root)
    staged = stage_release(
        items,
        source="deepglobe",
        labels_of=functools.partial(deepglobe_labels, max_off_palette_share=params.max_off_palette_share),
        ratios=params.ratios,
        seed=params.seed,
        workers=workers,
    )
    manifest = staged[2]
    mask_of = {item.image_id: item.label for item in items}
    relabelled = manifest[manifest[OFF_PALETTE_COLUMN] > 0]
    for image_id, count, pixels in zip(
        relabelled["image_id"],
        relabelled[OFF_PALETTE_COLUMN],
        relabelled["height"] * relabelled["width"],
        strict=True,
    ):
        logger.warning(
            "%s: %d pixel%s (%.3f %%) of no class colour after thresholding (JPEG artefacts at class "
            "borders?) labelled unknown (limit: deepglobe.max_off_palette_share)",
            mask_of[image_id],
            count,
            "" if count == 1 else "s",
            100 * count / pixels,
        )
    return staged
