"""The Scenarios view's replicated what-if in Chromium: launched with the token, its
progress shown while it runs, then the chart of differences with error bars and the
table of baseline, change and 95 % interval, in English and French."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import Page, launch

pytestmark = pytest.mark.browser
AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core 4.11.0 (npm), MPL-2.0
# (message, progress bar shown) each time either changes, in window.whatifStates
RECORD_STATES = """() => {
    const message = document.querySelector('#whatif-message');
    const bar = document.querySelector('#whatif-progress');
    window.whatifStates = [];
    const note = () => window.whatifStates.push([message.textContent, !bar.hidden]);
    const watch = new MutationObserver(note);
    watch.observe(message, {childList: true, characterData: true, subtree: true});
    watch.observe(bar, {attributes: true, attributeFilter: ['hidden']});
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_scenarios_view_shows_the_difference_chart(
    browser: Any, make_app, serve, private_store, token, lang
) -> None:
    server = serve(make_app(private_store, API_TOKEN=token))
    # bypass_csp: only to inject axe-core at the end, as test_dashboard_views does
    page = Page(browser, server.url, language="fr-FR" if lang == "fr" else "en-GB", bypass_csp=True)
    try:
        shown = page.open("scenarios")
        shown.wait_for_selector("#whatif-specialty option", state="attached", timeout=30_000)
        shown.fill("#api-token", token)
        shown.select_option("#whatif-specialty", "general_medicine")
        for key, value in (
            ("doctors", "3"),
            ("spaces", "4"),
            ("replications", "20"),  # a few seconds of work: several polls (500 ms) see it run
            ("weeks", "1"),
        ):
            shown.fill(f"#whatif-{key}", value)
            shown.dispatch_event(f"#whatif-{key}", "change")
        # every state the page shows is recorded as it happens, so a fast machine cannot
        # finish the what-if between two looks of the test and hide its progress from it
        shown.evaluate(RECORD_STATES)
        shown.click("#whatif-launch")
        shown.wait_for_selector("[data-whatif-chart] .chart[data-points]", timeout=180_000)
        states = shown.evaluate("() => window.whatifStates")
        running = [text for text, bar in states if bar and re.search(r"\d+ \D+ \d+", text)]
        assert running, states  # "Simulating: 2 of 6 runs" beside the progress bar, while it ran
        assert states[-1][1] is False and re.search(r"\d", states[-1][0])  # "Done in 3.1 s."
        trace = shown.evaluate(
            "() => { const c = document.querySelector('[data-whatif-chart] .chart');"
            " const t = c.data[0]; return {n: t.x.length, plus: t.error_x.array,"
            " minus: t.error_x.arrayminus, axis: c._fullLayout.xaxis.title.text}; }"
        )
        assert trace["n"] >= 5
        assert all(p >= 0 for p in trace["plus"]) and all(m >= 0 for m in trace["minus"])
        assert any(p > 0 for p in trace["plus"])  # real intervals, not points
        assert trace["axis"] == (
            "Changement par rapport à la référence (%)"
            if lang == "fr"
            else "Change against the baseline (%)"
        )
        rows = shown.locator("#whatif-table tbody tr")
        assert rows.count() == 7
        wait = shown.locator('#whatif-table tr[data-measure="door_to_doctor_mean_min"]')
        assert wait.get_attribute("data-verdict") == "better"
        assert wait.locator("td").nth(5).inner_text() == ("mieux" if lang == "fr" else "better")
        assert "…" in wait.locator("td").nth(4).inner_text()
        changes = shown.locator(".whatif-changes li").all_inner_texts()
        if lang == "fr":
            assert changes == [
                "+3 médecin(s) de Médecine générale, 18:00–02:00",
                "+4 box de soins (plus grande zone)",
            ]
        else:
            assert changes == [
                "+3 doctor(s) of General medicine, 18:00–02:00",
                "+4 treatment spaces (largest area)",
            ]
        page.shot(f"whatif-scenarios-{lang}")
        shown.add_script_tag(path=str(AXE))
        violations = shown.evaluate(
            """async () => (await axe.run('[data-whatif]', { runOnly: ['wcag2a', 'wcag2aa'] }))
              .violations.map((v) => [v.id, v.impact, v.nodes.map((n) => n.target)])"""
        )
        assert violations == []
        assert page.errors == []
    finally:
        page.close()
