"""The dashboard in a real browser: headless Chromium (Debian's) driven by Playwright.

A real server on a free port serves a small simulated store. Screenshots of
every view go to ``test-artifacts/`` at the repository root (ignored by git).
Without Chromium these tests skip; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from browser import Page, launch

from hospiflow.live import LiveService, live_run_scenario

pytestmark = pytest.mark.browser

VIEWS = ("now", "arrivals", "pathologies", "doctors", "waits", "forecast", "scenarios")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    yield from launch()


@pytest.fixture
def server(make_app, serve, private_store, token):
    """A real server on a private copy of the week-long store, writes enabled."""
    return serve(make_app(private_store, API_TOKEN=token))


@pytest.fixture
def page(browser, server) -> Iterator[Page]:
    """An English page on the server."""
    opened = Page(browser, server.url)
    yield opened
    opened.close()


def _api(server: Any, path: str, **params: Any) -> dict[str, Any]:
    response = requests.get(f"{server.url}/api/v1{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


@pytest.mark.parametrize("view", VIEWS)
def test_every_view_loads_without_console_errors(page: Page, view: str) -> None:
    """Each view renders its panels with zero console errors; a screenshot is kept."""
    shown = page.open(view)  # returns once the view says it is ready (every panel awaited)
    page.shot(f"dashboard-{view}")
    assert page.errors == []
    assert shown.locator("#view .empty.error").count() == 0
    if view == "forecast":  # a week of history is too short to forecast: the view says so
        assert "hospiflow forecast run" in shown.inner_text("#view")
    elif view != "scenarios":
        assert shown.locator("#view .chart:not([hidden]), #view table").count() >= 1
        # every chart on show has been plotted (``draw`` sets data-points once Plotly is done)
        charts = shown.locator("#view .chart:not([hidden]):not(:has(table))")
        for i in range(charts.count()):
            assert charts.nth(i).get_attribute("data-points") is not None


def test_now_view_shows_the_api_numbers(page: Page, server: Any) -> None:
    """The Now tiles and table hold exactly what /now returns."""
    shown = page.open("now")
    now = _api(server, "/runs/1/now")
    totals = now["totals"]
    assert shown.inner_text('[data-kpi="waiting"]') == str(totals["waiting"])
    assert shown.inner_text('[data-kpi="in_treatment"]') == str(totals["in_treatment"])
    assert shown.inner_text('[data-kpi="doctors_on_duty"]') == str(totals["doctors_on_duty"])
    for row in now["specialties"]:
        cells = shown.locator(f'tr[data-specialty="{row["specialty"]}"] td')
        assert cells.nth(2).inner_text() == str(row["waiting"])
        assert cells.nth(4).inner_text() == str(row["doctors_on_duty"])
        assert (
            shown.locator(
                f'tr[data-specialty="{row["specialty"]}"] [data-saturation="{row["saturation"]}"]'
            ).count()
            == 1
        )


def test_arrivals_chart_holds_the_api_series(page: Page, server: Any) -> None:
    """The arrivals chart plots the same counts the API returns for its controls."""
    shown = page.open("arrivals")
    run = _api(server, "/runs/1")["run"]
    start = shown.locator("input[data-date]").nth(0).input_value()
    end = shown.locator("input[data-date]").nth(1).input_value()
    body = _api(server, "/runs/1/arrivals", bucket="day", by="specialty", start=start, end=end)
    plotted = shown.evaluate(
        "() => document.querySelector('.chart').data.map(t => t.y.reduce((a, b) => a + b, 0))"
    )
    assert sum(plotted) == body["total"] > 0
    assert plotted == [s["total"] for s in body["series"]]
    heat = shown.evaluate("() => document.querySelectorAll('.chart')[1].data[0].z.flat().length")
    assert heat == 168
    assert run["status"] == "complete"


def test_pathologies_table_lists_the_catalog_with_counts(page: Page, server: Any) -> None:
    """The pathology table has the run's 26 pathologies with their ICD-10 codes and counts."""
    shown = page.open("pathologies")
    catalog = _api(server, "/runs/1/catalog")
    rows = shown.locator("tr[data-pathology]")
    assert rows.count() == len(catalog["pathologies"]) == 26
    first = rows.nth(0).locator("td")
    code = first.nth(0).inner_text()
    icd = {p["code"]: p["icd10"] for p in catalog["pathologies"]}
    assert first.nth(1).inner_text() == icd[code]
    cells = [rows.nth(i).locator("td").nth(4).inner_text() for i in range(26)]
    counts = [int(text.replace(",", "")) for text in cells]
    assert counts == sorted(counts, reverse=True) and sum(counts) > 0


def test_language_switch_changes_the_labels(page: Page) -> None:
    """Choosing French relabels the navigation and the view without a reload."""
    shown = page.open("now")
    assert shown.inner_text('[data-view="now"]') == "Now"
    shown.select_option("#lang-picker", "fr")
    page.wait_ready("now")
    assert shown.inner_text('[data-view="now"]') == "Maintenant"
    assert shown.inner_text("#view h2") == "L'hôpital maintenant"
    assert page.errors == []


def test_french_browser_gets_french_by_default(browser: Any, server: Any) -> None:
    """A browser whose language is French sees the French dashboard first."""
    french = Page(browser, server.url, language="fr-FR")
    try:
        shown = french.open("waits")
        assert shown.inner_text('[data-view="waits"]') == "Attente"
    finally:
        french.close()


def test_live_run_moves_the_now_counters_without_reload(page: Page, private_store: str) -> None:
    """During a live run the Now view updates through the stream: its clock moves on."""
    scenario, label = live_run_scenario(private_store, continue_from=1)
    service = LiveService(private_store, scenario, speed=1800.0, label=label)
    run_id = service.start()
    try:
        shown = page.open("now", run=run_id)
        first = shown.get_attribute("#view", "data-as-of")
        shown.wait_for_function(
            "first => document.querySelector('#view').dataset.asOf !== first",
            arg=first,
            timeout=15_000,
        )
        assert shown.get_attribute("#view", "data-mode") == "live"
        # a new arrival reaches the ticker through the stream, and the counters follow
        newest = "() => document.querySelector('.ticker li[data-event]')?.dataset.event"
        top = shown.evaluate(newest)
        shown.wait_for_function(f"top => ({newest})() !== top", arg=top, timeout=15_000)
        counters = "() => [...document.querySelectorAll('[data-kpi]')].map(e => e.textContent) + ''"
        before = shown.evaluate(counters)
        shown.wait_for_function(f"old => ({counters})() !== old", arg=before, timeout=15_000)
        page.shot("dashboard-now-live")
    finally:
        service.stop()
    assert page.errors == []


def test_what_if_launched_from_the_page_completes_and_is_listed(
    page: Page, server: Any, token: str
) -> None:
    """A what-if started from Scenarios runs to the end and appears in the run list."""
    shown = page.open("scenarios")
    before = len(_api(server, "/runs")["runs"])
    days = shown.locator("form.whatif input[type=number]").nth(1)
    days.fill("2")
    days.dispatch_event("change")
    shown.fill("#api-token", token)
    shown.click("form.whatif button[type=submit]")
    shown.wait_for_selector(f'#runs-table tr[data-run="{before + 1}"]', timeout=60_000)
    runs = _api(server, "/runs")["runs"]
    assert len(runs) == before + 1
    assert runs[0]["status"] == "complete"
    assert shown.inner_text('[role="status"]') == f"Run {runs[0]['id']} is complete."
    page.shot("dashboard-scenarios-what-if")
    assert page.errors == []


@pytest.fixture(scope="module")
def forecast_store(tmp_path_factory: pytest.TempPathFactory, simulate) -> str:
    """A 30-day history with a stored forecast (risk and staffing included)."""
    from hospiflow.forecast.service import ForecastService

    url = f"sqlite:///{tmp_path_factory.mktemp('forecast') / 'store.db'}"
    simulate(url, days=30)
    service = ForecastService(url)
    try:
        service.run(1)
    finally:
        service.close()
    return url


def test_forecast_view_plots_the_stored_forecast(
    browser: Any, make_app, serve, forecast_store: str
) -> None:
    """The Forecast view draws the 168 forecast hours, the risk heatmap and the staffing gap."""
    server = serve(make_app(forecast_store))
    page = Page(browser, server.url)
    try:
        shown = page.open("forecast", run=1)
        body = _api(server, "/runs/1/forecast")
        plotted = shown.evaluate(  # the expected-value line (the bands carry no customdata)
            "() => [...document.querySelectorAll('#view section')].find((s) => s.querySelector"
            "('h3')?.dataset.i18n === 'forecast.arrivals').querySelector('.chart')"
            ".data.find(t => t.customdata).y"
        )
        assert plotted == pytest.approx(body["series"][0]["mean"], abs=1e-6)
        risk = _api(server, "/runs/1/forecast/risk")
        heat = shown.evaluate(
            "() => [...document.querySelectorAll('.chart')].map(c => c.data && c.data[0])"
            ".find(t => t && t.type === 'heatmap').z"
        )
        assert len(heat) == len(risk["specialties"]) and len(heat[0]) == 168
        staffing = _api(server, "/runs/1/forecast/staffing")
        short = sum(g is not None and g > 0 for row in staffing["gap"] for g in row)
        assert short > 0  # the 30-day history is short-staffed somewhere: the table shows
        shown_rows = shown.locator("table.staffing tbody tr")
        assert shown_rows.count() == min(short, 24)  # the 24 first hours short of doctors
        scores = shown.inner_text(".forecast-scores")  # says why it is empty
        assert "hospiflow forecast backtest --run 1" in scores
        page.shot("dashboard-forecast")
        assert page.errors == []
    finally:
        page.close()
