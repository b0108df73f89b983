"""README.md quotes the demo run from the committed result files (DVC's metrics), not by hand,
and its table of contents lists every section."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
REPORTING = ROOT / "data/08_reporting"
README = (ROOT / "README.md").read_text()


def _section(start: str, end: str) -> str:
    """The README between two headings, whitespace collapsed (lines wrap anywhere)."""
    return " ".join(README[README.index(start) : README.index(end)].split())


def test_quickstart_quotes_the_committed_test_metrics() -> None:
    metrics = json.loads((REPORTING / "test_metrics.json").read_text())
    quickstart = _section("## Quickstart", "## What runs")
    assert (
        f"**test mIoU {metrics['test/mIoU']:.3f}**, mF1 {metrics['test/mF1']:.3f}, "
        f"aAcc {metrics['test/aAcc']:.3f} on the {metrics['test_images']} test images"
    ) in quickstart
    assert f"deep branch adds {metrics['test/deep_branch_contribution_points']:.1f} points" in quickstart
    assert f"{metrics['fps']:.2f} FPS and {metrics['peak_memory_mb'] / 1024:.1f} GB peak RSS" in quickstart


def test_quickstart_quotes_the_committed_validation_curve() -> None:
    with (REPORTING / "training/plots/metrics/val/mIoU.tsv").open() as tsv:
        rows = list(csv.DictReader(tsv, delimiter="\t"))
    values = " / ".join(f"{float(row['mIoU']):.2f}" for row in rows)
    steps = " / ".join(row["step"] for row in rows)
    assert f"validation mIoU {values} at iterations {steps}" in _section("## Quickstart", "## What runs")


def test_quickstart_quotes_the_committed_prelabel_effort() -> None:
    effort = json.loads((REPORTING / "prelabel_effort.json").read_text())
    quickstart = _section("## Quickstart", "## What runs")
    assert f"pre-label mIoU {effort['prelabel_mIoU']:.3f}" in quickstart
    assert f"{effort['effort_saved_pct']:.1f} % of the annotation effort saved" in quickstart


def _github_anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_table_of_contents_links_every_section() -> None:
    contents = _section("## Contents", "## Quickstart")
    headings = re.findall(r"^#{2,3} (.+)$", README, re.MULTILINE)
    linked = re.findall(r"\]\(#([^)]+)\)", contents)
    assert linked == [_github_anchor(h) for h in headings if h != "Contents"]
