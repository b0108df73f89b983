"""A toy Kedro project of four nodes, run in this process through the project's own ``kedro run``.

The project's settings, hooks, session and command run it; only the registry is this module's
(:func:`register_pipelines`): a dataset chain ``build`` (writes the source record) -> ``derive``,
and a model stage ``train``, as ``train`` (the chain tagged ``build_if_missing``, as
``train_urur``) and ``__default__`` (untagged); and ``fails``, a node raising a user error that
no handler names. Each node that runs is appended to :data:`RAN`.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project
from kedro.pipeline import Node, Pipeline

from urur.__main__ import cli
from urur.dataset.sources import describe_source
from urur.errors import UrurError
from urur.session import BUILD_IF_MISSING

RAN: list[str] = []
FRESH_MESSAGE = "tiny.yml names no colour: add one (conf/base/tiny.yml)"
RAW = "data/01_raw/tiny"
CATALOG = f"""
tiny_raw: {{type: urur.io.datasets.DirectoryDataset, path: {RAW}, read_only: true}}
tiny_built: {{type: urur.io.datasets.JSONDataset, filepath: data/02_intermediate/built.json}}
dataset_source: {{type: urur.io.datasets.JSONDataset, filepath: data/02_intermediate/dataset_source.json}}
tiny_derived: {{type: urur.io.datasets.JSONDataset, filepath: data/03_primary/derived.json}}
tiny_model: {{type: urur.io.datasets.JSONDataset, filepath: data/06_models/model.json}}
"""


class FreshError(UrurError, ValueError):
    """A user error added after the handlers were written: none of them names it."""


def _build(raw: Path, environment: str) -> tuple[dict, dict]:
    RAN.append("build")
    return {"files": sorted(p.name for p in raw.iterdir())}, describe_source(raw, environment)


def _derive(built: dict) -> dict:
    RAN.append("derive")
    return built


def _train(derived: dict) -> dict:
    RAN.append("train")
    return {"trained_on": derived["files"]}


def _fail(environment: str) -> None:
    RAN.append("fail")
    raise FreshError(FRESH_MESSAGE)


def register_pipelines() -> dict[str, Pipeline]:
    chain = Pipeline(
        [
            Node(_build, ["tiny_raw", "params:environment"], ["tiny_built", "dataset_source"], name="build"),
            Node(_derive, "tiny_built", "tiny_derived", name="derive"),
        ]
    )
    model = Pipeline([Node(_train, "tiny_derived", "tiny_model", name="train")])
    return {
        "train": chain.tag(BUILD_IF_MISSING) + model,
        "__default__": chain + model,
        "fails": Pipeline([Node(_fail, "params:environment", None, name="fail")]),
    }


def make_toy_project(root: Path) -> Path:
    """The project's files in ``root``: pyproject, configuration and a raw folder of one file."""
    (root / "src").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[tool.kedro]\npackage_name = "urur"\nproject_name = "tiny"\nkedro_init_version = "1.7.0"\n'
    )
    base = root / "conf/base"
    base.mkdir(parents=True)
    (root / "conf/local").mkdir()
    (base / "globals.yml").write_text("data_root: data\nenvironment: base\n")
    (base / "parameters.yml").write_text("environment: ${globals:environment}\n")
    (base / "catalog.yml").write_text(CATALOG)
    (root / RAW).mkdir(parents=True)
    (root / RAW / "scene.tif").write_text("pixels")
    return root


def kedro_run(root: Path, *args: str) -> tuple[Result, list[str]]:
    """``kedro run *args`` in ``root`` (the caller chdirs there), and the nodes that ran, in order."""
    bootstrap_project(root)
    pipelines.configure(__name__)
    RAN.clear()
    return CliRunner().invoke(cli, ["run", *args]), list(RAN)
