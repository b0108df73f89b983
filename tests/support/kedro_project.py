"""A throwaway copy of this Kedro project with tiny parameters, for end-to-end runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

# A two-iteration ISDNet of width 0.125 on 64² crops: the pre-labelling model of every tiny run.
TINY_TRAINING = {
    "model": "isdnet",
    "model_options": {"width": 0.125},
    "crop_size": 64,
    "scale_range": [1.0, 1.0],
    "batch_size": 2,
    "iterations": 2,
    "workers": 0,
}

# Small enough for seconds per stage on 2 cores, big enough for every stage to mean something:
# 4 scenes of 256² -> 16 images of 128² -> 9 patches each (64², overlap 8).
TINY_PARAMETERS = {
    "synthetic": {"num_cities": 2, "scenes_per_city": 2, "scene_size": 256, "seed": 3},
    "synthetic_annotators": {"format": "cvat", "seed": 1, "missing_fraction": 0.0},
    "ingestion": {"scene_table": "scenes.csv", "split_factor": 2},
    "tiling": {"patch_size": 64, "overlap": 8},
    "annotation": {"on_missing": "error", "prelabels": None},
    "split": {"ratios": [0.5, 0.25, 0.25], "seed": 0},
    "dataset_stats": {
        "region_size": 32,
        "regions_per_image": 2,
        "min_instance_pixels": 2,
        "q": 2.0,
        "seed": 0,
    },
    "runtime": {"workers": 2},
    "training": {
        **TINY_TRAINING,
        "model": "wsdnet",
        "iterations": 4,
        "val_interval": 2,
        "checkpoint_interval": 2,
    },
    "prelabel": {
        "round_one": {"scene_fraction": 0.5},
        "training": TINY_TRAINING,
    },
    "evaluation": {"speed": {"enabled": True, "warmup": 0, "runs": 1}},
    # Two seeds of two Table 4 rows and two values per ablation (the baseline shared with Table 4).
    "compare": {
        "seeds": 2,
        "budget": {"iterations": 1, "val_interval": 1, "checkpoint_interval": 1},
        "split": None,  # the dataset's: its 4 tiny scenes hold one test scene
        "min_test_cities": 1,
        "beyond_paper": {},
        "table4": [
            {"name": "WSDNet", "model": "wsdnet", "options": {"downsample": "dwt", "aux_loss": "wsl"}},
            {"name": "ISDNet", "model": "isdnet"},
        ],
        "table5": ["dwt", "bilinear"],
        "table6": ["wsl", "none"],
    },
}


def make_project(dest: Path, parameters: dict | None = None) -> Path:
    """Copy the tracked project files to ``dest`` and lay tiny parameters over conf/base's."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for rel in files:
        if rel.startswith(("tests/", "benchmarks/", "notebooks/", "docs/")) or not (ROOT / rel).is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel, follow_symlinks=False)  # params.yaml stays a link
    base = dest / "conf" / "base"
    for name, section in (parameters or TINY_PARAMETERS).items():
        # Tiny values over the project's own: every key the DVC stages list stays defined.
        files = sorted(base.glob("parameters_*.yml"))
        holders = [p for p in files if name in (yaml.safe_load(p.read_text()) or {})]
        path = holders[0] if holders else base / f"parameters_{name}.yml"
        content = yaml.safe_load(path.read_text()) if path.is_file() else {}
        if isinstance(content.get(name), dict) and isinstance(section, dict):
            section = {**content[name], **section}
        path.write_text(yaml.safe_dump({**content, name: section}, sort_keys=False))
    (dest / "conf" / "local").mkdir(parents=True, exist_ok=True)
    return dest
