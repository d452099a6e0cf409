"""Dashboard speed: every view in headless Chromium on a 3-year store.

Starts ``hospiflow serve`` on the cached 3-year store of ``benchmarks/api.py``
(history run 1 with a stored forecast, plus a live run continuing from it),
then opens each view
in Debian's Chromium and times it from navigation until the view says it is
complete (every panel loaded and drawn: ``#view[data-ready=true]``). Each
view is timed cold (a new browser context, nothing cached by the server for
its first request) and then warm; goals: Now ≤ 1 s, every other view ≤ 2 s.

    .venv/bin/python benchmarks/dashboard.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).parent))
from api import CACHE, build_store, free_port  # noqa: E402

VIEWS = ("now", "arrivals", "pathologies", "doctors", "waits", "forecast", "scenarios")
GOALS = {"now": 1.0}
REPEAT = 5
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def ensure_forecast(url: str) -> None:
    """Run 1 gets a stored forecast, so the Forecast view has everything to draw."""
    from hospiflow.forecast.service import ForecastService
    from hospiflow.store import forecasts
    from hospiflow.store.engine import create_engine_for

    engine = create_engine_for(url, readonly=True)
    with engine.connect() as connection:
        present = forecasts.latest_header(connection, 1, "forecast") is not None
    engine.dispose()
    if not present:
        service = ForecastService(url)
        try:
            service.run(1)
        finally:
            service.close()


def main() -> None:
    url = build_store(CACHE)
    ensure_forecast(url)
    port = free_port()
    binary = Path(sys.executable).parent / "hospiflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSPIFLOW_")}
    server = subprocess.Popen(
        [
            str(binary),
            "serve",
            "--database-url",
            url,
            "--port",
            str(port),
            "--live",
            "--continue-from",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/api/v1/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        timings: dict[str, list[float]] = {view: [] for view in VIEWS}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=ARGS
            )
            for attempt in range(REPEAT):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                for view in VIEWS:
                    started = time.perf_counter()
                    page.goto(f"{base}/?run=1#{view}")
                    page.wait_for_selector(
                        f'#view[data-view="{view}"][data-ready="true"]', timeout=60_000
                    )
                    timings[view].append(time.perf_counter() - started)
                context.close()
                del attempt
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    print(f"\nDashboard views on a 3-year store (run 1), headless Chromium, {REPEAT} loads each\n")
    header = f"{'view':<14}{'first s':>9}{'median s':>10}{'max s':>8}{'goal s':>8}  met"
    print(header)
    print("-" * len(header))
    for view in VIEWS:
        values = timings[view]
        goal = GOALS.get(view, 2.0)
        worst = max(values)
        print(
            f"{view:<14}{values[0]:>9.3f}{statistics.median(values):>10.3f}{worst:>8.3f}"
            f"{goal:>8.1f}  {'yes' if worst <= goal else 'NO'}"
        )


if __name__ == "__main__":
    main()
