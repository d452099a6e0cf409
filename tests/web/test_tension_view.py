"""The Tension view and the Now status reason in a real browser (headless Chromium),
in English and French, on a simulated week and on an imported site with
dispositions and ages. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from browser import Page, launch

from hospiflow.store import migrate, sites
from hospiflow.store.engine import create_engine_for

sys.path.insert(0, str(Path(__file__).parent.parent / "tension"))
from test_store_tension import START, _visits  # noqa: E402

pytestmark = pytest.mark.browser
DAYS = 42


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


@pytest.fixture(scope="module")
def site_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    from hospiflow.ingest.pipeline import import_items

    url = f"sqlite:///{tmp_path_factory.mktemp('tension-site') / 'store.db'}"
    migrate.init(url)
    engine = create_engine_for(url)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
            with engine.begin() as connection:
                site = sites.create_site(connection, "Hôpital Tension", "Europe/Paris")
            visits = _visits(random.Random(9), START, DAYS, "V")
            assert import_items(engine, site["id"], visits, format="csv").run_id == 1
    finally:
        engine.dispose()
    return url


def _api(server: Any, path: str) -> dict[str, Any]:
    response = requests.get(f"{server.url}/api/v1{path}", timeout=20)
    response.raise_for_status()
    return response.json()


def _errors(page: Page) -> list[str]:
    """Console errors, less the vendored Plotly's own inline style under the strict CSP
    (it loads on every page; not this view's): the view itself is checked to set no
    style attribute at all."""
    return [e for e in page.errors if "Applying inline style" not in e]


def _check_tension_view(page: Page, server: Any, name: str, lang: str) -> dict[str, Any]:
    shown = page.open("tension")
    daily = _api(server, "/runs/1/tension")
    page.shot(f"tension-{name}-{lang}")
    assert _errors(page) == []
    assert (
        shown.evaluate("() => document.querySelectorAll('#view [style], #view style').length") == 0
    )
    cells = shown.locator(".tension-cell[data-day]")
    assert cells.count() == len(daily["days"]) > 0
    for i in (0, len(daily["days"]) // 2, len(daily["days"]) - 1):
        cell = shown.locator(f'.tension-cell[data-day="{daily["days"][i]}"]')
        assert cell.get_attribute("data-level") == str(daily["global"][i])
    rows = shown.locator("table.tension-indicators tbody tr")
    assert rows.count() == 6
    last = len(daily["days"]) - 1
    for ind in daily["indicators"]:
        row = shown.locator(f'tr[data-indicator="{ind["code"]}"]')
        assert row.get_attribute("data-available") == ("no" if ind["reason"] else "yes")
        assert row.locator("[data-level]").get_attribute("data-level") == str(ind["levels"][last])
        if ind["reason"]:
            assert row.locator("td").nth(4).inner_text().strip() != ""
    # picking another day shows its indicators
    first = daily["days"][0]
    shown.locator(f'.tension-cell[data-day="{first}"]').click()
    assert shown.locator("#view [data-day].selected").get_attribute("data-day") == first
    now = _api(server, "/runs/1/tension/now")
    assert shown.locator(f'.tension-now [data-saturation="{now["status"]["level"]}"]').count() == 1
    assert shown.locator(".tension-now .status-reason").inner_text().strip() != ""
    return daily


@pytest.mark.parametrize("lang", ["en-GB", "fr-FR"])
def test_tension_view_on_a_simulated_week(
    browser: Any, make_app, serve, private_store: str, lang: str
) -> None:
    server = serve(make_app(private_store))
    page = Page(browser, server.url, language=lang)
    try:
        _check_tension_view(page, server, "simulated", lang[:2])
        # the default hospital's patient flow records admissions and ages: the admission
        # rate and the attendances aged 75 or more are computed, not said missing
        for code in ("HET4", "HET6"):
            row = page.page.locator(f'tr[data-indicator="{code}"]')
            assert row.get_attribute("data-available") == "yes", code
        # the Now view names the specialty and numbers of its status, in the page's language
        shown = page.open("now")
        status = _api(server, "/runs/1/now")["department_status"]
        reason = shown.inner_text(".now-status-reason").strip()
        page.shot(f"now-status-{lang[:2]}")
        assert "– min" not in reason  # an unknown longest wait is left out, not shown as a dash
        if status["level"] in ("amber", "red"):
            assert str(status["reason"]["waiting"]) in reason
        elif status["level"] == "green":
            expected = "files d'attente" if lang == "fr-FR" else "Every queue is short"
            assert expected in reason
        assert _errors(page) == []
    finally:
        page.close()


def test_tension_view_on_an_imported_site(browser: Any, make_app, serve, site_store: str) -> None:
    server = serve(make_app(site_store))
    page = Page(browser, server.url, language="fr-FR")
    try:
        daily = _check_tension_view(page, server, "site", "fr")
        assert any(g >= 0 for g in daily["global"])
        text = page.page.inner_text("#view")
        assert "HET6 passages des 75 ans et plus" in text
        assert "aucun lit d'hospitalisation déclaré" in text
    finally:
        page.close()
