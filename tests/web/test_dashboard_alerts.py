"""The alert banner and the daily summary in headless Chromium, on a real server.

An overloaded week (red hours) continued by a live run at an hour per second, the
server's alert check running: the banner must appear on every view, name the source
and why in both languages, and an acknowledged alert must move to the list. The
daily summary must render with numbers in English and French, and on an imported
site say what its data lack. Screenshots go to ``test-artifacts/``: look at them.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from browser import ARTIFACTS, Page, launch
from test_dashboard_sites import _visits_without_first_seen
from web_helpers import TOKEN, Server, simulate_into

from hospiflow.live import LiveService, live_run_scenario
from hospiflow.web.alerting import AlertWatcher
from hospiflow.web.app import create_app, state

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


@pytest.fixture(scope="module")
def red(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run 1: an overloaded week; run 2: a site's imported week; run 3: live, red."""
    from hospiflow.ingest.pipeline import import_items
    from hospiflow.store import sites
    from hospiflow.store.engine import create_engine_for

    url = f"sqlite:///{tmp_path_factory.mktemp('alerts') / 'store.db'}"
    simulate_into(url, days=7, arrival_rate_per_hour=16.0)
    engine = create_engine_for(url)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
            with engine.begin() as connection:
                site = sites.create_site(connection, "Hôpital Nord", "Europe/Paris")
            imported = import_items(
                engine, site["id"], _visits_without_first_seen(random.Random(6)), format="csv"
            )
    finally:
        engine.dispose()
    scenario, label = live_run_scenario(url, continue_from=1)
    live = LiveService(url, scenario, speed=3600.0, label=label, forecast=False)
    live_id = live.start()
    app = create_app({"DATABASE_URL": url, "TESTING": True, "API_TOKEN": TOKEN})
    watcher = AlertWatcher(app, every=0.5).start()
    server = Server(app).__enter__()
    try:
        deadline = time.monotonic() + 90
        while not requests.get(f"{server.url}/api/v1/alerts", timeout=10).json()["alerts"]:
            assert time.monotonic() < deadline, "no alert raised on the overloaded live run"
            time.sleep(0.2)
        yield {"server": server, "live": live_id, "site_run": imported.run_id}
    finally:
        watcher.stop()
        live.stop()
        server.__exit__()
        state(app).close()


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_banner_shows_on_every_view_and_acknowledging_lists_it(
    browser: Any, red: dict[str, Any], lang: str
) -> None:
    page = Page(browser, red["server"].url, language="fr-FR" if lang == "fr" else "en-GB")
    try:
        for view in ("now", "arrivals", "tension"):
            shown = page.open(view, red["live"])
            shown.wait_for_selector("#alerts .alert-banner [data-alert]", timeout=30_000)
            text = shown.inner_text("#alerts .alert-banner")
            title = "Alertes à acquitter" if lang == "fr" else "Alerts to acknowledge"
            assert title in text
            assert ("Saturé" if lang == "fr" else "Saturated") in text
            assert re.search(r"\d+ (en attente|waiting)", text), text
        shown.screenshot(path=str(ARTIFACTS / f"alerts-banner-{lang}.png"), full_page=False)
        if lang == "en":
            first = shown.get_attribute("#alerts .alert-banner [data-alert]", "data-alert")
            shown.fill(f'#alerts [data-alert="{first}"] input[type=password]', TOKEN)
            shown.click(f'#alerts [data-ack="{first}"]')
            shown.wait_for_selector(
                f'#alerts .alerts-acknowledged tr[data-alert="{first}"]', state="attached"
            )
            shown.click("#alerts .alerts-acknowledged summary")
            row = shown.inner_text(f'#alerts .alerts-acknowledged tr[data-alert="{first}"]')
            assert "api-token" in row
            shown.screenshot(path=str(ARTIFACTS / "alerts-acknowledged-en.png"), full_page=True)
        assert page.errors == []
    finally:
        page.context.close()


def test_sound_is_off_by_default_and_remembered(browser: Any, red: dict[str, Any]) -> None:
    page = Page(browser, red["server"].url)
    try:
        shown = page.open("now", red["live"])
        shown.wait_for_selector("#alert-sound")
        assert not shown.is_checked("#alert-sound")
        shown.check("#alert-sound")
        shown.reload()
        page.wait_ready("now")
        shown.wait_for_selector("#alert-sound")
        assert shown.is_checked("#alert-sound")
        assert shown.evaluate("localStorage.getItem('hospiflow.alertSound')") == "on"
    finally:
        page.context.close()


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_daily_summary_prints_numbers_in_both_languages(
    browser: Any, red: dict[str, Any], lang: str
) -> None:
    page = Page(browser, red["server"].url)
    try:
        shown = page.page
        shown.goto(f"{red['server'].url}/summary?run=1&lang={lang}")
        shown.wait_for_selector('body[data-ready="true"]')
        title = shown.inner_text("h1")
        assert title.startswith("Synthèse du" if lang == "fr" else "Daily summary"), title
        arrivals = shown.inner_text('[data-figure="summary.arrivals"] td.num')
        assert re.search(r"\d{3}", arrivals), arrivals
        waits = shown.inner_text('[data-figure="summary.waits"] td.num')
        assert re.search(r"\d+ min", waits), waits
        four = shown.inner_text('[data-figure="summary.within4h"] td.num')
        assert "%" in four
        assert shown.locator(".summary-staffing tr[data-specialty]").count() > 0
        assert shown.locator("[data-missing]").count() == 0
        shown.emulate_media(media="print")
        assert shown.locator(".summary-tools").is_hidden()
        shown.screenshot(path=str(ARTIFACTS / f"summary-{lang}.png"), full_page=True)
        shown.pdf(path=str(ARTIFACTS / f"summary-{lang}.pdf"), format="A4")
        assert page.errors == []
    finally:
        page.context.close()


def test_daily_summary_on_an_imported_site_says_what_is_missing(
    browser: Any, red: dict[str, Any]
) -> None:
    page = Page(browser, red["server"].url)
    try:
        shown = page.page
        shown.goto(f"{red['server'].url}/summary?run={red['site_run']}&lang=fr")
        shown.wait_for_selector('body[data-ready="true"]')
        assert "Hôpital Nord" in shown.inner_text("main")
        assert re.search(r"\d+ patients", shown.inner_text('[data-figure="summary.arrivals"]'))
        stays = shown.inner_text('[data-figure="summary.stays"] td.num')
        assert re.search(r"\d+ min", stays), stays
        missing = shown.locator("[data-missing]").all_inner_texts()
        assert missing == ["absent de ces données"] * 2  # waits (no first-seen), staffing
        shown.screenshot(path=str(ARTIFACTS / "summary-site-fr.png"), full_page=True)
        assert page.errors == []
    finally:
        page.context.close()


AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core (npm), MPL-2.0
AXE_RUN = """async () => (await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }))
  .violations.map((v) => [v.id, v.impact, v.nodes.map((n) => n.target)])"""


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_banner_and_summary_pass_the_accessibility_check(
    browser: Any, red: dict[str, Any], lang: str
) -> None:
    """axe-core (WCAG 2 A and AA) on a view with the banner and on the summary page."""
    page = Page(
        browser, red["server"].url, language="fr-FR" if lang == "fr" else "en-GB", bypass_csp=True
    )
    try:
        shown = page.open("now", red["live"])
        shown.wait_for_selector("#alerts .alerts-acknowledged", state="attached")
        shown.add_script_tag(path=str(AXE))
        assert [v for v in shown.evaluate(AXE_RUN) if "#alerts" in str(v)] == []
        shown.goto(f"{red['server'].url}/summary?run=1&lang={lang}")
        shown.wait_for_selector('body[data-ready="true"]')
        shown.add_script_tag(path=str(AXE))
        assert shown.evaluate(AXE_RUN) == []
    finally:
        page.context.close()
