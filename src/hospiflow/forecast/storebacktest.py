"""Backtest a run of the store and keep the scores with it.

The arrivals ladder is backtested on the run's hourly total
(:func:`hospiflow.forecast.backtest.backtest`, the same protocol as for a CSV); when
the run has a roster (its scenario) and an hourly state (the rollups of a complete
simulation), the saturation risk and the occupancy forecast are backtested too
(:func:`hospiflow.forecast.riskbacktest.operational_backtest`). A site's observed
run (visits only) gets the census risk and occupancy backtest instead
(:func:`hospiflow.forecast.census_risk.census_backtest`). The risks on the shared
status rule (the department turning red 1-8 h ahead, tension tomorrow:
:mod:`hospiflow.forecast.status_risk`) are backtested on every run whose data
allow them. Everything, the risk
calibration included, is stored in ``forecast_runs`` (kind ``backtest``), where
the API and the forecast runs read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hospiflow.errors import ForecastError, HospiflowError
from hospiflow.forecast import census_risk
from hospiflow.forecast.backtest import BacktestResult, backtest
from hospiflow.forecast.history import load_history, load_state
from hospiflow.forecast.riskbacktest import OperationalBacktest, operational_backtest, state_grid
from hospiflow.forecast.rolling import wall_clock
from hospiflow.forecast.saturation import SaturationSettings
from hospiflow.forecast.status_risk import red_risk_backtest, tension_risk_backtest
from hospiflow.store import forecasts as store
from hospiflow.store import migrate
from hospiflow.store.engine import create_engine_for
from hospiflow.store.timeconv import now_ms

__all__ = ["RunBacktest", "backtest_run"]


@dataclass
class RunBacktest:
    arrivals: BacktestResult
    operational: OperationalBacktest | None
    note: str | None = None
    status_risk: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The CSV backtest's JSON (``test_start``, ``test_end``, ``best``, ``models``) plus
        ``risk`` and ``occupancy`` when they were backtested."""
        data = self.arrivals.to_dict()
        if self.operational is not None:
            op = self.operational.to_dict()
            data["risk"] = {**op["risk"], "test_start": op["test_start"], "rule": op["rule"]}
            data["risk"]["settings"] = op["settings"]
            data["risk"]["calibration_start"] = op["calibration_start"]
            data["occupancy"] = op["occupancy"]
        elif self.note:
            data["risk_note"] = self.note
        if self.status_risk is not None:
            data["status_risk"] = self.status_risk
        return data

    def to_json(self, path: str | Path) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        try:
            Path(path).write_text(text + "\n", encoding="utf-8")
        except OSError as error:
            raise ForecastError(f"cannot write results ({error})", where=str(path)) from None
        return text


def backtest_run(
    url: str,
    run_id: int,
    *,
    country: str = "FR",
    subdivision: str | None = None,
    test_days: int = 365,
    calibration_days: int | None = None,
    settings: SaturationSettings | None = None,
    risk: bool = True,
    progress: bool = True,
) -> RunBacktest:
    """Backtest run ``run_id`` of the store at ``url`` and store its scores."""
    from hospiflow.simulation.scenario import scenario_from_dict

    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            migrate.ensure_current(connection)
            history = load_history(connection, run_id, with_predecessor=False)
            state = load_state(connection, run_id) if risk else None
        arrivals = backtest(
            history.total,
            country=country,
            subdivision=subdivision,
            test_days=test_days,
            progress=progress,
        )
        operational, note = None, None
        if not risk:
            note = "not asked (--no-risk)"
        elif census_risk.is_observed(history):
            operational, note = _census_backtest(
                engine, history, test_days, calibration_days, country, subdivision, progress
            )
        elif state is None or state.empty or state["waiting"].isna().all():
            note = "the run has no hourly state (waiting, doctors on duty) to score against"
        else:
            try:
                scenario = scenario_from_dict(history.parameters, where="run parameters")
            except HospiflowError:
                scenario, note = None, "the run has no scenario (no roster)"
            if scenario is not None:
                operational = operational_backtest(
                    history,
                    state,
                    scenario,
                    settings,
                    test_days=test_days,
                    calibration_days=calibration_days,
                    country=country,
                    subdivision=subdivision,
                    progress=progress,
                )
        status = None
        if risk:
            with engine.connect() as connection:
                status = status_risks(connection, run_id, history, state, test_days, engine)
        result = RunBacktest(arrivals, operational, note, status)
        payload = result.to_dict()
        if operational is not None:
            payload["calibration"] = operational.calibrator.to_dict()
        if isinstance(operational, census_risk.CensusBacktest):
            payload["saturation_definition"] = operational.definition
        if census_risk.is_observed(history):
            payload["lacks"] = list(census_risk.LACKS)
        with engine.begin() as connection:
            store.write_backtest(
                connection,
                run_id,
                generated_at_ms=now_ms(),
                origin_ms=history.end_ms,
                model=arrivals.best,
                payload=payload,
            )
        return result
    finally:
        engine.dispose()


def _census_backtest(
    engine: Any,
    history: Any,
    test_days: int,
    calibration_days: int | None,
    country: str,
    subdivision: str | None,
    progress: bool,
) -> tuple[OperationalBacktest | None, str | None]:
    """A site's observed run: the census risk and occupancy (no doctors, no state samples)."""
    with engine.connect() as connection:
        if not census_risk.has_departures(connection, history.run_id):
            return None, "the site's visits have no departure times: no census"
        site = census_risk.load_site_census(
            connection, history.run_id, history.start_ms, history.end_ms
        )
    result = census_risk.census_backtest(
        history,
        site,
        test_days=test_days,
        calibration_days=calibration_days,
        country=country,
        subdivision=subdivision,
        progress=progress,
    )
    return result, None


def status_risks(
    connection: Any,
    run_id: int,
    history: Any,
    state: Any,
    test_days: int,
    writer: Any = None,
) -> dict[str, Any]:
    """Backtests of the department turning red 1-8 h ahead and of tension tomorrow, each
    replaced by the reason when the run's data do not allow it."""
    from hospiflow.store import tension as store_tension
    from hospiflow.tension.het import HetSettings, assess

    out: dict[str, Any] = {}
    if state is None or state.empty or state["waiting"].isna().all():
        out["red_note"] = "the run has no hourly state (waiting, doctors on duty)"
    else:
        grid = state_grid(state, len(history.specialties))
        local = wall_clock(grid.hours_utc, history.timezone)
        first_test = int(local.searchsorted(local[-1].floor("D") - pd.Timedelta(days=test_days)))
        try:
            out["red"] = red_risk_backtest(local, grid.waiting, grid.doctors, first_test)
        except ForecastError as error:
            out["red_note"] = error.message
    inputs = store_tension.daily(connection, run_id, writer=writer)
    assessed = assess(inputs.values, store_tension.availability(connection, run_id), HetSettings())
    levels = np.array([ind["level"] for ind in assessed["indicators"].values()])
    days = pd.to_datetime(inputs.days_local_ms, unit="ms")
    try:
        out["tension"] = tension_risk_backtest(
            days, levels, assessed["global"], min(test_days, len(days) - 1)
        )
    except ForecastError as error:
        out["tension_note"] = error.message
    return out
