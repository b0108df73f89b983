"""The ``predict`` Kedro pipeline: a folder of rasters -> label GeoTIFFs, and only on demand."""

from __future__ import annotations

import numpy as np
import rasterio
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from urur.config import PredictParams
from urur.io.raster import write_raster
from urur.pipelines.predict import create_pipeline


def test_predict_pipeline_writes_one_mask_per_raster(tmp_path, monkeypatch, checkpoint):
    monkeypatch.setenv("URUR_STAGING_DIR", str(tmp_path / "staging"))
    inputs = tmp_path / "predict"
    rng = np.random.default_rng(0)
    write_raster(
        inputs / "a.tif",
        rng.integers(0, 256, (64, 80, 3), dtype=np.uint8),
        crs="EPSG:4326",
        transform=(1e-5, 0.0, 116.0, 0.0, -1e-5, 40.0),
    )
    write_raster(inputs / "b.png", rng.integers(0, 256, (48, 40, 3), dtype=np.uint8))
    catalog = DataCatalog(
        {
            "predict_inputs": MemoryDataset(inputs),
            "training_summary": MemoryDataset({"best_checkpoint": checkpoint, "last_checkpoint": "x"}),
            "params:predict": MemoryDataset(PredictParams(tile=64, overlap=16, device="cpu")),
            "predict_outputs": MemoryDataset(),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    out_dir = catalog["predict_outputs"].load()
    # Each label raster with the side-cars that give QGIS its legend (category names, a .qml style).
    written = sorted(p.name for p in out_dir.iterdir())
    assert written == [
        f"{name}{suffix}" for name in "ab" for suffix in (".qml", ".tif", ".tif.aux.xml", "_preview.png")
    ]
    with rasterio.open(out_dir / "a.tif") as dataset:
        assert dataset.crs.to_string() == "EPSG:4326" and dataset.shape == (64, 80) and dataset.nodata == 255


def test_predict_runs_only_when_named():
    from urur.pipeline_registry import register_pipelines

    pipelines = register_pipelines()
    assert {n.name for n in pipelines["predict"].nodes} == {"predict.predict_rasters"}
    for name in ("__default__", "train_urur"):
        assert "predict.predict_rasters" not in {n.name for n in pipelines[name].nodes}
