"""Backtest of the saturation risk and of the short-term occupancy forecast.

Protocol (a run's stored history: arrivals, hourly state, roster from its scenario):

* periods: the **test** period is the last ``test_days`` complete local days; the
  **calibration** period the ``calibration_days`` before it (default: every day
  after the first 28, which the first forecasts need as history). Every day of both, a
  forecast is issued at 00:00 knowing only the past: per-specialty arrival means
  (:mod:`hospiflow.forecast.rolling`, weekly refits), the patients present at
  00:00 (state sample), the roster and the month's service mix;
* **risk**: the time-varying queue (:func:`hospiflow.forecast.saturation.raw_risk`)
  gives the raw probability of saturation of each hour of the day and specialty;
  the :class:`~hospiflow.forecast.saturation.Calibrator` is fitted on the
  calibration period, then refitted every 28 days on every hour already past (never
  on an hour it scores), and everything is scored on the test period: Brier
  score (calibrated, raw, and of the base rate), Brier skill against the
  hour-of-week base rate (estimated on all hours before the test period), and the
  reliability table;
* **occupancy**: from every hour of the test period, patients present 1..8 h ahead
  (:func:`hospiflow.forecast.occupancy.occupancy_forecast`), hospital total; mean
  squared error per horizon against persistence ("as many as now").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hospiflow.errors import ForecastError
from hospiflow.forecast import occupancy as occ
from hospiflow.forecast.history import RunHistory
from hospiflow.forecast.rolling import rolling_forecasts, wall_clock
from hospiflow.forecast.saturation import (
    Calibrator,
    SaturationSettings,
    brier,
    hour_of_week_base_rate,
    max_reliability_gap,
    observed_saturation,
    raw_risk,
    reliability_table,
    rostered_doctors,
    service_table,
)

__all__ = [
    "OperationalBacktest",
    "StateGrid",
    "checked_calibration_days",
    "default_calibration_days",
    "operational_backtest",
    "state_grid",
]

RECALIBRATE_DAYS = 28
HOURS_AHEAD = 34  # a 25-hour day, plus 8 hours ahead, plus the hour they end on


@dataclass
class StateGrid:
    """The run's hourly state on a UTC hour grid: arrays (hours, specialties)."""

    hours_utc: pd.DatetimeIndex
    waiting: np.ndarray
    doctors: np.ndarray
    present: np.ndarray  # at the start of each hour

    def positions(self, hours: np.ndarray) -> np.ndarray:
        """Row of each UTC hour (``-1`` when outside the grid)."""
        return self.hours_utc.get_indexer(pd.DatetimeIndex(hours.ravel(), tz="UTC")).reshape(
            hours.shape
        )

    def take(self, values: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """``values[hour, :]`` for an array of UTC hours (NaN outside the grid)."""
        rows = self.positions(hours)
        out = values[np.clip(rows, 0, len(self.hours_utc) - 1)]
        out[rows < 0] = np.nan
        return out


def state_grid(state: pd.DataFrame, n_specialties: int) -> StateGrid:
    """Pivot :func:`hospiflow.forecast.history.load_state` onto a full UTC hour grid."""
    if state.empty:
        raise ForecastError("the run has no hourly state to score against", where="state")
    first, last = int(state["hour_ms"].min()), int(state["hour_ms"].max())
    hours = pd.date_range(
        pd.Timestamp(first, unit="ms", tz="UTC"), pd.Timestamp(last, unit="ms", tz="UTC"), freq="h"
    )
    rows = ((state["hour_ms"].to_numpy() - first) // 3_600_000).astype(int)
    cols = state["specialty_idx"].to_numpy().astype(int)
    keep = (cols >= 0) & (cols < n_specialties)
    arrays = {}
    for name in ("waiting", "doctors_on_duty", "present"):
        grid = np.full((len(hours), n_specialties), np.nan)
        grid[rows[keep], cols[keep]] = state[name].to_numpy(dtype=float)[keep]
        arrays[name] = grid
    return StateGrid(hours, arrays["waiting"], arrays["doctors_on_duty"], arrays["present"])


@dataclass
class OperationalBacktest:
    """Scores of the risk and occupancy forecasts, and the fitted calibration."""

    test_start: pd.Timestamp
    test_end: pd.Timestamp
    calibration_start: pd.Timestamp
    settings: SaturationSettings
    risk: dict[str, Any]
    occupancy: dict[str, Any]
    calibrator: Calibrator = field(repr=False, default_factory=Calibrator)
    #: per origin, hour and specialty: raw and calibrated probability, observed outcome
    detail: dict[str, Any] = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_start": self.test_start.isoformat(),
            "test_end": self.test_end.isoformat(),
            "calibration_start": self.calibration_start.isoformat(),
            "settings": self.settings.as_dict(),
            "rule": self.settings.rule,
            "risk": self.risk,
            "occupancy": self.occupancy,
            "calibration": self.calibrator.to_dict(),
        }


def _end(history: RunHistory) -> pd.Timestamp:
    """The local midnight ending the last complete day of the history."""
    return (history.arrivals.index[-1] + pd.Timedelta(hours=1)).floor("D")


def default_calibration_days(history: RunHistory, test_days: int) -> int:
    """Every whole local day before the test period after the first 28 (their history).

    Whole days: from the first local midnight on or after the history's first hour (a
    history starting at 01:00 has lost its first day) to the end of the last complete day;
    counting from the first hour itself gave one day too many, which :func:`_periods`
    then refused."""
    first = history.arrivals.index[0].ceil("D")
    whole = int((_end(history) - first) / pd.Timedelta(days=1))
    return whole - test_days - 28


def checked_calibration_days(
    history: RunHistory, test_days: int, calibration_days: int | None
) -> int:
    """The calibration days a risk backtest uses (all whole days by default), or why
    the test and calibration asked for cannot be had (``ForecastError``)."""
    if test_days < 1:
        raise ForecastError("must be at least 1", where="test_days")
    if calibration_days is None:
        calibration_days = default_calibration_days(history, test_days)
    if calibration_days < 28:
        raise ForecastError(
            f"the risk backtest needs 28 days of history + at least 28 days of calibration + "
            f"{test_days} days of test",
            where="test_days",
        )
    return calibration_days


def _periods(
    history: RunHistory, test_days: int, calibration_days: int
) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    index = history.arrivals.index
    end = _end(history)
    test_start = end - pd.Timedelta(days=test_days)
    calibration_start = test_start - pd.Timedelta(days=calibration_days)
    if calibration_start - pd.Timedelta(days=28) < index[0]:
        days = int((end - index[0]) / pd.Timedelta(days=1))
        raise ForecastError(
            f"the risk backtest needs 28 days of history + {calibration_days} days of "
            f"calibration + {test_days} days of test; the run has {days} days",
            where="test_days",
        )
    return calibration_start, test_start, end


def operational_backtest(
    history: RunHistory,
    state: pd.DataFrame,
    scenario: Any,
    settings: SaturationSettings | None = None,
    *,
    test_days: int = 365,
    calibration_days: int | None = None,
    refit_days: int = 7,
    country: str = "FR",
    subdivision: str | None = None,
    progress: bool = False,
    with_occupancy: bool = True,
) -> OperationalBacktest:
    """Backtest the saturation risk (and the occupancy forecast) on a run's history."""
    settings = settings or SaturationSettings()
    calibration_days = checked_calibration_days(history, test_days, calibration_days)
    codes = history.specialties
    n_spec = len(codes)
    calibration_start, test_start, end = _periods(history, test_days, calibration_days)
    origins = pd.date_range(calibration_start, end - pd.Timedelta(days=1), freq="D")
    rolling = rolling_forecasts(
        history.arrivals,
        codes,
        history.timezone,
        origins,
        country=country,
        subdivision=subdivision,
        hours_ahead=HOURS_AHEAD,
        refit_days=refit_days,
        progress=progress,
    )
    grid = state_grid(state, n_spec)
    hours = rolling.hours_utc  # (origins, 32)
    flat_hours = pd.DatetimeIndex(hours.ravel(), tz="UTC")
    roster = rostered_doctors(scenario, flat_hours, codes).reshape(*hours.shape, n_spec)
    months = wall_clock(flat_hours, history.timezone).month.to_numpy().reshape(hours.shape) - 1
    mean_table, scv_table = service_table(scenario, codes)
    service = mean_table[months]  # (origins, 32, S)
    scv = scv_table[months]

    present_now = grid.take(grid.present, hours[:, 0])  # (origins, S)
    usable = np.isfinite(present_now).all(axis=1)

    def chains(values: np.ndarray) -> np.ndarray:  # (origins, hours, S) -> (origins*S, hours)
        return values.transpose(0, 2, 1).reshape(-1, values.shape[1])

    result = raw_risk(
        np.nan_to_num(present_now).ravel(),
        chains(rolling.means[:, :24]),
        chains(roster[:, :24]),
        chains(service[:, :24]),
        chains(scv[:, :24]),
        settings,
    )
    raw = result.p_waiting_at_least.reshape(len(origins), n_spec, 24).transpose(0, 2, 1)
    waiting = grid.take(grid.waiting, hours[:, :24])  # (origins, 24, S)
    doctors = grid.take(grid.doctors, hours[:, :24])
    observed = observed_saturation(waiting, doctors, settings)
    in_day = np.arange(24)[None, :] < rolling.hours_in_day[:, None]
    mask = (usable[:, None] & in_day)[:, :, None] & np.isfinite(observed)
    observed = np.where(mask, observed, np.nan)

    is_test = np.asarray(origins >= test_start)
    local_hour = (
        wall_clock(pd.DatetimeIndex(hours[:, :24].ravel(), tz="UTC"), history.timezone)
        .hour.to_numpy()
        .reshape(-1, 24, 1)
    )
    local_hour = np.broadcast_to(local_hour, raw.shape)
    specialty = np.broadcast_to(np.arange(n_spec)[None, None, :], raw.shape)
    # calibration: first on the calibration period, then refitted every
    # RECALIBRATE_DAYS on every scored hour before the hours it is applied to
    calibrated = np.full(raw.shape, np.nan)
    test_rows = np.flatnonzero(is_test)
    calibrator = Calibrator()
    for first in range(0, len(test_rows), RECALIBRATE_DAYS):
        rows = test_rows[first : first + RECALIBRATE_DAYS]
        past = slice(0, rows[0])
        calibrator = Calibrator().fit(
            raw[past], observed[past], specialty[past], local_hour[past], n_spec
        )
        calibrated[rows] = calibrator(raw[rows], specialty[rows], local_hour[rows])
    calibrated[~is_test] = calibrator(raw[~is_test], specialty[~is_test], local_hour[~is_test])
    # what the forecasts use from now on: fitted on every scored hour
    calibrator = Calibrator().fit(raw, observed, specialty, local_hour, n_spec)

    # hour-of-week base rate from every scored hour before the test period
    before = grid.hours_utc < pd.Timestamp(test_start).tz_localize(history.timezone)
    base_table = hour_of_week_base_rate(
        wall_clock(grid.hours_utc[before], history.timezone),
        observed_saturation(grid.waiting[before], grid.doctors[before], settings),
    )
    test_hours = pd.DatetimeIndex(hours[is_test, :24].ravel(), tz="UTC")
    from hospiflow.forecast.features import hour_of_week

    how = hour_of_week(wall_clock(test_hours, history.timezone)).reshape(-1, 24)
    base = base_table[how]  # (test origins, 24, S)

    y = observed[is_test]
    p = calibrated[is_test]
    bs = brier(p, y)
    bs_base = brier(base, y)
    bs_raw = brier(raw[is_test], y)
    table = reliability_table(p, y)
    risk = {
        "brier": bs,
        "brier_raw": bs_raw,
        "brier_base_rate": bs_base,
        "brier_skill": 1.0 - bs / bs_base,
        "base_rate": float(np.nanmean(y)),
        "cases": int(np.isfinite(y).sum()),
        "calibration_cases": int(np.isfinite(observed[~is_test]).sum()),
        "reliability": table,
        "max_reliability_gap": max_reliability_gap(table),
        "chain_truncation": result.truncated,
        "model": rolling.model,
    }
    occupancy: dict[str, Any] = {}
    if with_occupancy:
        occupancy = occ.occupancy_backtest(
            rolling, grid, roster, service, origins_mask=is_test, settings=settings
        )
    return OperationalBacktest(
        test_start=pd.Timestamp(test_start),
        test_end=pd.Timestamp(end) - pd.Timedelta(hours=1),
        calibration_start=pd.Timestamp(calibration_start),
        settings=settings,
        risk=risk,
        occupancy=occupancy,
        calibrator=calibrator,
        detail={
            "origins": origins,
            "is_test": is_test,
            "raw": raw,
            "probability": calibrated,
            "observed": observed,
            "base": base,
            "doctors": roster[:, :24],
            "arrivals": rolling.means[:, :24],
        },
    )
