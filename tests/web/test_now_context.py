"""The Now view's next hours, trends, usual figures and patients present longest, in
headless Chromium, in English and French, on a live run, a complete run and a site.

A 30-day simulated history with its stored forecast (run 1), a site with 35 days of
imported visits and its forecast (run 2), and a live run continuing run 1 at 300x
(run 3, no forecast of its own: it shows its history's while that covers the coming
hours), served by a real server. Screenshots go to ``test-artifacts/``: look at them.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from browser import Page, launch
from test_dashboard_views import RAW_KEYS_JS
from web_helpers import Server, simulate_into

from hospiflow.live import LiveService, live_run_scenario
from hospiflow.records import Disposition, VisitRecord
from hospiflow.web.app import create_app, state

pytestmark = pytest.mark.browser

PARIS = ZoneInfo("Europe/Paris")
SITE_END = datetime(2025, 5, 31, 23, 0, tzinfo=PARIS)
SITE_DAYS = 35
BAND = re.compile(r"^\d+–\d+$")


def _site_visits(rng: random.Random) -> list[VisitRecord]:
    """Five weeks of visits, busier by day, stays of a few hours, a triage level each."""
    visits = []
    hour = SITE_END - timedelta(days=SITE_DAYS)
    while hour < SITE_END:
        rate = 2.0 + 4.0 * (8 <= hour.hour < 22)
        for _ in range(int(rng.expovariate(1 / rate))):
            arrival = hour + timedelta(minutes=rng.randrange(60))
            gone = arrival + timedelta(minutes=min(rng.lognormvariate(5.5, 0.5), 4000))
            visits.append(
                VisitRecord(
                    arrival=arrival,
                    source=f"site.csv:{len(visits) + 2}",
                    visit_id=f"S{len(visits):07d}",
                    departure=gone if gone <= SITE_END else None,
                    acuity=rng.randint(1, 5),
                    disposition=Disposition.DISCHARGED,
                    diagnosis="J18.9",
                )
            )
        hour += timedelta(hours=1)
    return visits


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from hospiflow.forecast.service import ForecastService
    from hospiflow.ingest.pipeline import import_items
    from hospiflow.store import sites
    from hospiflow.store.engine import create_engine_for

    url = f"sqlite:///{tmp_path_factory.mktemp('now-context') / 'store.db'}"
    assert simulate_into(url, days=30) == 1
    engine = create_engine_for(url)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
            with engine.begin() as connection:
                site = sites.create_site(connection, "Hôpital Test", "Europe/Paris")
            visits = _site_visits(random.Random(5))
            assert import_items(engine, site["id"], visits, format="csv").run_id == 2
    finally:
        engine.dispose()
    service = ForecastService(url)
    try:
        service.run(1)
        service.run(2)
    finally:
        service.close()
    scenario, label = live_run_scenario(url, continue_from=1)
    live = LiveService(url, scenario, speed=300.0, label=label, forecast=False)
    live_id = live.start()
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    server = Server(app).__enter__()
    try:
        yield {"server": server, "live": live_id, "complete": 1, "site": 2, "live_service": live}
    finally:
        live.stop()
        server.__exit__()
        state(app).close()


def _api(demo: dict[str, Any], path: str) -> requests.Response:
    response = requests.get(f"{demo['server'].url}/api/v1{path}", timeout=30)
    response.raise_for_status()
    return response


def _wait_for_trend_hours(demo: dict[str, Any]) -> None:
    """The live run needs two simulated hours before an hour-ago arrival count exists."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = _api(demo, f"/runs/{demo['live']}/now/context").json()
        if body["figures"].get("arrivals_last_hour", {}).get("hour_ago") is not None:
            return
        time.sleep(0.5)  # polling the condition above
    pytest.fail("the live run never reached two simulated hours")


def test_longest_present_is_never_kept_by_a_browser(demo: dict[str, Any]) -> None:
    """The list of patients is no-store; the figures of a complete run are cacheable."""
    longest = _api(demo, f"/runs/{demo['complete']}/now/longest?limit=5")
    assert longest.headers["Cache-Control"] == "no-store"
    assert len(longest.json()["patients"]) == 5
    context = _api(demo, f"/runs/{demo['complete']}/now/context")
    assert context.headers.get("Cache-Control") != "no-store" and context.headers.get("ETag")


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("source", ["live", "complete", "site"])
def test_now_shows_next_hours_trends_usual_and_longest_present(
    browser: Any, demo: dict[str, Any], source: str, lang: str
) -> None:
    """Real numbers in the next-hours table (mean and 90 % band of arrivals and patients
    present), a trend and a usual under the key figures, rows of patients present longest."""
    if source == "live":
        _wait_for_trend_hours(demo)
    run = demo[source]
    api = _api(demo, f"/runs/{run}/now/context").json()
    page = Page(browser, demo["server"].url, language="fr-FR" if lang == "fr" else "en-GB")
    try:
        shown = page.open("now", run=run)
        shown.wait_for_selector("#view .outlook-table tbody tr")
        rows = shown.locator("#view .outlook-table tbody tr")
        assert rows.count() >= 4
        first = rows.nth(0).locator("td")
        assert float(first.nth(1).get_attribute("data-arrivals")) > 0
        if source != "live":  # a live run's table moves on while we read it
            assert float(first.nth(1).get_attribute("data-arrivals")) == pytest.approx(
                api["forecast"]["arrivals"]["mean"][0]
            )
        assert BAND.match(first.nth(2).inner_text().strip()), first.nth(2).inner_text()
        assert re.fullmatch(r"\d+", first.nth(3).inner_text().strip())
        assert BAND.match(first.nth(4).inner_text().strip()), first.nth(4).inner_text()

        figures = ["present", "arrivals_last_hour"]
        if source != "site":
            figures += ["waiting", "in_treatment", "doctors_on_duty"]
        for name in figures:
            note = shown.locator(f'#view [data-context="{name}"]')
            trend = note.locator("[data-trend]").get_attribute("data-trend")
            assert trend in ("up", "down", "flat"), (name, trend)
            usual = note.locator("[data-usual]")
            assert float(usual.get_attribute("data-usual")) >= 0, name
            assert re.search(r"\d", usual.inner_text()), name
        usual_word = "habituellement" if lang == "fr" else "usual for this hour"
        assert usual_word in shown.inner_text("#view .kpis")

        patients = shown.locator("#view .longest-table tbody tr")
        assert patients.count() >= 1
        cells = patients.nth(0).locator("td")
        assert re.fullmatch(r"#\d+", cells.nth(0).inner_text().strip())
        assert cells.nth(1).inner_text().strip() and cells.nth(2).inner_text().strip()
        if source == "site":  # the site's records hold a triage level
            assert re.fullmatch(r"[1-5]", cells.nth(3).inner_text().strip())
        assert re.search(r"\d+ (min|h)", cells.nth(5).inner_text())

        page.shot(f"now-context-{source}-{lang}")
        assert shown.evaluate(RAW_KEYS_JS) == []
        assert page.errors == []
    finally:
        page.close()
