"""Live mode refreshes its run's forecast every simulated hour."""

from __future__ import annotations

import time
from pathlib import Path

from hospiflow.live import LiveService, live_run_scenario
from hospiflow.runner import simulate_run
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import forecasts, migrate
from hospiflow.store.engine import connect


def test_live_run_continuing_a_history_gets_hourly_forecasts(tmp_path: Path) -> None:
    """A live run continuing 20 days of history stores forecasts, refreshed as hours pass."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.init(url)
    simulate_run(default_scenario(days=20.0, warmup_days=1.0, seed=5), database_url=url)
    scenario, label = live_run_scenario(url, continue_from=1)
    service = LiveService(url, scenario, speed=1800.0, label=label)  # 30 simulated min a second
    run_id = service.start()
    origins: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while len(origins) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            with connect(url) as connection:
                header = forecasts.latest_header(connection, run_id, "forecast")
            if header is not None:
                origins.add(int(header["origin_ms"]))
    finally:
        service.stop()
    assert len(origins) >= 2, "the live run's forecast was not refreshed hour after hour"
    with connect(url) as connection:
        rows = forecasts.read_rows(connection, run_id, "arrivals")
    hours = sorted({int(r[0]) for r in rows})
    assert len(hours) == 168 and hours[0] >= max(origins)  # the newest forecast replaced the old
