"""The trainer: checkpoints, resume after SIGKILL, config mismatch, NaN loss, bad devices."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from tests.support.training_store import write_store
from urur.models.checkpoint import CheckpointError, build_model_from_checkpoint
from urur.training import FitResult, NonFiniteLossError, TrainingParams, fit
from urur.training.trainer import poly_factor, weights_sha256

IDS = ["a", "b"]
TINY = {
    "model": "stdc",
    "model_options": {"width": 0.125},
    "crop_size": 32,
    "scale_range": (0.75, 1.25),
    "batch_size": 2,
    "workers": 0,
    "log_interval": 1,
}


def _params(**changes: object) -> TrainingParams:
    return TrainingParams(**{**TINY, "iterations": 4, "checkpoint_interval": 2, "val_interval": 2, **changes})


def _constant_validate(model: torch.nn.Module) -> dict[str, float]:
    return {"mIoU": 0.5}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_store(tmp_path_factory.mktemp("store"), IDS, size=64)


def test_fit_writes_loadable_checkpoints_and_curves(store: tuple[Path, Path], tmp_path: Path) -> None:
    scores = iter([0.3, 0.7, 0.4])
    result = fit(
        _params(iterations=5, keep_last=2),
        IDS,
        *store,
        tmp_path / "run",
        validate=lambda model: {"mIoU": next(scores)},
        live_dir=tmp_path / "live",
    )
    checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert checkpoints == ["best.pt", "iter_00000004.pt", "iter_00000005.pt"]  # last 2 + best
    assert result.last_checkpoint.name == "iter_00000005.pt" and result.checkpoint == result.best_checkpoint
    state = torch.load(result.best_checkpoint, weights_only=True)
    assert state["iteration"] == 4 and state["best"] == {"score": 0.7, "iteration": 4}
    assert set(state) >= {"model", "optimizer", "scheduler", "rng", "meta", "history"}
    assert all(t.device.type == "cpu" for t in state["model"].values())
    meta = state["meta"]
    assert (meta["model"], meta["num_classes"], meta["options"]) == ("stdc", 8, {"width": 0.125})
    assert meta["params"]["lr"] == 0.01 and meta["class_names"][0] == "others"
    assert {"python", "numpy", "torch"} <= set(state["rng"])
    history = result.history
    assert [h["iteration"] for h in history] == [1, 2, 3, 4, 5]
    assert {"train/loss", "train/loss_seg", "train/loss_aux", "train/lr"} <= set(history[0])
    assert history[1]["val/mIoU"] == 0.3 and "val/mIoU" not in history[2]
    assert history[0]["train/loss"] == pytest.approx(
        history[0]["train/loss_seg"] + history[0]["train/loss_aux"]
    )
    curve = (tmp_path / "live" / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()
    assert curve[0].split("\t") == ["step", "loss"] and len(curve) == 6
    assert (tmp_path / "live" / "plots" / "metrics" / "val" / "mIoU.tsv").is_file()

    model, loaded_meta = build_model_from_checkpoint(result.last_checkpoint)
    assert not model.training and loaded_meta["model"] == "stdc"
    assert weights_sha256(model) == result.weights_sha256


def test_a_run_without_validation_uses_its_last_checkpoint() -> None:
    last = Path("run/checkpoints/iter_00000004.pt")
    assert FitResult(best_checkpoint=None, last_checkpoint=last).checkpoint == last


def test_poly_schedule_ends_at_min_lr() -> None:
    factors = [poly_factor(s, iterations=10, power=0.9, lr=0.01, min_lr=1e-4) for s in (0, 5, 10)]
    assert factors[0] == 1.0 and factors[2] * 0.01 == pytest.approx(1e-4)
    assert factors[1] * 0.01 == pytest.approx((0.01 - 1e-4) * 0.5**0.9 + 1e-4)


# Every run of this test is its own process, as a real rerun after a kill is: the weights must
# not depend on state another test left in the pytest process (threads, library settings).
RUN = """
import json, sys, time
from pathlib import Path
from urur.training import TrainingParams, fit

params = TrainingParams.model_validate_json(sys.argv[1])
marker = None if sys.argv[5] == "-" else Path(sys.argv[5])
calls = []

def validate(model):
    calls.append(1)
    if marker is not None and len(calls) == 3:  # iteration 6: trained, not yet checkpointed
        marker.touch()
        time.sleep(600)
    return {"mIoU": 0.5}

live = None if sys.argv[6] == "-" else sys.argv[6]
result = fit(params, ["a", "b"], sys.argv[2], sys.argv[3], sys.argv[4], validate=validate, live_dir=live)
print(json.dumps({"weights": result.weights_sha256, "history": result.history}))
"""


def _run_in_process(
    script: Path, params: TrainingParams, store: tuple[Path, Path], out: Path, marker="-", live="-"
) -> subprocess.Popen:
    command = [sys.executable, str(script), params.model_dump_json(), *map(str, store), str(out), str(marker)]
    return subprocess.Popen(
        [*command, str(live)],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.PIPE,
        text=True,
    )


def _result(child: subprocess.Popen) -> dict:
    out, _ = child.communicate(timeout=300)
    assert child.returncode == 0
    return json.loads(out.strip().splitlines()[-1])


def test_resume_after_sigkill_gives_the_uninterrupted_weights(
    store: tuple[Path, Path], tmp_path: Path
) -> None:
    params = _params(iterations=6, accumulation=2)
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(RUN))
    uninterrupted = _result(_run_in_process(script, params, store, tmp_path / "whole"))

    run_dir, marker, live = tmp_path / "killed", tmp_path / "at-iteration-6", tmp_path / "live"
    child = _run_in_process(script, params, store, run_dir, marker, live)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the child run did not reach iteration 6"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("iter_*")) == [
        "iter_00000002.pt",
        "iter_00000004.pt",
    ]

    curve = live / "plots" / "metrics" / "train" / "loss.tsv"
    # Step 5 was logged after the last checkpoint (4): the resumed run computes it again.
    assert [line.split("\t")[0] for line in curve.read_text().splitlines()] == ["step", *"12345"]

    resumed = _result(_run_in_process(script, params, store, run_dir, live=live))
    assert resumed["weights"] == uninterrupted["weights"]
    assert resumed["history"] == uninterrupted["history"]
    # The curve continues from the checkpoint: steps 5 and 6 once each.
    assert [line.split("\t")[0] for line in curve.read_text().splitlines()] == ["step", *"123456"]
    again = _result(_run_in_process(script, params, store, run_dir))  # finished: nothing left to train
    assert again["weights"] == uninterrupted["weights"]


def test_config_mismatch_is_reported_and_resume_false_keeps_old_checkpoints(
    store: tuple[Path, Path], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    fit(_params(iterations=2), IDS, *store, run_dir)
    with pytest.raises(CheckpointError, match=r"another configuration \(lr: checkpoint 0.01, now 0.02\)"):
        fit(_params(iterations=2, lr=0.02), IDS, *store, run_dir)
    with pytest.raises(CheckpointError, match="train_ids_sha256"):
        fit(_params(iterations=2), ["a"], *store, run_dir)
    fit(_params(iterations=2, lr=0.02, resume=False), IDS, *store, run_dir)
    aside = list(run_dir.glob("checkpoints.previous-*"))
    assert len(aside) == 1 and (aside[0] / "iter_00000002.pt").is_file()
    assert (
        torch.load(run_dir / "checkpoints" / "iter_00000002.pt", weights_only=True)["meta"]["params"]["lr"]
        == 0.02
    )


def test_non_finite_loss_names_the_iteration_and_keeps_the_last_checkpoint(
    store: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urur.models.baselines import STDCSeg

    real = STDCSeg.compute_losses
    calls = []

    def poisoned(self, *args):
        calls.append(1)
        losses = real(self, *args)
        if len(calls) == 3:
            losses["loss_seg"] = losses["loss_seg"] * float("nan")
        return losses

    monkeypatch.setattr(STDCSeg, "compute_losses", poisoned)
    with pytest.raises(NonFiniteLossError, match="loss is nan at iteration 3"):
        fit(_params(), IDS, *store, tmp_path / "run")
    kept = tmp_path / "run" / "checkpoints" / "iter_00000002.pt"
    assert torch.load(kept, weights_only=True)["iteration"] == 2


def test_bad_devices_and_an_empty_split_fail_before_any_work(
    store: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"training.devices 64 .* but this machine has"):
        fit(_params(devices=64, device="cpu"), IDS, *store, tmp_path / "many")
    with pytest.raises(ValueError, match="train split is empty"):
        fit(_params(), [], *store, tmp_path / "empty")
    assert not (tmp_path / "many").exists() and not (tmp_path / "empty").exists()


def test_configuration_name_separates_what_changes_the_computation() -> None:
    from urur.training.checkpoint import configuration_name

    base = TrainingParams(model="stdc", model_options={"width": 0.125})
    name = configuration_name(base, ["a", "b"])
    assert name.startswith("stdc-") and len(name) == len("stdc-") + 12
    # Settings that only change how a run runs keep the folder (and so resume)...
    assert configuration_name(base.model_copy(update={"workers": 0, "keep_last": 5}), ["a", "b"]) == name
    # ...anything that changes the weights, or another train split, gets its own.
    assert configuration_name(base.model_copy(update={"lr": 0.02}), ["a", "b"]) != name
    assert configuration_name(base, ["a", "c"]) != name


def test_temporaries_of_a_killed_training_are_removed_at_the_next_run(
    store: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    stale = [folder / ".iter_00000002.k1ll3d_x.tmp.pt", folder / ".best.a1b2c3d4.tmp.pt"]
    kept = folder / ".notes.txt"
    for path in (*stale, kept):
        path.write_bytes(b"x" * 100)
    with caplog.at_level("WARNING", logger="urur"):
        fit(_params(iterations=2), IDS, *store, tmp_path / "run")
    assert not any(path.exists() for path in stale) and kept.exists()
    assert all(str(path) in caplog.text for path in stale)
