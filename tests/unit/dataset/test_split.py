"""Train/val/test split: deterministic, scenes whole, cities balanced, 7:1:2."""

from __future__ import annotations

import json
import logging
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from urur.dataset.scene_table import IngestionError
from urur.dataset.split import footprint_groups, split_ids, split_images


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
        # 2.7 / 2.7 / 0.6: floor 2 / 2 / 0, the leftovers to train and val (3 / 3 / 0); test is
        # promised an image, taken from the largest target (train, the first of the tie): 2 / 3 / 1.
        (6, (0.45, 0.45, 0.1), (2, 3, 1)),
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
    with caplog.at_level(logging.INFO, logger="urur.dataset.split"):
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


def _reference_split(manifest: pd.DataFrame, ratios: tuple[float, float, float], seed: int) -> list[str]:
    """The module docstring's algorithm restated in plain Python (exact fractions for the targets),
    for manifests without footprints: each scene is its own group, named by its id as text."""
    scene_of = [str(s) for s in manifest["scene_id"]]
    city_of = dict(zip(scene_of, manifest["city"], strict=True))
    size_of = {name: scene_of.count(name) for name in set(scene_of)}
    names = sorted(size_of)
    total = len(scene_of)
    opened = [k for k in range(3) if ratios[k] > 0]
    promise = len(names) >= len(opened)
    # 1. Largest remainder on exact fractions; a tie goes to the earlier split.
    exact = [Fraction(str(r)) * total for r in ratios]
    targets = [math.floor(e) for e in exact]
    leftover = total - sum(targets)
    for k in sorted(range(3), key=lambda k: (-(exact[k] - targets[k]), k))[:leftover]:
        targets[k] += 1
    if promise:
        for k in range(3):
            if ratios[k] > 0 and targets[k] == 0:
                targets[max(range(3), key=lambda j: (targets[j], -j))] -= 1
                targets[k] += 1
    # 2. Seeded shuffle, then largest first (stable); greedy on the city + global deficits.
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    order.sort(key=lambda name: -size_of[name])
    split_of: dict[str, int] = {}
    counts = [0, 0, 0]
    city_counts: dict[object, list[int]] = {}
    for name in order:
        size, city = size_of[name], city_counts.setdefault(city_of[name], [0, 0, 0])
        deficit = {
            k: ratios[k] * (sum(city) + size) - city[k] + ratios[k] * (sum(counts) + size) - counts[k]
            for k in opened
        }
        best = max(opened, key=lambda k: (deficit[k], -k))
        split_of[name] = best
        city[best] += size
        counts[best] += size

    def move(name: str, to: int) -> None:
        for table in (counts, city_counts[city_of[name]]):
            table[split_of[name]] -= size_of[name]
            table[to] += size_of[name]
        split_of[name] = to

    def members(k: int) -> list[str]:
        return [name for name in order if split_of[name] == k]

    # 3. A promised split left empty gets the smallest scene of the split with most scenes.
    if promise:
        for k in opened:
            if not members(k):
                donor = max(range(3), key=lambda j: (len(members(j)), -j))
                move(min(members(donor), key=lambda name: size_of[name]), k)

    # 4. Best single moves while they bring the sizes closer to the targets.
    def surplus(name: str, k: int) -> float:
        city = city_counts[city_of[name]]
        return city[k] - ratios[k] * sum(city)

    while True:
        error = sum(abs(c - t) for c, t in zip(counts, targets, strict=True))
        best_move = None
        for name in order:
            here, size = split_of[name], size_of[name]
            if promise and len(members(here)) == 1:
                continue
            for to in opened:
                if to == here:
                    continue
                after = list(counts)
                after[here] -= size
                after[to] += size
                gain = error - sum(abs(c - t) for c, t in zip(after, targets, strict=True))
                key = (gain, surplus(name, here) - surplus(name, to), -size)
                if gain > 0 and (best_move is None or key > best_move[0]):
                    best_move = (key, name, to)
        if best_move is None:
            break
        move(best_move[1], best_move[2])
    return [SPLIT_NAMES[split_of[name]] for name in scene_of]


SPLIT_NAMES = ("train", "val", "test")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 7), st.sampled_from("abc")), min_size=1, max_size=25),
    st.sampled_from([(0.7, 0.1, 0.2), (0.5, 0.25, 0.25), (0.8, 0.0, 0.2), (0.6, 0.3, 0.1), (1.0, 0.0, 0.0)]),
    st.integers(0, 50),
)
def test_split_assignment_equals_the_documented_algorithm(scenes, ratios, seed):
    manifest = _manifest([size for size, _ in scenes], [city for _, city in scenes])
    table = split_images(manifest, ratios=ratios, seed=seed)
    assert list(table["split"]) == _reference_split(manifest, ratios, seed)
    assert list(table["group"]) == [str(s) for s in manifest["scene_id"]]


@pytest.mark.parametrize(
    ("sizes", "cities", "ratios", "seed"),
    [
        # Uneven scenes in two cities: the greedy deficits, the empty-split fix and the repair all act.
        ([9, 7, 5, 3, 2, 1, 1], list("aabbabb"), (0.7, 0.1, 0.2), 0),
        ([6, 6, 1, 1, 1], list("abcab"), (0.7, 0.1, 0.2), 3),
        ([2, 2, 2, 2, 1, 1, 1, 1, 1, 1], list("aaaaabbbbb"), (0.6, 0.3, 0.1), 5),
        ([1, 1, 1], list("aaa"), (0.7, 0.1, 0.2), 1),
        ([4, 1], list("ab"), (0.7, 0.1, 0.2), 0),  # fewer scenes than splits: nothing promised
        # Found against mutants: each case tells a step of the algorithm apart from a near miss.
        # 5 images at 0.6 / 0.3 / 0.1: targets 3 / 2 / 0, and test's promised image comes from train.
        ([1, 2, 1, 1], list("acaa"), (0.6, 0.3, 0.1), 4),
        ([1, 2, 1, 1, 1], list("aaacc"), (0.45, 0.45, 0.1), 4),
        # val is the largest target (0.3 / 0.6 / 0.1 of 6 images): test's image comes from val.
        ([1, 1, 1, 3], list("aaaa"), (0.3, 0.6, 0.1), 0),
        # A split with ratio 0 is promised nothing: targets 5 / 0 / 2, reached exactly.
        ([4, 1, 2], list("bba"), (0.65, 0.0, 0.35), 4),
        # Twelve scenes: the shuffle starts from the group ids sorted as text ("0", "1", "10", "11", "2").
        ([1] * 12, list("a" * 12), (0.7, 0.1, 0.2), 0),
        # The repair's ties: the city surplus, then the smaller scene, then the first in the order.
        ([2, 1, 3, 2, 4, 3], list("cbbabb"), (0.5, 0.25, 0.25), 1),
        ([1, 4, 4, 2, 2, 4, 4, 4], list("abaaabab"), (0.5, 0.25, 0.25), 1),
    ],
)
def test_split_assignment_of_chosen_cases(sizes, cities, ratios, seed):
    manifest = _manifest(sizes, cities)
    assert list(split_images(manifest, ratios=ratios, seed=seed)["split"]) == _reference_split(
        manifest, ratios, seed
    )


def test_default_seed_and_ratios_are_0_and_7_1_2():
    manifest = _manifest([3, 2, 2, 1, 1, 1, 1], list("abababa"))
    assert list(split_images(manifest)["split"]) == _reference_split(manifest, (0.7, 0.1, 0.2), 0)


def test_ratios_summing_to_one_within_a_millionth_are_accepted():
    table = split_images(_uniform(1, 10, images_per_scene=1), ratios=(0.7, 0.1, 0.2000005))
    assert table["split"].value_counts().to_dict() == {"train": 7, "test": 2, "val": 1}


def test_image_bounds_take_every_corner_of_a_sheared_footprint():
    from urur.dataset.split import _image_bounds

    # x = 1 col + 0.5 row + 1000, y = 0.5 col - 1 row + 5000 on a 100 x 100 image: each bound comes
    # from one corner: xmin (0, 0), ymax (0, 100), ymin (100, 0), xmax (100, 100).
    sheared = json.dumps([1.0, 0.5, 1000.0, 0.5, -1.0, 5000.0])
    assert _image_bounds({"transform": sheared, "height": 100, "width": 100}) == (1000, 4900, 1150, 5050)
    # rasterio's Affine lists nine numbers; the last row (0, 0, 1) is ignored.
    nine = json.dumps([2.0, 0.0, 10.0, 0.0, -2.0, 50.0, 0.0, 0.0, 1.0])
    assert _image_bounds({"transform": nine, "height": 5, "width": 3}) == (10, 40, 16, 50)
    for row in (
        {"transform": float("nan"), "height": 5, "width": 3},  # a missing value read from a CSV
        {"transform": "", "height": 5, "width": 3},
        {"transform": nine, "height": None, "width": 3},
        {"transform": nine, "height": 5, "width": None},
        {"height": 5, "width": 3},
    ):
        assert _image_bounds(row) is None


def _box_row(image_id: str, scene: str, x: float, y: float, w: float = 100.0, h: float = 100.0) -> dict:
    """An image of ``w`` x ``h`` 1-unit pixels whose top-left corner is at (x, y)."""
    return {
        "image_id": image_id,
        "scene_id": scene,
        "city": "x",
        "height": int(h),
        "width": int(w),
        "crs": "EPSG:32650",
        "transform": json.dumps([w / int(w), 0.0, x, 0.0, -h / int(h), y]),
    }


def test_a_scene_footprint_is_the_union_of_its_images():
    rows = [
        # A non-georeferenced image first: it is skipped, the rest is still read.
        {"image_id": "plain", "scene_id": "plain", "city": "x", "height": 100, "width": 100},
        # Scene "big": 2 x 2 images covering x 0..200, y 0..200.
        _box_row("big_00", "big", 0, 200),
        _box_row("big_01", "big", 100, 200),
        _box_row("big_10", "big", 0, 100),
        _box_row("big_11", "big", 100, 100),
        # One probe scene overlapping each image of "big" only near its outer corner.
        _box_row("p1", "p1", -5, 205, 10, 10),
        _box_row("p2", "p2", 195, 205, 10, 10),
        _box_row("p3", "p3", -5, 5, 10, 10),
        _box_row("p4", "p4", 195, 5, 10, 10),
        _box_row("away", "away", 300, 200),
    ]
    manifest = pd.DataFrame(rows)
    groups = dict(zip(manifest["scene_id"], footprint_groups(manifest), strict=True))
    assert {scene: groups[scene] for scene in ("big", "p1", "p2", "p3", "p4")} == dict.fromkeys(
        ("big", "p1", "p2", "p3", "p4"), "big"
    )
    assert groups["plain"] == "plain" and groups["away"] == "away"


def test_edge_noise_is_no_overlap_but_a_centimetre_is():
    # UTM-like coordinates (northing about 5e6): the tolerance is a millionth of the smaller side
    # of the two footprints, not of their coordinates.
    x0, y0 = 400_000.0, 5_000_000.0
    manifest = pd.DataFrame(
        [
            _box_row("a", "a", x0, y0),
            _box_row("b", "b", x0 + 100 - 1e-7, y0),  # shares a's right edge, up to float noise
            _box_row("c", "c", x0, y0 - 100 + 0.01),  # overlaps a by 1 cm along y
            _box_row("d", "d", x0 + 300, y0),
            _box_row("e", "e", x0 + 400 - 0.01, y0 - 50),  # overlaps d by 1 cm along x
        ]
    )
    groups = dict(zip(manifest["scene_id"], footprint_groups(manifest), strict=True))
    assert groups == {"a": "a", "b": "b", "c": "a", "d": "d", "e": "d"}


def test_every_group_of_two_or_more_scenes_is_logged(caplog):
    manifest = pd.DataFrame(
        [
            _box_row("a", "a", 0, 100),
            _box_row("b", "b", 50, 100),
            _box_row("c", "c", 1000, 100),
            _box_row("d", "d", 1050, 100),
            _box_row("e", "e", 5000, 100),
        ]
    )
    with caplog.at_level(logging.INFO, logger="urur.dataset.split"):
        table = split_images(manifest)
    assert list(table["group"]) == ["a", "a", "c", "c", "e"]
    assert [r.getMessage() for r in caplog.records if r.name == "urur.dataset.split"] == [
        "split: 2 groups of scenes with overlapping footprints each go to one split: a + b; c + d"
    ]


def test_long_lists_in_manifest_errors_show_five():
    twice = _manifest([1] * 12, ["x"] * 12)
    twice["image_id"] = [f"i{k % 6}" for k in range(12)]
    with pytest.raises(ValueError, match=r"repeated: \['i0', 'i1', 'i2', 'i3', 'i4'\]$"):
        split_images(twice)
    mixed = _manifest([2] * 6, ["x"] * 6)
    mixed.loc[mixed.index % 2 == 1, "city"] = "y"  # every scene has an x and a y image
    with pytest.raises(
        ValueError,
        match=r"^scenes \[0, 1, 2, 3, 4\] have images from several cities; "
        r"fix the scene_id or city columns of the image manifest$",
    ):
        split_images(mixed)


def test_split_ids_lists_one_split_as_text_in_the_table_order():
    table = pd.DataFrame(
        {
            "image_id": [12, 3, 7, 5, 40],
            "split": ["val", "train", "val", "test", "train"],
            "group": list("abcde"),
        }
    )
    assert split_ids(table, "val") == ["12", "7"]  # table order, not sorted; ids as text
    assert split_ids(table, "train") == ["3", "40"]
    assert split_ids(table, "test") == ["5"]
    assert split_ids(table, "holdout") == []


def test_a_scene_footprint_takes_each_bound_from_the_image_that_reaches_it():
    # Scene "s1": a wide low image (x 0..200, y 0..100) then a tall one on its left (x 0..100,
    # y 100..200): the union reaches x = 200 through the first image only. Scene "s2": the same two
    # images in the other order, so x = 1200 comes from the second image. Probes "z1" and "z2"
    # overlap only the part of each union that only one image reaches.
    manifest = pd.DataFrame(
        [
            _box_row("s1_a", "s1", 0, 100, 200, 100),
            _box_row("s1_b", "s1", 0, 200, 100, 100),
            _box_row("s2_b", "s2", 1000, 200, 100, 100),
            _box_row("s2_a", "s2", 1000, 100, 200, 100),
            _box_row("z1", "z1", 150, 50, 10, 10),
            _box_row("z2", "z2", 1150, 50, 10, 10),
        ]
    )
    groups = dict(zip(manifest["scene_id"], footprint_groups(manifest), strict=True))
    assert groups == {"s1": "s1", "s2": "s2", "z1": "s1", "z2": "s2"}


def test_a_half_metre_gap_is_no_overlap_at_negative_coordinates():
    # Web Mercator west of Greenwich (x about -8e6) and south of the equator (y about -5e6): the
    # tolerance is a millionth of a side, positive wherever the footprints lie, so a 0.5 m gap
    # between neighbours never joins them; an overlap of 1 cm does.
    west, south = -8_000_000.0, -5_000_000.0
    manifest = pd.DataFrame(
        [
            _box_row("a", "a", west, 5_000_000.0),
            _box_row("b", "b", west + 100.5, 5_000_000.0),  # 0.5 m east of a
            _box_row("c", "c", 8_000_000.0, south),
            _box_row("d", "d", 8_000_000.0 + 100.5, south),  # 0.5 m east of c
            _box_row("e", "e", west, south),
            _box_row("f", "f", west + 99.99, south),  # 1 cm over e
        ]
    )
    groups = dict(zip(manifest["scene_id"], footprint_groups(manifest), strict=True))
    assert groups == {"a": "a", "b": "b", "c": "c", "d": "d", "e": "e", "f": "e"}


def test_only_images_with_a_transform_and_a_crs_have_footprints():
    manifest = pd.DataFrame(
        [
            # Overlapping transforms but an empty CRS: no footprint, no group.
            _box_row("a", "a", 0, 100) | {"crs": ""},
            _box_row("b", "b", 50, 100) | {"crs": ""},
            # A CRS without a transform (a missing value read from a CSV) next to real footprints.
            _box_row("c", "c", 0, 100) | {"transform": float("nan")},
            _box_row("d", "d", 20, 100),
            _box_row("e", "e", 60, 100),
        ]
    )
    groups = dict(zip(manifest["scene_id"], footprint_groups(manifest), strict=True))
    assert groups == {"a": "a", "b": "b", "c": "c", "d": "d", "e": "d"}
