"""compare_urur: bad configurations fail before training; seeds become mean ± std; a tiny real run."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.framework.session import KedroSession

from urur.config import ConfigError
from urur.experiments.plan import plan_tables
from urur.experiments.tables import CompareParams, metrics_json, paper_orderings, summarise, validation_curves
from urur.training import TrainingParams

TABLE4 = [{"name": "WSDNet", "model": "wsdnet"}, {"name": "ISDNet", "model": "isdnet"}]


def _params(**changes) -> CompareParams:
    return CompareParams.model_validate({"table4": TABLE4, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"table4": [{"name": "PSPNet", "model": "pspnet"}]}, "row 'PSPNet': unknown model 'pspnet'"),
        ({"table4": [{"name": "W", "model": "wsdnet", "options": {"depth": 3}}]}, "unknown option(s) depth"),
        ({"table5": ["dwt", "wavelet"]}, "row 'wavelet': unknown downsample 'wavelet'"),
        ({"table6": ["focal"]}, "row 'focal': unknown aux_loss 'focal'"),
        ({"budget": {"iterations": 0}}, "compare.budget"),
    ],
)
def test_unknown_model_option_or_value_fails_before_any_training(changes, message, monkeypatch) -> None:
    def no_training(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr("urur.experiments.train.train_on_split", no_training)
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        plan_tables(_params(**changes), TrainingParams(model_options={"width": 0.125}))
    assert "parameters_compare.yml" in str(error.value)


def test_ablation_baselines_are_table4s_wsdnet_configuration() -> None:
    table4, table5, table6 = plan_tables(
        _params(
            table4=[
                {"name": "WSDNet", "model": "wsdnet", "options": {"downsample": "dwt", "aux_loss": "wsl"}}
            ]
        ),
        TrainingParams(model_options={"width": 0.125}),
    )
    assert table5["rows"][0]["options"] == table6["rows"][0]["options"] == table4["rows"][0]["options"]
    assert [r["options"]["downsample"] for r in table5["rows"]] == ["dwt", "adaptive", "cnn", "bilinear"]


def test_rows_beyond_the_paper_are_appended_checked_and_marked_without_quoted_numbers() -> None:
    level_mean = {"downsample": "dwt", "aux_loss": "wsl", "wsl_normalisation": "level_mean"}
    beyond = {"table6": [{"name": "wsl (per-level mean)", "model": "wsdnet", "options": level_mean}]}
    *_, table6 = plan_tables(_params(beyond_paper=beyond), TrainingParams(model_options={"width": 0.125}))
    assert [(r["name"], r["beyond_paper"]) for r in table6["rows"]] == [
        ("wsl", False),
        ("sr_sd", False),
        ("none", False),
        ("wsl (per-level mean)", True),
    ]
    assert table6["rows"][-1]["options"] == level_mean  # spelled out whole, as configured
    bad = {"table6": [{"name": "odd", "model": "wsdnet", "options": {"wsl_normalisation": "median"}}]}
    with pytest.raises(ConfigError, match=r"row 'odd': .*median"):
        plan_tables(_params(beyond_paper=bad), TrainingParams(model_options={"width": 0.125}))
    runs = pd.DataFrame(
        {
            "row": ["wsl", "wsl (per-level mean)"],
            "model": "wsdnet",
            "mode": "whole",
            "seed": 0,
            "beyond_paper": [False, True],
            **{m: 0.5 for m in ("mIoU", "mF1", "aAcc", "fps", "peak_memory_mb")},
        }
    )
    table = summarise(runs, "table6", "this machine", ["a", "b"]).set_index("row")
    assert table["paradigm"].tolist() == ["whole", "whole, beyond the paper"]
    # Its name begins like the paper's "wsl" row, but it quotes none of the paper's numbers.
    assert table.loc["wsl", "paper mIoU (%)"] == 46.9
    assert pd.isna(table.loc["wsl (per-level mean)", "paper mIoU (%)"])


def test_cells_are_mean_and_sample_std_over_seeds_with_the_papers_numbers_beside() -> None:
    runs = pd.DataFrame(
        {
            "row": ["WSDNet", "WSDNet", "ISDNet", "ISDNet"],
            "model": ["wsdnet", "wsdnet", "isdnet", "isdnet"],
            "mode": "whole",
            "seed": [0, 1, 0, 1],
            "mIoU": [0.40, 0.44, 0.30, 0.30],
            "mF1": 0.5,
            "aAcc": 0.7,
            "fps": [2.0, 4.0, 1.0, 1.0],
            "peak_memory_mb": 1000.0,
        }
    )
    table = summarise(runs, "table4", "this machine", ["a", "b"])
    wsdnet = table.set_index("row").loc["WSDNet"]
    assert wsdnet["mIoU (%)"] == f"42.0 ± {np.std([40, 44], ddof=1):.1f}" and wsdnet["seeds"] == 2
    assert wsdnet["FPS"] == f"3.00 ± {np.std([2, 4], ddof=1):.2f}"
    assert wsdnet["paper mIoU (%)"] == 46.9 and wsdnet["measured on"] == "this machine"
    quoted = table.set_index("row").loc[["GLNet", "FCtL"]]
    assert (quoted["seeds"] == 0).all() and quoted["paper mIoU (%)"].tolist() == [41.2, 43.1]
    metrics = metrics_json(table, seeds=2)
    assert set(metrics["rows"]) == {"WSDNet", "ISDNet"}
    assert metrics["rows"]["ISDNet"]["mIoU_std"] == 0.0
    assert "deep branch (pp)" not in table  # runs recorded without the branch diagnostic


def test_two_branch_rows_show_what_each_branch_contributes_one_branch_rows_nothing() -> None:
    runs = pd.DataFrame(
        {
            "row": ["WSDNet", "WSDNet", "STDC", "ISDNet"],
            "model": ["wsdnet", "wsdnet", "stdc", "isdnet"],
            "mode": "whole",
            "seed": [0, 1, 0, 0],
            **{m: 0.5 for m in ("mIoU", "mF1", "aAcc", "fps", "peak_memory_mb")},
            "deep_branch_points": [18.0, 3.2, np.nan, 20.0],
            "shallow_branch_points": [66.7, 66.3, np.nan, 53.3],
        }
    )
    table = summarise(runs, "table4", "this machine", ["a", "b"]).set_index("row")
    assert table.loc["WSDNet", "deep branch (pp)"] == f"10.6 ± {np.std([18.0, 3.2], ddof=1):.1f}"
    assert table.loc["WSDNet", "shallow branch (pp)"] == "66.5 ± 0.3"
    assert table.loc["ISDNet", ["deep branch (pp)", "shallow branch (pp)"]].tolist() == [
        "20.0",
        "53.3",
    ]  # one seed
    assert table.loc[["STDC", "GLNet"], ["deep branch (pp)", "shallow branch (pp)"]].isna().all().all()


def test_summary_rows_hold_every_measure_by_value_and_the_quoted_rows_only_in_table_4() -> None:
    runs = pd.DataFrame(
        {
            "row": ["DeepLabV3+ (local)", "DeepLabV3+ (local)", "WSDNet"],
            "model": ["deeplabv3plus", "deeplabv3plus", "wsdnet"],
            "mode": ["sliding", "sliding", "whole"],
            "seed": [0, 1, 0],
            "mIoU": [0.30, 0.34, 0.5],
            "mF1": [0.40, 0.50, 0.6],
            "aAcc": [0.70, 0.80, 0.9],
            "fps": [1.0, 1.5, 2.0],
            "peak_memory_mb": [1000.0, 1200.0, 900.0],
        }
    )
    table = summarise(runs, "table4", "a 2-core CPU", ["others", "road"])
    assert table["row"].tolist() == ["DeepLabV3+ (local)", "WSDNet", "GLNet", "FCtL"]  # runs' order first
    local = table.iloc[0]
    spread = {m: np.std(runs[m][:2], ddof=1) for m in ("mIoU", "mF1", "aAcc", "fps", "peak_memory_mb")}
    assert (local["model"], local["paradigm"], local["seeds"]) == ("deeplabv3plus", "sliding", 2)
    assert local["mIoU (%)"] == f"32.0 ± {100 * spread['mIoU']:.1f}"
    assert local["F1 (%)"] == f"45.0 ± {100 * spread['mF1']:.1f}"
    assert local["Acc (%)"] == f"75.0 ± {100 * spread['aAcc']:.1f}"
    assert local["memory (MB)"] == f"1100 ± {spread['peak_memory_mb']:.0f}"
    assert local["FPS"] == f"1.25 ± {spread['fps']:.2f}"
    for metric, values in {"mIoU": [0.30, 0.34], "fps": [1.0, 1.5], "peak_memory_mb": [1000, 1200]}.items():
        assert local[f"{metric}_mean"] == pytest.approx(np.mean(values))
        assert local[f"{metric}_std"] == pytest.approx(np.std(values, ddof=1))
    # "DeepLabV3+ (local)" takes the paper's DeepLabV3+ numbers; the class names ride along.
    assert (local["paper mIoU (%)"], local["paper FPS"]) == (33.1, 1.97)
    assert local["measured on"] == "a 2-core CPU" and local["class_names"] == ["others", "road"]
    # One seed: the mean alone, no spread.
    wsdnet = table.iloc[1]
    assert (wsdnet["mIoU (%)"], wsdnet["FPS"], wsdnet["memory (MB)"]) == ("50.0", "2.00", "900")
    assert np.isnan(wsdnet["mIoU_std"]) and (wsdnet["paper mIoU (%)"], wsdnet["paper FPS"]) == (46.9, 7.13)
    glnet = table.iloc[2]
    assert (glnet["model"], glnet["paradigm"], glnet["measured on"]) == (
        "no implementation here",
        "quoted, reference only",
        "RTX 2080Ti (the paper)",
    )
    assert (glnet["paper FPS"], glnet["class_names"]) == (0.04, ["others", "road"])
    # Tables 5 and 6 look their rows up by option value and list no quoted-only rows.
    ablation = runs.assign(row=["dwt", "dwt", "bilinear"])
    table5 = summarise(ablation, "table5", "a 2-core CPU", ["others"])
    assert table5["row"].tolist() == ["dwt", "bilinear"] and table5["paper FPS"].tolist()[0] == 7.13
    table6 = summarise(ablation.assign(row=["wsl", "wsl", "none"]), "table6", "a 2-core CPU", ["others"])
    # A row the paper has no number for (a variant beyond it) gets none.
    beyond = summarise(ablation.assign(row=["wsl", "wsl", "level_mean wsl"]), "table6", "cpu", ["others"])
    assert beyond["paper mIoU (%)"].tolist()[0] == 46.9 and beyond["paper mIoU (%)"].isna().tolist() == [
        False,
        True,
    ]
    # DVC metrics: every measured row, one seed too (its std is null, not NaN), and the seed count.
    metrics = metrics_json(table, seeds=2)
    assert metrics["seeds"] == 2 and list(metrics["rows"]) == ["DeepLabV3+ (local)", "WSDNet"]
    assert metrics["rows"]["WSDNet"]["mIoU_std"] is None and metrics["rows"]["WSDNet"]["mIoU_mean"] == 0.5
    assert table6["paper mIoU (%)"].tolist() == [46.9, 45.2] and table6["paper FPS"].isna().all()


def _summary(table: str, per_seed: dict[str, list[float]]) -> pd.DataFrame:
    runs = pd.DataFrame(
        [
            {"row": row, "model": "m", "mode": "whole", "seed": seed, "mIoU": value, "mF1": 0.5, "aAcc": 0.5}
            | {"fps": 1.0, "peak_memory_mb": 1.0}
            for row, values in per_seed.items()
            for seed, value in enumerate(values)
        ]
    )
    return summarise(runs, table, "this machine", ["a", "b"])


def test_paper_orderings_judge_each_pair_by_the_seeds_spread() -> None:
    # Table 5 by hand: dwt 0.50 ± 0.01, adaptive 0.46 ± 0.01, cnn 0.47 ± 0.03, bilinear 0.30 ± 0.0.
    table5 = _summary(
        "table5",
        {
            "dwt": [0.49, 0.50, 0.51],
            "adaptive": [0.45, 0.46, 0.47],
            "cnn": [0.44, 0.47, 0.50],
            "bilinear": [0.3] * 3,
        },
    )
    orderings = paper_orderings(table5, "table5").set_index("paper's ordering")
    assert orderings["measured Δ mIoU (pp)"].tolist() == [4.0, -1.0, 17.0]
    assert orderings["seeds' spread (pp)"].tolist() == [2.0, 4.0, 3.0]
    assert orderings["paper Δ mIoU (pp)"].tolist() == [0.9, 0.2, 0.7]  # 46.9-46.0, 46.0-45.8, 45.8-45.1
    assert orderings["verdict"].tolist() == [
        "agrees, beyond the seeds' spread",
        "reversed, within the seeds' spread",
        "agrees, beyond the seeds' spread",
    ]
    # Table 4: only the pairs whose both rows ran; one seed has no spread to judge by.
    table4 = _summary("table4", {"STDC": [0.2], "DeepLabV3+ (local)": [0.3], "ISDNet": [0.25]})
    one_seed = paper_orderings(table4, "table4")
    assert one_seed["paper's ordering"].tolist() == ["ISDNet > STDC", "STDC > DeepLabV3+ (local)"]
    assert one_seed["verdict"].tolist() == [
        "agrees (one seed: no spread to judge by)",
        "reversed (one seed: no spread to judge by)",
    ]
    assert one_seed["paper Δ mIoU (pp)"].tolist() == [3.8, 8.9]  # 45.8-42.0, 42.0-33.1
    # A one-seed row against a three-seed one: the latter's std stands for both rows.
    table4 = _summary("table4", {"STDC": [0.60, 0.62, 0.64], "DeepLabV3+ (global)": [0.55]})
    mixed = paper_orderings(table4, "table4").iloc[0]
    assert mixed["seeds' spread (pp)"] == 4.0  # 2 x 2.0
    assert (
        mixed["verdict"] == "agrees, beyond the seeds' spread (STDC's std for both: the other ran one seed)"
    )
    table4 = _summary("table4", {"STDC": [0.60, 0.62, 0.64], "DeepLabV3+ (global)": [0.59]})
    assert (
        paper_orderings(table4, "table4")["verdict"].iloc[0].startswith("agrees, within the seeds' spread (")
    )


def test_ordering_verdicts_at_their_boundaries() -> None:
    # Binary fractions, so that the boundaries are met exactly: sr_sd 0.5 ± 0.125 (seeds 0.375,
    # 0.5, 0.625), wsl 0.625 ± 0: a difference of 12.5 pp equal to the spread is "within".
    table6 = _summary("table6", {"wsl": [0.625] * 3, "sr_sd": [0.375, 0.5, 0.625], "none": [0.5] * 3})
    orderings = paper_orderings(table6, "table6").set_index("paper's ordering")
    assert orderings.loc["wsl > sr_sd", "measured Δ mIoU (pp)"] == 12.5
    assert orderings.loc["wsl > sr_sd", "seeds' spread (pp)"] == 12.5
    assert orderings.loc["wsl > sr_sd", "verdict"] == "agrees, within the seeds' spread"
    # Equal means: not an agreement.
    assert orderings.loc["sr_sd > none", "verdict"] == "reversed, within the seeds' spread"
    # Half a point ahead is ahead (0.53 pp against a 0.24 pp spread); figures rounded to one decimal.
    dwt, adaptive = [0.507, 0.507], [0.5, 0.5034]
    table5 = _summary("table5", {"dwt": dwt, "adaptive": adaptive})
    row = paper_orderings(table5, "table5").iloc[0]
    difference = 100 * (np.mean(dwt) - np.mean(adaptive))
    spread = 100 * (np.std(dwt, ddof=1) + np.std(adaptive, ddof=1))
    assert row["measured Δ mIoU (pp)"] == round(difference, 1) != round(difference, 2)
    assert row["seeds' spread (pp)"] == round(spread, 1) != round(spread, 2)
    assert row["verdict"] == "agrees, beyond the seeds' spread"


def test_a_rows_validation_curve_is_its_seeds_mean_min_and_max_where_all_validated() -> None:
    group = pd.DataFrame(
        {
            "val_steps": [[100, 200, 300], [100, 200, 300], [100, 300]],  # seed 2 missed step 200
            "val_mIoU": [[0.2, 0.5, 0.6], [0.4, 0.3, 0.9], [0.3, 0.75]],
        }
    )
    curves = validation_curves(group)
    assert curves["val_steps"] == [100, 300]
    np.testing.assert_allclose(curves["val_mIoU_mean"], [0.3, 0.75])
    assert (curves["val_mIoU_min"], curves["val_mIoU_max"]) == ([0.2, 0.6], [0.4, 0.9])
    empty = {"val_steps": [], "val_mIoU_mean": [], "val_mIoU_min": [], "val_mIoU_max": []}
    assert validation_curves(pd.DataFrame({"mIoU": [0.5]})) == empty  # runs recorded without curves
    with pytest.raises(ValueError):  # a curve whose steps and values disagree is not cut to fit
        validation_curves(pd.DataFrame({"val_steps": [[100, 200]], "val_mIoU": [[0.2]]}))


@pytest.mark.e2e
def test_compare_urur_on_the_tiny_run_fills_tables_4_to_6_and_the_report(project: Path) -> None:
    cwd = Path.cwd()
    os.chdir(project)
    try:
        with KedroSession.create(project_path=project) as session:
            session.run(pipeline_names=["compare_urur"])
        with KedroSession.create(project_path=project) as session:
            session.run(pipeline_names=["reporting"])
    finally:
        os.chdir(cwd)
    reporting = project / "data/08_reporting/compare"
    table4 = pd.read_parquet(reporting / "table4.parquet")
    assert table4["row"].tolist() == ["WSDNet", "ISDNet", "GLNet", "FCtL"]
    assert table4["seeds"].tolist() == [2, 2, 0, 0] and table4["mIoU (%)"].iloc[0].count("±") == 1
    runs = pd.read_parquet(reporting / "table5_runs.parquet")
    assert runs[["row", "seed"]].values.tolist() == [["dwt", 0], ["dwt", 1], ["bilinear", 0], ["bilinear", 1]]
    # The ablations' baseline is Table 4's WSDNet: the same checkpoints, not a second training.
    table4_runs = pd.read_parquet(reporting / "table4_runs.parquet")
    assert runs["checkpoint"].iloc[:2].tolist() == table4_runs["checkpoint"].iloc[:2].tolist()
    # ... and its DVCLive curves: one log per training (4 in Table 4, 2 new in each ablation).
    logs = sorted((project / "data/06_models/compare/live").iterdir())
    assert len(logs) == 8 and all((log / "plots/metrics/train/loss.tsv").is_file() for log in logs)
    # The last run's record for `dvc exp show`; no experiment saved where the project is no git repo.
    table6_runs = pd.read_parquet(reporting / "table6_runs.parquet")
    record = json.loads((reporting / "run/metrics.json").read_text())
    assert record["test"]["mIoU"] == pytest.approx(table6_runs["mIoU"].iloc[-1])
    assert yaml.safe_load((reporting / "run/params.yaml").read_text())["compare"]["row"] == "none"
    assert table6_runs["experiment"].isna().all()
    assert sorted(p.name for p in (project / "data/07_model_output/compare/table4").iterdir()) == [
        "ISDNet",
        "WSDNet",
    ]
    assert [list(steps) for steps in table4["val_steps"].iloc[:2]] == [[1], [1]]
    html = (project / "data/08_reporting/report.html").read_text()
    assert "Validation mIoU while training, per row" in html
    assert "Table 5: WSDNet" in html and "bilinear" in html and "not produced yet" not in html
    # The paper's "A > B" judged where both rows ran: only WSDNet > ISDNet in this tiny run.
    assert html.count("ordering in this run") == 1 and "WSDNet &gt; ISDNet" in html
