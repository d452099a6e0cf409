"""Live mode refreshes its run's forecast every simulated hour."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

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


def test_history_cache_reads_only_what_changed_and_answers_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live run's history through ``HistoryCache``, tick after tick, equals a full read;
    the history run it continues is read once."""
    import pandas as pd

    from hospiflow.forecast import history as forecast_history
    from hospiflow.forecast.history import HistoryCache, load_history
    from hospiflow.live import LIVE_BATCH_ROWS
    from hospiflow.simulation.engine import Engine
    from hospiflow.store import StoreSink

    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrate.init(url)
    simulate_run(default_scenario(days=20.0, warmup_days=1.0, seed=5), database_url=url)
    scenario, label = live_run_scenario(url, continue_from=1)
    sink = StoreSink(
        url, scenario.load_catalog(), batch_size=LIVE_BATCH_ROWS, kind="live", continues_run=1
    )
    engine = Engine(scenario, [sink])
    engine.open()
    cache = HistoryCache()
    reads: list[int] = []
    counts = forecast_history._hourly_counts

    def counting(connection, row, since_ms=None):  # type: ignore[no-untyped-def]
        reads.append(int(row["id"]))
        return counts(connection, row, since_ms)

    monkeypatch.setattr(forecast_history, "_hourly_counts", counting)
    try:
        for minute in (0.0, 50.0, 61.0, 185.5, 186.0, 600.0, 1500.0):
            engine.advance_to(minute)
            engine.flush()
            sink.checkpoint(engine.now)
            sink.flush()
            with connect(url) as connection:
                cached = load_history(connection, sink.run_id, cache=cache)
                full = load_history(connection, sink.run_id)
            assert cached.runs == full.runs == [1, sink.run_id]
            pd.testing.assert_frame_equal(cached.arrivals, full.arrivals)
            assert cached.end_ms == full.end_ms
        assert full.arrivals.loc[full.arrivals.index >= "2025-01-21", "total"].sum() > 20
    finally:
        engine.finish()
    # with the cache, the history run was read once; without it, at every tick
    assert reads.count(1) == 1 + 7
