"""The forecast's headline risks on the shared status rule, live (issue 11): from a real
simulated run of the default (flow) hospital stored in SQLite, the forecast run stores
P(status red) for the next 8 hours and the tension risk (or why not), with the backtested
skill of the same fit; and the API serves them, in its documented shape."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import numpy as np
import pandas as pd
import pytest

from hospiflow.forecast.features import hour_of_week
from hospiflow.forecast.history import load_history, load_state
from hospiflow.forecast.riskbacktest import state_grid
from hospiflow.forecast.rolling import wall_clock
from hospiflow.forecast.service import ForecastService
from hospiflow.forecast.status_forecast import backtest_days, queue_series, status_forecast
from hospiflow.forecast.status_risk import (
    HORIZONS,
    department_red,
    fit_red_now,
    red_risk_now,
    red_risk_scores,
)
from hospiflow.runner import simulate_run
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import forecasts as store
from hospiflow.store import migrate
from hospiflow.store.engine import connect
from hospiflow.store.timeconv import MS_PER_HOUR
from hospiflow.tension.status import StatusRule

DAYS = 120


@pytest.fixture(scope="module")
def forecasted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """120 days of the default hospital in a SQLite file, and its forecast run."""
    url = f"sqlite:///{tmp_path_factory.mktemp('status') / 'run.db'}"
    migrate.init(url)
    run_id = simulate_run(default_scenario(days=float(DAYS), seed=3), database_url=url).run_id
    assert run_id is not None
    service = ForecastService(url)
    try:
        result = service.run(run_id)
    finally:
        service.close()
    with connect(url) as connection:
        header = store.latest_header(connection, run_id, "forecast")
        red_rows = store.read_rows(connection, run_id, "status_red")
        tension_rows = store.read_rows(connection, run_id, "tension")
        history = load_history(connection, run_id)
        state = load_state(connection, run_id)
    assert header is not None
    return {
        "url": url,
        "run_id": run_id,
        "result": result,
        "payload": header["payload"],
        "red_rows": red_rows,
        "tension_rows": tension_rows,
        "history": history,
        "state": state,
    }


def test_the_forecast_stores_red_risk_for_the_next_eight_hours(forecasted) -> None:
    """Eight probabilities from the newest hour of state, on the Now status's rule (red
    from 8 waiting per doctor), with the backtest of the same fit beside them."""
    risk = forecasted["payload"]["status_risk"]
    assert risk["rule"] == {"amber_waiting_per_doctor": 4.0, "red_waiting_per_doctor": 8.0}
    red = risk["red"]
    assert red["basis"] == "queue" and "red from 8" in red["rule"]
    rows = forecasted["red_rows"]
    assert len(rows) == HORIZONS
    hours = [int(r[0]) for r in rows]
    assert hours == [red["origin_ms"] + k * MS_PER_HOUR for k in range(1, HORIZONS + 1)]
    # the newest hour of the rollups is where the risk starts from
    assert red["origin_ms"] == int(forecasted["state"]["hour_ms"].max())
    p = np.array([r[2] for r in rows])
    assert ((p > 0) & (p < 1)).all()
    assert all(r[1] is None and 0 < r[3]["base_rate"] < 1 for r in rows)
    hours_of_state = forecasted["state"]["hour_ms"].nunique()
    assert red["test_days"] == backtest_days(hours_of_state // 24) in (DAYS // 3 - 1, DAYS // 3)
    skills = [h["brier_skill"] for h in red["horizons"]]
    print(f"\nlive red risk {np.round(p, 3)}; now {red['now']}")
    print(f"backtested skill per horizon {np.round(skills, 3)} over {red['test_days']} days")
    assert [h["hours_ahead"] for h in red["horizons"]] == list(range(1, HORIZONS + 1))
    assert skills[0] > 0.2 and skills[0] > skills[-1]  # the state now tells most 1 h ahead
    assert red["horizons"][0]["cases"] >= 24 * red["test_days"] - HORIZONS - 2


def test_tension_tomorrow_is_a_probability_or_says_why(forecasted) -> None:
    """120 days hold too few days with a known global level before the backtest period
    (its indicators need weeks of their own history): the forecast says so, and stores no
    tension row, never a number it cannot back."""
    risk = forecasted["payload"]["status_risk"]
    if "tension" in risk:
        t = risk["tension"]
        row = forecasted["tension_rows"][0]
        assert 0 <= row[2] <= 1 and t["day"] > t["from_day"]
    else:
        print(f"\ntension: {risk['tension_note']}")
        assert forecasted["tension_rows"] == []
        assert "known on" in risk["tension_note"] or "nothing to learn" in risk["tension_note"]


def test_live_and_backtest_share_one_fit(forecasted) -> None:
    """The stored probabilities are the live fit's; the backtest scores are those of the
    same fit path (:func:`red_risk_scores`) on the last third of the history."""
    history, state = forecasted["history"], forecasted["state"]
    with connect(forecasted["url"]) as connection:
        again = status_forecast(connection, history)
        series = queue_series(connection, history, StatusRule())
    assert again["red"]["probability"] == pytest.approx([r[2] for r in forecasted["red_rows"]])
    grid = state_grid(state, len(history.specialties))
    red, load = department_red(grid.waiting, grid.doctors, StatusRule())
    np.testing.assert_array_equal(series.red, red)
    local = wall_clock(grid.hours_utc, history.timezone)
    how = hour_of_week(local)
    stored_red = forecasted["payload"]["status_risk"]["red"]
    test_start = len(red) - 24 * stored_red["test_days"]
    scores = red_risk_scores(how, red, load, test_start, StatusRule().rule)
    stored = stored_red["horizons"]
    assert [h["brier_skill"] for h in stored] == pytest.approx(
        [h["brier_skill"] for h in scores["horizons"]]
    )


def test_red_now_raises_the_risk_of_red_next_hour(forecasted) -> None:
    """The same fitted model, issued from an hour that is red and from one that is green
    (same hour of the week): the red one says red next hour is far more likely."""
    history, state = forecasted["history"], forecasted["state"]
    grid = state_grid(state, len(history.specialties))
    red, load = department_red(grid.waiting, grid.doctors, StatusRule())
    hours = pd.DatetimeIndex(grid.hours_utc).append(
        pd.date_range(grid.hours_utc[-1] + pd.Timedelta(hours=1), periods=HORIZONS, freq="h")
    )
    how = hour_of_week(wall_clock(hours, history.timezone))
    fitted = fit_red_now(how, red, load, "rule", 30)
    red_at = np.flatnonzero(red == 1)
    red_at = red_at[red_at > 24 * 14]
    green_at = red_at - 168  # one week before: same hour of the week
    green_at = green_at[red[green_at] == 0]
    assert len(green_at) >= 5
    p_red = [red_risk_now(fitted, how, red[: i + 1], load[: i + 1]) for i in red_at]
    p_green = [red_risk_now(fitted, how, red[: i + 1], load[: i + 1]) for i in green_at]
    first_red = np.mean([p["probability"][0] for p in p_red])
    first_green = np.mean([p["probability"][0] for p in p_green])
    print(f"\nP(red next hour): {first_red:.3f} from red hours, {first_green:.3f} from green")
    assert first_red > 3 * first_green
    assert all(p["now"]["red"] for p in p_red) and not any(p["now"]["red"] for p in p_green)


def test_the_api_serves_the_status_risks_as_documented(forecasted) -> None:
    """``/runs/{id}/forecast/status``: 8 hours after ``from``, the stored probabilities, the
    skill per horizon; the rule is the server's Now rule (``matches_now``), and another
    threshold for the Now status is flagged."""
    from hospiflow.web.app import create_app, state

    run_id = forecasted["run_id"]
    app = create_app({"DATABASE_URL": forecasted["url"], "TESTING": True})
    other = create_app(
        {"DATABASE_URL": forecasted["url"], "TESTING": True, "RED_WAITING_PER_DOCTOR": 6.0}
    )
    try:
        client = app.test_client()
        body = client.get(f"/api/v1/runs/{run_id}/forecast/status").get_json()
        spec = client.get("/api/v1/openapi.json").get_json()
        operation = spec["paths"]["/api/v1/runs/{run_id}/forecast/status"]["get"]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        validator = jsonschema_rs.Draft202012Validator(schema)
        assert [e.message for e in validator.iter_errors(body)] == []
        red = body["red"]
        assert body["matches_now"] is True and body["red_note"] is None
        assert red["probability"] == pytest.approx([round(r[2], 4) for r in forecasted["red_rows"]])
        first = pd.Timestamp(red["hours"][0])
        assert first - pd.Timestamp(red["from"]) == pd.Timedelta(hours=1)
        assert len(red["hours"]) == len(red["skill"]) == HORIZONS
        assert red["skill"][0]["brier_skill"] > 0.2
        assert (body["tension"] is None) != (body["tension_note"] is None)
        assert (body["tension"] is None) != (body["tension_reason"] is None)
        assert body["tension_reason"] in (None, "short_history", "never_seen")
        assert client.get(f"/api/v1/runs/{run_id}/forecast/status?x=1").status_code == 400
        assert client.get("/api/v1/runs/999/forecast/status").status_code == 404
        flagged = other.test_client().get(f"/api/v1/runs/{run_id}/forecast/status").get_json()
        assert flagged["matches_now"] is False
    finally:
        state(app).close()
        state(other).close()


def test_a_live_run_starts_its_risk_from_its_own_newest_hour(tmp_path) -> None:
    """A live run has no rollups until it ends: its risk is fitted on the history run it
    continues plus its own whole-hour samples, and starts from its newest complete hour,
    after the history's end, its bars from the forecast's first hour; a second refresh
    reuses the fit (same skills) and moves with the clock."""
    import time

    from hospiflow.live import LiveService, live_run_scenario

    url = f"sqlite:///{tmp_path / 'live.db'}"
    migrate.init(url)
    simulate_run(default_scenario(days=40.0, seed=2), database_url=url)
    scenario, label = live_run_scenario(url, continue_from=1)
    live = LiveService(url, scenario, speed=3600.0, label=label, forecast=False)
    live_id = live.start()
    service = ForecastService(url)
    try:
        with connect(url) as connection:
            history_end = load_history(connection, 1, with_predecessor=False).end_ms

        def live_end() -> int:
            with connect(url) as connection:
                return load_history(connection, live_id).end_ms

        def wait_until(end_ms: int) -> None:
            deadline = time.monotonic() + 60
            while live_end() < end_ms:
                assert time.monotonic() < deadline, "the live run stopped moving"
                time.sleep(0.5)

        wait_until(history_end + 3 * MS_PER_HOUR)
        runs = [service.run(live_id)]
        first = runs[0]["status_risk"]
        wait_until(first["red"]["origin_ms"] + 3 * MS_PER_HOUR)
        runs.append(service.run(live_id, refit=False))
        second = runs[1]["status_risk"]
    finally:
        live.stop()
        service.close()
    for out in runs:
        red = out["status_risk"]["red"]
        assert red["origin_ms"] >= history_end and red["origin_ms"] % MS_PER_HOUR == 0
        # the risk's hour is complete and the forecast starts at its end (origin_of)
        assert out["origin_ms"] == red["origin_ms"] + MS_PER_HOUR, (out["origin_ms"], red)
        assert red["basis"] == "queue" and red["now"]["load"] >= 0
    assert second["red"]["origin_ms"] > first["red"]["origin_ms"]  # it follows the live clock
    assert second["red"]["horizons"] == first["red"]["horizons"]  # the fit was kept


def test_the_forecast_reads_the_servers_status_thresholds(monkeypatch, tmp_path) -> None:
    """The forecast (CLI, live forecaster) takes the Now status's thresholds from the same
    HOSPIFLOW_* variables the server reads: red means the same thing on both pages."""
    from hospiflow.errors import ForecastError
    from hospiflow.forecast.service import ForecastOptions
    from hospiflow.web.app import create_app, state
    from hospiflow.web.data import status_rule

    assert ForecastOptions().status == StatusRule()
    monkeypatch.setenv("HOSPIFLOW_RED_WAITING_PER_DOCTOR", "6")
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    migrate.init(url)
    monkeypatch.setenv("HOSPIFLOW_AMBER_WAITING_PER_DOCTOR", "3.5")
    forecast = ForecastOptions().status
    assert (forecast.amber_waiting_per_doctor, forecast.red_waiting_per_doctor) == (3.5, 6.0)
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    try:
        assert status_rule(app.config) == forecast
    finally:
        state(app).close()
    monkeypatch.setenv("HOSPIFLOW_RED_WAITING_PER_DOCTOR", "lots")
    with pytest.raises(ForecastError, match="must be a number") as caught:
        ForecastOptions()
    assert caught.value.where == "HOSPIFLOW_RED_WAITING_PER_DOCTOR"
