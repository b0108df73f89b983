"""The paper's comparison and ablations (Tables 4-6) on this project's data: which runs make each
table, checked before any training, and how runs over several seeds become mean ± std cells.

Ji et al., "Ultra-High Resolution Segmentation with Ultra-Rich Context", CVPR 2023: Table 4
(models on the URUR test set, in the paradigm the paper puts each in), Table 5 (WSDNet's
deep-branch downsampling), Table 6 (WSDNet's auxiliary losses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from urur.config import ConfigError, Section, SplitParams, section_config
from urur.experiments.paper import TABLE4_QUOTED, TABLE5_QUOTED, TABLE6_QUOTED
from urur.models import build_model

PARAMETERS_FILE = "conf/base/parameters_compare.yml"
TABLES = ("table4", "table5", "table6")
NOT_IMPLEMENTED = {"GLNet": "no implementation here", "FCtL": "no implementation here"}
METRICS = ("mIoU", "mF1", "aAcc", "fps", "peak_memory_mb")
# Test mIoU points lost with a two-branch model's deep or shallow branch zeroed (NaN for one-branch
# models, and in runs recorded before the comparison kept them).
BRANCH_MEASURES = ("deep_branch_points", "shallow_branch_points")
# The paper's claims as "better > worse" pairs on mIoU (its Tables 4-6, each pair adjacent in its
# ranking); DeepLabV3+ is below STDC in whichever paradigm it runs.
PAPER_ORDERINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "table4": (
        ("WSDNet", "ISDNet"),
        ("ISDNet", "STDC"),
        ("STDC", "DeepLabV3+ (global)"),
        ("STDC", "DeepLabV3+ (local)"),
    ),
    "table5": (("dwt", "adaptive"), ("adaptive", "cnn"), ("cnn", "bilinear")),
    "table6": (("wsl", "sr_sd"), ("sr_sd", "none")),
}


class CompareRow(Section):
    """One row of a table: a model, its options on top of ``training.model_options``, its paradigm
    and what its paradigm changes in training (e.g. the global paradigm trains on shrunk crops)."""

    name: str
    model: str
    options: dict[str, object] = Field(default_factory=dict)
    mode: Literal["whole", "slide", "global"] = "whole"  # evaluation paradigm (evaluation.mode)
    training: dict[str, object] = Field(default_factory=dict)  # this row's own training settings
    seeds: int | None = Field(None, ge=1)  # this row's seed count where not compare.seeds (a costly row)
    beyond_paper: bool = False  # a row the paper does not have (compare.beyond_paper): no quoted numbers


class CompareParams(Section):
    """``compare`` in conf/base/parameters_compare.yml."""

    model_config = section_config("compare", PARAMETERS_FILE)
    seeds: int = Field(3, ge=1)  # every cell: mean ± std over seeds 0..seeds-1
    budget: dict[str, object] = Field(default_factory=dict)  # training settings every run shares
    # The comparison's own train/val/test split of the dataset's images (urur.dataset.split's rules:
    # scenes whole, cities balanced); null: the dataset's split. Its test split must hold images of
    # at least min_test_cities cities, so that no single city's look decides the ranking.
    split: SplitParams | None = None
    min_test_cities: int = Field(1, ge=1)
    table4: tuple[CompareRow, ...]
    table5: tuple[str, ...] = ("dwt", "adaptive", "cnn", "bilinear")  # WSDNet downsample values
    table6: tuple[str, ...] = ("wsl", "sr_sd", "none")  # WSDNet aux_loss values
    # WSDNet as the paper builds it: each ablation changes one of these. Spelled out in Table 4's
    # WSDNet row too, that row and the ablations' baseline rows are one configuration, trained once.
    ablation_base: dict[str, object] = Field(default_factory=lambda: {"downsample": "dwt", "aux_loss": "wsl"})
    # Rows the paper does not have, appended to their table and marked "beyond the paper" there
    # (e.g. WSL averaged per level, Table 6), each spelled out whole (the ablation base is not added).
    beyond_paper: dict[Literal["table4", "table5", "table6"], tuple[CompareRow, ...]] = Field(
        default_factory=dict
    )
    keep_predictions: tuple[str, ...] = ("ISDNet", "WSDNet")  # rows whose seed-0 test predictions are kept
    run_dir: str = "data/06_models/compare"  # checkpoints and DVCLive logs of every run
    # Each run's DVCLive log, params and test metrics are copied here, with a dvc.yaml without
    # stages that declares them for `dvc exp show`, and saved as a DVC experiment.
    experiment_record: str = "data/08_reporting/compare/run"


def table_rows(params: CompareParams, table: str) -> list[CompareRow]:
    """The runs of ``table``: Table 4 as configured, Tables 5 and 6 vary one WSDNet option; then the
    table's rows beyond the paper."""
    beyond = [row.model_copy(update={"beyond_paper": True}) for row in params.beyond_paper.get(table, ())]
    if table == "table4":
        return [*params.table4, *beyond]
    option, values = {"table5": ("downsample", params.table5), "table6": ("aux_loss", params.table6)}[table]
    return [
        *(
            CompareRow(name=value, model="wsdnet", options={**params.ablation_base, option: value})
            for value in values
        ),
        *beyond,
    ]


def check_rows(rows: Sequence[CompareRow], base_options: Mapping[str, object], num_classes: int) -> None:
    """Build every row's model once (cheap, untrained): an unknown model, option or option value
    fails here, naming the row and the file, before any training starts."""
    for row in rows:
        try:
            build_model(row.model, num_classes, **{**base_options, **row.options})
        except ValueError as error:
            raise ConfigError(f"{PARAMETERS_FILE}: row {row.name!r}: {error}") from error


_BRANCH_CELLS = {"deep_branch_points": "deep branch (pp)", "shallow_branch_points": "shallow branch (pp)"}


def validation_curves(group: pd.DataFrame) -> dict[str, list]:
    """A row's validation mIoU over its seeds at the iterations every seed validated at: mean, min
    and max per iteration (empty where the runs carry no curve)."""
    if "val_steps" not in group:
        return {"val_steps": [], "val_mIoU_mean": [], "val_mIoU_min": [], "val_mIoU_max": []}
    curves = pd.DataFrame(
        [
            dict(zip(steps, values, strict=True))
            for steps, values in zip(group["val_steps"], group["val_mIoU"], strict=True)
        ]
    ).dropna(axis=1)
    return {
        "val_steps": [int(step) for step in curves.columns],
        "val_mIoU_mean": curves.mean().tolist(),
        "val_mIoU_min": curves.min().tolist(),
        "val_mIoU_max": curves.max().tolist(),
    }


def _cell(mean: float, std: float, scale: float, digits: int) -> str:
    return f"{mean * scale:.{digits}f}" + ("" if np.isnan(std) else f" ± {std * scale:.{digits}f}")


def summarise(runs: pd.DataFrame, table: str, machine: str, class_names: Sequence[str]) -> pd.DataFrame:
    """One row per configuration: mean ± std over its seeds (``runs``: one row per run with
    ``row``, ``model``, ``mode``, ``seed`` and :data:`METRICS`), beside the paper's quoted numbers."""
    quoted = {
        "table4": TABLE4_QUOTED,
        "table5": TABLE5_QUOTED,
        "table6": {k: {"mIoU": v} for k, v in TABLE6_QUOTED.items()},
    }[table]
    rows = []
    for name, group in runs.groupby("row", sort=False):
        measured = group.reindex(columns=[*METRICS, *BRANCH_MEASURES]).astype(float)
        stats = {
            m: (measured[m].mean(), measured[m].std(ddof=1) if len(group) > 1 else np.nan)
            for m in measured.columns
        }
        beyond = bool(group["beyond_paper"].iloc[0]) if "beyond_paper" in group else False
        # "DeepLabV3+ (local)" is quoted as DeepLabV3+; a row beyond the paper has no quoted numbers.
        paper = {} if beyond else quoted.get(str(name)) or quoted.get(str(name).split(" (")[0], {})
        rows.append(
            {
                "row": name,
                "model": group["model"].iloc[0],
                "paradigm": group["mode"].iloc[0] + (", beyond the paper" if beyond else ""),
                "seeds": len(group),
                "mIoU (%)": _cell(*stats["mIoU"], 100, 1),
                "F1 (%)": _cell(*stats["mF1"], 100, 1),
                "Acc (%)": _cell(*stats["aAcc"], 100, 1),
                "memory (MB)": _cell(*stats["peak_memory_mb"], 1, 0),
                "FPS": _cell(*stats["fps"], 1, 2),
                **{
                    _BRANCH_CELLS[m]: _cell(*stats[m], 1, 1)
                    for m in BRANCH_MEASURES
                    if not np.isnan(stats[m][0])
                },
                **{f"{m}_mean": stats[m][0] for m in METRICS},
                **{f"{m}_std": stats[m][1] for m in METRICS},
                "paper mIoU (%)": paper.get("mIoU"),
                "paper FPS": paper.get("fps"),
                "measured on": machine,
                "class_names": list(class_names),
                **validation_curves(group),
            }
        )
    if table == "table4":
        for name, why in NOT_IMPLEMENTED.items():
            rows.append(
                {
                    "row": name,
                    "model": why,
                    "paradigm": "quoted, reference only",
                    "seeds": 0,
                    "paper mIoU (%)": TABLE4_QUOTED[name]["mIoU"],
                    "paper FPS": TABLE4_QUOTED[name]["fps"],
                    "measured on": "RTX 2080Ti (the paper)",
                    "class_names": list(class_names),
                }
            )
    return pd.DataFrame(rows)


def metrics_json(summary: pd.DataFrame, seeds: int) -> dict:
    """The table as DVC metrics: ``{row: {metric_mean, metric_std}}`` for the measured rows."""
    measured = summary[summary["seeds"] > 0]
    columns = [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
    return {
        "seeds": seeds,
        "rows": {
            str(r["row"]): {c: None if pd.isna(r[c]) else float(r[c]) for c in columns}
            for r in measured.to_dict("records")
        },
    }


def paper_orderings(summary: pd.DataFrame, table: str) -> pd.DataFrame:
    """Each of the paper's "A > B" (mIoU) that ``summary`` measured both rows of, beside this run's
    difference of the means; "beyond the seeds' spread" where that difference is larger than the
    two rows' standard deviations added, i.e. their mean ± std intervals do not overlap. Where one
    row ran a single seed (a costly row's own ``seeds``), the other's std stands for both."""
    measured = summary[summary["seeds"] > 0].set_index("row")
    rows = []
    for better, worse in PAPER_ORDERINGS[table]:
        if better not in measured.index or worse not in measured.index:
            continue
        a, b = measured.loc[better], measured.loc[worse]
        difference = 100 * (a["mIoU_mean"] - b["mIoU_mean"])
        stds = {
            name: row["mIoU_std"] for name, row in ((better, a), (worse, b)) if not np.isnan(row["mIoU_std"])
        }
        spread = 100 * (sum(stds.values()) if len(stds) != 1 else 2 * next(iter(stds.values())))
        verdict = "agrees" if difference > 0 else "reversed"
        if not stds:
            verdict += " (one seed: no spread to judge by)"
        else:
            verdict += ", within" if abs(difference) <= spread else ", beyond"
            verdict += " the seeds' spread"
            if len(stds) == 1:
                verdict += f" ({next(iter(stds))}'s std for both: the other ran one seed)"
        paper = (a["paper mIoU (%)"] or np.nan) - (b["paper mIoU (%)"] or np.nan)
        rows.append(
            {
                "paper's ordering": f"{better} > {worse}",
                "paper Δ mIoU (pp)": round(paper, 1),
                "measured Δ mIoU (pp)": round(difference, 1),
                "seeds' spread (pp)": round(spread, 1),
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)
