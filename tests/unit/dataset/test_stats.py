"""Instance counting, region sampling, context richness R (eq. 1) and the Table 1 statistics."""

from __future__ import annotations

import math
import re
import zlib
from collections import deque

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from urur.config import DatasetStatsParams, RuntimeParams
from urur.dataset.stats import context_richness, count_instances, dataset_statistics, sample_regions
from urur.io.layout import mask_path
from urur.io.raster import write_raster
from urur.io.stamp import write_stamp
from urur.pipelines.dataset_stats.nodes import compute_dataset_stats

# Two 3x3 regions small enough to count by hand.
REGION_A = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 2]], dtype=np.uint8)
# A: class 0 is the 5-pixel cross, one instance; class 1 is three lone corners, 3 instances;
#    class 2 one pixel, 1 instance. Fractions 5/9, 3/9, 1/9.
REGION_B = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.uint8)
# B: class 1 touches itself only diagonally: 2 instances under 4-connectivity; class 0 (7
#    pixels) wraps around them in one piece. Fractions 7/9, 2/9, 0.


def test_count_instances_uses_4_connectivity():
    assert count_instances(REGION_A, 3).tolist() == [1, 3, 1]
    assert count_instances(REGION_B, 3).tolist() == [1, 2, 0]


def test_count_instances_ignores_small_instances_and_values_outside_the_classes():
    labels = np.array([[0, 0, 255], [1, 0, 255], [1, 3, 3]], dtype=np.uint8)
    assert count_instances(labels, 4).tolist() == [1, 1, 0, 1]
    assert count_instances(labels, 4, min_instance_pixels=3).tolist() == [1, 0, 0, 0]
    assert count_instances(labels, 4, min_instance_pixels=2).tolist() == [1, 1, 0, 1]


def _flood_fill_counts(labels: np.ndarray, num_classes: int, min_pixels: int) -> list[int]:
    seen = np.zeros(labels.shape, bool)
    counts = [0] * num_classes
    for start in zip(*np.nonzero(labels < num_classes), strict=True):
        if seen[start]:
            continue
        value, size, queue = labels[start], 0, deque([start])
        seen[start] = True
        while queue:
            r, c = queue.popleft()
            size += 1
            for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                inside = 0 <= nr < labels.shape[0] and 0 <= nc < labels.shape[1]
                if inside and not seen[nr, nc] and labels[nr, nc] == value:
                    seen[nr, nc] = True
                    queue.append((nr, nc))
        counts[value] += size >= min_pixels
    return counts


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_count_instances_matches_a_flood_fill(height, width, min_pixels, seed):
    labels = np.random.default_rng(seed).integers(0, 4, (height, width), dtype=np.uint8)
    assert count_instances(labels, 3, min_pixels).tolist() == _flood_fill_counts(labels, 3, min_pixels)


def test_context_richness_by_hand():
    # p_c = mean of the region fractions: p0 = (5/9 + 7/9)/2 = 2/3, p1 = (3/9 + 2/9)/2 = 5/18,
    #       p2 = (1/9 + 0)/2 = 1/18.
    # O_c = mean instance counts: O0 = (1 + 1)/2 = 1, O1 = (3 + 2)/2 = 2.5, O2 = (1 + 0)/2 = 0.5.
    # R = -(sqrt(1)(2/3)ln(2/3) + sqrt(2.5)(5/18)ln(5/18) + sqrt(0.5)(1/18)ln(1/18))
    #   = -(1 * 0.66667 * -0.40547 + 1.58114 * 0.27778 * -1.28093 + 0.70711 * 0.05556 * -2.89037)
    #   = 0.27031 + 0.56259 + 0.11354 = 0.94645 (0.946447 unrounded)
    expected = -(
        math.sqrt(1) * (2 / 3) * math.log(2 / 3)
        + math.sqrt(2.5) * (5 / 18) * math.log(5 / 18)
        + math.sqrt(0.5) * (1 / 18) * math.log(1 / 18)
    )
    assert expected == pytest.approx(0.946447, abs=1e-6)
    assert context_richness([REGION_A, REGION_B], num_classes=3, q=2.0) == pytest.approx(expected)
    # q = 1 weighs instance counts linearly: O_c instead of sqrt(O_c).
    linear = -(
        (2 / 3) * math.log(2 / 3) + 2.5 * (5 / 18) * math.log(5 / 18) + 0.5 * (1 / 18) * math.log(1 / 18)
    )
    assert context_richness([REGION_A, REGION_B], num_classes=3, q=1.0) == pytest.approx(linear)


def test_context_richness_ignores_small_instances():
    # With min_instance_pixels=2 only the class-0 blobs (5 and 7 pixels) count: O = (1, 0, 0),
    # so R = -(1 * (2/3) ln(2/3)) = 0.27031.
    value = context_richness([REGION_A, REGION_B], num_classes=3, min_instance_pixels=2)
    assert value == pytest.approx(-(2 / 3) * math.log(2 / 3))
    with pytest.raises(ValueError, match="at least one region"):
        context_richness([], num_classes=3)


def test_sample_regions_are_seeded_views_inside_the_mask():
    mask = np.arange(50 * 40).reshape(50, 40)
    regions = sample_regions(mask, 16, 5, np.random.default_rng(3))
    again = sample_regions(mask, 16, 5, np.random.default_rng(3))
    assert len(regions) == 5
    for region, same in zip(regions, again, strict=True):
        assert region.shape == (16, 16)
        assert np.shares_memory(region, mask)
        np.testing.assert_array_equal(region, same)
        top, left = divmod(int(region[0, 0]), 40)
        np.testing.assert_array_equal(region, mask[top : top + 16, left : left + 16])
    assert [r.shape for r in sample_regions(mask[:10], 16, 2, np.random.default_rng(0))] == [(10, 16)] * 2


@pytest.fixture
def masks(tmp_path):
    a = np.zeros((6, 8), np.uint8)
    a[:, 4:] = 1  # classes 0 and 1, one instance each, 24 pixels each
    b = np.full((6, 8), 2, np.uint8)
    b[0, 0] = 255  # not annotated
    b[5, 7] = 3  # a one-pixel instance of class 3; class 2 has 46 pixels in one piece
    write_raster(mask_path(tmp_path, "a"), a, nodata=255)
    write_raster(mask_path(tmp_path, "b"), b, nodata=255)
    manifest = pd.DataFrame({"image_id": ["a", "b"], "height": [6, 6], "width": [8, 8], "city": ["x", "y"]})
    return tmp_path, manifest


def test_dataset_statistics_on_two_hand_made_masks(masks):
    masks_dir, manifest = masks
    # Regions of side 8 cover the whole 6x8 masks, so the sampled regions are the masks themselves.
    summary, per_class = dataset_statistics(
        masks_dir, manifest, region_size=8, regions_per_image=2, workers=1
    )
    # Mean over 2 copies of each mask of the shares of its labelled pixels (b has 47: one is 255).
    p = np.array([24 / 48, 24 / 48, 46 / 47, 1 / 47]) / 2
    richness = -np.sum(np.sqrt(0.5) * p * np.log(p))  # every O_c = (1 + 0) / 2
    assert summary == pytest.approx(
        {
            "images": 2,
            "resolution_height": 6,
            "resolution_width": 8,
            "distinct_resolutions": 1,
            "total_pixels": 96,
            "pixels": 95,
            "pixels_millions": 95e-6,
            "annotation_density": 95 / 96,
            "classes": 4,
            "instances": 4,
            "avg_classes_per_image": 2.0,
            "avg_instances_per_image": 2.0,
            "regions": 4,
            "regions_sampled": 4,
            "avg_classes_per_region": 2.0,
            "avg_instances_per_region": 2.0,
            "context_richness": richness,
            "cities": 2,
        }
    )
    assert per_class["class_name"].tolist()[:4] == ["others", "building", "farmland", "greenhouse"]
    assert per_class["pixels"].tolist() == [24, 24, 46, 1, 0, 0, 0, 0]
    assert per_class["images_with_class"].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    np.testing.assert_allclose(per_class["pixel_fraction"], np.array([24, 24, 46, 1, 0, 0, 0, 0]) / 95)
    filtered, _ = dataset_statistics(
        masks_dir, manifest, region_size=8, regions_per_image=1, min_instance_pixels=2, workers=1
    )
    assert filtered["instances"] == 3  # the lone class-3 pixel is too small


def test_dataset_statistics_do_not_depend_on_order_or_workers(masks, capsys):
    masks_dir, manifest = masks
    options = {"region_size": 3, "regions_per_image": 3, "seed": 5}
    one, _ = dataset_statistics(masks_dir, manifest, workers=1, **options)
    # The progress bar names the step.
    assert re.search(r"(^|\r)dataset statistics: ", capsys.readouterr().err)
    two, _ = dataset_statistics(masks_dir, manifest.iloc[::-1], workers=2, **options)
    assert one == two


def test_dataset_statistics_refuse_a_mask_of_the_wrong_size(masks):
    masks_dir, manifest = masks
    manifest.loc[1, "height"] = 7
    with pytest.raises(ValueError, match=rf"mask {mask_path(masks_dir, 'b')} is 6x8 but its image is 7x8"):
        dataset_statistics(masks_dir, manifest, workers=1)


def test_fill_and_ignore_pixels_count_in_no_statistic_but_the_image_size(masks):
    masks_dir, manifest = masks
    c = np.full((6, 8), 255, np.uint8)  # an image that is all fill
    c[:, :2] = 1  # 12 labelled pixels
    write_raster(mask_path(masks_dir, "c"), c, nodata=255)
    write_raster(mask_path(masks_dir, "d"), np.full((6, 8), 255, np.uint8), nodata=255)
    manifest = pd.DataFrame({"image_id": ["c", "d"], "height": [6, 6], "width": [8, 8]})
    summary, per_class = dataset_statistics(
        masks_dir, manifest, region_size=8, regions_per_image=2, workers=1
    )
    assert (summary["total_pixels"], summary["pixels"]) == (96, 12)
    assert summary["annotation_density"] == pytest.approx(12 / 96)
    # d's regions have no labelled pixel: only c's two regions count, and there class 1 is 100 %.
    assert (summary["regions"], summary["regions_sampled"]) == (2, 4)
    assert summary["context_richness"] == 0.0  # -1 * ln 1
    assert per_class["pixel_fraction"].tolist() == [0, 1, 0, 0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match=r"no sampled region of the 1 masks in .* has a labelled pixel"):
        dataset_statistics(masks_dir, manifest.iloc[1:], workers=1)


def test_regions_per_image_below_one_is_refused(masks):
    masks_dir, manifest = masks
    with pytest.raises(ValueError, match=r"regions_per_image must be at least 1 .*got 0"):
        dataset_statistics(masks_dir, manifest, regions_per_image=0, workers=1)


def test_bad_arguments_and_masks_are_refused_by_message(masks):
    masks_dir, manifest = masks
    with pytest.raises(ValueError, match=r"expected a 2-D label array, got shape \(3, 3, 1\)"):
        count_instances(REGION_A[..., None], 3)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"need region_size >= 1 and num_regions >= 0, got 0, 2"):
        sample_regions(REGION_A, 0, 2, rng)
    with pytest.raises(ValueError, match=r"need region_size >= 1 and num_regions >= 0, got 2, -1"):
        sample_regions(REGION_A, 2, -1, rng)
    assert sample_regions(REGION_A, 2, 0, rng) == []  # zero regions is allowed
    for empty in (manifest.iloc[:0], manifest.drop(columns="image_id")):
        with pytest.raises(
            ValueError, match="the image manifest must list at least one image in an image_id"
        ):
            dataset_statistics(masks_dir, empty, workers=1)
    with pytest.raises(ValueError, match=r"^2 class names for 8 classes; give one name per class$"):
        dataset_statistics(masks_dir, manifest, class_names=["x", "y"], workers=1)
    write_raster(mask_path(masks_dir, "b"), np.zeros((6, 8, 3), np.uint8))
    with pytest.raises(
        ValueError, match=rf"mask {mask_path(masks_dir, 'b')} has 3 bands; masks are one band of class values"
    ):
        dataset_statistics(masks_dir, manifest, workers=1)


def reference_context_richness(
    masks: dict[str, np.ndarray],
    *,
    region_size: int,
    regions_per_image: int,
    min_instance_pixels: int,
    q: float,
    seed: int,
    num_classes: int = 8,
) -> float:
    """Eq. (1) over sampled regions, without urur.dataset.stats: each image's square regions at positions
    drawn from ``default_rng([seed, crc32(image_id)])`` (rows, then columns), p_c from the labelled
    pixels (values below ``num_classes``), O_c from the flood fill above; regions with no labelled
    pixel are left out."""
    fractions, instances = [], []
    for image_id, mask in masks.items():
        rng = np.random.default_rng([seed, zlib.crc32(image_id.encode())])
        side_r, side_c = min(region_size, mask.shape[0]), min(region_size, mask.shape[1])
        rows = rng.integers(0, mask.shape[0] - side_r + 1, regions_per_image)
        cols = rng.integers(0, mask.shape[1] - side_c + 1, regions_per_image)
        for r, c in zip(rows, cols, strict=True):
            region = mask[r : r + side_r, c : c + side_c]
            labelled = region[region < num_classes]
            if labelled.size:
                fractions.append(np.bincount(labelled, minlength=num_classes) / labelled.size)
                instances.append(_flood_fill_counts(region, num_classes, min_instance_pixels))
    p, objects = np.mean(fractions, axis=0), np.mean(instances, axis=0)
    return -sum(objects[c] ** (1 / q) * p[c] * math.log(p[c]) for c in range(num_classes) if p[c] > 0)


def test_context_richness_of_sampled_regions_matches_an_independent_computation(tmp_path):
    rng = np.random.default_rng(12)
    masks = {}
    for k, shape in enumerate([(40, 50), (33, 20), (40, 50)]):
        # Blocky labels (4x4 cells), so instances span several pixels; some 255 (unlabelled).
        cells = rng.integers(0, 9, (shape[0] // 4 + 1, shape[1] // 4 + 1)).astype(np.uint8)
        mask = np.kron(cells, np.ones((4, 4), np.uint8))[: shape[0], : shape[1]]
        mask[mask == 8] = 255
        masks[f"img{k}"] = mask
        write_raster(mask_path(tmp_path, f"img{k}"), mask, nodata=255)
    manifest = pd.DataFrame({"image_id": list(masks), "checksum": ["c0", "c1", "c2"]})
    options = {"region_size": 24, "regions_per_image": 3, "min_instance_pixels": 5, "q": 1.5, "seed": 9}
    summary, _ = dataset_statistics(tmp_path, manifest, workers=1, **options)
    expected = reference_context_richness(masks, **options)
    assert summary["context_richness"] == pytest.approx(expected, rel=1e-12)
    assert expected != pytest.approx(reference_context_richness(masks, **{**options, "seed": 10}))
    # The Kedro node passes every parameter through (none equals its default here).
    write_stamp(tmp_path, manifest)
    stats, _ = compute_dataset_stats(
        tmp_path, manifest, DatasetStatsParams(**options), RuntimeParams(workers=1)
    )
    assert stats["context_richness"] == pytest.approx(expected, rel=1e-12)


def test_dataset_statistics_defaults_are_the_documented_values(tmp_path):
    """Defaults: 1000-pixel regions, 4 per image, seed 0; each of them changes R on this mask."""
    rng = np.random.default_rng(21)
    cells = rng.integers(0, 8, (1050 // 50, 1100 // 50)).astype(np.uint8)
    mask = np.kron(cells, np.ones((50, 50), np.uint8))  # 1050 x 1100: regions of 1000 move around
    write_raster(mask_path(tmp_path, "big"), mask, nodata=255)
    manifest = pd.DataFrame({"image_id": ["big"]})
    summary, per_class = dataset_statistics(tmp_path, manifest, workers=1)
    defaults = {"region_size": 1000, "regions_per_image": 4, "seed": 0}
    assert summary == dataset_statistics(tmp_path, manifest, workers=1, **defaults)[0]
    for key, other in (("region_size", 999), ("regions_per_image", 5), ("seed", 1)):
        changed, _ = dataset_statistics(tmp_path, manifest, workers=1, **{**defaults, key: other})
        assert changed["context_richness"] != summary["context_richness"], key
    assert summary["regions_sampled"] == 4
    assert summary["pixels_millions"] == mask.size / 1e6
    assert list(per_class.columns) == [
        "class_value",
        "class_name",
        "pixels",
        "pixel_fraction",
        "instances",
        "images_with_class",
        "region_p",
        "region_instances",
    ]
    assert list(per_class["class_value"]) == list(range(8))
    assert list(per_class["pixels"]) == np.bincount(mask.ravel(), minlength=8).tolist()
    assert per_class["instances"].sum() == summary["instances"] > 8


def test_count_instances_are_int64_and_one_labelled_pixel_is_all_of_its_region(tmp_path):
    labels = np.array([[0, 0, 1], [2, 0, 1]], np.uint8)
    counts = count_instances(labels, 3)
    assert counts.dtype == np.int64 and list(counts) == [1, 1, 1]
    # One labelled pixel: p = (1, 0, ...), so R = -O^(1/q) * 1 * ln 1 = 0 whatever O is.
    lone = np.full((3, 3), 255, np.uint8)
    lone[1, 1] = 2
    assert context_richness([lone], 3) == 0.0
    write_raster(mask_path(tmp_path, "lone"), lone, nodata=255)
    summary, per_class = dataset_statistics(
        tmp_path, pd.DataFrame({"image_id": ["lone"]}), num_classes=3, region_size=3, workers=1
    )
    assert summary["pixels"] == 1 and list(per_class["pixel_fraction"]) == [0.0, 0.0, 1.0]
    assert list(per_class["region_p"]) == [0.0, 0.0, 1.0]
    assert list(per_class["region_instances"]) == [0, 0, 1]  # O_c: the one region holds one instance


def test_context_richness_default_q_is_2_and_one_pixel_regions_are_allowed():
    # Class 0 in two instances (4 pixels), class 1 in one (2 pixels): p = (2/3, 1/3), O = (2, 1),
    # R = -(2^(1/2) * 2/3 * ln(2/3) + 1/3 * ln(1/3)) with q = 2.
    region = np.array([[0, 1, 0], [0, 1, 0]], np.uint8)
    expected = -(math.sqrt(2) * 2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert context_richness([region], 2) == pytest.approx(expected, rel=1e-12)
    regions = sample_regions(region, 1, 3, np.random.default_rng(0))
    assert [r.shape for r in regions] == [(1, 1)] * 3
    with pytest.raises(
        ValueError, match=r"^context richness needs at least one region with labelled pixels$"
    ):
        context_richness([np.full((2, 2), 255, np.uint8)], 2)


def test_dataset_statistics_messages_in_full(masks):
    masks_dir, manifest = masks
    with pytest.raises(
        ValueError, match=r"^the image manifest must list at least one image in an image_id column$"
    ):
        dataset_statistics(masks_dir, manifest.iloc[:0])
    write_raster(mask_path(masks_dir, "empty"), np.full((6, 8), 255, np.uint8), nodata=255)
    with pytest.raises(
        ValueError, match=r"has a labelled pixel \(all 255\); check the annotations and the images' nodata$"
    ):
        dataset_statistics(masks_dir, pd.DataFrame({"image_id": ["empty"]}), workers=1)
