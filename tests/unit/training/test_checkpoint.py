"""Checkpoint helpers by value: generator states survive a weights-only round trip, a
configuration's folder name is stable, and a refused resume names each difference."""

from __future__ import annotations

import io
import random

import numpy as np
import torch

from urur.training.checkpoint import configuration_name, restore_rng_states, resume_mismatch, rng_states
from urur.training.config import TrainingParams


def _draws() -> tuple[list[float], list[float], list[float]]:
    return (
        [random.random() for _ in range(3)],
        np.random.random(3).tolist(),
        torch.rand(3).tolist(),
    )


def test_generator_states_resume_where_they_stopped_after_a_weights_only_round_trip() -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached second Gaussian in Python's state
    saved = io.BytesIO()
    torch.save(rng_states(), saved)
    expected = _draws()
    # Something else draws meanwhile (another run, a validation pass)...
    random.seed(7)
    np.random.seed(8)
    torch.manual_seed(9)
    _draws()
    saved.seek(0)
    restore_rng_states(torch.load(saved, weights_only=True))
    # ...and every generator continues exactly where the saved run stopped.
    assert _draws() == expected
    assert np.random.get_state(legacy=False)["state"]["key"].dtype == np.uint32


def test_configuration_names_are_stable_across_versions() -> None:
    """Existing checkpoint folders are found by this name: a change orphans every user's runs."""
    params = TrainingParams(model="stdc", model_options={"width": 0.125})
    assert configuration_name(params, ["a", "b"]) == "stdc-34d8a21e76a0"
    assert configuration_name(TrainingParams(), ["a", "b"]) == "wsdnet-d8ba0ecc1522"


def test_resume_mismatch_names_each_difference_and_ignores_how_a_run_runs() -> None:
    params = TrainingParams().model_dump(mode="json")
    meta = {
        "model": "wsdnet",
        "num_classes": 8,
        "class_names": ["a"],
        "train_ids_sha256": "x",
        "params": params,
    }
    assert resume_mismatch(meta, meta) == []
    current = {
        **meta,
        "model": "isdnet",
        "class_names": ["b"],
        "params": {**params, "lr": 0.5, "workers": 7, "keep_last": 1, "added": 1},
    }
    assert resume_mismatch(meta, current) == [
        "model: checkpoint 'wsdnet', now 'isdnet'",
        "class_names: checkpoint ['a'], now ['b']",
        "added: checkpoint None, now 1",
        f"lr: checkpoint {params['lr']!r}, now 0.5",
    ]
    other_split = {**meta, "num_classes": 7, "train_ids_sha256": "y"}
    assert resume_mismatch(meta, other_split) == [
        "num_classes: checkpoint 8, now 7",
        "train_ids_sha256: checkpoint 'x', now 'y'",
    ]
