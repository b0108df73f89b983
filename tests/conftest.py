from __future__ import annotations

import os
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.support.checkpoints import tiny_meta, tiny_model, write_checkpoint
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
    return str(write_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt", tiny_model(), tiny_meta()))
