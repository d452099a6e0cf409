"""Arrivals: a non-homogeneous Poisson rate by hour of day × weekday × month, holidays,
and how far the counts stray from Poisson.

The scenario's rate is ``rate × hourly[h] × weekday[d] × monthly[m]`` (each profile
averaging 1). Each profile is the ratio of the mean hourly count in its cells to the
overall mean (the maximum-likelihood estimate of a multiplicative Poisson model with
balanced cells; one pass of iterative proportional fitting). Months the history
does not cover take the level of its last :data:`RECENT_DAYS` days (whole weeks, so
balanced over hours and weekdays): with no seasonal evidence, the forecast of a
local-level series is its latest level (simple exponential smoothing's flat
forecast; Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed.,
2021, §8.1), and they are listed as not estimated. The scenario rescales the
monthly profile to mean 1, so ``scenario_rate`` (rate × the profile's mean) is what
keeps each month's rate as fitted.

Public holidays (the ``holidays`` package, as the forecaster uses it) are measured
as the ratio of a holiday's arrivals to the mean of the same weekday; the simulator
has no holiday calendar, so the factor is reported, not simulated.

Overdispersion: the Pearson dispersion ``Σ (y − μ)² / μ / (n − p)`` of hourly counts
around the fitted rate (1 for Poisson; Cameron & Trivedi, *Regression Analysis of
Count Data*, 2013, §3.2) and the plain variance/mean of hourly counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hospiflow.forecast.features import holiday_flags
from hospiflow.store.timeconv import MS_PER_HOUR

MONTHS = 12
RECENT_DAYS = 28


@dataclass(frozen=True)
class ArrivalFit:
    rate_per_hour: float
    hourly: tuple[float, ...]
    weekday: tuple[float, ...]
    monthly: tuple[float, ...]
    months_seen: tuple[int, ...]  # 1..12
    recent: float  # level of the last RECENT_DAYS days / rate: the months not seen
    hour_of_week: tuple[float, ...]  # observed mean arrivals per hour of the week
    separable_mape: float  # how far the profile product is from the hour-of-week means
    holiday_factor: float | None  # None: no holiday in the history
    holidays_seen: int
    dispersion: float  # Pearson, around the fitted rate
    variance_to_mean: float  # of the raw hourly counts
    hours: int

    @property
    def fitted_hour_of_week(self) -> tuple[float, ...]:
        """Arrivals per hour of the week as the twin's profiles give them (rate × hour of
        day × weekday, Monday 00:00 first), beside ``hour_of_week`` on the fit's plot."""
        return tuple(
            self.rate_per_hour * self.hourly[k % 24] * self.weekday[k // 24] for k in range(168)
        )

    @property
    def scenario_rate(self) -> float:
        """The scenario's ``arrival_rate_per_hour``: it divides the monthly profile by
        its mean, so the rate carries that mean to keep each month as fitted."""
        return self.rate_per_hour * float(np.mean(self.monthly))


def fit_arrivals(
    local_ms: np.ndarray, start_local_ms: int, end_local_ms: int, country: str = "FR"
) -> ArrivalFit:
    """Fit the profiles from arrival instants on the local wall clock (epoch-style ms)."""
    first_hour = start_local_ms // MS_PER_HOUR
    n_hours = int((end_local_ms - start_local_ms) // MS_PER_HOUR)
    index = (np.asarray(local_ms, dtype=np.int64) // MS_PER_HOUR - first_hour).astype(np.int64)
    index = index[(index >= 0) & (index < n_hours)]
    counts = np.bincount(index, minlength=n_hours).astype(float)
    stamps = pd.DatetimeIndex(
        pd.to_datetime((first_hour + np.arange(n_hours)) * MS_PER_HOUR, unit="ms")
    )
    hour = stamps.hour.to_numpy()
    weekday = stamps.day_of_week.to_numpy()
    month = stamps.month.to_numpy()
    rate = float(counts.mean())
    safe = rate if rate > 0 else 1.0
    hourly = np.array([counts[hour == h].mean() for h in range(24)]) / safe
    week = np.array([counts[weekday == d].mean() for d in range(7)]) / safe
    seen = sorted({int(m) for m in month})
    recent_hours = min(RECENT_DAYS * 24, n_hours)
    recent = float(counts[n_hours - recent_hours :].mean() / safe) if n_hours else 1.0
    monthly = np.full(MONTHS, recent)
    for m in seen:
        monthly[m - 1] = counts[month == m].mean() / safe
    how = weekday * 24 + hour
    by_how = np.array([counts[how == k].mean() for k in range(168)])
    product = safe * np.array([hourly[k % 24] * week[k // 24] for k in range(168)])
    with np.errstate(divide="ignore", invalid="ignore"):
        separable = float(
            np.nanmean(np.abs(product - by_how) / np.where(by_how > 0, by_how, np.nan))
        )
    expected = safe * hourly[hour] * week[weekday] * monthly[month - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = np.where(expected > 0, (counts - expected) ** 2 / expected, 0.0)
    dispersion = float(pearson.sum() / max(n_hours - (24 + 7 + len(seen)), 1))
    holiday, _ = holiday_flags(stamps, country)
    days = pd.Series(counts).groupby(stamps.normalize()).sum()
    day_holiday = pd.Series(holiday).groupby(stamps.normalize()).max()
    day_weekday = pd.Series(weekday).groupby(stamps.normalize()).first()
    factor = None
    n_holidays = int(day_holiday.sum())
    if n_holidays:
        normal = (
            days[~day_holiday.astype(bool)].groupby(day_weekday[~day_holiday.astype(bool)]).mean()
        )
        ratios = [days[d] / normal[day_weekday[d]] for d in days.index[day_holiday.astype(bool)]]
        factor = float(np.mean(ratios))
    return ArrivalFit(
        rate_per_hour=rate,
        hourly=tuple(round(float(v), 4) for v in hourly),
        weekday=tuple(round(float(v), 4) for v in week),
        monthly=tuple(round(float(v), 4) for v in monthly),
        months_seen=tuple(seen),
        recent=round(recent, 4),
        hour_of_week=tuple(float(v) for v in by_how),
        separable_mape=separable,
        holiday_factor=factor,
        holidays_seen=n_holidays,
        dispersion=dispersion,
        variance_to_mean=float(counts.var() / safe),
        hours=n_hours,
    )
