"""Deterministic train/val/test split that keeps raw scenes whole and balances cities.

The paper splits URUR 7:1:2 (2,157 / 280 / 571 images). Images cut from one raw scene
(``scene_id``) overlap in content, so a scene never spans two splits (it would leak test
content into training); every city should appear in every split in about the same proportions.

Leakage between scenes is refused or grouped before splitting:

- images of different scenes with equal pixel checksums (one scene listed twice) are an error
  naming both (:func:`urur.dataset.leaks.check_duplicate_pixels`);
- scenes whose footprints overlap (same CRS, intersecting bounds: e.g. a tile and a sub-scene
  of it, or two passes over one place) form one split group, which lands in one split as a
  whole. The ``group`` column of the result names each image's group (its first scene id in
  sorted order); groups of more than one scene are logged. Footprints come from the manifest's
  ``crs``, ``transform``, ``height`` and ``width``; scenes without them are groups of their own.

Below, "scene" means split group.

Algorithm (all counts in images; a scene weighs as many images as it has):

1. Integer targets per split from the ratios (largest remainder); when there are at least as
   many scenes as splits with a positive ratio, each such split is promised at least one image.
2. Scenes are shuffled with ``seed`` and then ordered largest first (big scenes are the hard
   ones to place; the shuffle only decides among equal sizes). Each scene goes to the split
   with the largest sum of two deficits: its city's (``ratio * city images so far - city count``)
   and the whole dataset's (the same over all images so far). The city term balances cities,
   the global term keeps small cities (too small for a val scene of their own) from all
   starving the same split.
3. An empty split that was promised an image gets the smallest scene of the split with the most
   scenes.
4. Global repair: while moving one scene to another split brings the split sizes closer to
   the targets (sum of absolute differences), make the best such move, preferring the scene
   whose city is most over-represented in its split, then smaller scenes. Moves never empty a
   promised split. Each move lowers an integer error, so this ends.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from urur.dataset.leaks import check_duplicate_pixels

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass
class _Scene:
    scene_id: object
    city: object
    size: int
    split: int = -1


def _check_ratios(ratios: Sequence[float]) -> np.ndarray:
    values = np.asarray(list(ratios), dtype=float)
    if values.shape != (len(SPLITS),):
        raise ValueError(f"ratios must be {len(SPLITS)} numbers for {'/'.join(SPLITS)}, got {list(ratios)}")
    if not np.isfinite(values).all() or (values < 0).any() or values[0] == 0:
        raise ValueError(
            f"ratios must be finite and non-negative with a positive train ratio, got {list(ratios)}"
        )
    if not math.isclose(values.sum(), 1.0, abs_tol=1e-6):
        raise ValueError(f"ratios must sum to 1, got {list(ratios)} (sum {values.sum():g})")
    return values


def _targets(total: int, ratios: np.ndarray, promise_one: bool) -> np.ndarray:
    """Integer split sizes summing to ``total``, by largest remainder (ties: earlier split)."""
    exact = ratios * total
    targets = np.floor(exact).astype(int)
    remainders = np.round(exact - targets, 9)  # 22.4 - 22 and 6.4 - 6 must tie, whatever the float noise
    for index in np.argsort(-remainders, kind="stable")[: total - targets.sum()]:
        targets[index] += 1
    if promise_one:
        for index in np.flatnonzero((ratios > 0) & (targets == 0)):
            targets[np.argmax(targets)] -= 1
            targets[index] += 1
    return targets


def _image_bounds(row: dict) -> tuple[float, float, float, float] | None:
    """``(xmin, ymin, xmax, ymax)`` of an image's footprint (its four corners), ``None`` without one."""
    transform, height, width = row.get("transform"), row.get("height"), row.get("width")
    if not isinstance(transform, str) or not transform or height is None or width is None:
        return None
    a, b, c, d, e, f = json.loads(transform)[:6]
    corners = [(0, 0), (0, int(width)), (int(height), 0), (int(height), int(width))]
    xs = [a * col + b * row + c for row, col in corners]
    ys = [d * col + e * row + f for row, col in corners]
    return min(xs), min(ys), max(xs), max(ys)


def footprint_groups(image_manifest: pd.DataFrame) -> pd.Series:
    """Split group of each image: scenes whose footprints overlap (same CRS, bounds intersecting
    in an area, not only along an edge) are joined, transitively; a group is named by its first
    scene id in sorted order. Without ``scene_id`` every image is its own scene."""
    scene_of = image_manifest.get("scene_id", image_manifest["image_id"]).astype(str)
    crs_of = image_manifest.get("crs", pd.Series(None, index=image_manifest.index))
    footprints: dict[str, tuple[str, np.ndarray]] = {}
    for index, row in zip(image_manifest.index, image_manifest.to_dict("records"), strict=True):
        bounds, crs = _image_bounds(row), crs_of[index]
        if bounds is None or not isinstance(crs, str) or not crs:
            continue
        scene = scene_of[index]
        if scene in footprints:
            old = footprints[scene][1]
            bounds = (*np.minimum(old[:2], bounds[:2]), *np.maximum(old[2:], bounds[2:]))
        footprints[scene] = (crs, np.asarray(bounds, dtype=float))
    parent = {scene: scene for scene in sorted(set(scene_of))}

    def root(scene: str) -> str:
        while parent[scene] != scene:
            scene = parent[scene]
        return scene

    names = sorted(footprints)
    for k, first in enumerate(names):
        crs, box = footprints[first]
        for second in names[k + 1 :]:
            other_crs, other = footprints[second]
            overlap = np.minimum(box[2:], other[2:]) - np.maximum(box[:2], other[:2])
            # Edges shared by neighbouring tiles differ by float noise only: not an overlap.
            tolerance = 1e-6 * np.minimum(box[2:] - box[:2], other[2:] - other[:2])
            if crs == other_crs and (overlap > tolerance).all():
                low, high = sorted((root(first), root(second)))
                parent[high] = low
    return scene_of.map(root)


def _scenes(image_manifest: pd.DataFrame) -> tuple[list[_Scene], pd.Series]:
    if "image_id" not in image_manifest.columns:
        raise ValueError("the image manifest has no image_id column")
    if image_manifest.empty:
        raise ValueError("the image manifest is empty: there are no images to split")
    duplicated = image_manifest["image_id"][image_manifest["image_id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(f"image ids must be unique; repeated: {sorted(map(str, duplicated.unique()))[:5]}")
    check_duplicate_pixels(image_manifest)
    scene_of = image_manifest.get("scene_id", image_manifest["image_id"])
    city_of = image_manifest.get("city", pd.Series("", index=image_manifest.index))
    mixed = pd.DataFrame({"scene": scene_of, "city": city_of}).groupby("scene")["city"].nunique()
    if (mixed > 1).any():
        raise ValueError(
            f"scenes {list(mixed[mixed > 1].index[:5])} have images from several cities; "
            "fix the scene_id or city columns of the image manifest"
        )
    group_of = footprint_groups(image_manifest)
    joined = {
        group: sorted(set(scene_of[group_of == group].astype(str)))
        for group in sorted(set(group_of))
        if scene_of[group_of == group].nunique() > 1
    }
    if joined:
        logger.info(
            "split: %d groups of scenes with overlapping footprints each go to one split: %s",
            len(joined),
            "; ".join(" + ".join(members) for members in joined.values()),
        )
    groups = pd.DataFrame({"group": group_of, "city": city_of}).groupby("group", sort=True)
    # A group spanning cities (rare: overlapping scenes filed under two city names) counts for
    # the city with most of its images, the alphabetically first on a tie.
    scenes = [
        _Scene(group_id, group["city"].value_counts().sort_index(kind="stable").idxmax(), len(group))
        for group_id, group in groups
    ]
    return scenes, group_of


def split_images(
    image_manifest: pd.DataFrame, ratios: Sequence[float] = (0.7, 0.1, 0.2), seed: int = 0
) -> pd.DataFrame:
    """A copy of ``image_manifest`` with ``group`` (split group) and ``split`` (train/val/test)
    columns; see the module doc.

    Uses the ``scene_id`` and ``city`` columns, and ``crs``/``transform``/``height``/``width``
    for footprints; without ``scene_id`` every image is its own scene, without ``city`` all
    images are one city. Same manifest and seed, same split.
    """
    ratio = _check_ratios(ratios)
    scenes, scene_of = _scenes(image_manifest)
    open_splits = np.flatnonzero(ratio > 0)
    promise_one = len(scenes) >= len(open_splits)
    targets = _targets(int(sum(s.size for s in scenes)), ratio, promise_one)

    order = np.random.default_rng(seed).permutation(len(scenes))
    scenes = sorted((scenes[i] for i in order), key=lambda s: -s.size)
    counts = np.zeros(len(SPLITS), dtype=int)
    city_counts: dict[object, np.ndarray] = {}
    for scene in scenes:
        city = city_counts.setdefault(scene.city, np.zeros(len(SPLITS), dtype=int))
        deficit = ratio * (city.sum() + scene.size) - city + ratio * (counts.sum() + scene.size) - counts
        scene.split = int(open_splits[np.argmax(deficit[open_splits])])
        city[scene.split] += scene.size
        counts[scene.split] += scene.size

    def members(split: int) -> list[_Scene]:
        return [s for s in scenes if s.split == split]

    def move(scene: _Scene, to: int) -> None:
        for table in (counts, city_counts[scene.city]):
            table[scene.split] -= scene.size
            table[to] += scene.size
        scene.split = to

    if promise_one:
        for empty in open_splits:
            if not members(empty):
                donor = max(range(len(SPLITS)), key=lambda k: len(members(k)))
                move(min(members(donor), key=lambda s: s.size), int(empty))

    def city_surplus(scene: _Scene, split: int) -> float:
        city = city_counts[scene.city]
        return city[split] - ratio[split] * city.sum()

    while True:
        error = np.abs(counts - targets).sum()
        scenes_in = np.bincount([s.split for s in scenes], minlength=len(SPLITS))
        best = None
        for scene in scenes:
            if promise_one and scenes_in[scene.split] == 1:
                continue
            for to in open_splits:
                if to == scene.split:
                    continue
                after = counts.copy()
                after[scene.split] -= scene.size
                after[to] += scene.size
                gain = error - np.abs(after - targets).sum()
                if gain <= 0:
                    continue
                key = (gain, city_surplus(scene, scene.split) - city_surplus(scene, to), -scene.size)
                if best is None or key > best[0]:
                    best = (key, scene, int(to))
        if best is None:
            break
        move(best[1], best[2])

    split_of_scene = {s.scene_id: SPLITS[s.split] for s in scenes}
    result = image_manifest.copy()
    result["group"] = scene_of.to_numpy()
    result["split"] = scene_of.map(split_of_scene).to_numpy()
    return result


def split_ids(dataset_split: pd.DataFrame, split: str) -> list[str]:
    """Image ids of one split of :func:`split_images`' table, in the table's order."""
    return dataset_split.loc[dataset_split["split"] == split, "image_id"].astype(str).tolist()
