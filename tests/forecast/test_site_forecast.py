"""Forecasts of a site's own visits (an observed run: no doctors, no state samples), on SQLite
and PostgreSQL: arrivals, the census saturation risk and occupancy, no staffing, the backtest."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from forecast_helpers import weekly_profile

from hospiflow.forecast import census_risk
from hospiflow.forecast.history import load_history
from hospiflow.forecast.riskbacktest import default_calibration_days
from hospiflow.forecast.service import ForecastService
from hospiflow.forecast.storebacktest import backtest_run
from hospiflow.ingest.pipeline import import_items
from hospiflow.records import Disposition, VisitRecord
from hospiflow.store import forecasts as store
from hospiflow.store import sites

START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday (Paris 01:00)
DAYS = 126


@functools.cache
def generated_visits(days: int = DAYS, seed: int = 3) -> tuple[VisitRecord, ...]:
    """Poisson arrivals on an hour-of-week profile, lognormal stays (median 2.5 h); visits
    still there when the extract is taken (the end of the last day) have no departure."""
    rng = np.random.default_rng(seed)
    extract = START + timedelta(days=days)
    rate = np.tile(weekly_profile(), days // 7 + 1)[: days * 24]
    visits = []
    for hour, count in enumerate(rng.poisson(rate)):
        for minute in np.sort(rng.integers(0, 60, count)):
            arrival = START + timedelta(hours=hour, minutes=int(minute))
            stay = timedelta(minutes=float(min(rng.lognormal(np.log(150), 0.6), 3000)))
            departure = arrival + stay if arrival + stay <= extract else None
            visits.append(
                VisitRecord(
                    arrival=arrival,
                    departure=departure,
                    source=f"gen:{len(visits)}",
                    visit_id=f"V{len(visits):07d}",
                    disposition=Disposition.DISCHARGED if departure else None,
                    diagnosis=("J18.9", "S52.5", "R07.4")[len(visits) % 3],
                )
            )
    return tuple(visits)


@pytest.fixture
def make_site_run(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch):
    """Factory: a Paris site (with a declared capacity or not) with 126 days of visits
    (or the visits given)."""
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")

    def make(capacity: int | None = None, visits: tuple[VisitRecord, ...] | None = None) -> int:
        with engine.begin() as connection:
            sites.create_site(connection, "Site", "Europe/Paris", capacity_spaces=capacity)
        visits = generated_visits() if visits is None else visits
        summary = import_items(engine, "Site", visits, format="test")
        assert summary.quarantined == 0
        return int(summary.run_id)

    return make


@pytest.fixture
def site_run(make_site_run) -> int:
    """The site's observed run, no capacity declared."""
    return make_site_run()


def stored(engine: sa.Engine, run_id: int) -> tuple[dict, dict[str, list]]:
    with engine.connect() as connection:
        header = store.latest_header(connection, run_id)
        rows = {m: store.read_rows(connection, run_id, m) for m in store.METRICS}
    assert header is not None
    return header["payload"], rows


def test_a_site_forecast_has_census_risk_and_no_staffing(engine, site_run):
    """Arrivals, P(census >= its own p95) per hour, occupancy; no staffing; says what it lacks."""
    service = ForecastService(engine)
    out = service.run(site_run)
    payload, rows = stored(engine, site_run)
    assert out["risk"] is True and payload["risk"] is True
    assert payload["saturation_definition"].startswith("census>=p95 (")
    assert payload["lacks"] == ["doctors"] and payload["staffing"] == "not in this data"
    assert payload["calibration"]["source"] == "quick"
    n_spec = len(payload["specialties"])
    assert len(rows["arrivals"]) == 168 * (1 + n_spec)
    assert rows["staffing"] == []
    risk = rows["saturation"]
    assert len(risk) == 168 and all(r[1] is None for r in risk)
    probabilities = np.array([r[2] for r in risk])
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert probabilities.max() - probabilities.min() > 0.05  # nights and evenings differ
    threshold = payload["definition"]["threshold"]
    assert risk[0][3]["threshold"] == pytest.approx(threshold) and threshold > 5
    occupancy = rows["occupancy"]
    assert len(occupancy) == 8 and all(r[1] is None and r[2] > 0 for r in occupancy)
    levels = payload["quantile_levels"]
    low, high = levels.index(0.05), levels.index(0.95)
    for _target, _s, mean, band in occupancy:  # the census projection's band, around its mean
        assert len(band) == len(levels) and band[low] <= mean <= band[high]
        assert band[high] - band[low] > 1


def test_a_declared_capacity_defines_saturation(engine, make_site_run):
    """With 40 spaces declared the definition names them and saturation is rarer than p95's."""
    site_run = make_site_run(capacity=40)
    ForecastService(engine).run(site_run)
    payload, rows = stored(engine, site_run)
    assert payload["saturation_definition"] == "census>=capacity (40 spaces)"
    assert payload["definition"] == {
        "threshold": 40.0,
        "capacity": 40,
        "text": "census>=capacity (40 spaces)",
    }
    assert max(r[2] for r in rows["saturation"]) < 0.5


def test_a_site_backtest_scores_the_census_risk_and_feeds_the_forecast(url, engine, site_run):
    """The backtest scores arrivals, census risk and occupancy; the next forecast uses its
    calibration, with the same definition."""
    result = backtest_run(url, site_run, test_days=28, progress=False)
    data = result.to_dict()
    assert isinstance(result.operational, census_risk.CensusBacktest)
    assert data["risk"]["rule"].startswith("census>=p95 (")
    assert 0 <= data["risk"]["brier"] < data["risk"]["base_rate"] + 0.05
    assert data["risk"]["cases"] > 24 * 27
    horizons = data["occupancy"]["horizons"]
    assert len(horizons) == 8 and horizons[0]["mse"] < horizons[0]["mse_persistence"]
    with engine.connect() as connection:
        header = store.latest_header(connection, site_run, "backtest")
    assert header["payload"]["saturation_definition"] == data["risk"]["rule"]
    assert header["payload"]["lacks"] == ["doctors"]
    out = ForecastService(engine).run(site_run)
    assert out["calibration"] == {"source": "backtest", "run_id": site_run}


def test_the_projection_keeps_those_present_and_adds_arrivals():
    """Stays of exactly 2 h: one present for 1 h leaves after 1 h; 6 arrivals/h settle at 12."""
    s = census_risk.survival(np.full(100, 120.0))
    alone = census_risk.project(np.array([60]), np.zeros(4), s)
    assert alone.mean.tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0], abs=0.02)
    flow = census_risk.project(np.zeros(0, dtype=int), np.full(6, 6.0), s)
    assert flow.mean[3:].tolist() == pytest.approx([12.0, 12.0, 12.0], rel=0.01)
    assert flow.end[0] == pytest.approx(6.0, rel=0.02)


def test_a_history_starting_at_one_in_the_morning_backtests_its_whole_days(
    url, engine, make_site_run
):
    """120 days from 01:00 Paris: the default calibration counts 119 whole days (63 days, not
    64, which asked for one day before the data and failed), and the backtest runs."""
    first = VisitRecord(
        arrival=START,  # 01:00 in Paris: the history's first hour is not a midnight
        departure=START + timedelta(hours=2),
        source="gen:first",
        visit_id="V-first",
        disposition=Disposition.DISCHARGED,
        diagnosis="R07.4",
    )
    site_run = make_site_run(visits=(first, *generated_visits(120)))
    with engine.connect() as connection:
        history = load_history(connection, site_run, with_predecessor=False)
    assert history.arrivals.index[0] == datetime(2024, 1, 1, 1)  # local wall clock
    assert default_calibration_days(history, 28) == 63
    data = backtest_run(url, site_run, test_days=28, progress=False).to_dict()
    assert data["risk"]["calibration_start"].startswith("2024-01-30")
    assert data["risk"]["test_start"].startswith("2024-04-02")
