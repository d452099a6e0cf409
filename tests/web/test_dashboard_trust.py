"""What a manager trusts: failures said with a retry, stale figures marked, what-ifs explained.

Real servers on the week-long store, headless Chromium. Network failures are
made by the browser (Playwright routes answering 503 or dropping requests),
so the dashboard's own code meets them as it would on a flaky network.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser import Page, launch

from hospiflow.live import LiveService, live_run_scenario

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def test_a_failed_run_list_says_so_and_retries(browser: Any, make_app, serve, sqlite_store) -> None:
    """/runs failing leaves a message and a retry button, not a blank page; the retry works."""
    server = serve(make_app(sqlite_store))
    page = Page(browser, server.url)
    failures = {"left": 1}

    def flaky(route: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            route.fulfill(status=503, content_type="application/json", body="{}")
        else:
            route.continue_()

    try:
        page.page.route("**/api/v1/runs", flaky)
        page.page.goto(f"{server.url}/#arrivals")
        shown = page.page
        shown.wait_for_selector("#view [data-failure] button.retry", timeout=30_000)
        assert "503" in shown.inner_text("#view [data-failure]")
        shown.click("#view [data-failure] button.retry")
        page.wait_ready("arrivals")
        shown.wait_for_selector("#view .chart:not([hidden])", timeout=30_000)
        assert shown.locator("#view [data-failure]").count() == 0
    finally:
        page.close()


def test_what_ifs_without_an_admin_token_say_how_to_get_one(
    browser: Any, make_app, serve, sqlite_store
) -> None:
    """With writes off the form is disabled and says what token is needed and how to make one."""
    server = serve(make_app(sqlite_store))
    page = Page(browser, server.url)
    try:
        shown = page.open("scenarios")
        help_text = shown.inner_text('[data-writes="off"]')
        assert "administrator token" in help_text
        assert "hospiflow token create" in help_text
        assert shown.locator("form.whatif button[type=submit]").is_disabled()
        # one finished run: nothing to compare it with, said plainly (never the run twice)
        assert shown.locator('[data-compare="need-two"]').count() == 1
        assert shown.locator("#compare-table").count() == 0
        assert page.errors == []
    finally:
        page.close()


def test_compare_opens_on_two_different_runs(
    browser: Any, make_app, serve, private_store, simulate, token
) -> None:
    """With two finished runs the comparison shows both, named, with its unit."""
    simulate(private_store, days=2)
    server = serve(make_app(private_store, API_TOKEN=token))
    page = Page(browser, server.url)
    try:
        shown = page.open("scenarios")
        assert "administrator token" in shown.inner_text('[data-writes="on"]')
        shown.wait_for_selector("#compare-table", timeout=30_000)
        heads = shown.locator("#compare-table th").all_inner_texts()
        assert heads[1].startswith("A · ") and heads[2].startswith("B · ")
        assert heads[1][4:] != heads[2][4:]
        last_chart = "[...document.querySelectorAll('.chart')].pop()"
        shown.wait_for_function(f"() => ({last_chart}).data?.length === 2", timeout=30_000)
        names = shown.evaluate(
            "() => [...document.querySelectorAll('.chart')].pop().data.map((t) => t.name)"
        )
        assert len(names) == 2 and names[0] != names[1]
        assert shown.locator('tr[data-metric="waited_over_60_share"] td').nth(0).inner_text() == (
            "Share waiting over 60 min"
        )
        page.shot("trust-scenarios-compare")
        assert page.errors == []
    finally:
        page.close()


def test_live_figures_that_stop_moving_are_marked_stale(
    browser: Any, make_app, serve, private_store
) -> None:
    """When the live feed stops, the Now view says its figures may be out of date."""
    scenario, label = live_run_scenario(private_store, continue_from=1)
    service = LiveService(private_store, scenario, speed=600.0, label=label, forecast=False)
    run_id = service.start()
    server = serve(make_app(private_store, STALE_SECONDS=2))
    page = Page(browser, server.url)
    try:
        shown = page.open("now", run=run_id)
        assert shown.locator("#view p.stale:not([hidden])").count() == 0
        # updates keep coming for longer than STALE_SECONDS (a wall-clock rule, so a
        # wall-clock wait, but on the updates seen): nothing is marked
        shown.evaluate(
            """() => { window.__updates = 0; window.__since = performance.now();
                new MutationObserver(() => { window.__updates += 1; }).observe(
                  document.querySelector('#view'),
                  { attributes: true, attributeFilter: ['data-as-of'] }); }"""
        )
        shown.wait_for_function(
            "() => performance.now() - window.__since > 2500 && window.__updates >= 5",
            timeout=30_000,
        )
        assert shown.locator("#view p.stale:not([hidden])").count() == 0
        service.stop()  # the feed stops: the figures on screen age
        shown.wait_for_selector('#view[data-stale="true"]', timeout=30_000)
        assert shown.locator("#view p.stale:not([hidden])").count() == 1
        page.shot("trust-now-stale")
    finally:
        page.close()
        service.stop()
