"""Train/val/test split: deterministic, scenes whole, cities balanced, 7:1:2."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from urur.ingestion import IngestionError
from urur.split import footprint_groups, split_images


def _manifest(scene_sizes: list[int], cities: list[str]) -> pd.DataFrame:
    rows = [
        {"image_id": f"{scene}-{k}", "scene_id": scene, "city": city, "height": 64}
        for scene, (size, city) in enumerate(zip(scene_sizes, cities, strict=True))
        for k in range(size)
    ]
    return pd.DataFrame(rows)


def _uniform(cities: int, scenes_per_city: int, images_per_scene: int = 4) -> pd.DataFrame:
    n = cities * scenes_per_city
    return _manifest([images_per_scene] * n, [f"city{k % cities}" for k in range(n)])


def test_split_is_deterministic_and_leaves_its_input_alone():
    manifest = _uniform(3, 10)
    before = manifest.copy()
    first = split_images(manifest, seed=7)
    pd.testing.assert_frame_equal(first, split_images(manifest, seed=7))
    pd.testing.assert_frame_equal(manifest, before)
    assert list(first.columns) == [*manifest.columns, "group", "split"]
    assert list(first["image_id"]) == list(manifest["image_id"])
    others = [split_images(manifest, seed=seed)["split"] for seed in range(1, 6)]
    assert any((other != first["split"]).any() for other in others)  # the seed does matter


def test_split_hits_7_1_2_overall_and_in_every_city():
    # 4 cities x 10 scenes x 4 images: 7/1/2 scenes per city is exact.
    table = split_images(_uniform(4, 10))
    assert table["split"].value_counts().to_dict() == {"train": 112, "test": 32, "val": 16}
    per_city = pd.crosstab(table["city"], table["split"])
    assert (per_city[["train", "val", "test"]] == [28, 4, 8]).all().all()


def test_every_city_gets_its_share_of_scenes_within_one():
    # 6 cities x 12 scenes: a city's ideal share is 8.4 / 1.2 / 2.4 scenes; each city must get
    # 8-9 / 1-2 / 2-3, i.e. within the floor and ceiling of its share.
    table = split_images(_uniform(6, 12), seed=3)
    scenes = pd.crosstab(table["city"], table["split"])[["train", "val", "test"]] // 4
    assert ((scenes >= [8, 1, 2]) & (scenes <= [9, 2, 3])).all().all()


def test_split_follows_other_ratios():
    table = split_images(_uniform(2, 10, images_per_scene=1), ratios=(0.5, 0.25, 0.25))
    assert table["split"].value_counts().to_dict() == {"train": 10, "val": 5, "test": 5}
    assert "val" not in set(split_images(_uniform(2, 10), ratios=(0.8, 0.0, 0.2))["split"])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 6), st.sampled_from("abcd")), min_size=3, max_size=40),
    st.integers(0, 1000),
)
def test_scenes_stay_whole_and_every_split_gets_images(scenes, seed):
    manifest = _manifest([size for size, _ in scenes], [city for _, city in scenes])
    table = split_images(manifest, seed=seed)
    assert (table.groupby("scene_id")["split"].nunique() == 1).all()
    assert set(table["split"]) == {"train", "val", "test"}


def test_three_tiny_scenes_give_one_to_each_split():
    table = split_images(_manifest([1, 1, 1], ["x", "x", "x"]))
    assert sorted(table["split"]) == ["test", "train", "val"]


def test_without_scene_or_city_columns_images_are_independent():
    manifest = pd.DataFrame({"image_id": [f"i{k}" for k in range(10)]})
    assert split_images(manifest)["split"].value_counts().to_dict() == {"train": 7, "test": 2, "val": 1}


@pytest.mark.parametrize(
    ("ratios", "message"),
    [
        ((0.7, 0.2, 0.2), r"sum to 1, got \[0.7, 0.2, 0.2\] \(sum 1.1\)"),
        ((0.9, -0.1, 0.2), "non-negative"),
        ((0.0, 0.5, 0.5), "positive train ratio"),
        ((0.7, 0.3), "3 numbers for train/val/test"),
    ],
)
def test_bad_ratios_are_refused(ratios, message):
    with pytest.raises(ValueError, match=message):
        split_images(_uniform(1, 5), ratios=ratios)


def test_bad_manifests_are_refused():
    mixed = _manifest([2, 2], ["x", "y"])
    mixed.loc[0, "city"] = "y"  # scene 0 now has images in two cities
    with pytest.raises(ValueError, match=r"scenes \[0\] have images from several cities"):
        split_images(mixed)
    twice = _manifest([2, 2], ["x", "y"])
    twice.loc[1, "image_id"] = twice.loc[0, "image_id"]
    with pytest.raises(ValueError, match=r"unique; repeated: \['0-0'\]"):
        split_images(twice)
    with pytest.raises(ValueError, match=r"^the image manifest is empty: there are no images to split$"):
        split_images(pd.DataFrame({"image_id": [], "scene_id": [], "city": []}))
    with pytest.raises(ValueError, match=r"^the image manifest has no image_id column$"):
        split_images(_manifest([2, 2], ["x", "y"]).rename(columns={"image_id": "id"}))


@pytest.mark.parametrize(
    ("images", "ratios", "sizes"),
    [
        # 10.5 / 1.5 / 3: floor 10 / 1 / 3, the leftover image is a tie of train and val (0.5 each)
        # and goes to the earlier split (round() with the rest to train would give 10 / 2 / 3).
        (15, (0.7, 0.1, 0.2), (11, 1, 3)),
        # 4.9 / 0.7 / 1.4: floor 4 / 0 / 1, two leftovers to the largest remainders (train, val).
        (7, (0.7, 0.1, 0.2), (5, 1, 1)),
        # 8.4 / 1.2 / 2.4: one leftover, a tie of train and test: train.
        (12, (0.7, 0.1, 0.2), (9, 1, 2)),
        # 4.5 / 4.5 / 1: a tie of train and val: train (a later-split tie-break gives 4 / 5 / 1).
        (10, (0.45, 0.45, 0.1), (5, 4, 1)),
        # 22.4 / 3.2 / 6.4 ("float noise" tie of train and test): 23 / 3 / 6.
        (32, (0.7, 0.1, 0.2), (23, 3, 6)),
    ],
)
def test_split_sizes_and_tie_breaks_by_largest_remainder(images, ratios, sizes):
    manifest = pd.DataFrame({"image_id": [f"i{k:02d}" for k in range(images)]})
    counts = split_images(manifest, ratios=ratios)["split"].value_counts()
    assert tuple(int(counts.get(split, 0)) for split in ("train", "val", "test")) == sizes


def _geo_manifest(scenes: dict[str, tuple[str, float, float]]) -> pd.DataFrame:
    """One 100x100 image of 1 m pixels per scene, top-left corner at (x, y) in the given CRS."""
    return pd.DataFrame(
        [
            {
                "image_id": f"{scene}_r00000_c00000",
                "scene_id": scene,
                "city": "x",
                "height": 100,
                "width": 100,
                "crs": crs,
                "transform": json.dumps([1.0, 0.0, x, 0.0, -1.0, y]),
            }
            for scene, (crs, x, y) in scenes.items()
        ]
    )


def test_overlapping_footprints_form_one_split_group(caplog):
    manifest = _geo_manifest(
        {
            "tile": ("EPSG:32650", 0, 1000),
            "sub": ("EPSG:32650", -20, 980),  # 64 % inside "tile"
            "pass2": ("EPSG:32650", -50, 890),  # overlaps "sub" only: joins through it
            "edge": ("EPSG:32650", 100, 1000),  # shares an edge with "tile": no overlap
            "utm51": ("EPSG:32651", 0, 1000),  # same numbers, another CRS: elsewhere
            **{f"s{k}": ("EPSG:32650", 1000 * (k + 2), 1000) for k in range(10)},
        }
    )
    groups = footprint_groups(manifest)
    assert dict(zip(manifest["scene_id"], groups, strict=True))["sub"] == "pass2"  # sorted first of the group
    assert groups[manifest["scene_id"].isin(["tile", "sub", "pass2"])].nunique() == 1
    assert set(groups[manifest["scene_id"].isin(["edge", "utm51"])]) == {"edge", "utm51"}
    with caplog.at_level(logging.INFO, logger="urur.split"):
        for seed in range(5):
            table = split_images(manifest, seed=seed)
            assert table.loc[table["scene_id"].isin(["tile", "sub", "pass2"]), "split"].nunique() == 1
    assert (
        "1 groups of scenes with overlapping footprints each go to one split: pass2 + sub + tile"
        in caplog.text
    )
    assert list(table["group"]) == list(groups)


def test_duplicate_pixels_under_two_scene_ids_are_refused_naming_both():
    manifest = _manifest([1, 1, 1], ["x", "x", "x"])
    manifest["checksum"] = ["aa", "bb", "aa"]
    with pytest.raises(IngestionError, match=r"0-0 \(scene 0\) = 2-0 \(scene 2\)"):
        split_images(manifest)
