"""run_table and train_on_split: a comparison table's runs on a tiny store, without Kedro."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.support.training_store import write_store
from urur.config import ConfigError
from urur.devices import describe_machine
from urur.evaluation.config import EvaluationParams
from urur.experiments.plan import plan_tables
from urur.experiments.run import run_table
from urur.experiments.tables import CompareParams
from urur.experiments.train import train_on_split
from urur.training import TrainingParams
from urur.training.config import TrainingRunParams

SPLIT = {"a": "train", "b": "train", "c": "val", "d": "test", "e": "test"}
TINY = TrainingParams(
    model_options={"width": 0.125},
    crop_size=64,
    scale_range=(1.0, 1.0),
    batch_size=2,
    workers=0,
    iterations=1,
    val_interval=1,
    checkpoint_interval=1,
    device="cpu",
)
QUICK = EvaluationParams(device="cpu", branch_ablation=False, speed={"enabled": True, "warmup": 0, "runs": 1})


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, pd.DataFrame]:
    # Runs in a folder that is no DVC project: no experiment is saved into this repository's.
    monkeypatch.chdir(tmp_path)
    images, masks = write_store(tmp_path, list(SPLIT), size=64)
    return images, masks, pd.DataFrame({"image_id": list(SPLIT), "split": list(SPLIT.values())})


def test_a_two_row_table_trains_and_evaluates_each_row_and_keeps_the_named_predictions(
    store: tuple, tmp_path: Path
) -> None:
    images, masks, split = store
    manifest = pd.DataFrame({"image_id": list(SPLIT), "height": 64, "width": 64})
    compare = CompareParams.model_validate(
        {
            "seeds": 2,
            "table4": [
                {"name": "WSDNet", "model": "wsdnet"},
                {"name": "ISDNet", "model": "isdnet", "seeds": 1},
            ],
            "keep_predictions": ["WSDNet"],
            "run_dir": "runs",
            "experiment_record": "record",
        }
    )
    table4_plan = plan_tables(compare, TINY)[0]
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    table, runs = run_table(table4_plan, images, masks, split, manifest, TINY, QUICK, compare, predictions)
    assert runs[["row", "model", "mode", "seed"]].values.tolist() == [
        ["WSDNet", "wsdnet", "whole", 0],
        ["WSDNet", "wsdnet", "whole", 1],
        ["ISDNet", "isdnet", "whole", 0],  # its own seed count
    ]
    # Each run's validation curve (DVCLive's val/mIoU), and each row's over its seeds.
    assert [list(steps) for steps in runs["val_steps"]] == [[1], [1], [1]]
    assert all(len(v) == 1 and 0 <= v[0] <= 1 for v in runs["val_mIoU"])
    assert runs["experiment"].isna().all()  # no DVC project here
    assert all(Path(path).is_file() and "runs/checkpoints" in path for path in runs["checkpoint"])
    assert (runs["speed_input"] == "1x3x64x64").all()
    assert table["row"].tolist() == ["WSDNet", "ISDNet", "GLNet", "FCtL"]
    assert table["seeds"].tolist() == [2, 1, 0, 0]
    wsdnet = table.iloc[0]
    assert list(wsdnet["val_steps"]) == [1]
    seed_values = [runs["val_mIoU"].iloc[0][0], runs["val_mIoU"].iloc[1][0]]
    assert list(wsdnet["val_mIoU_mean"]) == pytest.approx([sum(seed_values) / 2])
    assert (list(wsdnet["val_mIoU_min"]), list(wsdnet["val_mIoU_max"])) == (
        [min(seed_values)],
        [max(seed_values)],
    )
    assert table["measured on"].iloc[0].startswith(f"{describe_machine()}; timed on cpu")
    assert table.set_index("row").loc["ISDNet", "mIoU_mean"] == pytest.approx(runs["mIoU"].iloc[2])
    assert sorted(p.name for p in predictions.iterdir()) == ["WSDNet"]
    assert sorted(p.name for p in (predictions / "WSDNet").glob("*.tif")) == ["d.tif", "e.tif"]
    # The last run's record for `dvc exp show` holds its test metrics.
    record = json.loads((tmp_path / "record/metrics.json").read_text())
    assert record["test"]["mIoU"] == pytest.approx(runs["mIoU"].iloc[-1])


def test_training_needs_a_val_split_to_pick_its_best_checkpoint(store: tuple, tmp_path: Path) -> None:
    images, masks, split = store
    no_val = split.assign(split=split["split"].replace("val", "train"))
    with pytest.raises(ConfigError, match="the val split is empty"):
        train_on_split(images, masks, no_val, TINY, QUICK, TrainingRunParams(checkpoint_dir=str(tmp_path)))
