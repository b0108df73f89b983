"""The whole chain, run by Kedro and by DVC on a tiny synthetic dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.support.kedro_project import TINY_PARAMETERS, make_project
from tests.support.tools import BIN, run_tool
from tests.unit.dataset.test_stats import reference_context_richness
from urur.dataset.scene_table import IngestionError
from urur.io.layout import mask_path
from urur.io.raster import read_raster
from urur.io.windows import Window
from urur.pipeline_registry import register_pipelines


def test_chain_builds_every_output(project: Path) -> None:
    data = project / "data"
    scenes = pd.read_csv(data / "01_raw/synthetic/scenes/scenes.csv")
    manifest = pd.read_parquet(data / "02_intermediate/image_manifest.parquet")
    patches = pd.read_parquet(data / "03_primary/patch_manifest.parquet")
    assert len(scenes) == 4
    assert len(manifest) == 16 and set(manifest["height"]) == {128}
    assert len(patches) == 16 * 9
    assert all((data / "03_primary/patches" / p).is_file() for p in patches["path"])
    masks = sorted((data / "03_primary/masks").glob(f"*{mask_path('', 'x').suffix}"))
    assert [m.stem for m in masks] == sorted(manifest["image_id"])
    # No staging or backup folders are left behind (only the run lock's file).
    assert not [p for p in data.rglob(".*") if p.name not in {".gitkeep", ".urur-run.lock"}]
    # Nothing was written into a user's folders.
    assert [p.name for p in (data / "01_raw/scenes").iterdir()] == [".gitkeep"]


def test_merged_masks_match_the_truth_annotators_saw(project: Path) -> None:
    data = project / "data"
    manifest = pd.read_parquet(data / "02_intermediate/image_manifest.parquet")
    scenes = pd.read_csv(data / "01_raw/synthetic/scenes/scenes.csv").set_index("scene_id")
    agreement = []
    for row in manifest.itertuples():
        scene_file = Path(scenes.loc[row.scene_id, "file"])
        truth_file = data / "01_raw/synthetic/truth" / scene_file.with_suffix(".tif").name
        truth = read_raster(truth_file, window=Window(row.row_off, row.col_off, row.height, row.width))
        mask = read_raster(mask_path(data / "03_primary/masks", row.image_id))
        assert mask.shape == truth.shape and mask.max() <= 7
        agreement.append((mask == truth).mean())
    # Simulated annotators make patch-local mistakes, so close to but not exactly the truth.
    assert 0.9 < np.mean(agreement) < 1.0


def test_qa_split_and_stats(project: Path) -> None:
    data = project / "data"
    qa = pd.read_csv(data / "08_reporting/annotation_qa.csv")
    assert len(qa) == 16
    split = pd.read_csv(data / "05_model_input/split.csv")
    assert set(split["split"]) == {"train", "val", "test"}
    assert (split.groupby("scene_id")["split"].nunique() == 1).all()
    stats = json.loads((data / "08_reporting/dataset_stats.json").read_text())
    assert stats["images"] == 16
    assert stats["cities"] == 2
    params = TINY_PARAMETERS["dataset_stats"]
    manifest = pd.read_parquet(data / "02_intermediate/image_manifest.parquet")
    masks = {i: read_raster(mask_path(data / "03_primary/masks", i)) for i in manifest["image_id"]}
    assert stats["context_richness"] == pytest.approx(reference_context_richness(masks, **params), rel=1e-9)
    class_stats = pd.read_csv(data / "08_reporting/dataset_class_stats.csv")
    assert len(class_stats) == 8


def test_kedro_viz_build_writes_a_static_site(project: Path, monkeypatch) -> None:
    run_tool(project, str(BIN / "kedro"), "viz", "build", timeout=300)
    assert (project / "build" / "index.html").is_file()
    api = (project / "build" / "api" / "main").read_text()
    assert "merge_annotations" in api and "compute_dataset_stats" in api
    # Every registered pipeline is in the site, and the whole run ends with the report.
    monkeypatch.chdir(project)  # the registry resolves data_source there
    registered = set(register_pipelines())
    assert {p["id"] for p in json.loads(api)["pipelines"]} == registered
    assert {"reporting", "train_urur", "__default__"} <= registered
    default = json.loads((project / "build" / "api" / "pipelines" / "__default__").read_text())
    assert {"draw_report_figures", "write_report"} <= {n["name"] for n in default["nodes"]}
    # Data-layer bands need an acyclic layer order (kedro-viz drops them all otherwise): pre-labelling's
    # model and drafts sit in their own "annotation" layer between the images and the masks.
    # The order README.md's "Report" section gives for kedro-viz's bands.
    layers = [
        "raw",
        "intermediate",
        "annotation",
        "model_input",
        "primary",
        "models",
        "model_output",
        "reporting",
    ]
    assert default["layers"] == layers
    # Collapsed, the run is the README's chain: one box per namespace, the dataset's stages inside.
    tree = default["modular_pipelines"]
    boxes = {child["id"] for child in tree["__root__"]["children"] if child["type"] == "modularPipeline"}
    assert boxes == {"dataset", "training", "evaluation", "reporting"}
    stages = {child["id"] for child in tree["dataset"]["children"] if child["type"] == "modularPipeline"}
    assert stages == {
        f"dataset.{stage}"
        for stage in (
            "synthetic",
            "ingestion",
            "tiling",
            "synthetic_annotators",
            "prelabel",
            "annotation",
            "prelabel_report",
            "split",
            "stats",
        )
    }
    # Datasets keep their catalog names (no namespace prefix): the catalog and dvc.yaml name them so.
    assert "masks" in {node["name"] for node in default["nodes"] if node["type"] == "data"}


def test_dvc_repro_runs_the_chain_once(tmp_path: Path) -> None:
    root = make_project(tmp_path)

    def run(*cmd: str) -> str:
        return run_tool(root, *cmd).stdout

    run("git", "init", "-q")
    shutil.rmtree(root / ".dvc", ignore_errors=True)
    run("dvc", "init", "-q")
    run("dvc", "config", "core.analytics", "false")
    first = run("dvc", "repro")
    assert "Running stage 'dataset_stats'" in first
    assert (root / "data/08_reporting/dataset_stats.json").is_file()
    second = run("dvc", "repro")
    assert "Running stage" not in second
    # workers changes how fast a stage runs, not what it writes: no stage reruns for it.
    (root / "conf/base/parameters_runtime.yml").write_text("runtime:\n  workers: 1\n")
    assert "Data and pipelines are up to date" in run("dvc", "status", "dvc.yaml")
    metrics = run("dvc", "metrics", "show")
    assert "context_richness" in metrics
    plots = json.loads(run("dvc", "plots", "show", "--json"))
    assert "errors" not in plots
    rendered = plots["data"]["class_pixel_share"][0]["content"]["data"]["values"]
    assert [row["class_name"] for row in rendered][:2] == ["others", "building"]
    assert plots["data"]["class_instances"]


def test_bad_raw_scene_fails_naming_the_file_and_leaves_no_output(tmp_path: Path, monkeypatch) -> None:
    root = make_project(tmp_path)
    bootstrap_project(root)
    monkeypatch.chdir(root)
    with KedroSession.create(project_path=root) as session:
        session.run(pipeline_names=["synthetic"])
    scenes = root / "data/01_raw/synthetic/scenes"
    victim = sorted(scenes.glob("*.tif"))[1]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    before = {p.name: p.read_bytes() for p in scenes.iterdir()}
    with (
        KedroSession.create(project_path=root) as session,
        pytest.raises(IngestionError, match=rf"1 of 4 raw scenes .*\n- cannot read raster .*{victim.name}: "),
    ):
        session.run(pipeline_names=["ingestion"])
    assert {p.name: p.read_bytes() for p in scenes.iterdir()} == before
    assert not (root / "data/02_intermediate/images").exists()
    assert not (root / "data/02_intermediate/image_manifest.parquet").exists()
    assert not list((root / "data/02_intermediate").glob(".*staging*"))
    assert not (root / "data/.staging").exists()
