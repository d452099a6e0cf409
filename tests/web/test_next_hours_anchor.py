"""Every "next hours" of a run's pages starts at the same hour, in a real browser.

A simulated run is exported as a hospital's extract taken at 21:50 (times after it
unknown, as in a real extract), imported as a site and forecast: its data end at
21:48, its last complete hour is 20:00-21:00 and its next hours start at 21:00. The
Now view's outlook (table and caption) and the Forecast view's red risk, arrivals,
crowding risk and patients present must all start there and say so, in English and
French. So must a live simulation whose clock stands at 01:37 (last complete hour
00:00-01:00: from 01:00, where before its forecast started at 02:00, its Now table
had 7 rows and its red risk named 01:00 as complete), and a complete simulation (its
clock, 23:00, is its last complete hour: 8 rows from midnight, where it had 7).
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from browser import Page, launch
from click.testing import CliRunner
from web_helpers import simulate_into

from hospiflow.cli import main

pytestmark = pytest.mark.browser

DAYS = "60.9"  # the simulation's arrivals stop at 21:36 on its last day, 2 Mar 2025
CUT = "2025-03-02 21:50"  # the extract's time: later arrivals and departures are unknown
SIMULATED, SITE = 1, 2
QUIET = ("--no-reports", "--quiet", "--db")
LAST_HOUR = {"en": "Last complete hour of data (", "fr": "Dernière heure complète des données ("}
PARKED_MINUTE = 97  # the live run's clock stops at 01:37 on its first day, mid-hour
LIVE_SPEED = 3600.0  # simulated seconds per real second


def _cli(*args: str) -> None:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, f"hospiflow {' '.join(args[:2])}: {result.output}"


def _cut(source: Path, target: Path) -> None:
    """The export as an extract taken at ``CUT``: later visits absent, later times blank."""
    with source.open(newline="") as inp, target.open("w", newline="") as out:
        reader = csv.DictReader(inp)
        writer = csv.DictWriter(out, reader.fieldnames or [])
        writer.writeheader()
        for row in reader:
            if row["arrival"] > CUT:
                continue
            for field in ("first_seen", "departure"):
                if row[field] > CUT:
                    row[field] = ""
            writer.writerow(row)


@pytest.fixture(scope="module")
def site_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run 1 simulated, run 2 its extract imported as the site "Known"; both forecast."""
    folder = tmp_path_factory.mktemp("next-hours")
    db = str(folder / "site.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
        patch.chdir(folder)
        _cli("simulate", "--scenario", "emergency", "--days", DAYS, "--seed", "5", *QUIET, db)
        _cli("export", "--run", "1", "--format", "csv", "--out", "all.csv", "--db", db)
        _cut(folder / "all.csv", folder / "extract.csv")
        _cli("site", "create", "Known", "--db", db)
        _cli("import", "--site", "Known", "--format", "csv", "extract.csv", "--db", db, "--quiet")
        for run in (SIMULATED, SITE):
            _cli("forecast", "run", "--run", str(run), "--db", db, "--no-progress")
    return Path(db)


@pytest.fixture(scope="module")
def live_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run 1: 30 simulated days, forecast; run 2: a live run continuing it, its clock
    parked at 01:37 of its first day (still ``running``), forecast as its live
    forecaster does (``ForecastService.run``, the same code path)."""
    from hospiflow.forecast.service import ForecastService
    from hospiflow.live import LiveService, live_run_scenario

    url = f"sqlite:///{tmp_path_factory.mktemp('live-anchor') / 'live.db'}"
    assert simulate_into(url, days=30) == 1
    scenario, label = live_run_scenario(url, continue_from=1)
    live = LiveService(url, scenario, speed=LIVE_SPEED, label=label, forecast=False)
    live.live.clock = _parked((PARKED_MINUTE + 0.5) * 60 / LIVE_SPEED)  # 01:37:30
    live_id = live.start()
    service = ForecastService(url)
    try:
        service.run(1)
        deadline = time.monotonic() + 60
        while live.live.simulated_minute < PARKED_MINUTE:
            assert time.monotonic() < deadline, f"live run {live_id} never reached its minute"
            assert live.failure is None, live.failure
            time.sleep(0.2)
        service.run(live_id, refit=True)
        yield {"url": url, "live": live_id, "complete": 1}
    finally:
        service.close()
        live.stop()


def _parked(seconds: float) -> Any:
    """A clock for ``LiveRun`` that stops ``seconds`` after its first reading: the run
    stays ``running`` with its simulated clock parked mid-hour, as a paused screen."""
    first: list[float] = []

    def clock() -> float:
        now = time.monotonic()
        if not first:
            first.append(now)
        return first[0] + min(now - first[0], seconds)

    return clock


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


@pytest.fixture
def server(make_app, serve, site_db: Path) -> Any:
    return serve(make_app(f"sqlite:///{site_db}"))


@pytest.fixture
def live_server(make_app, serve, live_db: dict[str, Any]) -> Any:
    return serve(make_app(live_db["url"]))


def _api(server: Any, path: str) -> dict[str, Any]:
    response = requests.get(f"{server.url}/api/v1{path}", timeout=10)
    response.raise_for_status()
    return response.json()


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _wall(instant: datetime) -> str:
    """How the charts' x values write an hour (the hospital's wall clock)."""
    return f"{instant:%Y-%m-%d %H:%M}"


def _first_x(shown: Any, key: str) -> list[str]:
    """The first x of each trace of the chart in the panel titled by message ``key``."""
    return shown.evaluate(
        """(key) => {
            const panel = [...document.querySelectorAll('#view section')]
                .find((s) => s.querySelector('h3')?.dataset.i18n === key);
            const chart = panel?.querySelector('.chart');
            return chart ? (chart.data || []).map((t) => String((t.x || [])[0])) : null;
        }""",
        key,
    )


def _outlook(page: Page, run: int) -> tuple[list[str], Any]:
    """The Now view's outlook: each row's hour (data-hour) and its caption."""
    shown = page.open("now", run=run)
    shown.wait_for_selector("[data-outlook] tr[data-hour]", timeout=30_000)
    hours = shown.eval_on_selector_all(
        "[data-outlook] tr[data-hour]", "rs => rs.map(r => r.dataset.hour)"
    )
    return hours, shown.locator("[data-outlook] p.muted").last


def _api_anchor(server: Any, run: int, anchor: datetime) -> dict[str, Any]:
    """The API's next hours of ``run`` all start at ``anchor``, after the last complete
    hour (``anchor`` - 1 h) that both the red risk and the Now outlook name."""
    context = _api(server, f"/runs/{run}/now/context")
    red = _api(server, f"/runs/{run}/forecast/status")["red"]
    forecast = _api(server, f"/runs/{run}/forecast")
    assert _at(red["from"]) == anchor - timedelta(hours=1), (run, red["from"])
    assert _at(red["hours"][0]) == anchor, (run, red["hours"])
    outlook = context["forecast"]
    expected = [anchor + timedelta(hours=k) for k in range(8)]
    assert [_at(h) for h in outlook["hours"]] == expected, (run, outlook["hours"])
    assert _at(outlook["present_at"][0]) == anchor + timedelta(hours=1)  # the first hour's end
    assert outlook["last_complete_hour"] == red["from"], (run, outlook)
    assert _at(forecast["origin"]) == anchor and _at(forecast["hours"][0]) == anchor, run
    return red


def _browser_anchor(
    browser: Any, server: Any, run: int, anchor: datetime, red: dict[str, Any], lang: str, name: str
) -> None:
    """The Now outlook (8 rows, its caption naming the last complete hour) and the Forecast
    view's red risk, arrivals, crowding risk and patients present all start at ``anchor``."""
    page = Page(browser, server.url, "fr-FR" if lang == "fr" else "en-GB")
    try:
        hours, caption = _outlook(page, run)
        page.shot(f"next-hours-{name}-now-{lang}")
        assert _at(hours[0]) == anchor and len(hours) == 8, hours
        text = caption.inner_text()
        assert text.startswith(LAST_HOUR[lang]), text
        assert f"{_at(red['from']):%H:%M}" in text, text
        assert caption.get_attribute("data-from") == red["from"]

        shown = page.open("forecast", run=run)
        page.wait_drawn()
        page.shot(f"next-hours-{name}-forecast-{lang}")
        risk = "forecast.risk.census" if name == "site" else "forecast.risk"
        for key in ("forecast.status.red", "forecast.arrivals", risk):
            firsts = _first_x(shown, key)
            assert firsts and firsts[0] == _wall(anchor), (key, firsts)
        # patients present are drawn at each hour's end: the first hour ends an hour later
        present = _first_x(shown, "forecast.occupancy")
        assert present and present[0] == _wall(anchor + timedelta(hours=1)), present
        assert not page.unexpected_errors(), page.errors
    finally:
        page.close()


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_sites_next_hours_all_start_after_its_last_complete_hour(
    browser: Any, server: Any, lang: str
) -> None:
    """Now's outlook, the red risk, arrivals, crowding and patients present: one start."""
    data_end = _at(_api(server, f"/runs/{SITE}/now/context")["as_of"])
    assert f"{data_end:%Y-%m-%d %H:%M}" <= CUT and data_end.minute != 0, data_end
    # the API's anchor: the hour after the last complete hour, the one the data end in
    anchor = data_end.replace(minute=0, second=0, microsecond=0)
    red = _api_anchor(server, SITE, anchor)
    _browser_anchor(browser, server, SITE, anchor, red, lang, "site")


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_live_runs_next_hours_start_after_its_last_complete_hour(
    browser: Any, live_server: Any, live_db: dict[str, Any], lang: str
) -> None:
    """A live run at 01:37: its forecast, red risk and Now outlook all start at 01:00 (the
    end of its last complete hour, 00:00-01:00), 8 hours each, and say so."""
    run = live_db["live"]
    assert _api(live_server, f"/runs/{run}")["run"]["status"] == "running"
    clock = _at(_api(live_server, f"/runs/{run}/now/context")["as_of"])
    assert (clock.hour, clock.minute) == divmod(PARKED_MINUTE, 60), clock
    anchor = clock.replace(minute=0, second=0, microsecond=0)
    red = _api_anchor(live_server, run, anchor)
    _browser_anchor(browser, live_server, run, anchor, red, lang, "live")


def test_a_complete_simulations_next_hours_follow_its_clock(
    browser: Any, live_server: Any, live_db: dict[str, Any]
) -> None:
    """A complete simulation's clock (its newest hourly state, 23:00) is its last complete
    hour: its outlook has 8 rows from midnight, as its red risk and forecast."""
    run = live_db["complete"]
    clock = _at(_api(live_server, f"/runs/{run}/now/context")["as_of"])
    assert (clock.hour, clock.minute) == (23, 0), clock
    anchor = clock + timedelta(hours=1)
    red = _api_anchor(live_server, run, anchor)
    _browser_anchor(browser, live_server, run, anchor, red, "en", "simulated")
