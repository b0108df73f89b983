"""Cities: what makes the scenes of one city look alike and differ from the next city's.

The paper collects about 20 scenes in each of 63 cities from several satellite sources; scenes of
one city share land use (how urban, how much water, greenhouses or forest), the sensor's colour
rendering and a map projection. A ``CityStyle`` holds exactly those shared traits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from urur.classes import URUR_CLASSES

SOURCES = ("synthetic-sensor-A", "synthetic-sensor-B", "synthetic-sensor-C")
UTM_ZONES_EPSG = (32649, 32650, 32651)  # WGS 84 / UTM zones 49N-51N (eastern China, like URUR)


@dataclass(frozen=True)
class CityStyle:
    """Shared traits of one city's scenes. Fractions are shares of the scene area a layer may claim."""

    name: str
    source: str
    epsg: int
    origin: tuple[float, float]  # easting, northing (m) of the city's first scene corner
    urban_fraction: float
    building_density: float  # probability that a building lot holds a building
    woodland_fraction: float
    water_fraction: float
    bareland_fraction: float
    greenhouse_fraction: float
    tint: tuple[float, float, float]  # sensor colour balance, added to every pixel (0-255 units)
    class_shift: tuple[tuple[float, float, float], ...]  # per-class colour shift: local materials, crops
    haze: float  # atmospheric haze: lifts dark tones, lowers contrast


def city_style(seed: int, city_index: int) -> CityStyle:
    """The style of city ``city_index``; depends only on (seed, city_index), not on how many cities."""
    rng = np.random.default_rng([seed, city_index])
    shifts = rng.uniform(-10.0, 10.0, size=(len(URUR_CLASSES), 3))
    return CityStyle(
        name=f"city{city_index:02d}",
        source=SOURCES[int(rng.integers(len(SOURCES)))],
        epsg=UTM_ZONES_EPSG[int(rng.integers(len(UTM_ZONES_EPSG)))],
        origin=(float(rng.uniform(300_000, 700_000)), float(rng.uniform(2_500_000, 4_500_000))),
        urban_fraction=float(rng.uniform(0.25, 0.6)),
        building_density=float(rng.uniform(0.55, 0.9)),
        woodland_fraction=float(rng.uniform(0.08, 0.25)),
        water_fraction=float(rng.uniform(0.03, 0.1)),
        bareland_fraction=float(rng.uniform(0.04, 0.12)),
        greenhouse_fraction=float(rng.uniform(0.1, 0.35)),
        tint=tuple(float(t) for t in rng.uniform(-12.0, 12.0, size=3)),
        class_shift=tuple(tuple(float(v) for v in row) for row in shifts),
        haze=float(rng.uniform(0.0, 25.0)),
    )
