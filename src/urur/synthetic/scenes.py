"""Raw UHR scenes for the embedded dataset: several cities, a few scenes each, written as a user's files.

``generate_scenes`` writes what a user would drop into ``data/01_raw/scenes/``: one raster per
scene (GeoTIFF by default, or PNG/JPEG; 8 or 16 bit; RGB or RGB+NIR) and ``scenes.csv`` with
columns ``scene_id, city, source, capture_date, file``. It also writes each scene's ground-truth
label raster (single-band uint8 GeoTIFF, URUR class values) to a separate folder: the "truth" the
simulated annotators look at, which a real dataset does not have.

Every scene is a pure function of (seed, city index, scene index in the city) and its size, so
scenes are generated independently on any number of processes with identical bytes.
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from rasterio.enums import ColorInterp
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine
from rasterio.windows import Window as RasterWindow

from urur.io.atomic import atomic_path
from urur.io.raster import write_raster
from urur.parallel import map_items
from urur.synthetic.appearance import render_rows, scene_look
from urur.synthetic.cities import CityStyle, city_style
from urur.synthetic.layout import SceneLayout, render_layout
from urur.synthetic.noise import hash_uniform, stable_int

GROUND_RESOLUTION_M = 0.5  # metres per pixel, like the paper's sub-metre satellite sources
SCENE_TABLE_COLUMNS = ("scene_id", "city", "source", "capture_date", "file")
SCENE_TABLE_NAME = "scenes.csv"
IMAGE_FORMATS = {"tif": "GTiff", "png": "PNG", "jpg": "JPEG"}
SIXTEEN_BIT_SCALE = 16  # 16-bit output spans 12 bits (0..4095), like many satellite sensors
STRIP_PIXELS = (
    2**20
)  # pixels painted at once: bounds the float temporaries (the result does not depend on it)
_FIRST_CAPTURE, _LAST_CAPTURE = dt.date(2016, 1, 1), dt.date(2022, 12, 31)


@dataclass(frozen=True)
class SceneSpec:
    """Which scene to make; enough to regenerate it anywhere."""

    seed: int
    city_index: int
    scene_index: int  # index of the scene inside its city
    size: int

    @property
    def scene_id(self) -> str:
        return f"city{self.city_index:02d}_scene{self.scene_index:02d}"


@dataclass(frozen=True)
class SyntheticScene:
    """A generated scene in memory: image (H, W, bands) uint8, truth labels (H, W) uint8, georeference."""

    scene_id: str
    style: CityStyle
    capture_date: dt.date
    image: np.ndarray
    labels: np.ndarray
    transform: Affine
    crs: str


def synthesize_scene(spec: SceneSpec, bands: int = 3) -> SyntheticScene:
    """Generate one scene in memory: layout (labels), then appearance, strip by strip.

    The scene's Generator is seeded from (seed, city index, scene index); draws happen in a fixed
    order (date, layout, look), so adding cities or scenes never changes existing ones.
    """
    if spec.size < 64:
        raise ValueError(f"scene_size must be at least 64 pixels, got {spec.size}")
    style = city_style(spec.seed, spec.city_index)
    rng = np.random.default_rng([spec.seed, spec.city_index, spec.scene_index])
    capture_date = _FIRST_CAPTURE + dt.timedelta(
        days=int(rng.integers((_LAST_CAPTURE - _FIRST_CAPTURE).days + 1))
    )
    strip_rows = max(16, STRIP_PIXELS // spec.size)
    labels, tone, pattern = render_layout(SceneLayout(rng, spec.size, spec.size, style), strip_rows)
    look = scene_look(rng, style, capture_date, spec.size)
    image = np.empty((spec.size, spec.size, bands), dtype=np.uint8)
    for start in range(0, spec.size, strip_rows):
        stop = min(start + strip_rows, spec.size)
        image[start:stop] = render_rows(labels, tone, pattern, look, start, stop, bands)
    # Scenes of a city lie side by side, east of the city's origin, with a gap between them.
    easting = style.origin[0] + spec.scene_index * spec.size * GROUND_RESOLUTION_M * 1.25
    transform = Affine(GROUND_RESOLUTION_M, 0.0, easting, 0.0, -GROUND_RESOLUTION_M, style.origin[1])
    return SyntheticScene(
        scene_id=spec.scene_id,
        style=style,
        capture_date=capture_date,
        image=image,
        labels=labels,
        transform=transform,
        crs=f"EPSG:{style.epsg}",
    )


def _validate_format(image_format: str, bit_depth: int, bands: int) -> None:
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {sorted(IMAGE_FORMATS)}, got {image_format!r}")
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    if bands not in (3, 4):
        raise ValueError(f"bands must be 3 (RGB) or 4 (RGB + near-infrared), got {bands}")
    if image_format != "tif" and bands == 4:
        raise ValueError(
            f"{image_format} cannot hold a near-infrared band; use image_format='tif' for bands=4"
        )
    if image_format == "jpg" and bit_depth == 16:
        raise ValueError("JPEG is 8-bit only; use image_format='tif' or 'png' for bit_depth=16")


def to_sixteen_bit(image: np.ndarray, seed: int, first_row: int = 0) -> np.ndarray:
    """Spread 8-bit values over 12 bits with a fixed per-pixel dither, as a 12-bit sensor would record.

    ``image`` may be a band of rows starting at ``first_row``: the dither depends on absolute pixel
    positions, so converting strip by strip gives the same result as converting the whole image.
    """
    rows = np.arange(first_row, first_row + image.shape[0], dtype=np.int64)[:, None, None]
    cols = np.arange(image.shape[1], dtype=np.int64)[None, :, None]
    chans = np.arange(image.shape[2], dtype=np.int64)[None, None, :]
    dither = (hash_uniform(seed, rows, cols, chans) * SIXTEEN_BIT_SCALE).astype(np.uint16)
    return image.astype(np.uint16) * SIXTEEN_BIT_SCALE + dither


def write_scene_image(scene: SyntheticScene, path: Path, image_format: str, bit_depth: int) -> None:
    """Write the scene's image as ``image_format``, atomically; only GeoTIFF carries the georeference.

    Rows are converted and written a band at a time, so a 16-bit 10240² scene never needs a
    full-size 16-bit copy next to the 8-bit image.
    """
    height, width, count = scene.image.shape
    profile: dict = {
        "driver": IMAGE_FORMATS[image_format],
        "height": height,
        "width": width,
        "count": count,
        "dtype": f"uint{bit_depth}",
    }
    if image_format == "tif":
        profile |= {
            "crs": scene.crs,
            "transform": scene.transform,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "compress": "deflate",
            "interleave": "pixel",
        }
        if count == 3:
            profile["photometric"] = "RGB"
    elif image_format == "jpg":
        profile["quality"] = 92
    rows_per_write = max(256, (STRIP_PIXELS // width) // 256 * 256)  # whole GeoTIFF tile rows
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # PNG/JPEG: plain pictures, no georeference
        with rasterio.open(tmp, "w", **profile) as dst:
            for start in range(0, height, rows_per_write):
                rows = scene.image[start : start + rows_per_write]
                if bit_depth == 16:
                    rows = to_sixteen_bit(rows, stable_int(scene.scene_id), start)
                window = RasterWindow(0, start, width, rows.shape[0])
                dst.write(np.ascontiguousarray(np.moveaxis(rows, -1, 0)), window=window)
            if image_format == "tif":
                names = ("red", "green", "blue", "nir")[:count]
                dst.descriptions = names
                dst.colorinterp = [
                    ColorInterp.red,
                    ColorInterp.green,
                    ColorInterp.blue,
                    ColorInterp.undefined,
                ][:count]


def write_truth(scene: SyntheticScene, path: Path) -> None:
    """Write the truth label raster: single-band uint8 GeoTIFF on the scene's pixel grid."""
    write_raster(path, scene.labels, crs=scene.crs, transform=scene.transform)


@dataclass(frozen=True)
class _SceneJob:
    spec: SceneSpec
    scenes_dir: Path
    truth_dir: Path
    image_format: str
    bit_depth: int
    bands: int


def _make_scene_files(job: _SceneJob) -> dict[str, str]:
    scene = synthesize_scene(job.spec, job.bands)
    file_name = f"{scene.scene_id}.{job.image_format}"
    write_scene_image(scene, job.scenes_dir / file_name, job.image_format, job.bit_depth)
    write_truth(scene, job.truth_dir / f"{scene.scene_id}.tif")
    return {
        "scene_id": scene.scene_id,
        "city": scene.style.name,
        "source": scene.style.source,
        "capture_date": scene.capture_date.isoformat(),
        "file": file_name,
    }


def generate_scenes(
    out_dir: str | Path,
    truth_dir: str | Path,
    *,
    num_cities: int,
    scenes_per_city: int,
    scene_size: int,
    seed: int,
    image_format: str = "tif",
    bit_depth: int = 8,
    bands: int = 3,
    workers: int | None = None,
) -> pd.DataFrame:
    """Write ``num_cities`` x ``scenes_per_city`` raw scenes, their truth rasters and ``scenes.csv``.

    Returns the scene table (also written to ``out_dir/scenes.csv``). Each file appears atomically.
    """
    _validate_format(image_format, bit_depth, bands)
    if num_cities < 1 or scenes_per_city < 1:
        raise ValueError(
            f"num_cities and scenes_per_city must be at least 1, got {num_cities} and {scenes_per_city}"
        )
    out_dir, truth_dir = Path(out_dir), Path(truth_dir)
    jobs = [
        _SceneJob(
            SceneSpec(seed, city, scene, scene_size), out_dir, truth_dir, image_format, bit_depth, bands
        )
        for city in range(num_cities)
        for scene in range(scenes_per_city)
    ]
    rows = map_items(_make_scene_files, jobs, workers=workers, desc="synthetic scenes")
    table = pd.DataFrame(rows, columns=list(SCENE_TABLE_COLUMNS))
    with atomic_path(out_dir / SCENE_TABLE_NAME) as tmp:
        table.to_csv(tmp, index=False)
    return table
