"""Class names, label values and colour palettes: the one home of every label convention.

Label maps store class *values* (0..N-1); RGB masks store palette colours. ``IGNORE_INDEX``
marks pixels excluded from losses, metrics and statistics (image fill/nodata, what annotators
marked "ignore", padding).
"""

from __future__ import annotations

import numpy as np

from urur.errors import UrurError

IGNORE_INDEX = 255
# How annotators mark "ignore" outside index PNGs: this colour in URUR-palette RGB masks, a
# label of this name (any colour) in a CVAT labelmap. White is in no palette below.
IGNORE_COLOUR = (255, 255, 255)
IGNORE_NAME = "ignore"

URUR_CLASSES: tuple[str, ...] = (
    "others",
    "building",
    "farmland",
    "greenhouse",
    "woodland",
    "bareland",
    "water",
    "road",
)
URUR_PALETTE: np.ndarray = np.array(
    [
        (0, 0, 0),
        (230, 230, 230),
        (95, 163, 7),
        (100, 100, 100),
        (200, 230, 160),
        (255, 255, 100),
        (150, 200, 250),
        (240, 100, 80),
    ],
    dtype=np.uint8,
)

DEEPGLOBE_CLASSES: tuple[str, ...] = (
    "unknown",
    "urban",
    "agriculture",
    "rangeland",
    "forest",
    "water",
    "barren",
)
DEEPGLOBE_PALETTE: np.ndarray = np.array(
    [(0, 0, 0), (0, 255, 255), (255, 255, 0), (255, 0, 255), (0, 255, 0), (0, 0, 255), (255, 255, 255)],
    dtype=np.uint8,
)

INRIA_CLASSES: tuple[str, ...] = ("background", "building")
INRIA_PALETTE: np.ndarray = np.array([(0, 0, 0), (255, 255, 255)], dtype=np.uint8)

URUR_PALETTE.setflags(write=False)
DEEPGLOBE_PALETTE.setflags(write=False)
INRIA_PALETTE.setflags(write=False)


class UnknownColourError(UrurError, ValueError):
    """An RGB mask holds a colour that is not in the palette."""


class PaletteError(UrurError, ValueError):
    """A class list too long for any palette here."""


def _pack(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def rgb_to_index_or(mask_rgb: np.ndarray, palette: np.ndarray, fill: int) -> tuple[np.ndarray, np.ndarray]:
    """Map an (H, W, 3) colour mask to (H, W) uint8 class values, colours outside the palette to
    ``fill``; also returns where they were (boolean (H, W)), for callers that count or refuse them."""
    if mask_rgb.ndim != 3 or mask_rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB mask, got shape {mask_rgb.shape}")
    keys = _pack(np.asarray(palette))
    order = np.argsort(keys)
    packed = _pack(mask_rgb)
    pos = np.clip(np.searchsorted(keys[order], packed), 0, len(keys) - 1)
    outside = keys[order][pos] != packed
    labels = order[pos].astype(np.uint8)
    labels[outside] = fill
    return labels, outside


def example_colours(mask_rgb: np.ndarray, where: np.ndarray, count: int = 5) -> list[tuple[int, int, int]]:
    """Up to ``count`` distinct colours of ``mask_rgb`` at ``where``, for error messages."""
    bad = np.unique(_pack(mask_rgb[where]))[:count]
    return [((int(k) >> 16) & 255, (int(k) >> 8) & 255, int(k) & 255) for k in bad]


def rgb_to_index(mask_rgb: np.ndarray, palette: np.ndarray = URUR_PALETTE) -> np.ndarray:
    """Map an (H, W, 3) colour mask to (H, W) uint8 class values.

    Raises ``UnknownColourError`` listing the offending colours: silently mapping an unknown
    colour to a class would corrupt the labels.
    """
    labels, outside = rgb_to_index_or(mask_rgb, palette, IGNORE_INDEX)
    if outside.any():
        raise UnknownColourError(
            f"{int(outside.sum())} pixels have colours outside the palette, "
            f"e.g. {example_colours(mask_rgb, outside)}"
        )
    return labels


def index_to_rgb(labels: np.ndarray, palette: np.ndarray = URUR_PALETTE) -> np.ndarray:
    """Colour an (H, W) label map with ``palette``; ``IGNORE_INDEX`` becomes ``IGNORE_COLOUR``,
    other values outside the palette black."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(palette)] = palette
    lut[IGNORE_INDEX] = IGNORE_COLOUR
    return lut[labels]


def mask_colour_table(palette: np.ndarray = URUR_PALETTE) -> dict[int, tuple[int, int, int, int]]:
    """GeoTIFF colour table of a mask: the palette opaque, ``IGNORE_INDEX`` transparent."""
    table = {value: (*map(int, colour), 255) for value, colour in enumerate(palette)}
    table[IGNORE_INDEX] = (*IGNORE_COLOUR, 0)
    return table


_PALETTES: dict[tuple[str, ...], np.ndarray] = {
    URUR_CLASSES: URUR_PALETTE,
    DEEPGLOBE_CLASSES: DEEPGLOBE_PALETTE,
    INRIA_CLASSES: INRIA_PALETTE,
}


def palette_for(class_names: tuple[str, ...] | list[str]) -> np.ndarray:
    """The palette of a known class list (a checkpoint's ``class_names``); URUR's for others that
    it can colour, so predictions of a model trained on relabelled URUR data still open coloured."""
    palette = _PALETTES.get(tuple(class_names))
    if palette is not None:
        return palette
    if len(class_names) > len(URUR_PALETTE):
        raise PaletteError(
            f"no palette for {len(class_names)} classes {list(class_names)} (URUR's colours "
            f"{len(URUR_PALETTE)}): add one for them to urur.classes (_PALETTES)"
        )
    return URUR_PALETTE
