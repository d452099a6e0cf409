"""Security headers: a Content-Security-Policy the dashboard and the API docs live under
with zero violations (real Chromium), nosniff, no referrer, no framing, and answers that
list patients never stored by a browser."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from browser import Page, launch

API = "/api/v1"
VIEWS = (
    "now",
    "arrivals",
    "pathologies",
    "doctors",
    "waits",
    "forecast",
    "tension",
    "scenarios",
    "quality",
)
LISTEN = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}`));
"""


@pytest.mark.parametrize(
    "path", ["/", API + "/runs", API + "/runs/1/arrivals", API + "/openapi.json", "/api/docs"]
)
def test_every_answer_carries_the_headers(sqlite_client: Any, path: str) -> None:
    """Pages and API answers: CSP (self only, never framed), nosniff, no referrer."""
    response = sqlite_client.get(path)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    script = next(d for d in policy.split("; ") if d.startswith("script-src"))
    assert "unsafe-inline" not in script and "unsafe-eval" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_docs_page_allows_exactly_its_inline_script(sqlite_client: Any) -> None:
    """Swagger UI's start-up script is allowed by its SHA-256, nothing else inline."""
    response = sqlite_client.get("/api/docs")
    scripts = re.findall(rb"<script[^>]*>(.*?)</script>", response.get_data(), re.DOTALL)
    inline = [s for s in scripts if s.strip()]
    assert inline
    policy = response.headers["Content-Security-Policy"]
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
        assert f"'sha256-{digest}'" in policy


@pytest.mark.parametrize("route", ["/runs/1/treatments", "/runs/1/events", "/runs/1/now"])
def test_answers_listing_patients_are_not_stored(sqlite_client: Any, route: str) -> None:
    """Treatments, events and the state (latest arrivals): Cache-Control: no-store."""
    for suffix in ("", "?format=csv") if route != "/runs/1/now" else ("",):
        response = sqlite_client.get(API + route + suffix)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"


def test_aggregates_may_be_cached(sqlite_client: Any) -> None:
    """Aggregates (no patient in them) are not marked no-store."""
    response = sqlite_client.get(API + "/runs/1/arrivals")
    assert "no-store" not in response.headers.get("Cache-Control", "")


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    yield from launch()


@pytest.fixture
def page(browser: Any, make_app: Any, serve: Any, private_store: str, token: str) -> Iterator[Page]:
    """An English page on a real server, listening for CSP violations from the start."""
    server = serve(make_app(private_store, API_TOKEN=token))
    opened = Page(browser, server.url)
    opened.page.add_init_script(LISTEN)
    yield opened
    opened.close()


@pytest.mark.browser
def test_dashboard_works_under_the_policy(page: Page) -> None:
    """Every view renders with zero CSP violations and zero console errors."""
    for view in VIEWS:
        shown = page.open(view)
        page.wait_drawn()
        assert shown.evaluate("window.__csp") == [], (view, shown.evaluate("window.__csp"))
    # the policy is really enforced: an injected inline script does not run
    blocked = shown.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.__ran = true'; document.body.append(s);
                   return window.__ran === true; }"""
    )
    assert blocked is False
    assert shown.evaluate("window.__csp.length") == 1
    errors = [e for e in page.errors if "Content Security Policy" not in e]
    assert errors == []


@pytest.mark.browser
def test_api_docs_work_under_the_policy(page: Page) -> None:
    """Swagger UI renders the API's operations with zero CSP violations."""
    shown = page.page
    shown.goto(page.base + "/api/docs")
    shown.wait_for_selector(".opblock", timeout=30_000)
    assert shown.locator(".opblock").count() > 20
    assert shown.evaluate("window.__csp") == []
    assert page.errors == []
