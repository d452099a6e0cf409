"""Saturation risk and occupancy of a site's observed data, where doctors are unknown.

An observed run (kind ``import``) has visits - arrival, departure - but no roster,
no doctors and no state samples, so the queue definition of
:mod:`hospiflow.forecast.saturation` cannot apply. Its saturation is defined on
the **census** (patients present, :mod:`hospiflow.store.census`, time-averaged over
the hour) against a threshold:

* the site's declared capacity (``sites.capacity_spaces``): ``census>=capacity (20
  spaces)``;
* without one, the site's own 95th percentile of hourly census over its history:
  ``census>=p95 (17.3)`` (about one hour in twenty is then "saturated" by
  construction: a site-relative alarm, not an absolute one).

The definition that applied is stored with every forecast and backtest.

**Projection** (an M(t)/G/infinity view of the department; Whitt, "Stochastic
models for the design and management of customer contact centers", and the
offered-load literature): the patients present ``t`` after the origin are those
present at the origin still there - each, present for ``e`` already, stays with
probability ``S(e + t) / S(e)`` - plus the forecast arrivals of each hour that
are still there, ``sum_j lambda_j * S(t - u_j)``, where ``S`` is the survival of
the length of stay observed on the site (last 365 days of stays). Both are
averaged over each target hour, as the census is. The spread: the survivors are
independent Bernoulli trials, the new patients Poisson (M/G/infinity); the hour's
census is taken normal with that mean and variance, and ``P(census >= threshold)``
is the raw probability. It is calibrated (:class:`~hospiflow.forecast.saturation.
Calibrator`, logistic on the raw logit and the local hour) on day-ahead forecasts
of past hours, exactly as the queue risk is (:func:`census_backtest`).

**Occupancy**: the same projection at each hour's end, hospital total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from scipy.special import ndtr
from sqlalchemy.engine import Connection

from hospiflow.errors import ForecastError
from hospiflow.forecast.features import hour_of_week
from hospiflow.forecast.history import RunHistory
from hospiflow.forecast.riskbacktest import (
    RECALIBRATE_DAYS,
    OperationalBacktest,
    _periods,
    checked_calibration_days,
)
from hospiflow.forecast.rolling import rolling_forecasts, wall_clock
from hospiflow.forecast.saturation import (
    Calibrator,
    SaturationSettings,
    brier,
    hour_of_week_base_rate,
    max_reliability_gap,
    reliability_table,
)
from hospiflow.store import census, schema, sites
from hospiflow.store.timeconv import MS_PER_DAY, MS_PER_HOUR, MS_PER_MIN

__all__ = [
    "CensusBacktest",
    "CensusDefinition",
    "SiteCensus",
    "census_backtest",
    "load_site_census",
    "project",
    "raw_probability",
]

GRID_MIN = 74 * 60  # longest stay on the survival grid (imports keep stays <= 72 h)
SURVIVAL_DAYS = 365
OCCUPANCY_HOURS = 8
LACKS = ["doctors"]
STAFFING_NOTE = "not in this data"


@dataclass(frozen=True)
class CensusDefinition:
    """Saturated hour: mean census over the hour >= ``threshold``."""

    threshold: float
    capacity: int | None
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "capacity": self.capacity, "text": self.text}


def definition_for(site: dict[str, Any] | None, hourly_census: np.ndarray) -> CensusDefinition:
    """Declared capacity when the site has one, else the 95th percentile of its census."""
    capacity = (site or {}).get("capacity_spaces")
    if capacity:
        return CensusDefinition(
            float(capacity), int(capacity), f"census>=capacity ({capacity} spaces)"
        )
    if len(hourly_census) == 0 or not np.any(hourly_census > 0):
        raise ForecastError("the site has no patients present to define saturation", where="run_id")
    p95 = round(float(np.percentile(hourly_census, 95)), 1)
    return CensusDefinition(p95, None, f"census>=p95 ({p95:g})")


def survival(los_minutes: np.ndarray) -> np.ndarray:
    """``S[m] = P(stay > m minutes)`` for m = 0 .. GRID_MIN (empirical)."""
    los = np.sort(np.asarray(los_minutes, dtype=float))
    los = los[np.isfinite(los) & (los >= 0)]
    if len(los) == 0:
        raise ForecastError("no visit with a departure: no length of stay", where="run_id")
    minutes = np.arange(GRID_MIN + 1)
    return 1.0 - np.searchsorted(los, minutes, side="right") / len(los)


@dataclass
class SiteCensus:
    """What the census forecasts need of an observed run, read once."""

    arrivals_ms: np.ndarray  # sorted
    departures_ms: np.ndarray  # aligned; a counted open visit departs at the data's end
    hours_ms: np.ndarray  # UTC hour starts of the history
    hourly: np.ndarray  # mean census of each hour
    definition: CensusDefinition
    end_ms: int

    def los_minutes(self, before_ms: int) -> np.ndarray:
        """Stays of the ``SURVIVAL_DAYS`` before ``before_ms`` that ended before it."""
        a, d = self.arrivals_ms, self.departures_ms
        mine = (a >= before_ms - SURVIVAL_DAYS * MS_PER_DAY) & (d <= before_ms) & (d < self.end_ms)
        return (d[mine] - a[mine]) / MS_PER_MIN

    def elapsed_at(self, at_ms: int) -> np.ndarray:
        """Minutes since arrival of every patient present at ``at_ms``."""
        hi = int(np.searchsorted(self.arrivals_ms, at_ms, side="right"))
        lo = int(np.searchsorted(self.arrivals_ms, at_ms - GRID_MIN * MS_PER_MIN, side="left"))
        a, d = self.arrivals_ms[lo:hi], self.departures_ms[lo:hi]
        return ((at_ms - a[d > at_ms]) // MS_PER_MIN).astype(np.int64)

    def present_at(self, at_ms: np.ndarray) -> np.ndarray:
        """Patients present at each instant (the actual occupancy)."""
        at_ms = np.asarray(at_ms, dtype=np.int64)
        arrived = np.searchsorted(self.arrivals_ms, at_ms, side="right")
        left = np.searchsorted(np.sort(self.departures_ms), at_ms, side="right")
        return (arrived - left).astype(float)


def load_site_census(connection: Connection, run_id: int, start_ms: int, end_ms: int) -> SiteCensus:
    """The run's stays, hourly census and saturation definition over ``[start_ms, end_ms)``
    (stays: those present at ``end_ms`` too)."""
    a, d = census.stays(connection, run_id, start_ms, end_ms + 1)  # present at end_ms too
    order = np.argsort(a, kind="stable")
    hours, means = census.hourly(connection, run_id, start_ms, end_ms)
    site = sites.site_of_run(connection, run_id)
    return SiteCensus(a[order], d[order], hours, means, definition_for(site, means), end_ms)


def is_observed(history: RunHistory) -> bool:
    """A site's observed run: visits only, no doctors."""
    return history.kind == "import"


def has_departures(connection: Connection, run_id: int) -> bool:
    v = schema.visits
    found = connection.execute(
        sa.select(v.c.id).where(v.c.run_id == run_id, v.c.departure_ms.is_not(None)).limit(1)
    ).first()
    return found is not None


# ------------------------------------------------------------------------ projection


@dataclass
class Projection:
    """Per target hour: mean and variance of the hour's mean census, expected at its end
    (and the variance there: each patient present now still there or not, a Bernoulli;
    the new arrivals still there a Poisson count)."""

    mean: np.ndarray
    var: np.ndarray
    end: np.ndarray
    end_var: np.ndarray


def _window_means(s: np.ndarray, starts: np.ndarray, width: int = 60) -> np.ndarray:
    """Mean of ``S`` over minutes ``[x, x + width)`` for every ``x`` (0 past the grid)."""
    cumulative = np.concatenate([[0.0], np.cumsum(s)])
    top = len(s)
    lo = np.clip(starts, 0, top)
    hi = np.clip(starts + width, 0, top)
    return (cumulative[hi] - cumulative[lo]) / width


def _arrival_kernels(s: np.ndarray, hours: int) -> tuple[np.ndarray, np.ndarray]:
    """For a patient arriving uniformly in an hour, ``n`` hours before the target hour:
    mean presence over the target hour (triangle of S) and presence at its end."""
    delta = np.arange(-59, 60)
    weight = (60 - np.abs(delta)) / 3600.0
    x = 60 * np.arange(hours)[:, None] + delta[None, :]
    inside = (x >= 0) & (x < len(s))
    values = np.where(inside, s[np.clip(x, 0, len(s) - 1)], 0.0)
    over_hour = values @ weight
    at_end = _window_means(s, 60 * np.arange(hours) + 1)
    return over_hour, at_end


def project(elapsed_min: np.ndarray, arrivals: np.ndarray, s: np.ndarray) -> Projection:
    """The census over the coming hours from those present (minutes since their arrival)
    and the forecast arrivals per hour (``arrivals``: one mean per hour)."""
    arrivals = np.asarray(arrivals, dtype=float)
    hours = len(arrivals)
    e = np.clip(np.asarray(elapsed_min, dtype=np.int64), 0, len(s) - 1)
    still = s[e]
    offsets = 60 * np.arange(hours)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(still[:, None] > 0, 1.0 / still[:, None], 0.0)
    p_hour = _window_means(s, e[:, None] + offsets[None, :]) * ratio
    end_index = np.clip(e[:, None] + offsets[None, :] + 60, 0, len(s))
    s_ext = np.concatenate([s, [0.0]])
    p_end = s_ext[end_index] * ratio
    over_hour, at_end = _arrival_kernels(s, hours)
    new_mean = np.convolve(arrivals, over_hour)[:hours]
    new_end = np.convolve(arrivals, at_end)[:hours]
    mean = p_hour.sum(axis=0) + new_mean
    var = (p_hour * (1.0 - p_hour)).sum(axis=0) + new_mean
    end_var = (p_end * (1.0 - p_end)).sum(axis=0) + new_end
    return Projection(mean, var, p_end.sum(axis=0) + new_end, end_var)


def raw_probability(projection: Projection, threshold: float) -> np.ndarray:
    """``P(hour's census >= threshold)``, the census taken normal (mean, variance)."""
    spread = np.sqrt(np.maximum(projection.var, 0.25))
    return ndtr((projection.mean - threshold) / spread)


# ------------------------------------------------------------------------ backtest


@dataclass
class CensusBacktest(OperationalBacktest):
    """:class:`OperationalBacktest` whose rule is the census definition."""

    definition: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["rule"] = self.definition
        data["saturation_definition"] = self.definition
        return data


def census_backtest(
    history: RunHistory,
    site: SiteCensus,
    *,
    test_days: int = 365,
    calibration_days: int | None = None,
    country: str = "FR",
    subdivision: str | None = None,
    progress: bool = False,
    with_occupancy: bool = True,
) -> CensusBacktest:
    """Backtest the census risk (and occupancy) with the protocol of
    :func:`hospiflow.forecast.riskbacktest.operational_backtest`: a forecast every local
    midnight of the calibration and test periods, from the patients present then and the
    day-ahead arrivals; the calibration refitted every 28 days on past hours only; Brier
    score, skill against the hour-of-week base rate, reliability. The length-of-stay
    survival is estimated once, on stays ended before the test period. Occupancy: the
    patients present 1..8 h after each origin midnight against persistence."""
    calibration_days = checked_calibration_days(history, test_days, calibration_days)
    tz = history.timezone
    calibration_start, test_start, end = _periods(history, test_days, calibration_days)
    origins = pd.date_range(calibration_start, end - pd.Timedelta(days=1), freq="D")
    rolling = rolling_forecasts(
        history.arrivals,
        ["total"],
        tz,
        origins,
        country=country,
        subdivision=subdivision,
        hours_ahead=24 + OCCUPANCY_HOURS + 2,
        progress=progress,
    )
    hour_ms = (
        pd.DatetimeIndex(rolling.hours_utc.ravel(), tz="UTC")
        .as_unit("ms")
        .asi8.reshape(rolling.hours_utc.shape)
    )  # (origins, hours) UTC ms
    test_start_ms = int(pd.Timestamp(test_start).tz_localize(tz).tz_convert("UTC").value // 10**6)
    s = survival(site.los_minutes(test_start_ms))
    threshold = site.definition.threshold
    n = len(origins)
    raw = np.full((n, 24), np.nan)
    expected_end = np.full((n, OCCUPANCY_HOURS), np.nan)
    for i in range(n):  # one projection per origin (a few dozen patients each)
        origin = int(hour_ms[i, 0])
        projection = project(site.elapsed_at(origin), rolling.means[i, :, 0], s)
        raw[i] = raw_probability(projection, threshold)[:24]
        expected_end[i] = projection.end[:OCCUPANCY_HOURS]
    rows = (hour_ms[:, :24] - site.hours_ms[0]) // MS_PER_HOUR
    known = (rows >= 0) & (rows < len(site.hourly))
    known &= np.arange(24)[None, :] < rolling.hours_in_day[:, None]
    census_of = np.where(known, site.hourly[np.clip(rows, 0, len(site.hourly) - 1)], np.nan)
    observed = np.where(known, (census_of >= threshold).astype(float), np.nan)
    local_hour = (
        wall_clock(pd.DatetimeIndex(rolling.hours_utc[:, :24].ravel(), tz="UTC"), tz)
        .hour.to_numpy()
        .reshape(n, 24)
    )
    zeros = np.zeros_like(raw, dtype=int)
    is_test = np.asarray(origins >= test_start)
    calibrated = np.full(raw.shape, np.nan)
    test_rows = np.flatnonzero(is_test)
    calibrator = Calibrator()
    for first in range(0, len(test_rows), RECALIBRATE_DAYS):
        part = test_rows[first : first + RECALIBRATE_DAYS]
        past = slice(0, part[0])
        calibrator = Calibrator().fit(raw[past], observed[past], zeros[past], local_hour[past], 1)
        calibrated[part] = calibrator(raw[part], zeros[part], local_hour[part])
    calibrator = Calibrator().fit(raw, observed, zeros, local_hour, 1)

    grid_hours = pd.DatetimeIndex(pd.to_datetime(site.hours_ms, unit="ms", utc=True))
    before = site.hours_ms < test_start_ms
    base_table = hour_of_week_base_rate(
        wall_clock(grid_hours[before], tz),
        (site.hourly[before] >= threshold).astype(float)[:, None],
    )
    how = hour_of_week(
        wall_clock(pd.DatetimeIndex(rolling.hours_utc[is_test, :24].ravel(), tz="UTC"), tz)
    ).reshape(-1, 24)
    base = base_table[how][:, :, 0]
    y, p = observed[is_test], calibrated[is_test]
    bs, bs_base = brier(p, y), brier(base, y)
    table = reliability_table(p, y)
    risk = {
        "brier": bs,
        "brier_raw": brier(raw[is_test], y),
        "brier_base_rate": bs_base,
        "brier_skill": 1.0 - bs / bs_base if bs_base > 0 else None,
        "base_rate": float(np.nanmean(y)),
        "cases": int(np.isfinite(y).sum()),
        "calibration_cases": int(np.isfinite(observed[~is_test]).sum()),
        "reliability": table,
        "max_reliability_gap": max_reliability_gap(table),
        "model": f"census projection ({rolling.model} arrivals)",
        "definition": site.definition.as_dict(),
    }
    occupancy: dict[str, Any] = {}
    if with_occupancy:
        occupancy = _occupancy_scores(site, hour_ms[is_test], expected_end[is_test])
    return CensusBacktest(
        test_start=pd.Timestamp(test_start),
        test_end=pd.Timestamp(end) - pd.Timedelta(hours=1),
        calibration_start=pd.Timestamp(calibration_start),
        settings=SaturationSettings(),
        risk=risk,
        occupancy=occupancy,
        calibrator=calibrator,
        detail={"origins": origins, "is_test": is_test, "raw": raw, "observed": observed},
        definition=site.definition.text,
    )


def _occupancy_scores(site: SiteCensus, hour_ms: np.ndarray, expected: np.ndarray) -> dict:
    """MSE of the projected patients present 1..8 h after each origin vs persistence."""
    origin = hour_ms[:, 0]
    now = site.present_at(origin)
    targets = origin[:, None] + MS_PER_HOUR * np.arange(1, OCCUPANCY_HOURS + 1)[None, :]
    actual = site.present_at(targets.ravel()).reshape(targets.shape)
    ok = targets[:, -1] < site.end_ms
    horizons = []
    for k in range(OCCUPANCY_HOURS):
        err = float(np.mean((expected[ok, k] - actual[ok, k]) ** 2)) if ok.any() else None
        persist = float(np.mean((now[ok] - actual[ok, k]) ** 2)) if ok.any() else None
        horizons.append(
            {
                "hours_ahead": k + 1,
                "mse": err,
                "mse_persistence": persist,
                "improvement": 1.0 - err / persist if err is not None and persist else None,
            }
        )
    return {
        "origins": int(ok.sum()),
        "mean_present": float(np.mean(now[ok])) if ok.any() else None,
        "horizons": horizons,
        "from": "each origin midnight",
    }
