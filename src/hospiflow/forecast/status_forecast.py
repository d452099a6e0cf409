"""The forecast's headline risks, on the shared status rule, from a run's history up to now.

Two risks of exactly what the Now status and the Tension view show, issued with every
forecast run (:class:`~hospiflow.forecast.service.ForecastService`) and stored with it:

* **red in the next hours**: P(the department's status is red) in each of the 8 hours
  after the newest complete hour of state (a live run at 21:37: after 20:00-21:00, from
  21:00, where its forecast starts). A simulated run: the queue rule
  (:mod:`hospiflow.tension.status`, patients waiting per doctor on duty, red from 8) on
  the hourly averages of its rollups; a live run, whose rollups are written only when it
  ends, on its hourly state samples (the sample at each hour's start), after the history
  it continues. A site's observed run (no doctors): the census basis of its Now status
  (:func:`hospiflow.tension.status.census_thresholds`: patients present, hourly mean,
  against the declared spaces or the site's 97th percentile).
* **tension tomorrow**: P(FEDORU global tension level >= 3) on the day after the newest
  complete local day, from the daily HET levels of the run (and the history it continues).

The fits are those of the backtests (:mod:`hospiflow.forecast.status_risk`): fitted on
every hour (day) up to now, and beside each risk the Brier skill of the same fit
backtested on the last ``test_days`` (at most 365, a third of the history when shorter),
over the hour-of-week (day-of-week) base rate. When the data do not allow a risk, its
place holds the reason (``red_note``, ``tension_note``), never a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hospiflow.errors import ForecastError
from hospiflow.forecast.features import hour_of_week
from hospiflow.forecast.history import RunHistory, load_state
from hospiflow.forecast.riskbacktest import state_grid
from hospiflow.forecast.rolling import wall_clock
from hospiflow.forecast.status_risk import (
    HORIZONS,
    RedRiskFit,
    census_red,
    department_red,
    fit_red_now,
    red_risk_now,
    tension_risk_now,
)
from hospiflow.store import schema
from hospiflow.store.timeconv import MS_PER_DAY, MS_PER_HOUR
from hospiflow.tension.status import CENSUS_DAYS, StatusRule, census_thresholds

__all__ = ["StatusSeries", "backtest_days", "reason_code", "status_forecast"]

MAX_TEST_DAYS = 365


@dataclass
class StatusSeries:
    """The department's hourly status on a UTC hour grid: red (1/0/NaN) and load (waiting
    per doctor over the red threshold, or present over the red census)."""

    hours_ms: np.ndarray  # UTC hour starts, consecutive
    red: np.ndarray
    load: np.ndarray
    rule: str
    basis: str  # "queue", "capacity" or "census_percentiles"


def backtest_days(days: int) -> int:
    """The backtest period beside a live risk: a third of the history, at most a year."""
    return max(1, min(MAX_TEST_DAYS, days // 3))


def _samples(connection: Connection, run_id: int) -> pd.DataFrame:
    """A live run's state at each whole hour (its rollups come when it ends)."""
    s = schema.state_snapshots
    rows = connection.execute(
        sa.select(s.c.time_ms, s.c.specialty_idx, s.c.waiting, s.c.doctors_on_duty)
        .where(s.c.run_id == run_id)
        .order_by(s.c.time_ms, s.c.specialty_idx)
    ).all()
    frame = pd.DataFrame(
        [tuple(r) for r in rows], columns=["hour_ms", "specialty_idx", "waiting", "doctors_on_duty"]
    )
    frame = frame[frame["hour_ms"] % MS_PER_HOUR == 0].drop_duplicates(
        ["hour_ms", "specialty_idx"], keep="last"
    )
    return frame.astype({"waiting": float, "doctors_on_duty": float}).assign(present=np.nan)


def queue_series(
    connection: Connection, history: RunHistory, rule: StatusRule, cache: dict | None = None
) -> StatusSeries:
    """The queue rule's hourly status over every complete hour of the history (the
    rollups' hourly averages; a run without them, its whole-hour samples). ``cache`` keeps
    complete runs'."""
    frames = []
    for run in history.runs:
        kept = None if cache is None else cache.get(run)
        if kept is not None:
            frames.append(kept)
            continue
        state = load_state(connection, run)
        if state.empty or state["waiting"].isna().all():
            # a live run's sample at each hour's start stands for that hour, as a rollup
            state = _samples(connection, run)
        # complete hours only (a live run at 21:37: up to 20:00-21:00), so the risk's
        # hours start where the forecast does, at the end of the last complete hour
        state = state[state["hour_ms"] + MS_PER_HOUR <= history.end_ms]
        if cache is not None and run != history.run_id:  # a continued run is complete
            cache[run] = state
        frames.append(state)
    frames = [f for f in frames if not f.empty]
    if not frames:
        raise ForecastError("the run has no hourly state (waiting, doctors on duty)", where="state")
    state = pd.concat(frames).drop_duplicates(["hour_ms", "specialty_idx"], keep="last")
    grid = state_grid(state, len(history.specialties))
    red, load = department_red(grid.waiting, grid.doctors, rule)
    return StatusSeries(grid.hours_utc.as_unit("ms").asi8, red, load, rule.rule, "queue")


def census_series(connection: Connection, history: RunHistory) -> StatusSeries:
    """A site's census basis: mean patients present of every complete hour, red from the
    threshold its Now status uses (declared spaces, or the 97th percentile of the last
    year's hourly census)."""
    from hospiflow.store import census, sites

    end = (history.end_ms // MS_PER_HOUR) * MS_PER_HOUR  # the last complete hour
    hours, values = census.hourly(connection, history.run_id, history.start_ms, end)
    site = sites.site_of_run(connection, history.run_id)
    capacity = site.get("capacity_spaces") if site else None
    recent = values[hours >= end - CENSUS_DAYS * MS_PER_DAY]
    _amber, red_threshold, basis, rule = census_thresholds(capacity, recent)
    if red_threshold is None:
        raise ForecastError(rule, where="census")
    red, load = census_red(values, red_threshold)
    return StatusSeries(np.asarray(hours, dtype=np.int64), red, load, rule, basis)


def _red(series: StatusSeries, timezone: str, memo: dict[str, Any], refit: bool) -> dict[str, Any]:
    n = len(series.red)
    last = int(series.hours_ms[-1]) if n else 0
    ahead = last + MS_PER_HOUR * np.arange(1, HORIZONS + 1)
    grid = pd.DatetimeIndex(pd.to_datetime(np.append(series.hours_ms, ahead), unit="ms", utc=True))
    how = hour_of_week(wall_clock(grid, timezone))
    fitted = memo.get("red")
    if refit or not isinstance(fitted, RedRiskFit) or memo.get("basis") != series.basis:
        fitted = fit_red_now(how, series.red, series.load, series.rule, backtest_days(n // 24))
        memo.update(red=fitted, basis=series.basis)
    result = red_risk_now(fitted, how, series.red, series.load)
    result["basis"] = series.basis
    result["origin_ms"] = last  # the hour whose state the risk starts from
    result["hours_ms"] = [int(t) for t in ahead]
    return result


def _last_complete_day(history: RunHistory) -> int:
    """Local ms of the midnight that ends the newest complete local day."""
    end = pd.Timestamp(history.end_ms, unit="ms", tz="UTC").tz_convert(history.timezone)
    return int(end.tz_localize(None).value // 10**6) // MS_PER_DAY * MS_PER_DAY


def _tension(
    connection: Connection,
    history: RunHistory,
    writer: Engine | None,
    memo: dict[str, Any],
    cache: dict | None,
) -> dict[str, Any]:
    """Tension tomorrow from the daily HET levels of the history's runs (complete days);
    computed again only when a new day is complete."""
    key = (tuple(history.runs), _last_complete_day(history))
    if memo.get("tension_key") == key:
        kept = memo["tension"]
        if isinstance(kept, ForecastError):
            raise kept
        return dict(kept)
    try:
        result = _tension_now(connection, history, writer, cache)
    except ForecastError as error:
        memo.update(tension_key=key, tension=error)
        raise
    memo.update(tension_key=key, tension=dict(result))
    return result


def _tension_now(
    connection: Connection, history: RunHistory, writer: Engine | None, cache: dict | None
) -> dict[str, Any]:
    from hospiflow.store import tension as store_tension
    from hospiflow.tension.het import HetSettings, assess

    days: list[np.ndarray] = []
    values: dict[str, list[np.ndarray]] = {}
    unavailable: dict[str, str | None] = {}
    for run in history.runs:
        inputs = None if cache is None else cache.get(("tension", run))
        if inputs is None:
            inputs = store_tension.daily(connection, run, writer=writer)
            if cache is not None and run != history.run_id:  # a continued run is complete
                cache[("tension", run)] = inputs
        days.append(np.asarray(inputs.days_local_ms, dtype=np.int64))
        for key, v in inputs.values.items():
            values.setdefault(key, []).append(np.asarray(v, dtype=float))
        for key, why in store_tension.availability(connection, run).items():
            unavailable[key] = unavailable.get(key) or why
    all_days = np.concatenate(days) if days else np.zeros(0, dtype=np.int64)
    merged = {k: np.concatenate(v) for k, v in values.items()}
    # a day in two runs (a live run starting mid-day): the later run's row
    _u, last_of = np.unique(all_days[::-1], return_index=True)
    keep = np.sort(len(all_days) - 1 - last_of)
    all_days = all_days[keep]
    merged = {k: v[keep] for k, v in merged.items()}
    complete = all_days + MS_PER_DAY <= _last_complete_day(history)
    all_days = all_days[complete]
    merged = {k: v[complete] for k, v in merged.items()}
    if len(all_days) < 2:
        raise ForecastError("fewer than two complete days of data", where="days")
    assessed = assess(merged, unavailable, HetSettings())
    levels = np.array([ind["level"] for ind in assessed["indicators"].values()])
    labels = pd.to_datetime(all_days, unit="ms")
    result = tension_risk_now(
        pd.DatetimeIndex(labels), levels, assessed["global"], backtest_days(len(all_days))
    )
    result["day"] = (labels[-1] + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    result["from_day"] = labels[-1].strftime("%Y-%m-%d")
    missing = {k: why for k, why in unavailable.items() if why}
    if missing:
        result["not_available"] = missing
    return result


REASONS = (
    ("short_history", ("needs at least two weeks", "at least 100", "fewer than two complete")),
    ("never_seen", ("is never seen",)),
    ("always_seen", ("is always seen",)),
    ("last_unknown", ("of the last day is unknown", "not known in the last hour")),
    ("no_state", ("no hourly state",)),
    ("no_census", ("no census to compare",)),
)


def reason_code(message: str) -> str:
    """A stable code for why a risk is unavailable (the page words it in its language)."""
    for code, parts in REASONS:
        if any(part in message for part in parts):
            return code
    return "other"


def status_forecast(
    connection: Connection,
    history: RunHistory,
    rule: StatusRule | None = None,
    *,
    writer: Engine | None = None,
    cache: dict | None = None,
    memo: dict[str, Any] | None = None,
    refit: bool = True,
) -> dict[str, Any]:
    """Both risks of the run's history up to now: ``{"red": ..., "tension": ...}``, each
    replaced by ``red_note`` / ``tension_note`` (the reason) when the data do not allow it.

    ``writer``: where the daily tension inputs are kept when recomputed (none: computed
    only). ``cache`` keeps the hourly state and daily inputs of continued (complete) runs;
    ``memo`` the fitted red
    model (fitted again when ``refit``) and the tension risk (again once a new day is
    complete), for live refreshes."""
    rule = rule or StatusRule()
    memo = {} if memo is None else memo
    out: dict[str, Any] = {"rule": rule.as_dict()}
    try:
        if history.kind == "import":
            series = census_series(connection, history)
        else:
            series = queue_series(connection, history, rule, cache)
        out["red"] = _red(series, history.timezone, memo, refit)
    except ForecastError as error:
        out["red_note"] = error.message
        out["red_reason"] = reason_code(error.message)
    try:
        out["tension"] = _tension(connection, history, writer, memo, cache)
    except ForecastError as error:
        out["tension_note"] = error.message
        out["tension_reason"] = reason_code(error.message)
    return out
