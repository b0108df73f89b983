"""What a person opens in a browser after a whole tiny run: the report and the DVC plots page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import browser_page

pytestmark = pytest.mark.slow

IMAGES = "Array.from(document.images).map(i => ({alt: i.alt, width: i.naturalWidth, shown: i.clientWidth}))"
TABLES = (
    "Array.from(document.querySelectorAll('table')).map(t => "
    "({caption: t.caption ? t.caption.textContent : '', rows: t.rows.length, height: t.clientHeight}))"
)


def test_report_renders_every_table_and_image_in_headless_chromium(project: Path, tmp_path: Path) -> None:
    reporting = project / "data/08_reporting"
    with browser_page() as (page, requests):
        page.goto((reporting / "report.html").as_uri())
        images, tables = page.evaluate(IMAGES), page.evaluate(TABLES)
        page.screenshot(path=tmp_path / "report.png", full_page=True)
    names = sorted(i["alt"] for i in images)
    assert names == ["class_iou", "confusion", "prediction_panels", "training_curves"]
    assert all(i["width"] > 0 and i["shown"] > 0 for i in images), images
    assert all(t["rows"] > 1 and t["height"] > 0 for t in tables), tables
    captions = " | ".join(t["caption"] for t in tables)
    for expected in ("Table 1", "Annotation QA", "Pre-labelling", "Test metrics", "Per-class", "dvc.lock"):
        assert expected in captions
    assert all(url.startswith(("file:", "data:")) for url in requests), requests  # self-contained
    assert (tmp_path / "report.png").stat().st_size > 10_000
    # The Markdown twin links the same figures, which exist beside it.
    markdown = (reporting / "report.md").read_text()
    links = re.findall(r"\]\((report_figures/[^)]+\.png)\)", markdown)
    assert len(links) == 4 and all((reporting / link).is_file() for link in links)


def test_dvc_plots_page_draws_offline_with_the_inlined_vega(project: Path, tmp_path: Path) -> None:
    """The project's plots.html_template (.dvc/config) carries Vega: no script comes from a CDN."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = tmp_path / "dvc_plots"
    result = subprocess.run(
        ["dvc", "plots", "show", "-o", str(out)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    page_html = (out / "index.html").read_text()
    assert not re.findall(r"<script[^>]*\bsrc=", page_html)
    with browser_page() as (page, requests):
        page.goto((out / "index.html").as_uri())
        page.wait_for_function("document.querySelectorAll('.vega-embed').length > 0")
        drawn = page.evaluate("document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length")
        plots = page.evaluate("document.querySelectorAll('.vega-embed').length")
    assert plots >= 3 and drawn == plots  # class balance x2 and the training curves
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
