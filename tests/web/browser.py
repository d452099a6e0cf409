"""Headless Chromium for the dashboard tests: Debian's browser, a page that records errors.

Without Chromium or Playwright the browser tests skip; under ``CI=true`` they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    if not Path(CHROMIUM).exists():
        return "Chromium is not installed (apt-get install chromium)"
    return None


def launch() -> Iterator[Any]:
    """One headless Chromium (a generator for a module-scoped fixture)."""
    reason = missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run under CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


SETTLED = """() => [...document.querySelectorAll('#view .panel')].every((panel) => {
    const chart = panel.querySelector('.chart');
    const empty = panel.querySelector('.empty');
    return !chart || chart.hidden || chart.dataset.points !== undefined || (empty && !empty.hidden);
})"""


class Page:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(
        self, browser: Any, base: str, language: str = "en-GB", bypass_csp: bool = False
    ) -> None:
        # bypass_csp: only to inject a test tool (axe-core) the page's own policy would refuse
        self.context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, locale=language, bypass_csp=bypass_csp
        )
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: self.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None,
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def open(self, view: str, run: int | None = None) -> Any:
        query = f"?run={run}" if run is not None else ""
        self.page.goto(f"{self.base}/{query}#{view}")
        self.wait_ready(view)
        return self.page

    def wait_ready(self, view: str) -> None:
        self.page.wait_for_selector(f'#view[data-view="{view}"][data-ready="true"]', timeout=30_000)

    def settle(self) -> None:
        """Wait until the browser has painted what the view drew (two animation frames
        after it marked itself ready): a condition, not a fixed delay."""
        self.page.wait_for_function(
            "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame("
            "() => done(true))))"
        )

    def wait_drawn(self) -> None:
        """Until every chart panel of the view has settled: drawn (``data-points``), hidden,
        or its empty or error message shown. Panels load on their own after the view is ready."""
        self.page.wait_for_function(SETTLED, timeout=30_000)
        self.settle()

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.evaluate("() => window.scrollTo(0, 0)")  # the sticky header stays on top
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def unexpected_errors(self, *statuses: int) -> list[str]:
        """Console errors, less the browser's own line for an answer we asked for (401, 403)."""
        expected = tuple(f"status of {s}" for s in statuses)
        return [e for e in self.errors if not any(x in e for x in expected)]

    def close(self) -> None:
        self.context.close()
