"""Every view, both languages, on a live run and on a complete run, in headless Chromium.

A 30-day history (with its stored forecast) and a live run continuing it at an
hour per second, served by a real server. Each view must open on the latest
data (never on a live run's planned end), draw charts with data, give every
chart axis a title, let no raw message key reach the page, and log no error.
Screenshots of each go to ``test-artifacts/`` (ignored by git): look at them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from browser import Page, launch
from web_helpers import Server, simulate_into

from hospiflow.live import LiveService, live_run_scenario
from hospiflow.web.app import create_app, state

pytestmark = pytest.mark.browser

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
CHARTED = ("arrivals", "pathologies", "doctors", "waits")
RULE_START = {
    "en": "A queue is forming when the patients waiting",
    "fr": "Une file se forme quand les patients en attente",
}

# every axis of every drawn chart, with its title ("" when it has none)
AXES_JS = """() => [...document.querySelectorAll('#view .chart:not([hidden])')]
  .filter((c) => c._fullLayout && c.data && c.data.length)
  .flatMap((c) => Object.keys(c._fullLayout).filter((k) => /^[xy]axis\\d*$/.test(k))
    .filter((k) => c._fullLayout[k].visible !== false)
    .map((k) => [c.closest('section').querySelector('h3').textContent, k,
                 (c._fullLayout[k].title && c._fullLayout[k].title.text || '')
                   .replace(/^Click to enter.*/, '')]))"""

# message keys (or any snake_case identifier) found in the page's text, data codes aside
RAW_KEYS_JS = """async () => {
  const i18n = await import('/static/js/i18n.js');
  const keys = new Set([...i18n.messageKeys('en'), ...i18n.messageKeys('fr')]);
  const page = document.body.cloneNode(true);
  for (const node of page.querySelectorAll('[data-raw], script, style')) node.remove();
  const words = page.textContent.match(/[A-Za-z0-9_.]+/g) || [];
  return [...new Set(words.filter((w) => keys.has(w) || /^[a-z]+(_[a-z0-9]+)+$/.test(w)))];
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """30 days of history with a stored forecast, a live run continuing it, a server."""
    from hospiflow.forecast.service import ForecastService

    url = f"sqlite:///{tmp_path_factory.mktemp('views') / 'store.db'}"
    simulate_into(url, days=30)
    service = ForecastService(url)
    try:
        service.run(1)
    finally:
        service.close()
    scenario, label = live_run_scenario(url, continue_from=1)
    live = LiveService(url, scenario, speed=3600.0, label=label, forecast=False)
    live_id = live.start()
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    server = Server(app).__enter__()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # three simulated hours: every chart has data
            run = _runs(server)[live_id]
            if run.get("as_of") and _hours(run) >= 3:
                break
            time.sleep(0.5)
        yield {"server": server, "live": live_id, "complete": 1}
    finally:
        live.stop()
        server.__exit__()
        state(app).close()


def _runs(server: Server) -> dict[int, dict[str, Any]]:
    body = requests.get(f"{server.url}/api/v1/runs", timeout=10).json()
    return {r["id"]: r for r in body["runs"]}


def _hours(run: dict[str, Any]) -> float:
    from datetime import datetime

    span = datetime.fromisoformat(run["as_of"]) - datetime.fromisoformat(run["start"])
    return span.total_seconds() / 3600


def test_runs_say_where_their_data_stand(demo: dict[str, Any]) -> None:
    """/runs gives each run's "data as of": a live run's latest record, not its planned end."""
    runs = _runs(demo["server"])
    live, complete = runs[demo["live"]], runs[demo["complete"]]
    assert live["status"] == "running" and live["as_of"] < live["end"]
    assert live["start"] < live["as_of"]
    assert complete["as_of"] == complete["end"]


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("source", ["live", "complete"])
def test_every_view_opens_on_the_latest_data(
    browser: Any, demo: dict[str, Any], source: str, lang: str
) -> None:
    """Each view: non-empty charts, titled axes, no raw key, no error; screenshots kept."""
    page = Page(browser, demo["server"].url, language="fr-FR" if lang == "fr" else "en-GB")
    problems: list[Any] = []
    try:
        shown = page.open("now", run=demo[source])
        for view in VIEWS:
            if view != "now":
                shown.evaluate("view => { location.hash = view; }", view)
                page.wait_ready(view)
            page.wait_drawn()
            page.shot(f"views-{source}-{view}-{lang}")
            if shown.locator("#view .empty.error").count():
                errors = shown.locator("#view .empty.error").all_inner_texts()
                problems.append((view, "error", errors))
            if view in CHARTED:
                empty = shown.locator("#view .panel .empty:not([hidden])").all_inner_texts()
                if empty or not shown.locator("#view .chart:not([hidden])").count():
                    problems.append((view, "empty", empty))
            untitled = [a for a in shown.evaluate(AXES_JS) if not a[2].strip()]
            if untitled:
                problems.append((view, "untitled axes", untitled))
            raw = shown.evaluate(RAW_KEYS_JS)
            if raw:
                problems.append((view, "raw keys", raw))
            if view == "forecast" and source == "complete":  # the risk rule, in its language
                rule = shown.inner_text("#view p.rule")
                expected = RULE_START[lang]
                if not rule.startswith(expected) or (lang == "fr" and "saturated" in rule):
                    problems.append((view, "rule", rule))
        picker = shown.inner_text("#run-picker")
        if lang == "fr":  # hospiflow's own run labels are translated too
            assert "suite de l'exécution n° 1" in picker and "continues" not in picker
        else:
            assert "continues run #1" in picker
        assert problems == [], "\n".join(map(str, problems))
        assert page.errors == []
    finally:
        page.close()


LAST_HOUR = {"en": "Last complete hour of data (", "fr": "Dernière heure complète des données ("}
STATUS_WORDS = {
    "en": (
        "Risk the status turns red in the next 8 h",
        "Risk of hospital tension tomorrow (FEDORU)",
        "Backtested on the last",
        "Not available: ",
    ),
    "fr": (
        "Risque que l'état passe au rouge dans les 8 prochaines heures",
        "Risque de tension hospitalière demain (FEDORU)",
        "Évalué sur les",
        "Indisponible : ",
    ),
}


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_forecast_headline_is_the_risk_of_red_with_its_skill(
    browser: Any, demo: dict[str, Any], lang: str
) -> None:
    """The Forecast page opens on the risk of the Now status turning red: 8 bars with the
    API's probabilities, the backtested Brier skill beside them (the API's, rounded), and
    tension tomorrow (a number, or why not); the 7-day risk is called a queue forming, and
    nothing on the page is called a risk of saturation."""
    server = demo["server"]
    run_id = demo["complete"]
    api = requests.get(f"{server.url}/api/v1/runs/{run_id}/forecast/status", timeout=10).json()
    red = api["red"]
    assert red is not None, api["red_note"]
    page = Page(browser, server.url, language="fr-FR" if lang == "fr" else "en-GB")
    try:
        shown = page.open("forecast", run=run_id)
        page.wait_drawn()
        page.shot(f"forecast-status-{lang}")
        title, tension_title, skill_start, unavailable = STATUS_WORDS[lang]
        panel = shown.locator('[data-risk="status-red"]')
        assert panel.locator("h3").inner_text() == title
        assert panel.get_attribute("data-available") == "true"
        bars = shown.evaluate(
            """() => document.querySelector('[data-risk="status-red"] .chart').data
                .map((t) => ({ type: t.type, y: t.y, n: t.x.length }))"""
        )
        assert [b["type"] for b in bars] == ["bar", "scatter"]
        assert bars[0]["y"] == red["probability"] and bars[0]["n"] == 8
        assert bars[1]["y"] == red["hour_of_week_rate"]
        # the bars are the 8 hours after the last complete hour, which the caption names
        first_hour = datetime.fromisoformat(red["hours"][0])
        assert first_hour - datetime.fromisoformat(red["from"]) == timedelta(hours=1)
        origin = panel.locator("p.status-caption").first.inner_text()
        assert origin.startswith(LAST_HOUR[lang]), origin
        assert f"{datetime.fromisoformat(red['from']):%H:%M}" in origin, origin
        skill = panel.locator("p.status-skill").inner_text()
        one = round(100 * red["skill"][0]["brier_skill"])
        assert skill.startswith(skill_start) and f" {one} %" in skill, skill
        assert f" {red['test_days']} " in skill
        tension = shown.locator('[data-risk="tension"]')
        assert tension.locator("h3").inner_text() == tension_title
        if api["tension"] is None:
            assert tension.get_attribute("data-available") == "false"
            said = tension.inner_text()
            assert tension.get_attribute("data-reason") == api["tension_reason"] != "other"
            assert unavailable in said and len(said.split(unavailable)[1]) > 20
            assert api["tension_note"] not in said or lang == "en"  # said in the page's words
        else:
            share = round(100 * api["tension"]["probability"])
            assert tension.locator(".big-number").inner_text() == f"{share} %"
        text = shown.inner_text("#view")
        assert "saturation" not in text.lower()
        assert "Risk of saturation" not in text and "Risque de saturation" not in text
        queue = "queue forming" if lang == "en" else "file se forme"
        assert queue in text
        assert page.errors == []
    finally:
        page.close()


AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core 4.11.0 (npm), MPL-2.0


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_every_view_passes_the_accessibility_check(
    browser: Any, demo: dict[str, Any], lang: str
) -> None:
    """axe-core (WCAG 2 A and AA rules: contrast, names, roles, keyboard) finds nothing."""
    page = Page(
        browser, demo["server"].url, language="fr-FR" if lang == "fr" else "en-GB", bypass_csp=True
    )
    found: list[Any] = []
    try:
        shown = page.open("now", run=demo["live"])
        for view in VIEWS:
            if view != "now":
                shown.evaluate("view => { location.hash = view; }", view)
                page.wait_ready(view)
            page.wait_drawn()
            if not shown.evaluate("() => Boolean(window.axe)"):
                shown.add_script_tag(path=str(AXE))
            found += shown.evaluate(
                """async (view) => (await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }))
                  .violations.map((v) => [view, v.id, v.impact, v.nodes.map((n) => n.target)])""",
                view,
            )
        assert found == []
    finally:
        page.close()


def test_both_languages_hold_every_message_key(browser: Any, demo: dict[str, Any]) -> None:
    """Every message key exists in English and in French, with text in both."""
    page = Page(browser, demo["server"].url)
    try:
        shown = page.open("now", run=demo["complete"])
        en, fr = shown.evaluate(
            """async () => {
                const i18n = await import('/static/js/i18n.js');
                return [i18n.messagesOf('en'), i18n.messagesOf('fr')];
            }"""
        )
        assert len(en) > 300
        assert sorted(en) == sorted(fr)
        assert [k for k in en if not en[k].strip() or not fr[k].strip()] == []
    finally:
        page.close()


def test_artifacts_folder_is_ignored_by_git() -> None:
    """Screenshots never end up in a commit."""
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().split()
    assert "/test-artifacts/" in ignored
