"""Tiny public releases in their own layouts (URUR, DeepGlobe, Inria), written with Pillow and rasterio
directly (not the project's writers), as ../shared/REFERENCE.md describes them; and their adapters' run."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import rasterio
from kedro.io import DataCatalog
from PIL import Image
from pydantic import BaseModel
from rasterio.transform import Affine

from tests.support.kedro_runs import run_pipeline
from urur.classes import DEEPGLOBE_PALETTE, URUR_CLASSES
from urur.config import RuntimeParams
from urur.dataset.split import SPLITS
from urur.io.datasets import DirectoryDataset

SIDE = 64
# A third-party order: "others" last (the release README puts it first).
OTHER_ORDER = [*URUR_CLASSES[1:], URUR_CLASSES[0]]


def block_labels(seed: int, classes: int) -> np.ndarray:
    """Blocks of 16² so every class can appear and training has something to learn."""
    rng = np.random.default_rng(seed)
    return np.kron(rng.integers(0, classes, (SIDE // 16, SIDE // 16)), np.ones((16, 16), int)).astype(
        np.uint8
    )


def rgb(seed: int) -> np.ndarray:
    """Random RGB of SIDE², one image per seed."""
    return np.random.default_rng(seed + 100).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)


def write_urur(root: Path, layout: str) -> dict[str, np.ndarray]:
    """Two images per split, label values in OTHER_ORDER; returns README-order labels by id."""
    expected = {}
    for k, split in enumerate(SPLITS * 2):
        image_id = f"{split}_{k}"
        labels = block_labels(k, len(URUR_CLASSES))
        images, label_dir = (
            (root / split / "image", root / split / "label")
            if layout == "split_first"
            else (root / "imgs" / split, root / "labels" / split)
        )
        images.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb(k)).save(images / f"{image_id}.png")
        # value v of the file is class OTHER_ORDER[v]
        file_values = np.array([OTHER_ORDER.index(name) for name in URUR_CLASSES], np.uint8)[labels]
        Image.fromarray(file_values).save(label_dir / f"{image_id}.png")
        expected[image_id] = labels
    return expected


def write_deepglobe(root: Path) -> dict[str, np.ndarray]:
    """Six ``<id>_sat.jpg`` + RGB ``<id>_mask.png``, mask colours off by a few levels as released."""
    root.mkdir(parents=True, exist_ok=True)
    expected = {}
    for k in range(6):
        image_id = str(100 + k)
        labels = block_labels(k, len(DEEPGLOBE_PALETTE))
        colours = DEEPGLOBE_PALETTE[labels].astype(int)
        noisy = np.where(colours > 0, colours - 3, colours + 3).astype(np.uint8)
        Image.fromarray(rgb(k)).save(root / f"{image_id}_sat.jpg", quality=95)
        Image.fromarray(noisy).save(root / f"{image_id}_mask.png")
        expected[image_id] = labels
    return expected


def write_inria(root: Path) -> dict[str, tuple[np.ndarray, tuple]]:
    """Two cities x images 1, 6, 11 as georeferenced GeoTIFFs with 0/255 masks."""
    (root / "train/images").mkdir(parents=True)
    (root / "train/gt").mkdir(parents=True)
    expected = {}
    for c, city in enumerate(("austin", "vienna")):
        for number in (1, 6, 11):
            image_id = f"{city}{number}"
            buildings = block_labels(c * 10 + number, 2)
            transform = Affine(0.3, 0.0, 500000.0 + 1000 * number, 0.0, -0.3, 3400000.0 + 1000 * c)
            for folder, array in (("images", rgb(number).transpose(2, 0, 1)), ("gt", buildings[None] * 255)):
                with rasterio.open(
                    root / "train" / folder / f"{image_id}.tif", "w", driver="GTiff", height=SIDE, width=SIDE,
                    count=len(array), dtype="uint8", crs="EPSG:32614", transform=transform,
                ) as dataset:  # fmt: skip
                    dataset.write(array)
            expected[image_id] = (buildings, tuple(transform)[:6])
    return expected


def run_adapter(name: str, release_dir: Path, params: BaseModel, out: Path) -> DataCatalog:
    """Run the ``adapt_<name>`` pipeline on ``release_dir`` into folders under ``out``; its catalog."""
    module = importlib.import_module(f"urur.pipelines.adapt_{name}")
    [node] = module.create_pipeline().nodes
    release, params_entry = node.inputs[:2]
    return run_pipeline(
        module.create_pipeline(),
        {
            release: DirectoryDataset(str(release_dir), read_only=True),
            params_entry: params,
            "params:runtime": RuntimeParams(workers=1),
            "params:environment": name,
            "uhr_images": DirectoryDataset(str(out / "images")),
            "masks": DirectoryDataset(str(out / "masks")),
        },
        out / "staging",
    )
