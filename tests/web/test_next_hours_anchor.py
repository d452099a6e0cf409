"""Every "next hours" of a site's pages starts at the same hour, in a real browser.

A simulated run is exported as a hospital's extract taken at 21:50 (times after it
unknown, as in a real extract), imported as a site and forecast: its data end at
21:48, its last complete hour is 20:00-21:00 and its next hours start at 21:00. The
Now view's outlook (table and caption) and the Forecast view's red risk, arrivals,
crowding risk and patients present must all start there and say so, in English and
French; the simulated run's Now outlook keeps its own anchor (the run's clock).
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from browser import Page, launch
from click.testing import CliRunner

from hospiflow.cli import main

pytestmark = pytest.mark.browser

DAYS = "60.9"  # the simulation's arrivals stop at 21:36 on its last day, 2 Mar 2025
CUT = "2025-03-02 21:50"  # the extract's time: later arrivals and departures are unknown
SIMULATED, SITE = 1, 2
QUIET = ("--no-reports", "--quiet", "--db")
LAST_HOUR = {"en": "Last complete hour of data (", "fr": "Dernière heure complète des données ("}
SIMULATED_MADE = {"en": "Forecast made ", "fr": "Prévision faite le "}


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
def browser() -> Iterator[Any]:
    yield from launch()


@pytest.fixture
def server(make_app, serve, site_db: Path) -> Any:
    return serve(make_app(f"sqlite:///{site_db}"))


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


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_sites_next_hours_all_start_after_its_last_complete_hour(
    browser: Any, server: Any, lang: str
) -> None:
    """Now's outlook, the red risk, arrivals, crowding and patients present: one start."""
    context = _api(server, f"/runs/{SITE}/now/context")
    red = _api(server, f"/runs/{SITE}/forecast/status")["red"]
    forecast = _api(server, f"/runs/{SITE}/forecast")
    data_end = _at(context["as_of"])
    assert f"{data_end:%Y-%m-%d %H:%M}" <= CUT and data_end.minute != 0, data_end
    # the API's anchor: the hour after the last complete hour, the one the data end in
    anchor = data_end.replace(minute=0, second=0, microsecond=0)
    assert _at(red["from"]) == anchor - timedelta(hours=1), red["from"]
    assert _at(red["hours"][0]) == anchor, red["hours"]
    outlook = context["forecast"]
    assert [_at(h) for h in outlook["hours"]] == [anchor + timedelta(hours=k) for k in range(8)]
    assert _at(outlook["present_at"][0]) == anchor + timedelta(hours=1)  # the first hour's end
    assert outlook["last_complete_hour"] == red["from"]
    assert _at(forecast["origin"]) == anchor and _at(forecast["hours"][0]) == anchor

    page = Page(browser, server.url, "fr-FR" if lang == "fr" else "en-GB")
    try:
        hours, caption = _outlook(page, SITE)
        page.shot(f"next-hours-site-now-{lang}")
        assert _at(hours[0]) == anchor and len(hours) == 8, hours
        text = caption.inner_text()
        assert text.startswith(LAST_HOUR[lang]), text
        assert f"{_at(red['from']):%H:%M}" in text, text
        assert caption.get_attribute("data-from") == red["from"]

        shown = page.open("forecast", run=SITE)
        page.wait_drawn()
        page.shot(f"next-hours-site-forecast-{lang}")
        starts = {
            key: _first_x(shown, key)
            for key in ("forecast.status.red", "forecast.arrivals", "forecast.risk.census")
        }
        for key, firsts in starts.items():
            assert firsts and firsts[0] == _wall(anchor), (key, firsts)
        # patients present are drawn at each hour's end: the first hour ends an hour later
        present = _first_x(shown, "forecast.occupancy")
        assert present and present[0] == _wall(anchor + timedelta(hours=1)), present
        assert not page.unexpected_errors(), page.errors
    finally:
        page.close()


def test_a_simulated_runs_now_keeps_its_clock(browser: Any, server: Any) -> None:
    """A simulation's outlook starts at its forecast's first hour, after its clock, as
    its red risk does, and its caption names the data's end, not a last complete hour."""
    context = _api(server, f"/runs/{SIMULATED}/now/context")
    red = _api(server, f"/runs/{SIMULATED}/forecast/status")["red"]
    outlook = context["forecast"]
    clock = _at(context["as_of"])
    assert outlook.get("last_complete_hour") is None
    assert _at(outlook["hours"][0]) == _at(outlook["origin"]) == _at(red["hours"][0])
    assert _at(outlook["hours"][0]) == clock + timedelta(hours=1), (clock, outlook["hours"])
    page = Page(browser, server.url)
    try:
        hours, caption = _outlook(page, SIMULATED)
        page.shot("next-hours-simulated-now-en")
        assert hours == outlook["hours"]
        assert caption.inner_text().startswith(SIMULATED_MADE["en"]), caption.inner_text()
        assert not caption.get_attribute("data-from")
    finally:
        page.close()
