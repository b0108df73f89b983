"""What a person opens in a browser after a whole tiny run: the report and the DVC plots page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image as PILImage

from tests.support.browser import browser_page, report_screenshot
from tests.support.tools import run_tool

IMAGES = (
    "Array.from(document.images).map(i => ({alt: i.alt, width: i.naturalWidth, shown: i.clientWidth, "
    "room: i.closest('figure').parentElement.clientWidth, "
    "bottom: i.getBoundingClientRect().bottom + scrollY}))"
)
# Every table and figure within the page: nothing scrolls sideways, at any width.
TABLES = (
    "Array.from(document.querySelectorAll('table')).map(t => "
    "({caption: t.caption ? t.caption.textContent : '', rows: t.rows.length, height: t.clientHeight, "
    "scroll: t.scrollWidth, client: t.clientWidth, right: t.getBoundingClientRect().right, "
    "parent: t.parentElement.clientWidth}))"
)
PAGE = (
    "({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth, "
    "first: document.querySelector('h2').textContent, "
    "key: document.querySelector('.key').getBoundingClientRect().bottom, "
    "key_text: document.querySelector('.key').textContent})"
)


@pytest.mark.parametrize("width", [1280, 800])
def test_report_renders_every_table_and_image_in_headless_chromium(
    project: Path, tmp_path: Path, width: int
) -> None:
    """At desktop width and at 800 px: the headline first (on the first screen), the loss panels
    and the error maps of the worst and best test images shown near the page's width, no table or
    figure wider than the page; the screenshot docs/img shows holds the headline, the loss panels and
    the worst image's error map."""
    reporting = project / "data/08_reporting"
    with browser_page(width, 900) as (page, requests):
        page.goto((reporting / "report.html").as_uri())
        images, tables, whole = page.evaluate(IMAGES), page.evaluate(TABLES), page.evaluate(PAGE)
        clip = report_screenshot(page, tmp_path / "report.png")
    names = sorted(i["alt"] for i in images)
    errors = [n for n in names if n.startswith("errors_")]
    assert len(errors) == 2  # the worst and the best test image
    # Figure 3's panels join them once compare_urur has run (tests/unit/experiments/test_tables.py).
    assert set(names) - set(errors) - {"prediction_panels"} == {"class_iou", "confusion", "training_curves"}
    assert all(i["width"] > 0 and 0 < i["shown"] <= i["room"] for i in images), images
    readable = {i["alt"]: i["shown"] / i["room"] for i in images if i["alt"] in {"training_curves", *errors}}
    assert all(share > 0.95 for share in readable.values()), readable  # as wide as the page allows
    assert whole["first"].startswith("Headline") and "test mIoU" in whole["key_text"] and whole["key"] < 900
    assert whole["scroll"] <= whole["client"], whole
    wide = [
        t
        for t in tables
        if t["scroll"] > t["client"] or t["right"] > whole["client"] or t["scroll"] > t["parent"]
    ]
    assert not wide, wide
    assert all(t["rows"] > 1 and t["height"] > 0 for t in tables), tables
    captions = " | ".join(t["caption"] for t in tables)
    for expected in (
        "Test and validation metrics",
        "Per test image",
        "Table 1",
        "Annotation QA",
        "Pre-labelling",
        "Test metrics",
        "Per-class",
        "DVC data",
    ):
        assert expected in captions
    assert all(url.startswith(("file:", "data:")) for url in requests), requests  # self-contained
    bottoms = {i["alt"]: i["bottom"] for i in images}
    assert bottoms["training_curves"] < clip["height"] and bottoms[errors[0]] < clip["height"]
    with PILImage.open(tmp_path / "report.png") as shot:
        assert shot.size == (width, clip["height"])
    # The Markdown twin links the same figures, which exist beside it.
    markdown = (reporting / "report.md").read_text()
    links = re.findall(r"\]\((report_figures/[^)]+\.png)\)", markdown)
    assert len(links) == len(names) and all((reporting / link).is_file() for link in links)


def test_dvc_plots_page_draws_offline_with_the_inlined_vega(project: Path, tmp_path: Path) -> None:
    """The project's plots.html_template (.dvc/config) carries Vega: no script comes from a CDN."""
    out = tmp_path / "dvc_plots"
    run_tool(project, "dvc", "plots", "show", "-o", str(out), timeout=300)
    page_html = (out / "index.html").read_text()
    assert not re.findall(r"<script[^>]*\bsrc=", page_html)
    with browser_page() as (page, requests):
        page.goto((out / "index.html").as_uri())
        page.wait_for_function("document.querySelectorAll('.vega-embed').length > 0")
        drawn = page.evaluate("document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length")
        plots = page.evaluate("document.querySelectorAll('.vega-embed').length")
    assert plots >= 3 and drawn == plots  # class balance x2 and the training curves
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
