from __future__ import annotations

import numpy as np
import pytest

from tests.support.scenes import RAW_TRANSFORM, noise, scene_row, write_table
from urur.io.raster import write_raster


@pytest.fixture
def raw_dir(tmp_path):
    """Three valid raw scenes: georeferenced 8-bit RGB GeoTIFF, 16-bit RGBN GeoTIFF, 8-bit PNG."""
    raw = tmp_path / "raw"
    raw.mkdir()
    write_raster(raw / "a.tif", noise((64, 96, 3)), crs="EPSG:32650", transform=RAW_TRANSFORM)
    write_raster(
        raw / "b.tif", noise((64, 64, 4), np.uint16, seed=1), crs="EPSG:4326", transform=RAW_TRANSFORM
    )
    write_raster(raw / "pngs" / "c.png", noise((32, 32, 3), seed=2))
    write_table(
        raw / "scenes.csv", [scene_row("a", "a.tif"), scene_row("b", "b.tif"), scene_row("c", "pngs/c.png")]
    )
    return raw
