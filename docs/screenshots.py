"""Redraw the README's pictures from a project that has run: the report (from its headline through
the loss panels and the worst test image's error map, at desktop width and at 800 px, and its
Tables 4-6) and kedro-viz's pipeline.

    .venv/bin/python docs/screenshots.py [PROJECT_ROOT] [--only report|comparison|pipeline ...]

after `kedro run` (the report), `kedro run --pipeline=compare_urur` (its Tables 4-6) and
`kedro viz build` (the pipeline) there.

Headless Chromium (the OS package) through Playwright, as the report's browser test drives it.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.browser import browser_page, report_screenshot  # noqa: E402

REPORT_WIDTHS = {1280: "report.png", 800: "report_800.png"}  # desktop, and a narrow window


def report(project: Path, out: Path, width: int) -> None:
    """The clip the browser test checks (tests/e2e/test_report_browser.py), from the demo's report."""
    with browser_page(width, 900) as (page, _):
        page.goto((project / "data/08_reporting/report.html").as_uri())
        report_screenshot(page, out)


def comparison(project: Path, out: Path) -> None:
    """The report's Tables 4-6 section alone (far below the first screen), once compare_urur ran."""
    with browser_page(1400, 1000) as (page, _):
        page.goto((project / "data/08_reporting/report.html").as_uri())
        heading = page.locator("h2", has_text="Comparison and ablations")
        page.locator("section", has=heading).screenshot(path=out)


def pipeline(project: Path, out: Path) -> None:
    """kedro-viz's static site fetches its JSON, which a file:// page may not: serve it on localhost."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(project / "build"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with browser_page(1800, 1100) as (page, _):
            page.goto(f"http://127.0.0.1:{server.server_port}/")
            page.wait_for_selector(".pipeline-node", timeout=60_000)
            page.wait_for_timeout(3000)  # the layout's transition, then the first-visit tour pops up
            for close in page.locator("[class*='close']").all():
                if close.is_visible():
                    close.click()
            page.wait_for_timeout(6000)  # until its last toast fades
            page.screenshot(path=out)
    finally:
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", nargs="?", type=Path, default=ROOT, help="a project that has run")
    parser.add_argument(
        "--only", choices=("report", "comparison", "pipeline"), action="append", help="redraw only these"
    )
    args = parser.parse_args()
    only = set(args.only or ("report", "comparison", "pipeline"))
    if "report" in only:
        for width, name in REPORT_WIDTHS.items():
            report(args.project, ROOT / "docs/img" / name, width)
    if "comparison" in only:
        comparison(args.project, ROOT / "docs/img/report_comparison.png")
    if "pipeline" in only:
        pipeline(args.project, ROOT / "docs/img/pipeline.png")


if __name__ == "__main__":
    main()
