"""Class names, label values and palettes (urur.classes): colour <-> value both ways, by value."""

from __future__ import annotations

import numpy as np
import pytest

from urur.classes import (
    DEEPGLOBE_CLASSES,
    DEEPGLOBE_PALETTE,
    IGNORE_COLOUR,
    IGNORE_INDEX,
    INRIA_CLASSES,
    INRIA_PALETTE,
    URUR_CLASSES,
    URUR_PALETTE,
    PaletteError,
    UnknownColourError,
    example_colours,
    index_to_rgb,
    mask_colour_table,
    palette_for,
    rgb_to_index,
    rgb_to_index_or,
)


@pytest.mark.parametrize(
    ("classes", "palette"),
    [(URUR_CLASSES, URUR_PALETTE), (DEEPGLOBE_CLASSES, DEEPGLOBE_PALETTE), (INRIA_CLASSES, INRIA_PALETTE)],
)
def test_each_palette_has_one_distinct_colour_per_class_and_is_read_only(classes, palette):
    assert palette.shape == (len(classes), 3) and palette.dtype == np.uint8
    assert len({tuple(colour) for colour in palette.tolist()}) == len(classes)
    with pytest.raises(ValueError, match="read-only"):
        palette[0, 0] = 1


def test_urur_values_are_the_release_readme_order():
    assert URUR_CLASSES.index("others") == 0 and URUR_CLASSES.index("road") == 7 and len(URUR_CLASSES) == 8
    assert URUR_PALETTE[URUR_CLASSES.index("farmland")].tolist() == [95, 163, 7]
    assert IGNORE_INDEX == 255 and IGNORE_COLOUR == (255, 255, 255)
    # White marks "ignore" in URUR masks: it must not also be a URUR class colour.
    assert IGNORE_COLOUR not in {tuple(colour) for colour in URUR_PALETTE.tolist()}


def test_rgb_to_index_maps_every_palette_colour_to_its_value():
    labels = np.array([[0, 1, 2, 3], [4, 5, 6, 7]], np.uint8)
    np.testing.assert_array_equal(rgb_to_index(URUR_PALETTE[labels]), labels)
    deepglobe = np.array([[6, 0], [1, 5]], np.uint8)
    np.testing.assert_array_equal(rgb_to_index(DEEPGLOBE_PALETTE[deepglobe], DEEPGLOBE_PALETTE), deepglobe)


def test_unknown_colours_are_refused_with_their_count_and_values():
    mask = URUR_PALETTE[np.zeros((2, 3), np.uint8)].copy()
    mask[0, 0] = (1, 2, 3)
    mask[1, 2] = (1, 2, 3)
    mask[1, 1] = (255, 255, 255)  # white is "ignore" only through rgb_to_index_or's fill, not a class
    with pytest.raises(UnknownColourError, match=r"^3 pixels have colours outside the palette, e\.g\. "
                       r"\[\(1, 2, 3\), \(255, 255, 255\)\]$"):  # fmt: skip
        rgb_to_index(mask)


def test_rgb_to_index_or_fills_unknown_colours_and_says_where():
    mask = INRIA_PALETTE[np.array([[0, 1], [1, 0]])].copy()
    mask[0, 1] = (9, 9, 9)
    labels, outside = rgb_to_index_or(mask, INRIA_PALETTE, fill=IGNORE_INDEX)
    np.testing.assert_array_equal(labels, [[0, 255], [1, 0]])
    np.testing.assert_array_equal(outside, [[False, True], [False, False]])
    assert labels.dtype == np.uint8


def test_a_mask_that_is_not_rgb_is_refused_with_its_shape():
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) RGB mask, got shape \(4, 4\)"):
        rgb_to_index(np.zeros((4, 4), np.uint8))


def test_example_colours_are_distinct_sorted_and_capped():
    mask = np.array([[(5, 0, 0), (1, 0, 0), (5, 0, 0)], [(3, 0, 0), (2, 0, 0), (4, 0, 0)]], np.uint8)
    where = np.ones((2, 3), bool)
    assert example_colours(mask, where, count=3) == [(1, 0, 0), (2, 0, 0), (3, 0, 0)]
    where[:] = False
    where[0, 2] = True
    assert example_colours(mask, where) == [(5, 0, 0)]


def test_index_to_rgb_colours_ignore_white_and_values_outside_the_palette_black():
    labels = np.array([[1, 255], [2, 9]], np.uint8)
    rgb = index_to_rgb(labels, INRIA_PALETTE)
    np.testing.assert_array_equal(rgb, [[[255, 255, 255], [255, 255, 255]], [[0, 0, 0], [0, 0, 0]]])
    np.testing.assert_array_equal(index_to_rgb(np.array([[7]], np.uint8))[0, 0], [240, 100, 80])


def test_mask_colour_table_is_the_palette_opaque_and_ignore_transparent():
    table = mask_colour_table(INRIA_PALETTE)
    assert table == {0: (0, 0, 0, 255), 1: (255, 255, 255, 255), 255: (255, 255, 255, 0)}
    assert len(mask_colour_table()) == len(URUR_CLASSES) + 1


def test_palette_for_known_lists_urur_for_short_unknown_ones_and_an_error_for_long_ones():
    assert palette_for(list(DEEPGLOBE_CLASSES)) is DEEPGLOBE_PALETTE
    assert palette_for(INRIA_CLASSES) is INRIA_PALETTE
    assert palette_for(["a", "b", "c"]) is URUR_PALETTE  # relabelled URUR: still coloured
    nine = [f"c{k}" for k in range(9)]
    with pytest.raises(PaletteError, match=r"no palette for 9 classes \['c0'.*'c8'\] \(URUR's colours 8\)"):
        palette_for(nine)
