"""Headless Chromium from the OS packages (``apt-get install chromium``), driven by Playwright."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

# Nothing may reach the network: no QUIC, no background or component updates, no sync.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("no chromium on PATH: install the OS package (apt-get install -y chromium); .ci/run does")
    return path


@contextmanager
def browser_page(width: int = 1200, height: int = 900) -> Iterator[tuple[Page, list[str]]]:
    """A fresh headless page (temporary profile) and the list of every URL it requests."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            yield page, requests
        finally:
            browser.close()


# The report's first screens, as docs/img/report*.png show them: from the top through the worst
# test image's error map (the headline, the loss panels and the error maps).
FIRST_ERROR_MAP = "img[alt^='errors_']"


def report_screenshot(page: Page, out: str | Path) -> dict[str, float]:
    """Screenshot ``page`` (a report, loaded) from its top through the first error map; the clip."""
    bottom = page.evaluate(
        f"document.querySelector(\"{FIRST_ERROR_MAP}\").closest('figure').getBoundingClientRect().bottom"
        " + window.scrollY"
    )
    clip = {"x": 0, "y": 0, "width": page.viewport_size["width"], "height": math.ceil(bottom) + 16}
    page.screenshot(path=out, clip=clip, full_page=True)
    return clip
