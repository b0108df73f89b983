"""A user's mistake is one ``Error:`` line naming the file or setting and the fix, never a traceback;
``--verbose`` or ``URUR_DEBUG=1`` shows the traceback.

The fast tests invoke the project's ``kedro run`` and ``urur predict`` commands in this process
(click's runner: the same wrapper that turns errors into lines) in a tiny project copy; the slow
one runs the real ``kedro run`` to see what a terminal shows.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.support.checkpoints import tiny_meta, tiny_model, write_checkpoint
from tests.support.kedro_project import make_project
from tests.support.releases import write_deepglobe
from tests.support.tools import tool_env
from tests.support.toy_project import FRESH_MESSAGE, FreshError, kedro_run, make_toy_project
from urur.__main__ import cli
from urur.classes import URUR_CLASSES
from urur.commands import main as urur_main
from urur.io.raster import write_raster


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny project holding an adapted DeepGlobe dataset (for the training cases)."""
    root = make_project(tmp_path_factory.mktemp("cli"))
    write_deepglobe(root / "data/01_raw/deepglobe")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEDRO_ENV", "deepglobe")
        patch.chdir(root)
        bootstrap_project(root)
        with KedroSession.create(project_path=root, env="deepglobe") as session:
            session.run(pipeline_names=["adapt_deepglobe"])
    return root


def _kedro_run(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.chdir(root)
    monkeypatch.delenv("KEDRO_ENV", raising=False)  # `--env` sets it; undone after the test
    bootstrap_project(root)
    return CliRunner().invoke(cli, ["run", *args])


def _one_error_line(result: Result) -> str:
    """The run failed with exactly one ``Error:`` line (click's message), not an exception."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a raw one: a traceback
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert not result.output[result.output.index("Error:") :].count("\n") > 1, result.output
    return errors[0]


def test_mistyped_pipeline_keeps_the_suggestion(project: Path, monkeypatch) -> None:
    line = _one_error_line(_kedro_run(project, monkeypatch, "--pipelines", "trian_urur"))
    assert "'trian_urur'" in line and "train_urur" in line


def test_unknown_environment_lists_the_known_ones(project: Path, monkeypatch) -> None:
    line = _one_error_line(_kedro_run(project, monkeypatch, "--env", "deepglob"))
    assert "deepglob" in line and "conf/deepglob" in line and "deepglobe, demo_uhr, inria" in line


def _training_error(project: Path, monkeypatch: pytest.MonkeyPatch, override: str) -> str:
    """The one line ``kedro run --env deepglobe --pipelines training --params <override>`` prints."""
    args = ("--env", "deepglobe", "--pipelines", "training", "--params", override)
    return _one_error_line(_kedro_run(project, monkeypatch, *args))


def test_more_training_devices_than_exist(project: Path, monkeypatch) -> None:
    line = _training_error(project, monkeypatch, "training.devices=64")
    assert "training.devices" in line and "64" in line and "parameters_training.yml" in line


def test_crop_larger_than_every_image(project: Path, monkeypatch) -> None:
    line = _training_error(project, monkeypatch, "training.crop_size=512")
    assert "training.crop_size 512" in line and "64 px" in line and "parameters_training.yml" in line


def test_scene_table_row_naming_a_missing_file(project: Path, tmp_path: Path, monkeypatch) -> None:
    root = make_project(tmp_path)
    scenes = root / "data/01_raw/scenes"
    scenes.mkdir(parents=True, exist_ok=True)
    (scenes / "scenes.csv").write_text(
        "scene_id,city,source,capture_date,file\nbj_1,beijing,wv3,2020-05-01,bj_1.tif\n"
    )
    line = _one_error_line(_kedro_run(root, monkeypatch, "--pipelines", "ingestion"))
    assert "scenes.csv lists files missing from" in line and "bj_1.tif" in line


def test_predict_without_its_input_folder(project: Path, monkeypatch) -> None:
    line = _one_error_line(_kedro_run(project, monkeypatch, "--pipelines", "predict"))
    assert "data/01_raw/predict" in line and "put" in line
    assert "stage that produces it" not in line


def test_verbose_and_urur_debug_show_the_traceback(project: Path, monkeypatch) -> None:
    verbose = _kedro_run(project, monkeypatch, "--pipelines", "trian_urur", "--verbose")
    assert verbose.exit_code == 1 and isinstance(verbose.exception, ValueError)
    monkeypatch.setenv("URUR_DEBUG", "1")
    debug = _kedro_run(project, monkeypatch, "--pipelines", "trian_urur")
    assert isinstance(debug.exception, ValueError) and "trian_urur" in str(debug.exception)


def test_a_new_user_error_prints_one_line_in_both_commands(tmp_path: Path, monkeypatch) -> None:
    """A UrurError subclass no handler names: `kedro run` and `urur` print it as one line."""
    root = make_toy_project(tmp_path / "project")
    monkeypatch.chdir(root)
    result, ran = kedro_run(root, "--pipelines", "fails")
    assert ran == ["fail"]
    assert _one_error_line(result) == f"Error: FreshError: {FRESH_MESSAGE}"

    def predict_file(*args: object, **kwargs: object) -> None:
        raise FreshError(FRESH_MESSAGE)

    monkeypatch.setattr("urur.predict.run.predict_file", predict_file)
    result = CliRunner().invoke(urur_main, ["predict", "scene.tif", "-o", "labels.tif"])
    assert _one_error_line(result) == f"Error: FreshError: {FRESH_MESSAGE}"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny WSDNet checkpoint, and two with malformed meta: 9 class names, a 1-value mean."""
    folder = tmp_path_factory.mktemp("checkpoints")
    model = tiny_model()
    for name, changes in (
        ("good", {}),
        ("nine", {"class_names": [*URUR_CLASSES, "extra"]}),
        ("mean", {"mean": [0.5]}),
    ):
        write_checkpoint(folder / "run" / f"{name}.pt", model, tiny_meta(**changes))
    write_raster(folder / "scene.tif", np.full((64, 64, 3), 100, np.uint8))
    return folder


def _predict(folder: Path, checkpoint: Path, *extra: str) -> Result:
    args = [
        "predict",
        str(folder / "scene.tif"),
        "-o",
        str(folder / "out.tif"),
        "--checkpoint",
        str(checkpoint),
    ]
    return CliRunner().invoke(urur_main, [*args, "--device", "cpu", *extra])


@pytest.mark.parametrize(("name", "named"), [("nine", "class_names"), ("mean", "mean")])
def test_checkpoint_with_malformed_meta(checkpoints: Path, name: str, named: str) -> None:
    line = _one_error_line(_predict(checkpoints, checkpoints / "run" / f"{name}.pt"))
    assert f"{name}.pt" in line and named in line
    assert not (checkpoints / "out.tif").exists()


def test_checkpoint_folder_names_its_checkpoints(checkpoints: Path, monkeypatch) -> None:
    line = _one_error_line(_predict(checkpoints, checkpoints / "run"))
    assert "is a folder" in line and "good.pt" in line and "does not exist" not in line
    monkeypatch.setenv("URUR_DEBUG", "1")
    assert _predict(checkpoints, checkpoints / "run").exception.__class__.__name__ == "CheckpointError"


ENV = tool_env(COLUMNS="200")


@pytest.mark.e2e
def test_the_terminal_shows_one_line_and_parameter_errors_once(project: Path) -> None:
    def kedro_run(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["kedro", "run", *args],
            cwd=project,
            env={**ENV, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    for args in (["--pipelines", "trian_urur"], ["--pipelines", "tiling", "--params", "tiling.overlap=500"]):
        done = kedro_run(*args)
        output = done.stdout + done.stderr
        assert done.returncode == 1 and "Traceback" not in output and "╭" not in output, output
        assert len([line for line in output.splitlines() if line.startswith("Error:")]) == 1, output
    assert output.count("must be smaller than patch_size") == 1, output
    assert "errors.pydantic.dev" not in output
    traced = kedro_run("--pipelines", "trian_urur", URUR_DEBUG="1")
    assert traced.returncode == 1 and ("Traceback" in traced.stderr or "╭" in traced.stderr)
