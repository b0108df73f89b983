"""Redraw the README's pictures from a project that has run: the report (its first screen and its
Tables 4-6) and kedro-viz's pipeline.

    .venv/bin/python docs/screenshots.py [PROJECT_ROOT]

after `kedro run`, `kedro run --pipeline=compare_urur` and `kedro viz build` there.

Headless Chromium (the OS package) through Playwright, as the report's browser test drives it.
"""

from __future__ import annotations

import functools
import http.server
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import browser_page  # noqa: E402


def report(project: Path, out: Path) -> None:
    with browser_page(1200, 1800) as (page, _):
        page.goto((project / "data/08_reporting/report.html").as_uri())
        page.screenshot(path=out)


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


if __name__ == "__main__":
    project = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    report(project, ROOT / "docs/img/report.png")
    comparison(project, ROOT / "docs/img/report_comparison.png")
    pipeline(project, ROOT / "docs/img/pipeline.png")
