"""The ``reporting`` Kedro pipeline: the report from whatever exists, after the stages it reads."""

from __future__ import annotations

from pathlib import Path

from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from tests.support.reporting import STATS
from urur.evaluation.config import EvaluationParams
from urur.pipelines.reporting import create_pipeline
from urur.pipelines.reporting.pipeline import after
from urur.reporting.config import ReportingParams
from urur.training import TrainingParams
from urur.training.config import TrainingRunParams


def test_reporting_pipeline_runs_with_nothing_trained(tmp_path: Path, monkeypatch) -> None:
    """The standalone report reads optional inputs; in a whole run it waits for the stages it reads."""
    monkeypatch.chdir(tmp_path)
    report = create_pipeline()
    catalog = DataCatalog(
        {name: MemoryDataset(None) for name in report.inputs() if name.endswith("_if_present")}
        | {
            "dataset_stats_if_present": MemoryDataset(STATS),
            "report_figures": MemoryDataset(copy_mode="assign"),
        }
        | {
            "params:training": MemoryDataset(TrainingParams(model="wsdnet")),
            "params:evaluation": MemoryDataset(EvaluationParams()),
            "params:training_run": MemoryDataset(TrainingRunParams(live_dir=str(tmp_path / "live"))),
            "params:reporting": MemoryDataset(ReportingParams()),
        }
    )
    SequentialRunner().run(report, catalog)
    html, markdown = catalog.load("report_html"), catalog.load("report_markdown")
    assert "this dataset" in html and "kedro run --pipeline=train_urur" in html
    assert "<img" not in html and "> **Missing:**" in markdown


def test_in_a_whole_run_the_report_reads_what_the_chain_writes() -> None:
    report = create_pipeline()
    chain = Pipeline([Node(lambda: {}, None, "test_metrics", name="evaluate")])
    wired = after(report, chain)
    assert "test_metrics" in wired.inputs() and "test_metrics_if_present" not in wired.inputs()
    assert wired.inputs() - {"test_metrics"} == report.inputs() - {"test_metrics_if_present"}
    order = [node.name for node in (chain + wired).nodes]
    assert order.index("evaluate") < order.index("reporting.write_report")  # Kedro orders the report after it
