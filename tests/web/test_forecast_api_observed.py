"""The forecast endpoints on a site's observed run (visits only: no doctors, no roster), on
SQLite and PostgreSQL: a hospital-wide census risk, no staffing (200, "not in this data"),
the census backtest; simulated runs keep their queue answers, without the observed keys."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema_rs
import numpy as np
import pytest

from hospiflow.forecast.service import ForecastService
from hospiflow.forecast.storebacktest import backtest_run
from hospiflow.ingest.pipeline import import_items
from hospiflow.records import Disposition, VisitRecord
from hospiflow.store import migrate, sites
from hospiflow.store.engine import create_engine_for

START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday (Paris 01:00)
DAYS = 120
API = "/api/v1/runs"
ENDPOINTS = ("forecast", "forecast/risk", "forecast/staffing", "forecast/backtest")


def hourly_rate(days: int) -> np.ndarray:
    """A daily cycle (quiet nights, busy afternoons), busier Mondays, calmer Sundays."""
    hour = np.arange(24)
    daily = 4.0 + 3.0 * np.sin((hour - 8) / 24 * 2 * np.pi).clip(-0.8) + (hour >= 10) * 1.5
    weekday = np.array([1.25, 1.05, 1.0, 1.0, 1.05, 0.9, 0.8])
    week = (weekday[:, None] * daily[None, :]).ravel()
    return np.tile(week, days // 7 + 1)[: days * 24]


@functools.cache
def generated_visits(days: int, departures: bool = True, seed: int = 5) -> tuple[VisitRecord, ...]:
    """Poisson arrivals, lognormal stays (median 2.5 h); visits still there when the extract
    is taken have no departure (none at all with ``departures=False``)."""
    rng = np.random.default_rng(seed)
    extract = START + timedelta(days=days)
    visits: list[VisitRecord] = []
    for hour, count in enumerate(rng.poisson(hourly_rate(days))):
        for minute in np.sort(rng.integers(0, 60, count)):
            arrival = START + timedelta(hours=hour, minutes=int(minute))
            stay = timedelta(minutes=float(min(rng.lognormal(np.log(150), 0.6), 3000)))
            gone = departures and arrival + stay <= extract
            visits.append(
                VisitRecord(
                    arrival=arrival,
                    departure=arrival + stay if gone else None,
                    source=f"gen:{len(visits)}",
                    visit_id=f"V{len(visits):07d}",
                    disposition=Disposition.DISCHARGED if gone else None,
                    diagnosis=("J18.9", "S52.5", "R07.4")[len(visits) % 3],
                )
            )
    return tuple(visits)


def _site_run(engine: Any, name: str, visits: tuple[VisitRecord, ...], **site: Any) -> int:
    with engine.begin() as connection:
        sites.create_site(connection, name, "Europe/Paris", **site)
    summary = import_items(engine, name, visits, format="test")
    assert summary.quarantined == 0
    return int(summary.run_id)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def observed_store(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    simulate: Callable[..., int],
) -> dict[str, Any]:
    """One store per backend: run 1 simulated (16 days, forecast), then observed sites:
    ``p95`` (120 days, no capacity: backtest then forecast), ``capacity`` (120 days,
    40 spaces: forecast), ``no_departures`` (20 days, forecast) and ``bare`` (no forecast)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('observed') / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_databases")("hospiflow_fc_observed")
    migrate.init(url)
    runs = {"simulated": simulate(url, days=16)}
    engine = create_engine_for(url)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
            runs["p95"] = _site_run(engine, "P95", generated_visits(DAYS))
            runs["capacity"] = _site_run(
                engine, "Capacity", generated_visits(DAYS), capacity_spaces=40
            )
            runs["no_departures"] = _site_run(engine, "Open", generated_visits(20, False))
            runs["bare"] = _site_run(engine, "Bare", generated_visits(20, seed=6))
        backtest_run(url, runs["p95"], test_days=14, calibration_days=28, progress=False)
        service = ForecastService(engine)
        for name in ("simulated", "p95", "capacity", "no_departures"):
            service.run(runs[name])
    finally:
        engine.dispose()
    return {"url": url, "runs": runs}


@pytest.fixture
def api(make_app: Callable[..., Any], observed_store: dict[str, Any]) -> Any:
    """A test client on the observed store."""
    return make_app(observed_store["url"]).test_client()


@pytest.fixture
def runs(observed_store: dict[str, Any]) -> dict[str, int]:
    return observed_store["runs"]


def get(api: Any, run_id: int, endpoint: str, status: int = 200) -> dict[str, Any]:
    response = api.get(f"{API}/{run_id}/{endpoint}")
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def documented(api: Any) -> Callable[[str, dict[str, Any]], None]:
    """``check(endpoint, body)``: the body validates against the endpoint's documented 200."""
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]

    def check(endpoint: str, body: dict[str, Any]) -> None:
        operation = paths[f"{API}/{{run_id}}/{endpoint}"]["get"]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        errors = [e.message for e in jsonschema_rs.Draft202012Validator(schema).iter_errors(body)]
        assert errors == [], errors[:3]

    return check


def test_observed_risk_is_one_hospital_row_with_census_drivers(api, runs, documented):
    """Risk of a site without capacity: one 'all' row of 168 probabilities, the census drivers
    (arrivals = the forecast total, a constant p95 threshold), the definition, what it lacks."""
    body = get(api, runs["p95"], "forecast/risk")
    documented("forecast/risk", body)
    assert body["specialties"] == [{"key": "all", "name": "All specialties"}]
    assert body["saturation_definition"].startswith("census>=p95 (")
    assert body["lacks"] == ["doctors"] and "settings" not in body
    assert body["rule"].startswith(f"saturated when {body['saturation_definition']}")
    definition = body["definition"]
    assert definition["capacity"] is None and definition["text"] == body["saturation_definition"]
    assert len(body["hours"]) == 168 and body["hours"][0] == body["origin"]
    p = np.array(body["probability"], dtype=float)
    assert p.shape == (1, 168) and ((p >= 0) & (p <= 1)).all() and np.ptp(p) > 0.05
    drivers = body["drivers"]
    assert set(drivers) == {"arrivals", "expected_present", "threshold"}
    assert drivers["threshold"] == [[definition["threshold"]] * 168]
    present = np.array(drivers["expected_present"][0], dtype=float)
    assert present.shape == (168,) and present.min() > 0
    total = get(api, runs["p95"], "forecast")["series"][0]
    assert drivers["arrivals"][0] == pytest.approx(total["mean"], abs=1e-3)
    assert body["calibration"] == {"source": "backtest", "run_id": runs["p95"]}


def test_a_declared_capacity_is_the_risk_definition(api, runs, documented):
    """A site declaring 40 spaces: its risk names them as threshold and stays low."""
    body = get(api, runs["capacity"], "forecast/risk")
    documented("forecast/risk", body)
    assert body["saturation_definition"] == "census>=capacity (40 spaces)"
    assert body["definition"] == {
        "threshold": 40.0,
        "capacity": 40,
        "text": "census>=capacity (40 spaces)",
    }
    assert body["drivers"]["threshold"] == [[40.0] * 168]
    assert max(body["probability"][0]) < 0.5


def test_observed_staffing_is_not_in_this_data(api, runs, documented):
    """Staffing of an observed run answers 200: empty series, lacks doctors, a message."""
    for name in ("p95", "no_departures"):
        body = get(api, runs[name], "forecast/staffing")
        documented("forecast/staffing", body)
        assert body["lacks"] == ["doctors"]
        assert body["message"].startswith("not in this data: ")
        assert body["hours"] == [] and body["specialties"] == [] and body["advised"] == []
        assert body["gap"] == [] and body["reachable"] == [] and body["rostered"] == []
        assert "rule" not in body and "settings" not in body
        assert body["run_id"] == runs[name] and body["origin"].endswith(("+01:00", "+02:00"))


def test_observed_forecast_names_the_definition_and_the_occupancy(api, runs, documented):
    """The arrivals forecast of an observed run adds the definition, what it lacks, and the
    hospital's patients present over the next 8 hours."""
    body = get(api, runs["p95"], "forecast?by=specialty")
    documented("forecast", body)
    assert body["lacks"] == ["doctors"]
    assert body["saturation_definition"].startswith("census>=p95 (")
    assert [s["key"] for s in body["series"]][0] == "all" and len(body["series"]) > 1
    assert len(body["occupancy"]["present"]) == 8 and min(body["occupancy"]["present"]) > 0


def test_observed_backtest_shows_the_census_scores(api, runs, documented):
    """The backtest of an observed run: census risk scores and definition, occupancy against
    persistence, no queue settings; a run never backtested answers 404 no_backtest."""
    body = get(api, runs["p95"], "forecast/backtest")
    documented("forecast/backtest", body)
    assert body["scored_run_id"] == runs["p95"] and body["lacks"] == ["doctors"]
    risk = body["risk"]
    assert body["saturation_definition"].startswith("census>=p95 (")
    assert risk["rule"] == body["saturation_definition"] == risk["definition"]["text"]
    assert 0 <= risk["brier"] < risk["base_rate"] + 0.05 and risk["cases"] > 24 * 13
    assert risk["reliability"] and "settings" not in risk and "calibration" not in risk
    horizons = body["occupancy"]["horizons"]
    assert len(horizons) == 8 and horizons[0]["mse"] < horizons[0]["mse_persistence"]
    assert body["arrivals"]["best"] in body["arrivals"]["models"]
    error = get(api, runs["capacity"], "forecast/backtest", 404)["error"]
    assert error["code"] == "no_backtest"


def test_visits_without_departures_have_no_risk_but_say_why(api, runs, documented):
    """No departure times, no census: risk 404 no_forecast naming that, the forecast says
    the definition is null."""
    error = get(api, runs["no_departures"], "forecast/risk", 404)["error"]
    assert error["code"] == "no_forecast" and "no departure times" in error["message"]
    body = get(api, runs["no_departures"], "forecast")
    documented("forecast", body)
    assert body["saturation_definition"] is None and body["lacks"] == ["doctors"]
    assert body["occupancy"] is None


def test_an_observed_run_without_forecast_answers_no_forecast(api, runs):
    """No stored forecast: every forecast endpoint answers 404 (staffing included)."""
    for endpoint in ENDPOINTS:
        error = get(api, runs["bare"], endpoint, 404)["error"]
        assert error["code"] in ("no_forecast", "no_backtest")


def test_simulated_answers_keep_the_queue_shape(api, runs, documented):
    """A simulated run: per-specialty queue drivers and staffing, none of the observed keys."""
    risk = get(api, runs["simulated"], "forecast/risk")
    documented("forecast/risk", risk)
    assert set(risk["drivers"]) == {"arrivals", "doctors", "utilisation", "waiting"}
    assert len(risk["specialties"]) == len(risk["probability"]) > 1
    assert "settings" in risk and not {"lacks", "saturation_definition"} & set(risk)
    staffing = get(api, runs["simulated"], "forecast/staffing")
    documented("forecast/staffing", staffing)
    assert len(staffing["advised"]) == len(staffing["specialties"]) > 1
    assert {"rule", "settings"} <= set(staffing) and not {"lacks", "message"} & set(staffing)
    forecast = get(api, runs["simulated"], "forecast")
    documented("forecast", forecast)
    assert not {"lacks", "saturation_definition"} & set(forecast)


def test_observed_status_risk_is_on_the_census_basis_of_the_now_status(api, runs, documented):
    """A site's red risk is on its Now status's census basis: the 97th percentile of its own
    census (no capacity), or its declared spaces (40: hardly ever all taken in these visits);
    tension tomorrow is not known, and says why."""
    body = get(api, runs["p95"], "forecast/status")
    documented("forecast/status", body)
    print(f"\np95 site: {body['red'] and body['red']['skill']}, {body['red_note']}")
    red = body["red"]
    assert body["matches_now"] is True and red["basis"] == "census_percentiles"
    assert "red from its 97th" in red["rule"] and len(red["probability"]) == 8
    assert all(0 < p < 1 for p in red["probability"])
    assert 0.01 < red["test_base_rate"] < 0.1  # about 3 % of hours over the 97th percentile
    now = get(api, runs["p95"], "now")["department_status"]["rule"]
    assert now == red["rule"]  # the Now status's own rule, word for word
    note = body["tension_note"]
    assert body["tension"] is None and ("known on" in note or "is unknown" in note), note
    assert (
        body["tension_reason"] in ("short_history", "last_unknown") and body["red_reason"] is None
    )
    capacity = get(api, runs["capacity"], "forecast/status")
    documented("forecast/status", capacity)
    red = capacity["red"]
    print(f"capacity site: {red['probability']}, red in {red['test_base_rate']:.4f} of hours")
    assert red["basis"] == "capacity" and "40 treatment spaces" in red["rule"]
    assert red["rule"] == get(api, runs["capacity"], "now")["department_status"]["rule"]
    assert max(red["probability"]) < 0.05 and red["test_base_rate"] < 0.01  # 40 is rarely full
