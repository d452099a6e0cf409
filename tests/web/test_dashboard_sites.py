"""The dashboard on a hospital's own (observed) data, in a real browser.

A store holds one simulated run and one site with about 60 days of generated
visits (first-seen and departure times, diagnoses with an unmapped ICD-9 code)
and rows set aside by the import. Every view opens on the observed source in
English and in French; the Data quality view shows the quarantine; a server whose
reads need a token asks for one. Screenshots go to ``test-artifacts/``.
Without Chromium these tests skip; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from browser import Page, launch

from hospiflow.catalog import load_catalog
from hospiflow.records import ICD9, Disposition, Rejection, VisitRecord

pytestmark = pytest.mark.browser

VIEWS = ("now", "arrivals", "pathologies", "doctors", "waits", "forecast", "scenarios", "quality")
PARIS = ZoneInfo("Europe/Paris")
SITE = "Hôpital Test"
OTHER_SITE = "Clinique Sans Triage"  # its records have no first-seen times (run 3)
DAYS = 60
END = datetime(2025, 5, 31, 23, 0, tzinfo=PARIS)
UNMAPPED = "486"  # ICD-9 pneumonia: never read as ICD-10, so it maps to no pathology
QUARANTINED = 72  # over one page of 50: the list has a second page
KNOWN_REASONS = {
    "departure_before_arrival": ("Departure before arrival", "Sortie avant l'arrivée"),
    "implausible_stay": ("Stay over 72 h", "Séjour de plus de 72 h"),
    "bad_time": ("Unreadable time", "Heure illisible"),
    "missing_field": ("Missing field", "Champ manquant"),
}
ODD_REASON = "strange_thing"  # a reason the page does not know: shown as "Other: strange_thing"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    yield from launch()


def _visits(rng: random.Random) -> list[VisitRecord | Rejection]:
    """About 60 days of visits, busier by day than by night, and some bad rows."""
    codes = [p.icd10 for p in load_catalog().pathologies]
    start = END - timedelta(days=DAYS)
    items: list[VisitRecord | Rejection] = []
    hour = start
    n = 0
    while hour < END:
        rate = 2.0 + 4.0 * (8 <= hour.hour < 22)
        for _ in range(int(rng.expovariate(1 / rate))):
            arrival = hour + timedelta(minutes=rng.randrange(60))
            seen = arrival + timedelta(minutes=rng.randrange(5, 120))
            gone = arrival + timedelta(minutes=rng.randrange(130, 600))
            n += 1
            unmapped = n % 40 == 0
            items.append(
                VisitRecord(
                    arrival=arrival,
                    source=f"extract.csv:{n + 1}",
                    visit_id=f"V{n:07d}",
                    patient_id=f"P{n % 3000:06d}",
                    # the extract is cut at END: who is still there has no departure yet
                    first_seen=seen if seen <= END else None,
                    departure=gone if gone <= END else None,
                    acuity=rng.choice([1, 2, 3, 3, 4, 4, 5, None]),
                    disposition=rng.choice([Disposition.DISCHARGED, Disposition.ADMITTED]),
                    diagnosis=UNMAPPED if unmapped else rng.choice(codes),
                    diagnosis_system=ICD9 if unmapped else None,
                    age_years=rng.randrange(0, 95),
                    sex=rng.choice("FM"),
                )
            )
        hour += timedelta(hours=1)
    for k in range(QUARANTINED):
        arrival = start + timedelta(days=k % DAYS, hours=10)
        line = f"extract.csv:{n + 100 + k}"
        kind = k % 6
        if kind == 0:
            items.append(
                VisitRecord(arrival, line, f"B{k}", "P1", departure=arrival - timedelta(hours=1))
            )
        elif kind == 1:
            items.append(
                VisitRecord(arrival, line, f"B{k}", "P1", departure=arrival + timedelta(hours=90))
            )
        elif kind in (2, 3):
            items.append(Rejection(line, "bad_time", "ENTREE is not a date", "ENTREE", "ENTREE=3x"))
        elif kind == 4:
            items.append(Rejection(line, "missing_field", "no arrival time", "ENTREE", ""))
        else:
            items.append(Rejection(line, ODD_REASON, "something odd", "MODE", "MODE=?"))
    return items


def _visits_without_first_seen(rng: random.Random) -> list[VisitRecord]:
    """A week of visits whose records hold arrival and departure only (no first-seen)."""
    start = END - timedelta(days=7)
    visits = []
    for n in range(7 * 24 * 3):
        arrival = start + timedelta(minutes=20 * n + rng.randrange(20))
        gone = arrival + timedelta(minutes=rng.randrange(60, 400))
        visits.append(
            VisitRecord(
                arrival=arrival,
                source=f"week.csv:{n + 2}",
                visit_id=f"W{n:06d}",
                departure=gone if gone <= END else None,
                diagnosis="J18.9",
            )
        )
    return visits


@pytest.fixture(scope="module")
def sites_store(tmp_path_factory: pytest.TempPathFactory, simulate) -> str:
    """Run 1: a simulated week; run 2: the observed visits of one site (with a quarantine)."""
    from hospiflow.ingest.pipeline import import_items
    from hospiflow.store import sites
    from hospiflow.store.engine import create_engine_for

    url = f"sqlite:///{tmp_path_factory.mktemp('sites') / 'store.db'}"
    simulate(url, days=7)
    engine = create_engine_for(url)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
            with engine.begin() as connection:
                site = sites.create_site(connection, SITE, "Europe/Paris", capacity_spaces=30)
            summary = import_items(
                engine, site["id"], _visits(random.Random(5)), format="csv", files=["extract.csv"]
            )
            with engine.begin() as connection:
                other = sites.create_site(connection, OTHER_SITE, "Europe/Paris")
            bare = import_items(
                engine, other["id"], _visits_without_first_seen(random.Random(6)), format="csv"
            )
    finally:
        engine.dispose()
    assert summary.run_id == 2 and summary.quarantined == QUARANTINED
    assert bare.run_id == 3 and bare.imported == 7 * 24 * 3
    return url


FORECAST_DAYS = 126  # enough history for the forecaster's quick risk calibration (119 days)
CAPACITY = 30


def _long_visits(rng: random.Random, days: int = FORECAST_DAYS) -> list[VisitRecord]:
    """About four months of visits, busier by day, stays of a few hours (median 4 h)."""
    start = END - timedelta(days=days)
    visits = []
    hour = start
    while hour < END:
        rate = 2.0 + 4.0 * (8 <= hour.hour < 22)
        for _ in range(int(rng.expovariate(1 / rate))):
            arrival = hour + timedelta(minutes=rng.randrange(60))
            gone = arrival + timedelta(minutes=min(rng.lognormvariate(5.5, 0.5), 4000))
            visits.append(
                VisitRecord(
                    arrival=arrival,
                    source=f"long.csv:{len(visits) + 2}",
                    visit_id=f"L{len(visits):07d}",
                    departure=gone if gone <= END else None,
                    disposition=Disposition.DISCHARGED,
                    diagnosis="J18.9",
                )
            )
        hour += timedelta(hours=1)
    return visits


@pytest.fixture(scope="module")
def forecast_sites_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two sites with about four months of visits, forecast: run 1 with 30 declared spaces
    (and a backtest), run 2 without (its own 95th percentile defines saturation)."""
    from hospiflow.forecast.service import ForecastService
    from hospiflow.forecast.storebacktest import backtest_run
    from hospiflow.ingest.pipeline import import_items
    from hospiflow.store import migrate, sites
    from hospiflow.store.engine import create_engine_for

    url = f"sqlite:///{tmp_path_factory.mktemp('forecast-sites') / 'store.db'}"
    migrate.init(url)
    engine = create_engine_for(url)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
            runs = []
            for name, capacity, seed in ((SITE, CAPACITY, 7), (OTHER_SITE, None, 8)):
                with engine.begin() as connection:
                    site = sites.create_site(
                        connection, name, "Europe/Paris", capacity_spaces=capacity
                    )
                visits = _long_visits(random.Random(seed))
                runs.append(import_items(engine, site["id"], visits, format="csv").run_id)
    finally:
        engine.dispose()
    assert runs == [1, 2]
    backtest_run(url, 1, test_days=28, progress=False)
    service = ForecastService(url)
    try:
        for run_id in runs:
            service.run(run_id)
    finally:
        service.close()
    return url


@pytest.fixture
def server(make_app, serve, sites_store, token):
    """A real server on the store with a site, writes enabled."""
    return serve(make_app(sites_store, API_TOKEN=token))


def _api(server: Any, path: str, **params: Any) -> dict[str, Any]:
    response = requests.get(f"{server.url}/api/v1{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def _plotted(shown: Any) -> list[dict[str, Any]]:
    """Every visible chart: its panel title and how many points each trace holds."""
    return shown.evaluate(
        """() => [...document.querySelectorAll('#view .chart:not([hidden])')].map(c => ({
            title: c.closest('section').querySelector('h3').textContent,
            points: (c.data || []).map(t => (t.x || t.z || []).length),
        }))"""
    )


def _english_left(shown: Any) -> list[str]:
    """English labels (of several words, unlike their French) shown on a French page."""
    return shown.evaluate(
        """async () => {
            const i18n = await import('/static/js/i18n.js');
            const en = i18n.messagesOf('en'), fr = i18n.messagesOf('fr');
            const text = document.body.innerText + ' ' +
                [...document.querySelectorAll('.chart text')].map(n => n.textContent).join(' ') +
                [...document.querySelectorAll('[title]')].map(n => n.title).join(' ');
            return Object.keys(en)
                .map(k => en[k].split('{')[0].trim())
                .filter((v, i, all) => v.includes(' ') && v.length > 8 && all.indexOf(v) === i)
                .filter(v => !Object.values(fr).some(f => f.includes(v)))
                .filter(v => text.includes(v));
        }"""
    )


@pytest.fixture
def pages(browser: Any, server: Any) -> Iterator[dict[str, Page]]:
    """An English and a French page on the server."""
    opened = {"en": Page(browser, server.url), "fr": Page(browser, server.url, "fr-FR")}
    yield opened
    for page in opened.values():
        page.close()


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("view", VIEWS)
def test_every_view_works_on_observed_data(pages: dict[str, Page], view: str, lang: str) -> None:
    """Each view opens on the site's data with zero console errors, charts with data, and
    (in French) no English label left."""
    page = pages[lang]
    shown = page.open(view, run=2)
    page.wait_drawn()
    page.shot(f"sites-{view}-{lang}")
    assert page.errors == []
    assert shown.get_attribute("#view", "data-source") == "observed"
    assert shown.locator("#view .empty.error").count() == 0
    if view != "scenarios":  # every view but the list of runs names its source
        assert shown.locator('#view [data-source="observed"]').count() == 1
    charts = _plotted(shown)
    assert all(c["points"] and all(c["points"]) for c in charts), charts
    if view in ("arrivals", "pathologies", "waits", "quality"):
        assert charts, f"{view} drew no chart"
    if lang == "fr":
        assert _english_left(shown) == []


def test_doctors_view_says_doctors_are_not_in_the_data(pages: dict[str, Page]) -> None:
    """No empty charts: a panel says doctors and rosters are not in the hospital's records."""
    shown = pages["en"].open("doctors", run=2)
    notice = shown.locator('[data-not-in-data="doctors"]')
    assert notice.count() == 1
    assert "Not in this data" in notice.inner_text()
    assert "doctors and rosters are not in this hospital's records" in notice.inner_text().lower()
    assert shown.locator("#view .chart").count() == 0
    french = pages["fr"].open("doctors", run=2)
    assert "Absent de ces données" in french.inner_text('[data-not-in-data="doctors"]')


def test_now_view_counts_patients_and_never_invents_doctors(
    pages: dict[str, Page], server: Any
) -> None:
    """Present, waiting, arrivals against the usual, the status and its rule; doctors are '—'."""
    shown = pages["en"].open("now", run=2)
    now = _api(server, "/runs/2/now")
    totals = now["totals"]
    assert shown.inner_text('[data-kpi="present"]') == str(totals["present"])
    assert shown.inner_text('[data-kpi="waiting"]') == str(totals["waiting"])
    assert shown.inner_text('[data-kpi="arrivals_last_hour"]') == str(totals["arrivals_last_hour"])
    doctors = shown.locator('[data-kpi="doctors_on_duty"] .unknown')
    assert doctors.inner_text() == "—" and doctors.get_attribute("title") == "not in this data"
    assert shown.locator('[data-kpi="status"] [data-saturation]').get_attribute(
        "data-saturation"
    ) == (totals["saturation"] or "unknown")
    rule = shown.inner_text("p.rule")
    assert "30 treatment spaces" in rule  # the site's declared capacity is the basis
    assert "0" not in shown.locator("table.observed-now td:last-child").all_inner_texts()


def test_without_first_seen_times_waits_are_said_to_be_unknown(
    pages: dict[str, Page], server: Any
) -> None:
    """No first-seen times: Now shows '—' for waiting and says why; Waits says why it has no
    waits and still draws the length of stay."""
    shown = pages["en"].open("now", run=3)
    now = _api(server, "/runs/3/now")
    assert now["totals"]["waiting"] is None and "first_seen" in now["not_in_data"]
    assert shown.inner_text('[data-kpi="waiting"]') == "—"
    assert "first-seen times are not in this data" in shown.inner_text("#view .kpis")
    assert shown.inner_text('[data-kpi="present"]') == str(now["totals"]["present"])
    assert shown.get_attribute('[data-kpi="status"] [data-saturation]', "data-saturation") == (
        now["totals"]["saturation"] or "unknown"
    )
    assert "own hourly census" in shown.inner_text("p.rule")  # no capacity declared
    waits = pages["en"].open("waits", run=3)
    pages["en"].shot("sites-waits-no-first-seen-en")
    assert "first-seen (doctor) times are not in this hospital's records" in waits.inner_text(
        "#view"
    )
    los = waits.evaluate(
        "() => [...document.querySelectorAll('.chart')].filter(c => !c.hidden && c.data)"
        ".map(c => c.closest('section').querySelector('h3').textContent)"
    )
    assert los == ["Length of stay (arrival to departure)"]
    assert pages["en"].errors == []


def test_waits_and_census_charts_hold_the_api_numbers(pages: dict[str, Page], server: Any) -> None:
    """Waits are drawn where first-seen times exist; the census chart plots /census."""
    shown = pages["en"].open("arrivals", run=2)
    census = shown.locator('[data-panel="census"]')
    start = census.locator("input[data-date]").nth(0).input_value()
    end = census.locator("input[data-date]").nth(1).input_value()
    body = _api(server, "/runs/2/census", bucket="hour", start=start, end=end)
    plotted = shown.evaluate(
        "() => document.querySelector('[data-panel=\"census\"] .chart').data[0].y"
    )
    assert plotted == body["values"] and max(v for v in plotted if v is not None) > 0
    week = shown.evaluate(
        "() => document.querySelector('[data-panel=\"census-week\"] .chart').data[0].z.flat()"
    )
    assert len(week) == 168
    axis = shown.evaluate(
        "() => document.querySelector('[data-panel=\"census\"] .chart').layout.yaxis.title.text"
    )
    assert axis == "Patients present (mean)"
    waits = pages["en"].open("waits", run=2)
    assert waits.inner_text('[data-kpi="wait_p50"]').endswith("min")
    assert waits.inner_text('[data-kpi="los_p50"]').endswith("h")


def test_quality_view_shows_reasons_codes_and_completeness(
    pages: dict[str, Page], server: Any
) -> None:
    """Imports, reasons in words (an unknown one as 'Other'), the unmapped code, completeness."""
    quality = _api(server, "/sites/1/quality")
    for lang, index in (("en", 0), ("fr", 1)):
        shown = pages[lang].open("quality", run=2)
        labels = shown.evaluate("() => [...document.querySelectorAll('.chart')][0].data[0].y")
        for reason, words in KNOWN_REASONS.items():
            assert words[index] in labels
            assert reason not in shown.inner_text("#view")
        assert any(ODD_REASON in label for label in labels)
        assert (
            shown.locator(f'#unmapped-table tr[data-code="{UNMAPPED}"] td').nth(1).inner_text()
            == "ICD-9"
        )
        assert shown.locator("#imports-table tbody tr").count() == len(quality["imports"]) == 1
        assert shown.inner_text('[data-kpi="quarantined"]') == str(QUARANTINED)
    assert 0.99 < quality["completeness"]["first_seen"] < 1


def test_quality_of_a_simulation_says_it_does_not_apply(pages: dict[str, Page]) -> None:
    """On a simulated run the Data quality view explains it is about imported data."""
    shown = pages["en"].open("quality", run=1)
    assert "this run is a simulation" in shown.inner_text('[data-empty="simulation"]')
    assert pages["en"].errors == []


def test_picker_groups_observed_and_simulated_sources(pages: dict[str, Page]) -> None:
    """Two groups, clearly named; the default stays the simulation."""
    for lang, observed, simulated in (
        ("en", "Observed data — Hôpital Test", "Simulation #1"),
        ("fr", "Données observées — Hôpital Test", "Simulation n° 1"),
    ):
        shown = pages[lang].open("now")
        groups = shown.evaluate(
            "() => [...document.querySelectorAll('#run-picker optgroup')].map(g => "
            "({group: g.dataset.group, options: [...g.children].map(o => o.textContent)}))"
        )
        assert [g["group"] for g in groups] == ["observed", "simulated"]
        assert groups[0]["options"] == [observed.replace(SITE, OTHER_SITE), observed]
        assert groups[1]["options"][0].startswith(simulated)
        assert shown.input_value("#run-picker") == "1"


def test_a_store_with_only_observed_data_opens_on_it(
    browser: Any, make_app, serve, sites_store: str, tmp_path: Path
) -> None:
    """Without simulations the dashboard opens on the newest observed source."""
    import sqlalchemy as sa

    from hospiflow.store.engine import create_engine_for
    from hospiflow.store.runs import delete_run

    copy = tmp_path / "observed.db"
    shutil.copyfile(sa.make_url(sites_store).database or "", copy)
    url = f"sqlite:///{copy}"
    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            delete_run(connection, 1)
    finally:
        engine.dispose()
    page = Page(browser, serve(make_app(url)).url)
    try:
        shown = page.open("now")
        assert shown.input_value("#run-picker") == "3"  # the newest of the two sites
        assert shown.get_attribute("#view", "data-source") == "observed"
        assert page.errors == []
    finally:
        page.close()


def test_the_page_asks_for_a_token_when_reads_need_one(
    browser: Any, make_app, serve, sites_store: str, token: str
) -> None:
    """401 → a sign-in panel; a wrong token is refused; a viewer token shows the data; the
    quarantine list asks for an administrator token and pages; sign out forgets the token."""
    from hospiflow.store import tokens
    from hospiflow.store.engine import create_engine_for

    engine = create_engine_for(sites_store)
    try:
        with engine.begin() as connection:
            viewer = tokens.create_token(connection, f"viewer-{os.getpid()}", "viewer")
    finally:
        engine.dispose()
    server = serve(make_app(sites_store, API_TOKEN=token, READS_NEED_TOKEN=True))
    assert requests.get(f"{server.url}/api/v1/runs", timeout=10).status_code == 401
    page = Page(browser, server.url)
    try:
        shown = page.page
        shown.goto(f"{server.url}/?run=2#now")
        shown.wait_for_selector("#sign-in:not([hidden])", timeout=20_000)
        assert "This server requires an access token" in shown.inner_text("#sign-in")
        assert shown.get_attribute("#sign-in-token", "type") == "password"
        page.shot("sites-sign-in")
        shown.fill("#sign-in-token", "not-a-token")
        shown.click("#sign-in-form button[type=submit]")
        shown.wait_for_selector("#sign-in-error:not([hidden])")
        assert "refused" in shown.inner_text("#sign-in-error")
        shown.fill("#sign-in-token", viewer)
        shown.click("#sign-in-form button[type=submit]")
        page.wait_ready("now")
        assert shown.is_hidden("#sign-in")
        assert shown.inner_text('[data-kpi="present"]').strip() != ""
        assert shown.evaluate("() => sessionStorage.getItem('hospiflow.token')") == viewer
        assert shown.evaluate("() => localStorage.getItem('hospiflow.token')") is None
        shown.reload()  # the same tab keeps its token
        page.wait_ready("now")
        # the viewer may read the quality report, not the quarantined rows themselves
        shown.click('[data-view="quality"]')
        page.wait_ready("quality")
        shown.click("#open-quarantine")
        shown.wait_for_selector("#quarantine-token")
        assert "administrator token" in shown.inner_text("#quarantine")
        shown.fill("#quarantine-token", token)
        shown.click("#quarantine form button[type=submit]")
        shown.wait_for_selector("#quarantine-table")
        assert shown.locator("#quarantine-table tbody tr").count() == 50
        first = shown.locator("#quarantine-table tbody tr").first.get_attribute("data-quarantine")
        shown.click("#quarantine button:has-text('Next page')")
        shown.wait_for_function(
            # a row that is not the first page's first (while the table is redrawn it has
            # no rows, and "no row" must not count as the next page)
            "first => { const row = document.querySelector('#quarantine-table tbody tr');"
            " return row !== null && row.dataset.quarantine !== first; }",
            arg=first,
        )
        assert shown.locator("#quarantine-table tbody tr").count() == QUARANTINED - 50
        page.shot("sites-quarantine")
        shown.click("#sign-out")
        shown.wait_for_selector("#sign-in:not([hidden])")
        assert shown.evaluate("() => sessionStorage.getItem('hospiflow.token')") is None
        assert page.unexpected_errors(401, 403) == []
    finally:
        page.close()


def test_both_languages_have_the_same_labels(pages: dict[str, Page]) -> None:
    """Every label exists in English and French (no key only one language has)."""
    shown = pages["en"].open("quality", run=2)
    keys = shown.evaluate(
        """async () => {
            const i18n = await import('/static/js/i18n.js');
            return [i18n.messageKeys('en'), i18n.messageKeys('fr')];
        }"""
    )
    assert keys[0] and sorted(keys[0]) == sorted(keys[1])


def test_the_live_stream_carries_the_token(
    browser: Any, make_app, serve, sites_store: str, token: str, tmp_path: Path
) -> None:
    """With reads behind a token, a live run still streams: the token rides on the SSE URL."""
    import sqlalchemy as sa

    from hospiflow.live import LiveService, live_run_scenario

    copy = tmp_path / "live.db"
    shutil.copyfile(sa.make_url(sites_store).database or "", copy)
    url = f"sqlite:///{copy}"
    scenario, label = live_run_scenario(url, continue_from=1)
    service = LiveService(url, scenario, speed=1800.0, label=label)
    run_id = service.start()
    server = serve(make_app(url, API_TOKEN=token, READS_NEED_TOKEN=True))
    page = Page(browser, server.url)
    try:
        shown = page.page
        shown.goto(f"{server.url}/?run={run_id}#now")
        shown.wait_for_selector("#sign-in:not([hidden])", timeout=20_000)
        shown.fill("#sign-in-token", token)
        shown.click("#sign-in-form button[type=submit]")
        page.wait_ready("now")
        first = shown.get_attribute("#view", "data-as-of")
        shown.wait_for_function(
            "first => document.querySelector('#view').dataset.asOf !== first",
            arg=first,
            timeout=15_000,
        )
        assert shown.get_attribute("#view", "data-mode") == "live"
        assert page.unexpected_errors(401) == []
    finally:
        service.stop()
        page.close()


def _risk_chart(shown: Any) -> dict[str, Any]:
    """The risk panel's traces (type, points, axis) and its axis titles."""
    return shown.evaluate(
        """() => {
            const chart = [...document.querySelectorAll('#view section')]
                .find(s => s.querySelector('h3')?.dataset.i18n === 'forecast.risk.census')
                .querySelector('.chart');
            return {
                traces: chart.data.map(t => ({
                    type: t.type, points: (t.type === 'heatmap' ? t.z[0] : t.y).length,
                    values: t.type === 'heatmap' ? t.z[0] : t.y,
                })),
                x: chart.layout.xaxis.title.text,
                y: chart.layout.yaxis.title.text,
            };
        }"""
    )


@pytest.fixture
def forecast_pages(browser: Any, make_app, serve, forecast_sites_store: str):
    """English and French pages on a server of the forecast sites."""
    server = serve(make_app(forecast_sites_store))
    opened = {"en": Page(browser, server.url), "fr": Page(browser, server.url, "fr-FR")}
    yield server, opened
    for page in opened.values():
        page.close()


@pytest.mark.parametrize(
    ("lang", "axes", "sentence", "staffing", "hovered"),
    [
        (
            "en",
            ("Hospital local time (Europe/Paris)", "Patients present (expected)"),
            "Crowded when patients present (mean over the hour) reach 30 (the site's "
            "declared spaces).",
            "Not in this data: doctors and rosters are not in this hospital's records",
            (
                "probability",
                "forecast arrivals (patients per hour)",
                "expected patients present",
                "crowding threshold (patients present): 30.0",
            ),
        ),
        (
            "fr",
            ("Heure locale de l'hôpital (Europe/Paris)", "Patients présents (attendus)"),
            "Encombré quand les patients présents (moyenne sur l'heure) atteignent 30 (box "
            "déclarés du site).",
            "Absent de ces données : les médecins et les plannings ne figurent pas",
            (
                "probabilité",
                "arrivées prévues (patients par heure)",
                "patients présents attendus",
                "seuil d'encombrement (patients présents)\u00a0: 30,0",
            ),
        ),
    ],
    ids=["en", "fr"],
)
def test_forecast_view_shows_a_sites_census_risk(
    forecast_pages: tuple[Any, dict[str, Page]],
    lang: str,
    axes: tuple[str, str],
    sentence: str,
    staffing: str,
    hovered: tuple[str, ...],
) -> None:
    """On a site's forecast: the hospital-wide risk strip (168 hours) over the expected
    patients present and the threshold, its hover (arrivals, present, threshold), the
    definition in words, the next 8 hours of patients
    present, staffing 'not in this data', the backtest in words; no console error, no English
    left in French."""
    server, pages = forecast_pages
    page = pages[lang]
    shown = page.open("forecast", run=1)
    page.wait_drawn()
    page.shot(f"sites-forecast-risk-{lang}")
    assert page.errors == []
    body = _api(server, "/runs/1/forecast/risk")
    assert body["lacks"] == ["doctors"] and body["definition"]["capacity"] == CAPACITY
    chart = _risk_chart(shown)
    assert [t["type"] for t in chart["traces"]] == ["heatmap", "scatter", "scatter"]
    assert all(t["points"] == 168 for t in chart["traces"])
    assert chart["traces"][0]["values"] == body["probability"][0]
    assert chart["traces"][1]["values"] == body["drivers"]["expected_present"][0]
    assert (chart["x"], chart["y"]) == axes
    strip = shown.locator("[data-definition] g.draglayer g.xy2 rect.nsewdrag")
    strip.hover()  # the middle of the strip: its hour's probability and drivers
    hover = shown.locator("[data-definition] g.hoverlayer").text_content() or ""
    page.shot(f"sites-forecast-risk-hover-{lang}")
    for words in hovered:
        assert words in hover, hover
    assert shown.inner_text("#view p.rule") == sentence
    assert shown.get_attribute('[data-not-in-data="doctors"]', "data-not-in-data") == "doctors"
    assert staffing in shown.inner_text('[data-not-in-data="doctors"]')
    occupancy = _api(server, "/runs/1/forecast")["occupancy"]
    low, high, plotted = shown.evaluate(
        "() => [...document.querySelectorAll('#view section')].find(s => "
        "s.querySelector('h3')?.dataset.i18n === 'forecast.occupancy').querySelector('.chart')"
        ".data.map((trace) => trace.y)"
    )
    assert len(plotted) == 8 and plotted == occupancy["present"]
    assert (low, high) == (occupancy["low"], occupancy["high"])  # the 90 % band around it
    assert all(lo <= mid <= hi for lo, mid, hi in zip(low, plotted, high, strict=True))
    charts = _plotted(shown)
    assert len(charts) == 5 and all(c["points"] and all(c["points"]) for c in charts), charts
    assert charts[0]["points"] == [8, 8]  # the headline: the Now status's red, next 8 hours
    scores = shown.inner_text(".forecast-scores")
    assert ("hours were crowded" if lang == "en" else "des heures étaient encombrées") in scores
    assert "specialty" not in scores and "spécialité" not in scores
    assert "census" not in shown.inner_text("#view")  # the machine rule is never shown raw
    if lang == "fr":
        assert _english_left(shown) == []


def test_forecast_view_says_a_percentile_definition_in_words(
    forecast_pages: tuple[Any, dict[str, Page]],
) -> None:
    """A site without declared spaces: the sentence gives its own 95th percentile, as the API
    does, with the page's decimal separator."""
    server, pages = forecast_pages
    threshold = _api(server, "/runs/2/forecast/risk")["definition"]["threshold"]
    for lang, words, number in (
        ("en", "the site's own 95th percentile", f"{threshold:.1f}"),
        ("fr", "95e centile propre au site", f"{threshold:.1f}".replace(".", ",")),
    ):
        shown = pages[lang].open("forecast", run=2)
        rule = shown.inner_text("#view p.rule")
        assert words in rule and f" {number} (" in rule, rule
        assert pages[lang].errors == []
    pages["fr"].shot("sites-forecast-p95-fr")


def test_forecast_view_without_a_forecast_says_how_to_make_one(pages: dict[str, Page]) -> None:
    """A site's run never forecast: every forecast panel says which command makes one."""
    shown = pages["en"].open("forecast", run=2)
    assert shown.locator("#view .chart:not([hidden])").count() == 0
    assert "hospiflow forecast run --run 2" in shown.inner_text("#view")
    assert pages["en"].errors == []


def _series() -> dict[str, Any]:
    """A validation's plotted series: a day-shaped census, the twin 2 patients high."""
    observed = [20.0 + 10.0 * (8 <= h % 24 < 22) for h in range(168)]
    twin = [v + 2.0 for v in observed]
    return {
        "census": {
            "observed": observed,
            "twin": twin,
            "low": [v - 4.0 for v in twin],
            "high": [v + 4.0 for v in twin],
            "coverage": 0.9048,
        },
        "arrivals": {"observed": [5.0] * 168, "twin": [5.2] * 168},
    }


def _store_validation(url: str, site_name: str, passed: bool) -> None:
    """A validation of the site's twin as `hospiflow calibrate --validate` stores it."""
    from hospiflow.store import calibrations, sites
    from hospiflow.store.engine import create_engine_for

    names = ["arrivals_mape", "census_mape", "census_band", "los_p50", "los_p90"]
    criteria = [
        {"key": k, "name": k, "value": 0.05, "target": "≤ 10 %", "unit": "%", "passed": True}
        for k in names
    ] + [
        {
            "key": "within_4h",
            "name": "w",
            "value": 1.2,
            "target": "≤ 3 points",
            "unit": "points",
            "passed": True,
        },
        {
            "key": "admissions",
            "name": "a",
            "value": 2.4,
            "target": "≤ 2 points",
            "unit": "points",
            "passed": passed,
        },
    ]
    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            site = sites.get_site(connection, site_name)
            calibrations.save_calibration(
                connection,
                site["id"],
                kind="validation",
                until_local="2025-01-01",
                holdout_weeks=8,
                replications=20,
                scenario_toml="",
                catalog_toml="",
                criteria=criteria,
                passed=passed,
                details={"holdout_end": "2025-02-26", "not_estimated": [], "series": _series()},
            )
    finally:
        engine.dispose()


def _reopened(page: Page, run: int = 3) -> Any:
    """The Data quality view of ``run`` loaded afresh (the same URL again would not reload)."""
    page.open("quality", run=run)
    page.page.reload()
    page.wait_ready("quality")
    return page.page


def test_calibrated_twin_card_draws_a_real_fit_beside_the_data(
    pages: dict[str, Page], sites_store: str, tmp_path: Path
) -> None:
    """Data quality of a site: no calibration, then a real ``hospiflow calibrate`` of its
    60 days: arrivals by hour of the week and care time by pathology, in both languages."""
    from click.testing import CliRunner

    from hospiflow.cli import main

    shown = _reopened(pages["en"], run=2)
    assert shown.locator('#calibration [data-calibration="none"]').count() == 1
    db = sites_store.removeprefix("sqlite:///")
    result = CliRunner().invoke(
        main,
        ["calibrate", "--site", SITE, "--out", str(tmp_path / "site.toml"), "--db", db, "--quiet"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    for lang in ("en", "fr"):
        shown = _reopened(pages[lang], run=2)
        assert shown.locator('#calibration [data-calibration="fit"]').count() == 1
        charts = shown.locator("#calibration .chart:not([hidden])")
        assert charts.count() == 2
        assert charts.nth(0).get_attribute("data-points") == "168"  # hours of the week
        assert int(charts.nth(1).get_attribute("data-points") or 0) >= 1  # pathologies
        pages[lang].shot(f"sites-calibration-{lang}")
        if lang == "fr":
            assert _english_left(shown) == []
    assert pages["en"].errors == [] and pages["fr"].errors == []


def test_twin_fidelity_card_is_green_only_when_every_criterion_holds(
    pages: dict[str, Page], sites_store: str
) -> None:
    """Data quality of a site: the twin fidelity card, none / red / green, in both languages."""
    shown = pages["en"].open("quality", run=3)
    assert shown.locator('#fidelity [data-fidelity="none"]').count() == 1
    _store_validation(sites_store, OTHER_SITE, passed=False)
    for lang, words in (
        ("en", "Not all criteria hold"),
        ("fr", "Tous les critères ne sont pas tenus"),
    ):
        shown = _reopened(pages[lang])
        badge = shown.locator('#fidelity [data-fidelity="red"]')
        assert badge.count() == 1 and badge.inner_text() == words
        assert shown.locator("#fidelity-table tbody tr").count() == 7
        row = shown.locator('#fidelity-table tr[data-criterion="admissions"] td')
        assert row.nth(0).inner_text() == (
            "Admissions (points)" if lang == "en" else "Hospitalisations (points)"
        )
        assert row.nth(3).inner_text() == ("no" if lang == "en" else "non")
        chart = shown.locator("#fidelity .chart:not([hidden])")  # observed, twin and its band
        assert chart.count() == 1 and chart.get_attribute("data-points") == "168"
        assert "90 %" in chart.inner_text()  # the band's coverage (19/21), in the legend
        pages[lang].shot(f"sites-fidelity-red-{lang}")
        if lang == "fr":
            assert _english_left(shown) == []
    _store_validation(sites_store, OTHER_SITE, passed=True)
    shown = _reopened(pages["en"])
    assert shown.locator('#fidelity [data-fidelity="green"]').inner_text() == "All criteria hold"
    assert pages["en"].errors == [] and pages["fr"].errors == []
