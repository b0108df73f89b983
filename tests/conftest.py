from __future__ import annotations

import os
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.support.kedro_project import make_project

# Nothing in the tests may reach the network or ask for consent.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

E2E_DIR = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e/ is an end-to-end run: ``-m "not e2e"`` leaves it out."""
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny copy of the project after one whole ``kedro run`` (shared by the end-to-end tests)."""
    root = make_project(tmp_path_factory.mktemp("project"))
    bootstrap_project(root)
    cwd = Path.cwd()
    os.chdir(root)  # where `kedro run` runs: the registry resolves data_source there
    try:
        with KedroSession.create(project_path=root) as session:
            session.run()
    finally:
        os.chdir(cwd)
    return root


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh tiny WSDNet (width 0.125, 8 URUR classes) saved the way training saves it."""
    import torch

    from urur.classes import URUR_CLASSES
    from urur.models import build_model
    from urur.training.checkpoint import build_meta, save_checkpoint
    from urur.training.config import TrainingParams

    params = TrainingParams(model="wsdnet", model_options={"width": 0.125})
    torch.manual_seed(0)
    model = build_model("wsdnet", 8, width=0.125)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint(
        path,
        model=model,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0),
        iteration=0,
        meta=build_meta(params, URUR_CLASSES, ["a"]),
        best={"score": None, "iteration": 0},
        history=[],
        data_state={},
    )
    return str(path)
