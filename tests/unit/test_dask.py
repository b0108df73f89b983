"""Per-image stages on a Dask cluster (runtime.scheduler) write what the local pool writes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from dask.distributed import LocalCluster

from urur import parallel
from urur.dataset.ingestion import ingest_scenes
from urur.dataset.scene_table import IngestionError
from urur.dataset.tiling import tile_images
from urur.hooks import DaskSchedulerHook
from urur.synthetic.scenes import generate_scenes


def _build(root: Path, scenes: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ingestion then tiling of the same raw scenes into ``root``."""
    table = pd.read_csv(scenes / "scenes.csv", dtype=str, keep_default_na=False)
    manifest = ingest_scenes(table, scenes, root / "images", split_factor=2, workers=2)
    patches = tile_images(manifest, root / "images", root / "patches", patch_size=48, overlap=8, workers=2)
    return manifest, patches


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster


def test_cluster_run_writes_the_local_run_bytes(tmp_path: Path, cluster: LocalCluster) -> None:
    scenes = tmp_path / "scenes"
    generate_scenes(
        scenes, tmp_path / "truth", num_cities=2, scenes_per_city=2, scene_size=128, seed=3, workers=1
    )
    local = _build(tmp_path / "local", scenes)
    parallel.set_scheduler(cluster.scheduler_address)
    try:
        distributed = _build(tmp_path / "dask", scenes)
    finally:
        parallel.set_scheduler(None)
    for ours, theirs in zip(local, distributed, strict=True):
        pd.testing.assert_frame_equal(ours, theirs)
    assert len(local[0]) == 16 and len(local[1]) == 16 * 4  # 64² images, 2 x 2 patches of 48²
    assert _files(tmp_path / "local") == _files(tmp_path / "dask")


def _refuse(item: int) -> int:
    raise IngestionError(f"raw scene {item}.tif is all fill (nodata); check its nodata value")


def test_cluster_errors_keep_their_type_and_message(cluster: LocalCluster) -> None:
    parallel.set_scheduler(cluster.scheduler_address)
    try:
        assert parallel.map_items(abs, [-1, 2, -3]) == [1, 2, 3]
        with pytest.raises(IngestionError, match=r"raw scene 1\.tif is all fill"):
            parallel.map_items(_refuse, [1])
    finally:
        parallel.set_scheduler(None)


def test_hook_takes_the_scheduler_from_runtime_parameters() -> None:
    hook = DaskSchedulerHook()
    try:
        hook.after_context_created(
            SimpleNamespace(params={"runtime": {"workers": 2, "scheduler": "tcp://10.0.0.5:8786"}})
        )
        assert parallel._scheduler == "tcp://10.0.0.5:8786"
        hook.after_context_created(SimpleNamespace(params={"runtime": {"workers": 2, "scheduler": None}}))
        assert parallel._scheduler is None
    finally:
        parallel.set_scheduler(None)
