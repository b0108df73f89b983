"""Each environment trains on the data it names, in its own data root; a built dataset of another
source is never reused.

The fast tests run Kedro's runner on a three-node pipeline less what
:func:`urur.session.without_built_dataset` leaves out (what ``kedro run`` does); the slow
ones run the real ``kedro run`` in a tiny project: the synthetic demo first, then ``--env urur``,
``--env deepglobe`` and ``--env inria`` on tiny releases beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from tests.support.kedro_project import make_project
from tests.support.releases import OTHER_ORDER, write_deepglobe, write_inria, write_urur
from tests.support.tools import tool_env
from urur.dataset.sources import DatasetSourceError, check_source, describe_source
from urur.errors import UrurError
from urur.io.datasets import DirectoryDataset, JSONDataset
from urur.session import BUILD_IF_MISSING, without_built_dataset

# --- a run of a tiny pipeline: build (writes the source record) -> derive -> use --------------


def _pipeline(ran: list[str]) -> Pipeline:
    def build(raw: Path, environment: str) -> tuple[dict, dict]:
        ran.append("build")
        return {"from": str(raw)}, describe_source(raw, environment)

    def derive(built: dict) -> dict:
        ran.append("derive")
        return built

    def use(derived: dict) -> dict:
        ran.append("use")
        return derived

    return Pipeline(
        [
            Node(build, ["raw", "params:environment"], ["built", "dataset_source"], name="build"),
            Node(derive, "built", "derived", name="derive"),
        ]
    ).tag(BUILD_IF_MISSING) + Pipeline([Node(use, "derived", "used", name="use")])


def _run(out: Path, raw: Path, environment: str = "base") -> list[str]:
    ran: list[str] = []
    catalog = DataCatalog(
        {
            "raw": DirectoryDataset(str(raw), read_only=True),
            "params:environment": MemoryDataset(environment),
            "built": JSONDataset(filepath=str(out / "built.json")),
            "dataset_source": JSONDataset(filepath=str(out / "dataset_source.json")),
            "derived": JSONDataset(filepath=str(out / "derived.json")),
        }
    )
    SequentialRunner().run(without_built_dataset(_pipeline(ran), catalog), catalog)
    return ran


def _folder(path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def test_a_dataset_is_reused_only_for_the_source_it_was_built_from(tmp_path: Path) -> None:
    synthetic = _folder(tmp_path / "synthetic", {"scenes.csv": "a\n", "s1.tif": "pixels"})
    out = tmp_path / "out"
    assert _run(out, synthetic) == ["build", "derive", "use"]
    assert _run(out, synthetic) == ["use"]  # built from this very folder: kept

    users = _folder(tmp_path / "users", {"scenes.csv": "a\n", "s1.tif": "pixels"})  # same files elsewhere
    with pytest.raises(DatasetSourceError) as caught:
        _run(out, users)
    message = str(caught.value)
    assert "\n" not in message and isinstance(caught.value, UrurError)
    assert f"from {synthetic} (2 files" in message and f"reads {users} (2 files" in message
    assert "`kedro run` rebuilds it" in message and "data_root" in message

    with pytest.raises(DatasetSourceError, match=r"environment base .* this run \(environment urur\)"):
        _run(out, synthetic, environment="urur")  # another environment over this data root

    (synthetic / "s2.tif").write_text("more")
    with pytest.raises(DatasetSourceError, match=r"\(2 files, .*\(3 files, .*kedro run"):
        _run(out, synthetic)  # the same folder, changed since


def test_a_dataset_without_its_source_record_is_rebuilt_whole(tmp_path: Path) -> None:
    raw = _folder(tmp_path / "raw", {"scenes.csv": "a\n"})
    out = tmp_path / "out"
    _run(out, raw)
    (out / "dataset_source.json").unlink()  # built before datasets recorded their source
    assert _run(out, raw) == ["build", "derive", "use"]  # not build alone over derive's old output
    assert _run(out, raw) == ["use"]


def test_the_digest_sees_files_and_sizes_not_times_or_hidden_files(tmp_path: Path) -> None:
    raw = _folder(tmp_path / "raw", {"scenes.csv": "a\n", "sub/s1.tif": "pixels"})
    first = describe_source(raw, "base")
    assert (first["files"], first["bytes"], first["folder"]) == (2, 8, raw.as_posix())  # outside the cwd
    os.utime(raw / "sub/s1.tif", (0, 0))  # a copy or a DVC checkout
    _folder(raw, {".gitkeep": "", ".cache/x": "y"})
    assert describe_source(raw, "base") == first
    (raw / "sub/s1.tif").write_text("pixels, more of them")
    assert describe_source(raw, "base")["digest"] != first["digest"]


def test_a_deleted_release_leaves_its_dataset_usable(tmp_path: Path, caplog) -> None:
    raw = _folder(tmp_path / "release", {"a.png": "x"})
    recorded = describe_source(raw, "urur")
    shutil.rmtree(raw)
    check_source(recorded, "urur", raw, record="dataset_source.json")
    assert "is gone: reusing the dataset" in caplog.text
    with pytest.raises(DatasetSourceError, match=r"reads .*elsewhere \(absent\)"):
        check_source(recorded, "urur", tmp_path / "elsewhere", record="dataset_source.json")


# --- the real commands: the demo in data/, then each release in its environment's data root ----

# COLUMNS: rich does not wrap the log lines the tests look for.
ENV = tool_env(COLUMNS="1000")
RELEASES = {
    "urur": "data/01_raw/urur_release",
    "deepglobe": "data/01_raw/deepglobe",
    "inria": "data/01_raw/inria/AerialImageDataset",
}
CLASSES = {"urur": 8, "deepglobe": 7, "inria": 2}
QUICK = "training.iterations=2,training.val_interval=2,training.checkpoint_interval=2"


def _kedro(root: Path, *args: str, ok: bool = True) -> str:
    result = subprocess.run(
        ["kedro", "run", *args], cwd=root, env=ENV, capture_output=True, text=True, timeout=600
    )
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == ok, f"kedro run {' '.join(args)}: {output[-4000:]}"
    return output


def _demo_files(data: Path) -> dict[str, str]:
    """Checksums of every file the demo run wrote in data/ (not the releases, not other roots)."""
    skip = (*CLASSES, *(Path(r).relative_to("data").parts[1] for r in RELEASES.values()))
    return {
        str(rel): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(data.rglob("*"))
        if path.is_file()
        and (rel := path.relative_to(data)).parts[0] not in skip
        and not (rel.parts[0] == "01_raw" and rel.parts[1] in skip)
        and not any(part.startswith(".") for part in rel.parts)
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A tiny project after `kedro run --pipeline=train_urur` on the synthetic demo, and its files."""
    root = make_project(tmp_path_factory.mktemp("demo"))
    urur = root / "conf/urur/parameters_urur_release.yml"
    urur.write_text(f"urur_release:\n  label_order: {OTHER_ORDER}\n")
    output = _kedro(root, "--pipeline=train_urur", "--params", QUICK)
    assert "Data source: synthetic" in output
    record = json.loads((root / "data/02_intermediate/dataset_source.json").read_text())
    assert (record["environment"], record["folder"]) == ("base", "data/01_raw/synthetic/scenes")
    return root, _demo_files(root / "data")


@pytest.mark.e2e
@pytest.mark.parametrize("env", list(RELEASES))
def test_each_release_environment_trains_on_its_release_beside_the_demo(demo, env: str) -> None:
    root, before = demo
    writer = {"urur": lambda path: write_urur(path, "split_first"), "deepglobe": write_deepglobe}
    expected = writer.get(env, write_inria)(root / RELEASES[env])
    output = _kedro(root, "--env", env, "--pipeline=train_urur", "--params", QUICK)
    assert f"Data source: the {env} release" in output and f"data root data/{env}" in output

    data = root / "data" / env
    record = json.loads((data / "02_intermediate/dataset_source.json").read_text())
    assert record == describe_source(root / RELEASES[env], env) | {"folder": RELEASES[env]}
    manifest = pd.read_parquet(data / "02_intermediate/image_manifest.parquet")
    assert sorted(manifest["image_id"]) == sorted(expected)
    split = pd.read_csv(data / "05_model_input/split.csv")
    metrics = json.loads((data / "08_reporting/test_metrics.json").read_text())
    assert metrics["test_images"] == (split["split"] == "test").sum()
    assert len(pd.read_csv(data / "08_reporting/test_class_metrics.csv")) == CLASSES[env]
    summary = json.loads((data / "06_models/training_summary.json").read_text())
    assert summary["best_checkpoint"] == f"data/{env}/06_models/trained/best.pt"
    assert summary["run_dir"].startswith(f"data/{env}/06_models/training/")
    assert (data / "08_reporting/report.html").is_file() and (data / "08_reporting/training").is_dir()
    assert _demo_files(root / "data") == before  # the demo's dataset, checkpoints, metrics, report

    if env == "urur":  # run again: the release's dataset is kept; change the release: refused
        built = (data / "02_intermediate/image_manifest.parquet").stat().st_mtime_ns
        _kedro(root, "--env", env, "--pipeline=train_urur", "--params", QUICK)
        assert (data / "02_intermediate/image_manifest.parquet").stat().st_mtime_ns == built
        (root / RELEASES[env] / "train/image/extra.png").write_bytes(b"not yet labelled")
        refused = _kedro(root, "--env", env, "--pipeline=train_urur", ok=False)
        errors = [line for line in refused.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "Traceback" not in refused
        assert f"({record['files']} files" in errors[0] and f"({record['files'] + 1} files" in errors[0]
        assert "`kedro run --env urur` rebuilds it" in errors[0]


@pytest.mark.e2e
def test_switching_the_demo_to_a_users_data_stops_naming_both_sources(demo) -> None:
    root, before = demo
    users = root / "data/01_raw/scenes"
    shutil.copytree(root / "data/01_raw/synthetic/scenes", users, dirs_exist_ok=True)  # auto -> user
    try:
        output = _kedro(root, "--pipeline=train_urur", ok=False)
    finally:
        for path in users.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            elif path.name != ".gitkeep":
                path.unlink()
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in output
    assert errors[0].startswith("Error: DatasetSourceError: data/02_intermediate/dataset_source.json: ")
    assert "from data/01_raw/synthetic/scenes (" in errors[0] and "reads data/01_raw/scenes (" in errors[0]
    assert _demo_files(root / "data") == before
