"""``urur predict --vector``: label rasters as GeoPackage polygons, read back with pyogrio against
hand-made masks whose regions are known (and scipy's own region count)."""

from __future__ import annotations

import numpy as np
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from scipy import ndimage

from tests.unit.predict.test_raster import CRS as PREDICT_CRS
from tests.unit.predict.test_raster import META, Pointwise, _image
from tests.unit.predict.test_raster import TRANSFORM as PREDICT_TRANSFORM
from urur.classes import URUR_CLASSES
from urur.commands import main
from urur.io.label_raster import write_label_raster
from urur.io.raster import read_raster, write_raster
from urur.io.vectorize import VectorizeError, vectorize_labels
from urur.predict.raster import PredictionError, predict_raster

CRS = "EPSG:32650"
TRANSFORM = (0.5, 0.0, 500000.0, 0.0, -0.5, 4400000.0)  # 0.25 m² pixels
NAMES = ["others", "building", "farmland"]


def _mask() -> np.ndarray:
    """Four regions: background, an L-shaped building across rows 3..8, a separate 2 x 2 building,
    a farmland strip along the top; the last row is no data."""
    mask = np.zeros((10, 12), np.uint8)
    mask[2:8, 3:5] = 1
    mask[6:8, 5:7] = 1
    mask[0:2, 8:12] = 2
    mask[5:7, 9:11] = 1
    mask[9, :] = 255
    return mask


def _read(path):
    meta, _, geometry, fields = pyogrio.raw.read(path)
    table = dict(zip(meta["fields"], fields, strict=True))
    return meta, shapely.from_wkb(geometry), table


def _write(tmp_path, mask, **georef):
    path = tmp_path / "labels.tif"
    write_label_raster(path, mask, class_names=NAMES, **georef)
    return path


@pytest.mark.parametrize("block_rows", [1, 3, 5, 100])
def test_regions_round_trip_with_names_pixels_and_areas(tmp_path, block_rows):
    """One feature per region whatever the strips; the L-shaped building crosses every cut of 1-,
    3- and 5-row strips and still comes out as ONE polygon, equal to its pixels' union."""
    mask = _mask()
    labels = _write(tmp_path, mask, crs=CRS, transform=TRANSFORM)
    out = tmp_path / "labels.gpkg"
    count = vectorize_labels(labels, out, class_names=NAMES, simplify=0, block_rows=block_rows)
    meta, geometry, table = _read(out)
    assert count == len(geometry) == 4
    assert meta["crs"] == CRS and meta["geometry_type"] == "Polygon"
    assert list(meta["fields"]) == ["class_value", "class_name", "pixels", "area_m2"]
    assert sorted(zip(table["class_name"], table["pixels"], strict=True)) == [
        ("building", 4),
        ("building", 16),
        ("farmland", 8),
        ("others", 80),
    ]
    np.testing.assert_allclose(table["area_m2"], table["pixels"] * 0.25)
    assert all(isinstance(g, shapely.Polygon) and g.is_valid for g in geometry)
    np.testing.assert_allclose([g.area for g in geometry], table["area_m2"])  # simplify=0: pixel edges
    l_shape = geometry[list(table["pixels"]).index(16)]
    pixels = shapely.union_all(
        [shapely.box(500000 + c * 0.5, 4400000 - (r + 1) * 0.5, 500000 + (c + 1) * 0.5, 4400000 - r * 0.5)
         for r, c in zip(*np.nonzero(ndimage.label(mask == 1)[0] == 1), strict=True)]
    )  # fmt: skip
    assert l_shape.symmetric_difference(pixels).area < 1e-9
    # Names match values.
    assert [NAMES[v] for v in table["class_value"]] == list(table["class_name"])


def test_count_matches_scipy_regions_on_a_noisy_mask_across_strips(tmp_path):
    rng = np.random.default_rng(3)
    mask = ndimage.zoom(rng.integers(0, 3, (12, 15)), 6, order=0).astype(np.uint8)
    mask[rng.random(mask.shape) < 0.02] = 1  # speckle: single-pixel regions
    expected = sum(ndimage.label(mask == v)[1] for v in range(3))
    labels = _write(tmp_path, mask, crs=CRS, transform=TRANSFORM)
    for simplify in (0, 0.75):
        out = tmp_path / f"s{simplify}.gpkg"
        assert vectorize_labels(labels, out, class_names=NAMES, simplify=simplify, block_rows=7) == expected
        _, geometry, table = _read(out)
        assert table["pixels"].sum() == mask.size
        if simplify:  # a coverage: simplified neighbours neither overlap nor leave gaps
            assert all(g.is_valid and not g.is_empty for g in geometry)
            assert shapely.union_all(geometry).area == pytest.approx(mask.size * 0.25)
            assert sum(g.area for g in geometry) == pytest.approx(mask.size * 0.25)
            assert sum(shapely.get_num_coordinates(g) for g in geometry) < sum(
                shapely.get_num_coordinates(g) for g in _read(tmp_path / "s0.gpkg")[1]
            )


def test_geographic_or_missing_crs_has_null_areas(tmp_path):
    labels = _write(tmp_path, _mask(), crs="EPSG:4326", transform=(1e-5, 0, 116.0, 0, -1e-5, 40.0))
    out = tmp_path / "geo.gpkg"
    vectorize_labels(labels, out, class_names=NAMES, simplify=0)
    _, _, table = _read(out)
    assert np.isnan(table["area_m2"]).all() and table["pixels"].sum() == 108
    plain = tmp_path / "plain"
    plain.mkdir()
    vectorize_labels(_write(plain, _mask()), plain / "p.gpkg", class_names=NAMES, simplify=0)
    meta, geometry, table = _read(plain / "p.gpkg")
    assert meta["crs"] is None and np.isnan(table["area_m2"]).all()
    assert shapely.total_bounds(geometry).tolist() == [0, 0, 12, 9]  # pixel coordinates


def test_all_no_data_gives_an_empty_layer(tmp_path):
    labels = _write(tmp_path, np.full((6, 6), 255, np.uint8), crs=CRS, transform=TRANSFORM)
    assert vectorize_labels(labels, tmp_path / "e.gpkg", class_names=NAMES) == 0
    meta, geometry, _ = _read(tmp_path / "e.gpkg")
    assert len(geometry) == 0 and list(meta["fields"]) == ["class_value", "class_name", "pixels", "area_m2"]


def test_bad_requests_are_named_and_leave_nothing(tmp_path):
    labels = _write(tmp_path, _mask(), crs=CRS, transform=TRANSFORM)
    with pytest.raises(VectorizeError, match=r"give a \.gpkg path"):
        vectorize_labels(labels, tmp_path / "x.shp", class_names=NAMES)
    with pytest.raises(VectorizeError, match="simplify >= 0"):
        vectorize_labels(labels, tmp_path / "x.gpkg", class_names=NAMES, simplify=-1)
    with pytest.raises(VectorizeError, match="class value 2 but only 2 classes"):
        vectorize_labels(labels, tmp_path / "x.gpkg", class_names=NAMES[:2])
    out = tmp_path / "kept.gpkg"
    vectorize_labels(labels, out, class_names=NAMES)
    with pytest.raises(FileExistsError):
        vectorize_labels(labels, out, class_names=NAMES, replace=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "kept.gpkg",
        "labels.qml",
        "labels.tif",
        "labels.tif.aux.xml",
    ]


def test_urur_classes_by_default_names(tmp_path):
    mask = _mask()
    mask[mask == 2] = 7
    labels = tmp_path / "u.tif"
    write_label_raster(labels, mask, class_names=URUR_CLASSES)
    vectorize_labels(labels, tmp_path / "u.gpkg", class_names=URUR_CLASSES)
    assert sorted(set(_read(tmp_path / "u.gpkg")[2]["class_name"])) == ["building", "others", "road"]


def test_urur_predict_vector_writes_the_labels_regions(tmp_path):
    """``predict_raster(vector=...)`` (a pointwise model): the features hold every labelled pixel
    once, by class, one per region; an existing GeoPackage is refused without overwrite."""

    source = tmp_path / "scene.tif"
    write_raster(source, _image(150, 170), crs=PREDICT_CRS, transform=PREDICT_TRANSFORM)
    labels, vector = tmp_path / "labels.tif", tmp_path / "labels.gpkg"
    predict_raster(
        Pointwise().eval(), META, source, labels, tile=64, overlap=16, vector=vector, progress=False
    )
    predicted = read_raster(labels)
    _, geometry, table = _read(vector)
    assert len(geometry) == sum(ndimage.label(predicted == v)[1] for v in range(8))
    for value in np.unique(predicted):
        assert table["pixels"][table["class_value"] == value].sum() == (predicted == value).sum()
    assert set(table["class_name"]) == {URUR_CLASSES[v] for v in np.unique(predicted)}
    np.testing.assert_allclose(table["area_m2"], table["pixels"] * 0.25)
    with pytest.raises(PredictionError, match=r"labels\.gpkg exists; pass --overwrite"):
        predict_raster(Pointwise().eval(), META, source, tmp_path / "b.tif", vector=vector, progress=False)
    assert not (tmp_path / "b.tif").exists()


def test_urur_predict_cli_vector_option(tmp_path, checkpoint):
    source = tmp_path / "scene.tif"
    write_raster(source, _image(100, 120), crs=PREDICT_CRS, transform=PREDICT_TRANSFORM)
    args = ["predict", str(source), "-o", str(tmp_path / "m.tif"), "--checkpoint", checkpoint, "--tile", "64"]
    args += ["--overlap", "16", "--device", "cpu", "--vector", str(tmp_path / "m.gpkg")]
    done = CliRunner().invoke(main, [*args, "--simplify", "0"])
    assert done.exit_code == 0, done.output
    assert f"wrote {tmp_path / 'm.gpkg'}" in done.output
    _, geometry, table = _read(tmp_path / "m.gpkg")
    assert table["pixels"].sum() == 100 * 120
    np.testing.assert_allclose([g.area for g in geometry], table["area_m2"])  # --simplify 0: pixel edges
    bad = CliRunner().invoke(main, [*args, "--simplify", "-1", "--overwrite"])
    assert bad.exit_code == 2 and "--simplify" in bad.output


@pytest.mark.parametrize("flip", [False, True])
def test_a_u_shaped_region_whose_arms_meet_strips_later_is_one_feature(tmp_path, flip):
    """Two arms, separate for three strips, joined by a bar in the fourth (or, flipped, one bar
    splitting into two arms): one building, and the others region inside the U is its own."""
    mask = np.zeros((9, 7), np.uint8)
    mask[0:8, 1] = mask[0:8, 5] = 1
    mask[7, 1:6] = 1
    mask = mask[::-1].copy() if flip else mask
    labels = _write(tmp_path, mask, crs=CRS, transform=TRANSFORM)
    out = tmp_path / "u.gpkg"
    assert vectorize_labels(labels, out, class_names=NAMES, simplify=0, block_rows=2) == 3
    _, geometry, table = _read(out)
    building = geometry[list(table["class_name"]).index("building")]
    assert isinstance(building, shapely.Polygon) and building.area == pytest.approx(19 * 0.25)
    assert sorted(table["pixels"]) == [19, 21, 23]  # inside the U: 3 x 7; outside: the rest
