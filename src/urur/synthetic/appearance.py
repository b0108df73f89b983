"""What a synthetic scene looks like: class materials, city colour balance, texture and light.

Each class has a few materials (a roof's concrete, tiles or steel; a crop's growth stage; a lake's
depth); the layout's per-object ``tone`` picks a colour between them. A city shifts every class's
colour a little (sensor, local materials), the capture date's season browns vegetation, and each
scene gets its own brightness, illumination gradient, haze and sun direction (building shadows).
Texture is per-class noise: a fine grain everywhere and a coarser, blurred "crown" noise that makes
woodland look like tree tops and bare soil look mottled. Classes therefore differ by colour *and*
texture, as they do in satellite images.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from urur.synthetic.cities import CityStyle
from urur.synthetic.layout import BUILDING, FARMLAND, FLAT, WOODLAND
from urur.synthetic.noise import hash_fields

# Materials per class, in URUR class order; the tone 0..255 runs through them (RGB, 0-255).
MATERIALS: tuple[tuple[tuple[float, float, float], ...], ...] = (
    ((128, 118, 100), (146, 134, 112), (120, 114, 100), (156, 142, 118)),  # others: yards, paving
    ((182, 180, 176), (172, 104, 84), (112, 136, 160), (216, 215, 210)),  # building: concrete, tile...
    ((84, 126, 52), (104, 142, 58), (136, 150, 78), (166, 152, 96)),  # farmland: growth stages
    ((202, 207, 214), (186, 196, 206), (216, 219, 221), (196, 201, 201)),  # greenhouse: plastic film
    ((72, 96, 56), (56, 86, 46), (46, 73, 41), (38, 62, 36)),  # woodland: sparse to dense
    ((192, 168, 128), (176, 152, 116), (202, 182, 142), (168, 142, 106)),  # bareland: soils
    ((72, 102, 106), (52, 86, 100), (40, 71, 90), (32, 58, 80)),  # water: shallow to deep
    ((96, 97, 100), (86, 87, 91), (116, 110, 100), (78, 79, 84)),  # road: asphalt, dirt
)
# Near-infrared reflectance per class (shallow/sparse to deep/dense): vegetation bright, water dark.
NIR_MATERIALS: tuple[tuple[float, float], ...] = (
    (100, 90),
    (115, 105),
    (185, 150),
    (150, 140),
    (175, 200),
    (130, 120),
    (30, 12),
    (80, 70),
)
GRAIN_STD = np.array([8, 5, 5, 4, 7, 7, 2, 4], dtype=np.float32)  # per-pixel noise
CROWN_STD = np.array([10, 3, 8, 2, 26, 12, 3, 3], dtype=np.float32)  # blurred noise, ~3 px blobs
PATTERN_GAIN = np.array([0, 0.25, 0.12, 0.2, 0, 0, 0, 0], dtype=np.float32)  # crop rows, ridges
WINTER_SHIFT = np.array([28, 4, -6], dtype=np.float32)  # crops brown in winter (woodland half as much)
SHADOW_FACTOR = np.float32(0.55)
CROWN_SIGMA = 1.5


@dataclass(frozen=True)
class SceneLook:
    """Per-scene rendering choices; ``colours`` and ``nir`` map (class, tone) to a value."""

    colours: np.ndarray  # (classes, 256, 3) float32
    nir: np.ndarray  # (classes, 256) float32
    brightness: float
    gradient: tuple[float, float]  # relative brightness change per pixel along rows, columns
    haze: float
    sun_offset: tuple[int, int]  # rows, columns a building's shadow is cast (down and right)
    seed: int


def _tone_table(materials: np.ndarray) -> np.ndarray:
    """(classes, 256, channels): tone t runs linearly through each class's materials."""
    count = materials.shape[1]
    position = np.arange(256, dtype=np.float32) / 255.0 * (count - 1)
    low = np.minimum(position.astype(int), count - 2)
    weight = (position - low)[None, :, None]
    return (materials[:, low] * (1 - weight) + materials[:, low + 1] * weight).astype(np.float32)


def season_of(date: dt.date) -> float:
    """1 in midsummer (mid July), -1 in midwinter, for the northern hemisphere."""
    return float(np.cos(2 * np.pi * (date.timetuple().tm_yday - 196) / 365.25))


def scene_look(rng: np.random.Generator, style: CityStyle, capture_date: dt.date, size: int) -> SceneLook:
    """Draw a scene's look: the city's palette, the season's vegetation and this capture's light."""
    colours = _tone_table(np.asarray(MATERIALS, dtype=np.float32))
    colours += np.asarray(style.class_shift, dtype=np.float32)[:, None, :]
    colours += np.asarray(style.tint, dtype=np.float32)
    winter = (1 - season_of(capture_date)) / 2
    colours[FARMLAND] += np.float32(winter) * WINTER_SHIFT
    colours[WOODLAND] += np.float32(winter / 2) * WINTER_SHIFT
    nir = _tone_table(np.asarray(NIR_MATERIALS, dtype=np.float32)[:, :, None])[:, :, 0]
    angle = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(0.0, 0.25) / size
    return SceneLook(
        colours=colours,
        nir=nir,
        brightness=float(rng.uniform(0.85, 1.12)),
        gradient=(float(strength * np.sin(angle)), float(strength * np.cos(angle))),
        haze=float(style.haze + rng.uniform(0, 10)),
        sun_offset=(int(rng.integers(2, 8)), int(rng.integers(2, 8))),
        seed=int(rng.integers(2**62)),
    )


def _texture_noise(
    seed: int, start: int, stop: int, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Grain (white) and crown (blurred white) noise of rows ``start:stop``, zero mean, unit variance.

    Both are fixed per pixel (hashes of the pixel position) and the blur reads a halo of rows,
    so strips join seamlessly whatever the strip cut.
    """
    halo = int(4 * CROWN_SIGMA) + 1
    lo, hi = max(start - halo, 0), min(stop + halo, height)
    rows = np.arange(lo, hi, dtype=np.int64)[:, None]
    cols = np.arange(width, dtype=np.int64)[None, :]
    unit = np.float32(np.sqrt(12.0))  # a uniform [0, 1) variable has variance 1/12
    grain, crown = ((plane - np.float32(0.5)) * unit for plane in hash_fields(2, seed, rows, cols))
    blurred = ndimage.gaussian_filter(crown, CROWN_SIGMA, mode="reflect")
    # A 2-D Gaussian blur divides the variance of white noise by 4 pi sigma^2.
    crown = blurred[start - lo : stop - lo] * np.float32(2 * np.sqrt(np.pi) * CROWN_SIGMA)
    return grain[start - lo : stop - lo], crown


def _shadow(labels: np.ndarray, start: int, stop: int, offset: tuple[int, int]) -> np.ndarray:
    """Pixels of rows ``start:stop`` in a building's shadow: the building lies ``offset`` up-left."""
    dy, dx = offset
    width = labels.shape[1]
    caster = np.zeros((stop - start, width), dtype=bool)
    src_start, src_stop = max(start - dy, 0), max(stop - dy, 0)
    if src_stop > src_start:
        source = labels[src_start:src_stop, : width - dx] == BUILDING
        caster[caster.shape[0] - source.shape[0] :, dx:] = source
    return caster & (labels[start:stop] != BUILDING)


def render_rows(
    labels: np.ndarray,
    tone: np.ndarray,
    pattern: np.ndarray,
    look: SceneLook,
    start: int,
    stop: int,
    bands: int = 3,
) -> np.ndarray:
    """(rows, W, bands) uint8 image of rows ``start:stop``; band 4, if asked, is near-infrared."""
    height, width = labels.shape
    lab, ton = labels[start:stop], tone[start:stop]
    value = look.colours[lab, ton]
    if bands == 4:
        value = np.concatenate([value, look.nir[lab, ton][..., None]], axis=-1)
    relief = PATTERN_GAIN[lab] * (pattern[start:stop].astype(np.float32) - FLAT) / FLAT
    value *= (1 + relief)[..., None]
    grain, crown = _texture_noise(look.seed, start, stop, height, width)
    texture = GRAIN_STD[lab] * grain + CROWN_STD[lab] * crown
    value += texture[..., None]
    value[_shadow(labels, start, stop, look.sun_offset)] *= SHADOW_FACTOR

    rows = (np.arange(start, stop, dtype=np.float32) - height / 2)[:, None]
    cols = (np.arange(width, dtype=np.float32) - width / 2)[None, :]
    light = look.brightness * (1 + look.gradient[0] * rows + look.gradient[1] * cols)
    value *= light[..., None].astype(np.float32)
    haze = np.float32(look.haze)
    value = value * (1 - haze / 255) + haze
    return np.clip(value + 0.5, 0, 255).astype(np.uint8)
