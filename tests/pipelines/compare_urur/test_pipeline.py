"""The ``compare_urur`` Kedro pipeline: a plan node, then one node per table of the paper."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from tests.support.training_store import write_store
from urur.evaluation.config import EvaluationParams
from urur.experiments.tables import TABLES, CompareParams
from urur.pipelines.compare_urur import create_pipeline
from urur.training import TrainingParams


def test_compare_pipeline_fills_every_table_from_one_shared_training(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no DVC project here: no experiment is saved into this repository's
    monkeypatch.setenv("URUR_STAGING_DIR", str(tmp_path / "staging"))
    split = {"a": "train", "b": "train", "v": "val", "t": "test"}
    images, masks = write_store(tmp_path, list(split), size=64)
    training = TrainingParams(
        model_options={"width": 0.125}, crop_size=64, scale_range=(1.0, 1.0), batch_size=2, workers=0
    )
    # Table 4's WSDNet is the ablations' baseline: one configuration, trained once for all three tables.
    compare = CompareParams.model_validate(
        {
            "seeds": 1,
            "budget": {"iterations": 1, "val_interval": 1, "checkpoint_interval": 1, "device": "cpu"},
            "table4": [
                {"name": "WSDNet", "model": "wsdnet", "options": {"downsample": "dwt", "aux_loss": "wsl"}}
            ],
            "table5": ["dwt"],
            "table6": ["wsl"],
            "keep_predictions": ["WSDNet"],
        }
    )
    outputs = [
        f"compare_{table}{suffix}" for table in TABLES for suffix in ("", "_metrics", "_runs", "_predictions")
    ]
    catalog = DataCatalog(
        {
            "uhr_images": MemoryDataset(images),
            "masks": MemoryDataset(masks),
            "dataset_split": MemoryDataset(
                pd.DataFrame({"image_id": list(split), "split": list(split.values())})
            ),
            "image_manifest": MemoryDataset(
                pd.DataFrame({"image_id": list(split), "height": 64, "width": 64})
            ),
            "params:training": MemoryDataset(training),
            "params:evaluation": MemoryDataset(
                EvaluationParams(device="cpu", branch_ablation=False, speed={"warmup": 0, "runs": 1})
            ),
            "params:compare": MemoryDataset(compare),
        }
        | {name: MemoryDataset(copy_mode="assign") for name in outputs}
    )
    SequentialRunner().run(create_pipeline(), catalog)
    runs = {table: catalog.load(f"compare_{table}_runs") for table in TABLES}
    assert [runs[table]["row"].tolist() for table in TABLES] == [["WSDNet"], ["dwt"], ["wsl"]]
    assert len({runs[table]["checkpoint"].iloc[0] for table in TABLES}) == 1
    assert catalog.load("compare_table4")["row"].tolist() == ["WSDNet", "GLNet", "FCtL"]
    assert set(catalog.load("compare_table5_metrics")["rows"]) == {"dwt"}
    kept = {
        table: sorted(p.name for p in catalog.load(f"compare_{table}_predictions").iterdir())
        for table in TABLES
    }
    assert kept == {"table4": ["WSDNet"], "table5": [], "table6": []}
