"""Patch grids, cropping, tiling rasters into annotation patches and merging patches back."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st

from urur.dataset.tiling import (
    PATCH_MANIFEST_COLUMNS,
    crop,
    merge_patches,
    patch_grid,
    patch_id,
    tile_image,
    tile_images,
)
from urur.io.raster import read_raster, write_raster
from urur.io.windows import Window

grids = st.integers(2, 40).flatmap(
    lambda size: st.tuples(st.integers(1, 90), st.integers(1, 90), st.just(size), st.integers(0, size - 1))
)


@settings(max_examples=60, deadline=None)
@given(grids)
def test_patch_grid_covers_the_image_row_major_with_the_paper_stride(grid):
    height, width, size, overlap = grid
    windows = patch_grid(height, width, size, overlap)
    covered = np.zeros((height, width), dtype=int)
    for window in windows:
        assert window.row + window.height <= height and window.col + window.width <= width
        covered[window.slices] += 1
        assert (window.height, window.width) == (min(size, height), min(size, width))
    assert covered.min() >= 1
    assert windows == sorted(windows, key=lambda w: (w.row, w.col))
    for starts, length in (
        (sorted({w.row for w in windows}), height),
        (sorted({w.col for w in windows}), width),
    ):
        assert starts[0] == 0
        assert starts[-1] == max(length - size, 0)  # the last patch sits flush with the border
        gaps = np.diff(starts)
        assert (gaps[:-1] == size - overlap).all()  # stride = patch_size - overlap (880 in the paper)
        assert ((gaps > 0) & (gaps <= size - overlap)).all()


def test_paper_grid_of_a_5120_image_has_36_patches_at_stride_880():
    windows = patch_grid(5120, 5120)
    assert len(windows) == 36
    assert sorted({w.row for w in windows}) == [0, 880, 1760, 2640, 3520, 4120]
    assert {(w.height, w.width) for w in windows} == {(1000, 1000)}


def test_short_side_gets_one_patch_of_its_length():
    windows = patch_grid(700, 1500)
    assert [(w.row, w.col, w.height, w.width) for w in windows] == [(0, 0, 700, 1000), (0, 500, 700, 1000)]


def test_patch_grid_rejects_bad_sizes():
    with pytest.raises(ValueError, match="overlap"):
        patch_grid(100, 100, patch_size=10, overlap=10)
    with pytest.raises(ValueError, match="positive"):
        patch_grid(0, 100)


def test_crop_is_a_view_and_refuses_windows_outside_the_image():
    image = np.arange(5 * 6 * 3).reshape(5, 6, 3)
    part = crop(image, Window(1, 2, 3, 4))
    assert part.shape == (3, 4, 3)
    assert np.shares_memory(part, image)
    assert (part == image[1:4, 2:6]).all()
    with pytest.raises(ValueError, match="not inside the 5x6 image"):
        crop(image, Window(3, 0, 3, 2))


def _reference_merge(patches, windows, height, width):
    """Pixel by pixel, straight from the rule: deepest patch (nearest non-image-border edge),
    then the depth along the other axis, then row-major order."""
    order = sorted(range(len(windows)), key=lambda k: (windows[k].row, windows[k].col))
    rank = {k: position for position, k in enumerate(order)}
    merged = np.empty((height, width), dtype=patches[0].dtype)
    for r in range(height):
        for c in range(width):
            best = None
            for k, w in enumerate(windows):
                if not (w.row <= r < w.row + w.height and w.col <= c < w.col + w.width):
                    continue
                top = r - w.row if w.row > 0 else math.inf
                bottom = w.row + w.height - 1 - r if w.row + w.height < height else math.inf
                left = c - w.col if w.col > 0 else math.inf
                right = w.col + w.width - 1 - c if w.col + w.width < width else math.inf
                key = (min(top, bottom, left, right), max(min(top, bottom), min(left, right)), -rank[k])
                if best is None or key > best[0]:
                    best = (key, k)
            merged[r, c] = patches[best[1]][r - windows[best[1]].row, c - windows[best[1]].col]
    return merged


@settings(max_examples=40, deadline=None)
@given(grids, st.integers(0, 2**32 - 1))
def test_tiling_then_merging_reproduces_the_image(grid, seed):
    height, width, size, overlap = grid
    labels = np.random.default_rng(seed).integers(0, 8, (height, width), dtype=np.uint8)
    windows = patch_grid(height, width, size, overlap)
    merged = merge_patches([crop(labels, w) for w in windows], windows, height, width)
    assert merged.dtype == labels.dtype
    np.testing.assert_array_equal(merged, labels)


@settings(max_examples=40, deadline=None)
@given(grids.filter(lambda g: g[0] * g[1] <= 1500), st.integers(0, 2**32 - 1))
def test_disagreeing_patches_merge_to_the_deepest_patch_label(grid, seed):
    height, width, size, overlap = grid
    rng = np.random.default_rng(seed)
    windows = patch_grid(height, width, size, overlap)
    patches = [rng.integers(0, 8, (w.height, w.width), dtype=np.uint8) for w in windows]
    np.testing.assert_array_equal(
        merge_patches(patches, windows, height, width), _reference_merge(patches, windows, height, width)
    )


def _covering_intervals(draw, length: int) -> list[tuple[int, int]]:
    """Random intervals covering 0..length-1, possibly nested and of different sizes."""
    starts = sorted({0, *draw(st.lists(st.integers(0, length - 1), max_size=3))})
    intervals = []
    for k, start in enumerate(starts):
        reach = starts[k + 1] if k + 1 < len(starts) else length  # must reach the next start
        intervals.append((start, draw(st.integers(reach - start, length - start))))
    return intervals


@st.composite
def product_grids(draw):
    height, width = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    rows, cols = _covering_intervals(draw, height), _covering_intervals(draw, width)
    return height, width, [Window(r, c, h, w) for r, h in rows for c, w in cols]


@settings(max_examples=60, deadline=None)
@given(product_grids(), st.integers(0, 2**32 - 1))
def test_any_product_grid_merges_like_the_reference(grid, seed):
    # Not only patch_grid's regular grids: uneven and nested intervals too, in shuffled order.
    height, width, windows = grid
    rng = np.random.default_rng(seed)
    windows = [windows[k] for k in rng.permutation(len(windows))]
    patches = [rng.integers(0, 8, (w.height, w.width), dtype=np.uint8) for w in windows]
    np.testing.assert_array_equal(
        merge_patches(patches, windows, height, width), _reference_merge(patches, windows, height, width)
    )


def test_overlap_splits_at_its_midpoint_and_image_borders_are_not_patch_edges():
    # Width 10, patches of 6 with overlap 2: columns 0-5 and 4-9. Column 4 is 1 px from the first
    # patch's right edge and 0 px from the second's left edge: first patch. Column 5: second.
    # Column 0 is on an image border, which is no patch edge, so it belongs to the first patch.
    windows = patch_grid(3, 10, patch_size=6, overlap=2)
    assert [(w.col, w.width) for w in windows] == [(0, 6), (4, 6)]
    patches = [np.full((3, 6), 1, np.uint8), np.full((3, 6), 2, np.uint8)]
    merged = merge_patches(patches, windows, 3, 10)
    np.testing.assert_array_equal(merged, np.repeat([[1] * 5 + [2] * 5], 3, axis=0))


def test_equally_deep_patches_are_ordered_by_the_depth_along_the_other_axis():
    # Rows: bands 0-5 and 4-9 (overlap rows 4, 5); columns: bands 0-9 and 4-13 (overlap 4..9).
    # Pixel (4, 7): row depth 1 in band 0 (5-4), 0 in band 1; column depth 2 in band 0 (9-7),
    # 3 in band 1 (7-4). Patches (0,0) and (0,1) are both 1 deep; (0,1) wins because the pixel
    # is deeper inside it along the columns (3 > 2). Row-major order alone would pick (0,0)
    # and make the owner regions staircases; with the rule they are rectangles split at the
    # overlap midpoints: rows 0-4 | 5-9, columns 0-6 | 7-13.
    windows = [Window(0, 0, 6, 10), Window(0, 4, 6, 10), Window(4, 0, 6, 10), Window(4, 4, 6, 10)]
    patches = [np.full((6, 10), k, np.uint8) for k in range(4)]
    merged = merge_patches(patches, windows, 10, 14)
    assert merged[4, 7] == 1
    expected = np.zeros((10, 14), np.uint8)
    expected[:, 7:] += 1
    expected[5:, :] += 2
    np.testing.assert_array_equal(merged, expected)
    np.testing.assert_array_equal(merged, _reference_merge(patches, windows, 10, 14))


def test_merge_patches_rejects_bad_input():
    windows = patch_grid(20, 20, patch_size=12, overlap=4)
    patches = [np.zeros((12, 12), np.uint8) for _ in windows]
    with pytest.raises(ValueError, match=r"shape \(12, 11\), expected \(12, 12\)"):
        merge_patches([*patches[:-1], np.zeros((12, 11), np.uint8)], windows, 20, 20)
    with pytest.raises(ValueError, match="do not form a grid"):
        merge_patches(patches[:-1], windows[:-1], 20, 20)
    with pytest.raises(ValueError, match="do not cover"):
        merge_patches(patches, windows, 20, 21)
    with pytest.raises(ValueError, match="not inside"):
        merge_patches(patches, windows, 19, 20)
    with pytest.raises(ValueError, match="3 patches for 4 windows"):
        merge_patches(patches[:3], windows, 20, 20)
    with pytest.raises(ValueError, match=r"^no patches to merge$"):
        merge_patches([], [], 20, 20)


def test_tile_image_writes_every_patch_and_its_manifest(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    write_raster(tmp_path / "scene.tif", image)
    rows = tile_image(tmp_path / "scene.tif", tmp_path / "patches", "img7", patch_size=16, overlap=4)
    windows = patch_grid(40, 30, 16, 4)
    assert [tuple(r) for r in rows] == [PATCH_MANIFEST_COLUMNS] * len(windows)
    assert [(r["row"], r["col"], r["height"], r["width"]) for r in rows] == [
        (w.row, w.col, w.height, w.width) for w in windows
    ]
    for row, window in zip(rows, windows, strict=True):
        assert row["patch_id"] == patch_id("img7", window)
        assert row["path"] == f"img7/{row['patch_id']}.png"
        np.testing.assert_array_equal(read_raster(tmp_path / "patches" / row["path"]), crop(image, window))
    assert len(list((tmp_path / "patches" / "img7").iterdir())) == len(windows)


def test_tiling_defaults_to_the_papers_1000_px_patches_overlapping_by_120(tmp_path):
    """Patches 1000 px wide at stride 880: a 1000 x 1880 image is two patches, at columns 0 and 880."""
    write_raster(tmp_path / "wide.tif", np.zeros((1000, 1880), np.uint8))
    rows = tile_image(tmp_path / "wide.tif", tmp_path / "patches", "wide")
    assert [(r["col"], r["width"], r["height"]) for r in rows] == [(0, 1000, 1000), (880, 1000, 1000)]
    manifest = pd.DataFrame({"image_id": ["wide"], "path": ["wide.tif"]})
    patches = tile_images(manifest, tmp_path, tmp_path / "again", workers=1)
    assert list(patches["col"]) == [0, 880] and set(patches["width"]) == {1000}


def test_tile_images_tiles_every_manifest_image(tmp_path, capsys):
    for name in ("a", "b"):
        write_raster(tmp_path / "images" / f"{name}.png", np.zeros((20, 20), np.uint8))
    manifest = pd.DataFrame({"image_id": ["a", "b"], "path": ["a.png", "b.png"]})
    table = tile_images(
        manifest, tmp_path / "images", tmp_path / "patches", patch_size=12, overlap=4, workers=1
    )
    assert list(table.columns) == list(PATCH_MANIFEST_COLUMNS)
    assert table.groupby("image_id").size().to_dict() == {"a": 4, "b": 4}
    assert all((tmp_path / "patches" / p).is_file() for p in table["path"])
    assert re.search(r"(^|\r)tiling: ", capsys.readouterr().err)  # the progress bar names the step
    with pytest.raises(ValueError, match=r"lacks columns \['path'\]"):
        tile_images(manifest[["image_id"]], tmp_path / "images", tmp_path / "patches")


def test_patches_of_a_georeferenced_image_carry_world_files_for_gis(tmp_path):
    image = np.random.default_rng(1).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    transform = (0.5, 0.0, 500000.0, 0.0, -0.5, 4000000.0)
    write_raster(tmp_path / "img.tif", image, crs="EPSG:32650", transform=transform)
    rows = tile_image(tmp_path / "img.tif", tmp_path / "patches", "img", patch_size=16, overlap=4)
    for row in rows:
        with rasterio.open(tmp_path / "patches" / row["path"]) as patch:
            # Pixel (0, 0) of the patch lies at pixel (row, col) of the image.
            x, y = 500000.0 + 0.5 * row["col"], 4000000.0 - 0.5 * row["row"]
            assert tuple(patch.transform)[:6] == pytest.approx((0.5, 0.0, x, 0.0, -0.5, y))
            assert patch.crs.to_epsg() == 32650
    suffixes = sorted({p.name.split(".", 1)[1] for p in (tmp_path / "patches" / "img").iterdir()})
    assert suffixes == ["pgw", "png", "png.aux.xml"]


def test_a_band_spanning_the_whole_axis_owns_it():
    """An interval covering the whole axis is infinitely deep: no image border is a patch edge."""
    short_first = [Window(0, 0, 5, 4), Window(0, 0, 10, 4)]  # rows 0..4, then the whole height
    short_last = [Window(0, 0, 10, 4), Window(5, 0, 5, 4)]  # the whole height, then rows 5..9
    for windows in (short_first, short_last):
        whole = next(k for k, w in enumerate(windows) if w.height == 10)
        patches = [np.full((w.height, w.width), k + 1, np.uint8) for k, w in enumerate(windows)]
        np.testing.assert_array_equal(merge_patches(patches, windows, 10, 4), np.full((10, 4), whole + 1))


def test_zero_sides_and_windows_off_the_grid_are_refused():
    for height, width in ((0, 5), (5, 0)):
        with pytest.raises(ValueError, match=rf"^image size must be positive, got {height}x{width}$"):
            patch_grid(height, width, 4, 1)
    windows = [Window(0, 0, 4, 4), Window(2, 2, 4, 4)]  # two row bands x two column bands, only two cells
    with pytest.raises(
        ValueError,
        match=r"^the windows do not form a grid \(every row band crossed with every column band, once\); "
        r"merge patches made by patch_grid$",
    ):
        merge_patches([np.zeros((4, 4), np.uint8)] * 2, windows, 6, 6)


def test_an_empty_manifest_tiles_to_an_empty_patch_manifest(tmp_path):
    table = tile_images(pd.DataFrame({"image_id": [], "path": []}), tmp_path, tmp_path / "out", workers=1)
    assert table.empty and list(table.columns) == list(PATCH_MANIFEST_COLUMNS)
